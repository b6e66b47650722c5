"""A 4-validator cluster: transactions submitted anywhere commit everywhere, identically."""

from __future__ import annotations

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .helpers import assert_same_chain, register_accounts


async def test_transactions_submitted_to_any_node_commit_on_all_four(net: LocalNet, admin: Wallet) -> None:
    results = await register_accounts(net, admin, 12, via=[0, 1, 2, 3])
    assert all(r["status"] == "committed" and r["result"]["ok"] for r in results)
    top = max(r["height"] for r in results)
    statuses = await net.wait_height(top, timeout=20)
    assert len({s["block_hash"] for s in statuses.values() if s["height"] == top}) == 1
    assert await assert_same_chain(net, [0, 1, 2, 3]) >= top
    # Every node can answer for every transaction, with the same result.
    for result in results:
        for index in range(4):
            async with net.client(index) as client:
                found = await client.call("tx_get", id=result["id"])
            assert (found["height"], found["index"], found["result"]) == (result["height"], result["index"], result["result"])
