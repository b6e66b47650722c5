"""The checker can fail. Two deliberate breaks, each caught within the seeds the suite runs:

* a quorum of 2f instead of 2f+1 (``Config.unsafe_quorum_override``): an agreement violation;
* replicas restarted without their write-ahead record (``unsafe_amnesia``): equivocation.

Without these tests, a checker that never fails would look like a correct protocol.
"""

from __future__ import annotations

import pytest

from consensus.sim.runner import run_seed, sim_config


@pytest.mark.parametrize("n", [4, 7])
def test_quorum_of_2f_is_caught_as_an_agreement_violation(n: int) -> None:
    f = (n - 1) // 3
    broken = sim_config(n, unsafe_quorum_override=2 * f)
    for seed in range(400):  # the same seeds test_simulation runs
        result = run_seed(seed, n, config=broken)
        if any("agreement" in v for v in result.violations):
            break
    else:
        pytest.fail("2f quorums were never caught")
    # and the very same seed is fine with the real quorum
    assert run_seed(seed, n).ok


def test_restart_without_the_write_ahead_record_is_caught_as_equivocation() -> None:
    for seed in range(400):
        result = run_seed(seed, 4, unsafe_amnesia=True)
        if any("equivocation" in v for v in result.violations):
            break
    else:
        pytest.fail("amnesiac restarts were never caught")
    assert run_seed(seed, 4).ok
