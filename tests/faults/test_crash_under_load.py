"""kill -9 of a random validator, then of the primary, under steady load: nothing reported
committed is lost, and all four end with the same blocks and state."""

from __future__ import annotations

import os
import random

import pytest

from node.client import Wallet
from node.localnet import LocalNet
from tests.integration.helpers import assert_same_chain

from .load import Load, assert_all_found, wait_converged

SEED = int(os.environ.get("FAULT_SEED", "20261128"))


async def _primary(net: LocalNet) -> int:
    views = [s["view"] for s in (await net.heights()).values()]
    return max(views) % net.count


@pytest.mark.timeout(150)
async def test_kill_random_node_then_primary_under_load_loses_nothing(net: LocalNet, admin: Wallet) -> None:
    rng = random.Random(SEED)
    load = Load(net, admin, random.Random(rng.random()), workers=3)
    load.start()
    try:
        await load.wait_commits(15, 30, "before any fault")

        victim = rng.randrange(net.count)
        net.kill(victim)
        print(f"\nseed {SEED}: kill -9 v{victim} (random) after {len(load.committed)} commits")
        await load.wait_commits(15, 30, f"with v{victim} dead")
        net.start(victim)
        await net.wait_ready(timeout=30)
        await load.wait_commits(5, 30, f"after v{victim} restarted")

        primary = await _primary(net)
        net.kill(primary)
        print(f"kill -9 v{primary} (the primary) after {len(load.committed)} commits")
        await load.wait_commits(15, 30, f"with the primary v{primary} dead")
        net.start(primary)
        await net.wait_ready(timeout=30)
        await load.wait_commits(5, 30, f"after v{primary} restarted")
    finally:
        await load.stop()

    height = await wait_converged(net, [0, 1, 2, 3], 60)
    assert await assert_same_chain(net, [0, 1, 2, 3]) == height
    await assert_all_found(net, [0, 1, 2, 3], load.committed)
    slowest = max(c.latency for c in load.committed)
    print(f"{len(load.committed)} transactions reported committed, all found on all four at the same place; "
          f"{load.failed} submissions failed (node killed mid-call); height {height}; slowest commit {slowest:.1f}s")
