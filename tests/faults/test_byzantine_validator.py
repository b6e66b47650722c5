"""A byzantine validator (v3, holding its genesis key) equivocates as primary, votes for conflicting
digests, replays old messages and floods garbage: the three correct validators never disagree and
never stop committing for longer than a view change."""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain

from .byzantine import INDEX, Byzantine
from .load import Load, assert_all_found, wait_converged

SEED = int(os.environ.get("FAULT_SEED", "20261128"))
CORRECT = [0, 1, 2]
MAX_COMMIT_S = 15.0  # a view change (2 s timeout, backed off once or twice) plus catching up


async def _view(net: LocalNet, indices: list[int]) -> int:
    return max(s["view"] for s in (await net.heights(indices)).values())


async def _make_primary(net: LocalNet, load: Load, paused: set[int]) -> int:
    """Pause (SIGSTOP) each correct primary until views reach one whose primary is v3.

    A paused correct node is a second fault, so v3 must behave while this runs (f = 1); the injector's replays and garbage go on. After
    each view change a few blocks are committed before the next pause: a delivered block resets
    the backed-off view-change timeout."""
    view = await _view(net, CORRECT)
    while view % net.count != INDEX:
        primary = view % net.count
        others = [i for i in CORRECT if i != primary]
        os.kill(net.procs[primary].pid, signal.SIGSTOP)
        paused.add(primary)
        try:
            # Backups change view only while a request waits; the load's clients may all be
            # waiting on the paused node's answer, so give the others one to wait for.
            key = crypto.generate_key()
            nudge = load.admin.register_account(key.address, "supplier", f"nudge-{key.address[2:10]}")
            for index in others:
                async with net.client(index) as client:
                    await client.submit(nudge, wait=False)
            async def moved_on(old: int = view, others: list[int] = others) -> int | None:
                new = await _view(net, others)
                return new if new > old else None

            view = await net.wait_for(moved_on, 20, f"a view change away from the paused primary v{primary}")
        finally:
            os.kill(net.procs[primary].pid, signal.SIGCONT)
            paused.discard(primary)
        await load.wait_commits(3, 30, f"in view {view}")
        view = await _view(net, CORRECT)
    return view


@pytest.mark.timeout(150)
async def test_byzantine_validator_cannot_split_or_stall_the_correct_ones(idle_net: LocalNet, admin: Wallet) -> None:
    net = idle_net
    rng = random.Random(SEED)
    for index in CORRECT:
        net.start(index)
    byzantine = Byzantine(net, random.Random(rng.random()))
    await byzantine.start()
    paused: set[int] = set()
    load = Load(net, admin, random.Random(rng.random()), workers=2,
                targets=lambda: [i for i in CORRECT if i not in paused and i in net.running()])
    try:
        await net.wait_ready(CORRECT, timeout=60)
        load.start()
        await load.wait_commits(10, 30, "with an honest v3")

        # As a backup: wrong-digest votes, random votes, replays and garbage.
        marks = {"honest": len(load.committed)}
        byzantine.conflicting_votes = True
        byzantine.start_injecting(0.02)
        await load.wait_commits(30, 45, "while v3 votes for conflicting digests, replays and floods garbage")
        marks["conflicting votes, replays, garbage"] = len(load.committed)

        # As primary: equivocation (and all of the above), twice: each time the correct ones end
        # up changing view away from it, and the test makes it primary again.
        for turn in (1, 2):
            byzantine.equivocate = byzantine.conflicting_votes = False
            started = time.monotonic()
            view = await _make_primary(net, load, paused)
            print(f"\nseed {SEED}: v3 is primary in view {view} after {time.monotonic() - started:.1f}s of forced view changes")
            # A few honest blocks in the new view first: a delivered block resets the view-change
            # timeout, which the forced view changes have backed off.
            await load.wait_commits(5, 30, "in v3's view before it starts lying")
            marks[f"forced view changes {turn} (v3 behaves)"] = len(load.committed)
            byzantine.equivocate = byzantine.conflicting_votes = True
            await load.wait_commits(20, 60, "while v3 equivocates as primary")
            marks[f"equivocating primary {turn}"] = len(load.committed)
        await byzantine.stop_injecting()
    finally:
        await load.stop()
        await byzantine.stop()

    height = await wait_converged(net, CORRECT, 60)
    assert await assert_same_chain(net, CORRECT) == height
    await assert_all_found(net, CORRECT, load.committed)
    slowest = max(c.latency for c in load.committed)
    print(f"{len(load.committed)} transactions committed on v0..v2, identical chains to height {height}; "
          f"slowest commit {slowest:.1f}s; {load.failed} submissions failed {dict(load.errors)}")
    start = 0
    for phase, end in marks.items():
        print(f"  phase {phase}: {end - start} commits, slowest {max((c.latency for c in load.committed[start:end]), default=0):.1f}s")
        start = end
    print("byzantine injections:")
    for name, count in sorted(byzantine.counts.items()):
        print(f"  {count:6d}  {name}")
    assert byzantine.counts["equivocating pre-prepare (a second valid block for the seq)"] > 0, "v3 never equivocated"
    assert slowest < MAX_COMMIT_S, f"a transaction took {slowest:.1f}s to commit: longer than a view change"
    assert load.failed == 0, f"submissions failed: {dict(load.errors)}"
