"""The liveness schedules (consensus.sim.liveness) over 1,000 seeds: a backup restarted and
submitted to before its links come up, a censoring primary, a backup cut off with requests
waiting. Every request commits within the bound and every correct replica ends active in one view.
The deliberate breaks -- the old view timer, the old lone view change -- are caught within them.
A failing seed replays with ``python scripts/simulate.py --liveness --seed S --verbose``."""

from __future__ import annotations

import pytest

from consensus.sim.liveness import run_schedule
from consensus.sim.runner import sim_config
from tests.consensus.sweep import failures

pytestmark = pytest.mark.simulation

CHUNK = 100


@pytest.mark.parametrize("start", range(0, 1000, CHUNK))
def test_liveness_schedules(start: int) -> None:
    failed = failures(run_schedule, range(start, start + CHUNK))  # on every core (tests/consensus/sweep.py)
    assert not failed, "\n".join(failed)


def _first_caught(config_flag: str, schedule: str, word: str) -> int:
    broken = sim_config(4, **{config_flag: True})
    for seed in range(1000):  # the same seeds as above
        result = run_schedule(seed, config=broken)
        if result.schedule == schedule and any(word in v for v in result.violations):
            return seed
    pytest.fail(f"{config_flag} was never caught")


def test_the_old_view_timer_is_caught_by_a_censoring_primary() -> None:
    seed = _first_caught("unsafe_timer_reset_on_delivery", "censor", "latency")
    assert run_schedule(seed).ok


def test_the_old_lone_view_change_is_caught_as_a_replica_alone_in_a_higher_view() -> None:
    seed = _first_caught("unsafe_lone_view_change", "isolated", "views")
    assert run_schedule(seed).ok
