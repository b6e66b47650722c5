"""Running a simulator over a range of seeds on every core, for the sweep tests.

Each seed is independent and deterministic (it replays alone with ``scripts/simulate.py``), and
the suite runs one test at a time, so a sweep may use the machine's cores: the seeds are shared
out to a pool of forked workers. A worker sends back only what a failure report needs (the
summary and the first violations), in seed order, so the report reads the same as a loop's.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["failures"]


def _one(job: tuple[Callable[..., Any], int, dict[str, Any]]) -> tuple[int, bool, str, list[str], dict[str, int]]:
    run, seed, kwargs = job
    result = run(seed, **kwargs)
    return seed, bool(result.ok), result.summary(), list(result.violations[:3]), dict(result.events)


def failures(run: Callable[..., Any], seeds: Iterable[int],
             check: Callable[[int, bool, dict[str, int]], None] | None = None, **kwargs: Any) -> list[str]:
    """The failure reports of ``run(seed, **kwargs)`` over ``seeds`` (empty if every seed passed);
    ``check(seed, ok, events)`` is called for every seed, in the parent, in seed order."""
    jobs = [(run, seed, kwargs) for seed in seeds]
    workers = min(len(jobs), len(os.sched_getaffinity(0)))
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            outcomes = pool.map(_one, jobs, chunksize=4)
    else:
        outcomes = [_one(job) for job in jobs]
    out = []
    for seed, ok, summary, violations, events in outcomes:
        if check is not None:
            check(seed, ok, events)
        if not ok:
            out.append(f"{summary}\n    " + "\n    ".join(violations))
    return out
