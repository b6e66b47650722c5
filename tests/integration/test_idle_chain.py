"""Time moves without traffic (issue 11, finding 5 and must-show item 6), on a real 4-validator
network: on an idle chain an offer expires and a proof bundle becomes complete within the
empty-block interval, and with nothing due the chain makes no block at all."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from node.bundles import verify_bundle
from node.config import ConsensusSection
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.ledger.keys import document_id
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import CHAIN_ID

INTERVAL_S = ConsensusSection().empty_block_interval_ms / 1000  # the default the nodes run with
SLACK_S = 10.0  # for a loaded machine: the interval is measured and printed, not asserted tight


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.mark.timeout(180)
async def test_idle_chain_expires_offers_certifies_its_tip_and_otherwise_stays_still(net: LocalNet, admin: Wallet) -> None:
    genesis = load_genesis(net.directory / "genesis.json")
    core, supplier, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(3))
    async with net.client(0) as client:
        async def ok(tx: Any) -> dict[str, Any]:
            answer: dict[str, Any] = await client.submit(tx)
            assert answer["result"]["ok"], answer
            return answer

        for wallet, role in ((core, "core"), (supplier, "supplier"), (bank, "financier")):
            await ok(admin.register_account(wallet.address, role, f"{role}-{wallet.address[2:8]}"))
        await ok(bank.set_credit_line(core.address, 10**9))
        await ok(core.anchor_document("invoice", "IDLE-1", "91310000MA1FL2026R", "ab" * 32, 10**6,
                                      seller=supplier.address, buyer=core.address))
        doc = document_id("invoice", "IDLE-1", "91310000MA1FL2026R")
        expires = now_ms() + 6_000
        issued = await ok(core.issue(supplier.address, 10**6, expires + 10**8, bank.address,
                                     [{"doc": doc, "amount": 10**6}], expires))
        committed_at = time.monotonic()
        warrant = issued["result"]["events"][0]["warrant"]

        # The issuance is the tip's last transaction: its outcome is proven once an empty block
        # follows, with no one transacting.
        async def complete() -> float | None:
            report = verify_bundle(await client.proof(warrant), genesis)
            assert report.ok, report.reason
            return (time.monotonic() - committed_at) if report.complete else None

        proven_after = await net.wait_for(complete, INTERVAL_S + SLACK_S, "the idle chain to certify the issuance")
        # The offer expires with no transaction at all: an empty block after its expiry time.
        async def expired() -> float | None:
            found = await client.warrant(warrant)
            return (now_ms() - expires) / 1000 if found["status"] == "rejected" else None

        expired_after = await net.wait_for(expired, (expires - now_ms()) / 1000 + INTERVAL_S + SLACK_S,
                                           "the offer to expire on an idle chain")
        history = (await client.warrant(warrant))["history"]
        assert [h["type"] for h in history] == ["issue", "expire"]
        expiry_height = history[-1]["height"]
        await net.wait_height(expiry_height + 1, timeout=INTERVAL_S + SLACK_S)  # certifies the expiry
        heights = [await client.block(h) for h in range(issued["height"] + 1, expiry_height + 2)]
        assert all(b["header"]["tx_count"] == 0 for b in heights)
        print(f"\nidle chain: the issuance's outcome proven {proven_after:.1f}s after its commit, the offer "
              f"expired {expired_after:.1f}s after its expiry time (interval {INTERVAL_S:.1f}s); "
              f"{len(heights)} empty blocks made")

    # Nothing is due and every result is certified: no block over 10 s, on any node.
    before = {i: s["height"] for i, s in (await net.heights()).items()}
    assert len(set(before.values())) == 1, before
    await asyncio.sleep(10)
    after = {i: s["height"] for i, s in (await net.heights()).items()}
    assert after == before, f"an idle chain with nothing due made blocks: {before} -> {after}"
