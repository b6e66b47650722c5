"""Subscriptions on a real node: blocks, and the events of one account."""

from __future__ import annotations

import asyncio

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet


async def test_block_and_account_subscriptions_see_a_commit(net: LocalNet, admin: Wallet) -> None:
    newcomer = crypto.generate_key()
    async with net.client(1) as watcher, net.client(2) as other, net.client(0) as submitter:
        async with (
            watcher.subscribe("account", address=newcomer.address) as account_events,
            other.subscribe("blocks") as blocks,
        ):
            result = await submitter.submit(admin.register_account(newcomer.address, "supplier", "newcomer"))
            async with asyncio.timeout(20):
                event = await anext(account_events)
                block = await anext(blocks)
                while block["height"] < result["height"]:
                    block = await anext(blocks)
    assert event["type"] == "account_registered" and newcomer.address in event["accounts"]
    assert event["tx"] == result["id"] and event["height"] == result["height"]
    assert block["height"] == result["height"] and block["txs"] >= 1 and len(block["hash"]) == 64
