"""kill -9 of a random validator, then of the primary, under steady load: nothing reported
committed is lost, and all four end with the same blocks and state."""

from __future__ import annotations

import os
import random

import pytest

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain

from .load import Load, assert_all_found, wait_converged

SEED = int(os.environ.get("FAULT_SEED", "20261128"))


async def _primary(net: LocalNet) -> int:
    views = [s["view"] for s in (await net.heights()).values()]
    return max(views) % net.count


async def _crash_and_restart(net: LocalNet, load: Load, index: int, who: str) -> None:
    """kill -9 validator ``index`` under load; commits go on without it and after its return."""
    net.kill(index)
    await load.wait_commits(15, 30, f"with {who} dead")
    net.start(index)
    await net.wait_ready(timeout=30)
    await load.wait_commits(5, 30, f"after {who} restarted")


@pytest.mark.timeout(150)
async def test_kill_random_node_then_primary_under_load_loses_nothing(net: LocalNet, admin: Wallet) -> None:
    rng = random.Random(SEED)
    load = Load(net, admin, random.Random(rng.random()), workers=3)
    load.start()
    try:
        await load.wait_commits(15, 30, "before any fault")

        victim = rng.randrange(net.count)
        print(f"\nseed {SEED}: kill -9 v{victim} (random)")
        await _crash_and_restart(net, load, victim, f"v{victim}")
        primary = await _primary(net)
        print(f"kill -9 v{primary} (the primary)")
        await _crash_and_restart(net, load, primary, f"the primary v{primary}")
    finally:
        await load.stop()

    height = await wait_converged(net, [0, 1, 2, 3], 60)
    assert await assert_same_chain(net, [0, 1, 2, 3]) == height
    await assert_all_found(net, [0, 1, 2, 3], load.committed)
    slowest = max(c.latency for c in load.committed)
    print(f"{len(load.committed)} transactions reported committed, all found on all four at the same place; "
          f"{load.failed} submissions failed (node killed mid-call); height {height}; slowest commit {slowest:.1f}s")
