"""Crashes and restarts: kill -9 of the primary, and a node that missed 1,000 blocks."""

from __future__ import annotations

import time

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .helpers import assert_same_chain, register_accounts


async def test_kill_primary_others_commit_and_it_catches_up(net: LocalNet, admin: Wallet) -> None:
    await register_accounts(net, admin, 3)
    status = await net.status(1)
    primary = status["view"] % 4
    net.kill(primary)
    others = [i for i in range(4) if i != primary]

    started = time.monotonic()
    results = await register_accounts(net, admin, 3, via=others)
    elapsed = time.monotonic() - started
    assert all(r["result"]["ok"] for r in results)
    assert elapsed < 10, f"the surviving three took {elapsed:.1f}s to commit after the primary died"
    print(f"\nafter kill -9 of primary v{primary}: first commits in {elapsed:.2f}s")

    top = max(r["height"] for r in results)
    net.start(primary)
    statuses = await net.wait_height(top, indices=[primary], timeout=30)
    assert statuses[primary]["height"] >= top
    await register_accounts(net, admin, 2)  # the restarted node takes part again
    height = await assert_same_chain(net, [0, 1, 2, 3])
    assert height >= top


async def test_stopped_node_catches_up_a_thousand_blocks(net: LocalNet, admin: Wallet) -> None:
    net.stop(3)
    results = await register_accounts(net, admin, 1000, via=[0, 1, 2])
    top = max(r["height"] for r in results)
    assert top >= 1000, "each transaction was awaited, so each got its own block"

    started = time.monotonic()
    net.start(3)
    await net.wait_height(top, indices=[3], timeout=120, )
    elapsed = time.monotonic() - started
    print(f"\nv3 caught up {top} blocks in {elapsed:.1f}s: {top / elapsed:.0f} blocks/s (including process start)")
    assert await assert_same_chain(net, [0, 3]) >= top
