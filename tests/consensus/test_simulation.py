"""Randomized simulation: agreement on every seed, progress once the faults stop.

1,400 seeds (1,000 with n = 4, 400 with n = 7) in chunks, each chunk's seeds shared out to the
machine's cores (tests/consensus/sweep.py). A failing seed replays exactly with
``python scripts/simulate.py --n N --seed S --verbose``.
"""

from __future__ import annotations

import pytest

from consensus.sim.runner import run_seed
from tests.consensus.sweep import failures

pytestmark = pytest.mark.simulation

CHUNK = 100


def _run(n: int, start: int) -> None:
    failed = failures(run_seed, range(start, start + CHUNK), n=n)
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("start", range(0, 1000, CHUNK))
def test_four_replicas(start: int) -> None:
    _run(4, start)


@pytest.mark.parametrize("start", range(0, 400, CHUNK))
def test_seven_replicas(start: int) -> None:
    _run(7, start)


def test_a_seed_replays_exactly() -> None:
    a = run_seed(17, 4, verbose=True)
    b = run_seed(17, 4, verbose=True)
    assert a.trace == b.trace and a.trace
    assert (a.ok, a.ticks, a.faults) == (b.ok, b.ticks, b.faults)
    assert run_seed(18, 4, verbose=True).trace != a.trace


def test_seeds_do_inject_faults() -> None:
    results = [run_seed(seed, 4) for seed in range(40)]
    total = sum((r.faults for r in results), start=type(results[0].faults)())
    events = sum((r.events for r in results), start=type(results[0].events)())
    for kind in ("byzantine", "crash", "partition", "dropped", "duplicated", "injected"):
        assert total[kind] > 0, kind
    assert events["view_changes"] > 0 and events["state_transfer_blocks"] > 0
    assert all(r.height >= 30 for r in results)
    # A lagging application answers LATER in some seeds, with each lag (with a lag of 0 only when
    # a proposal outruns the commit before it, so not in every such seed); the others never do.
    lagging = [r for r in results if r.app_lag is not None]
    assert {r.app_lag for r in lagging} == {0, 1, 2, 3}
    assert all(r.later > 0 for r in lagging if r.app_lag) and sum(r.later for r in lagging) > 0
    assert all(r.later == 0 for r in results if r.app_lag is None)
