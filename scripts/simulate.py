#!/usr/bin/env python3
"""Run the deterministic PBFT simulator over many seeds, or replay one seed with its trace.

    python scripts/simulate.py --n 4 --seeds 1000            # seeds 0..999, n = 4
    python scripts/simulate.py --n 7 --seeds 500 --start 10000
    python scripts/simulate.py --n 4 --seed 123 --verbose     # replay one seed, print the trace
    python scripts/simulate.py --liveness --seeds 1000        # restart/censor/isolation schedules
    python scripts/simulate.py --liveness --seeds 300 --unsafe-old-timer   # a broken timer: fails
    python scripts/simulate.py --reconfig --seeds 1000       # validators join, leave, rotate keys
    python scripts/simulate.py --reconfig --seeds 1000 --unsafe-epoch-skew  # a broken switch: fails

Prints seeds/s, faults injected per seed, simulated commits per second of wall time, and every
failing seed (which replays exactly with --seed N --verbose).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from consensus.sim.liveness import run_schedule  # noqa: E402
from consensus.sim.reconfig import run_reconfig_seed  # noqa: E402
from consensus.sim.runner import run_seed, sim_config  # noqa: E402


def _report(result: Any, seed: int, verbose: bool, failing: list[int]) -> None:
    """Print a seed's trace and summary when asked or when it failed; remember a failing seed."""
    if verbose and result.trace:
        print("\n".join(result.trace))
    if verbose or not result.ok:
        print(result.summary())
        for v in result.violations[:5]:
            print("   ", v)
    if not result.ok:
        failing.append(seed)


def liveness(args: argparse.Namespace) -> int:
    """The liveness schedules of consensus.sim.liveness (n is chosen per seed)."""
    flags = {"unsafe_timer_reset_on_delivery": args.unsafe_old_timer,
             "unsafe_lone_view_change": args.unsafe_lone_view_change}
    config = sim_config(4, **flags) if any(flags.values()) else None
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    failing: list[int] = []
    worst: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    events: Counter[str] = Counter()
    forwards = 0
    started = time.perf_counter()
    for seed in seeds:
        result = run_schedule(seed, config=config, verbose=args.verbose)
        kinds[result.schedule] += 1
        worst[result.schedule] = max(worst[result.schedule], result.worst_latency)
        events.update(result.events)
        forwards += result.forwards
        _report(result, seed, args.verbose, failing)
    wall = time.perf_counter() - started
    count = len(seeds)
    print(f"liveness seeds={count} (from {seeds[0]}) failing={len(failing)} wall={wall:.1f}s "
          f"seeds/s={count / wall:.1f}")
    print("schedules: " + " ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
          + " | worst request latency (ticks after max(submission, end of faults)): "
          + " ".join(f"{k}={v}" for k, v in sorted(worst.items())))
    print("protocol events per seed (correct replicas): " + " ".join(
        f"{k}={v / count:.2f}" for k, v in sorted(events.items())) + f" forwards={forwards / count:.2f}")
    if failing:
        print("FAILING SEEDS: " + " ".join(map(str, failing[:50])))
        print(f"replay: python scripts/simulate.py --liveness --seed {failing[0]} --verbose")
        return 1
    return 0


def reconfig(args: argparse.Namespace) -> int:
    """Seeds that change the validator set during faults (consensus.sim.reconfig)."""
    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    failing: list[int] = []
    plans: Counter[str] = Counter()
    failed_plans: Counter[str] = Counter()
    events: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    started = time.perf_counter()
    for seed in seeds:
        result = run_reconfig_seed(seed, verbose=args.verbose, unsafe_epoch_skew=args.unsafe_epoch_skew)
        plans[result.plan] += 1
        events.update(result.events)
        faults.update(result.faults)
        if not result.ok:
            failed_plans[result.plan] += 1
        if not args.unsafe_epoch_skew or args.verbose:
            _report(result, seed, args.verbose, failing)
        elif not result.ok:
            failing.append(seed)
    wall = time.perf_counter() - started
    count = len(seeds)
    print(f"reconfig seeds={count} (from {seeds[0]}) failing={len(failing)} wall={wall:.1f}s "
          f"seeds/s={count / wall:.1f}")
    print("plans: " + " ".join(f"{k}={v}" for k, v in sorted(plans.items()))
          + " | failing: " + (" ".join(f"{k}={v}" for k, v in sorted(failed_plans.items())) or "none"))
    print("faults per seed: " + " ".join(f"{k}={v / count:.2f}" for k, v in sorted(faults.items())))
    print("protocol events per seed (correct replicas): " + " ".join(
        f"{k}={v / count:.2f}" for k, v in sorted(events.items())))
    if args.unsafe_epoch_skew:
        # The break must be caught: a seed that passes had its skew go unnoticed.
        print(f"--unsafe-epoch-skew: caught in {len(failing)} of {count} seeds")
        return 0 if failing else 1
    if failing:
        print("FAILING SEEDS: " + " ".join(map(str, failing[:50])))
        print(f"replay: python scripts/simulate.py --reconfig --seed {failing[0]} --verbose")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4, help="number of validators (default 4)")
    parser.add_argument("--seeds", type=int, default=200, help="how many seeds to run")
    parser.add_argument("--start", type=int, default=0, help="first seed")
    parser.add_argument("--seed", type=int, help="run only this seed")
    parser.add_argument("--verbose", action="store_true", help="print the trace of each seed")
    parser.add_argument("--blocks", type=int, help="blocks the clients ask for per seed")
    parser.add_argument("--unsafe-quorum", type=int,
                        help="break the protocol on purpose: use this quorum instead of 2f+1")
    parser.add_argument("--unsafe-amnesia", action="store_true",
                        help="break the protocol on purpose: restart replicas without their record")
    parser.add_argument("--liveness", action="store_true",
                        help="run the liveness schedules (restart-submit, censor, isolated)")
    parser.add_argument("--unsafe-old-timer", action="store_true",
                        help="with --liveness: the old view timer, restarted by every delivery")
    parser.add_argument("--unsafe-lone-view-change", action="store_true",
                        help="with --liveness: leave a view on one's own timeout (the old rule)")
    parser.add_argument("--reconfig", action="store_true",
                        help="seeds that add, remove and rotate validators during the faults")
    parser.add_argument("--unsafe-epoch-skew", action="store_true",
                        help="with --reconfig: some replicas switch epochs K seqs late (must fail)")
    args = parser.parse_args(argv)
    if args.liveness:
        return liveness(args)
    if args.reconfig:
        return reconfig(args)

    seeds = [args.seed] if args.seed is not None else range(args.start, args.start + args.seeds)
    config = sim_config(args.n, unsafe_quorum_override=args.unsafe_quorum)
    totals: Counter[str] = Counter()
    events: Counter[str] = Counter()
    failing: list[int] = []
    commits = ticks = worst_recovery = later = lagging = 0
    started = time.perf_counter()
    for seed in seeds:
        result = run_seed(seed, args.n, verbose=args.verbose, blocks=args.blocks, config=config,
                          unsafe_amnesia=args.unsafe_amnesia)
        totals.update(result.faults)
        events.update(result.events)
        commits += result.height
        ticks += result.ticks
        worst_recovery = max(worst_recovery, result.recovery_ticks)
        later += result.later
        lagging += result.app_lag is not None
        _report(result, seed, args.verbose, failing)
    wall = time.perf_counter() - started
    count = len(seeds)
    per_seed = {k: v / count for k, v in sorted(totals.items())}
    node_faults = sum(per_seed.get(k, 0) for k in ("byzantine", "crash", "partition"))
    msg_faults = sum(per_seed.get(k, 0) for k in ("dropped", "duplicated", "injected"))
    print(f"n={args.n} seeds={count} (from {seeds[0]}) failing={len(failing)} "
          f"wall={wall:.1f}s seeds/s={count / wall:.1f}")
    print("faults per seed: " + " ".join(f"{k}={v:.2f}" for k, v in per_seed.items())
          + f" | node/network events={node_faults:.2f} message faults={msg_faults:.1f}")
    print("protocol events per seed (correct replicas): " + " ".join(
        f"{k}={v / count:.2f}" for k, v in sorted(events.items())))
    print(f"simulated blocks committed={commits} ({commits / count:.1f}/seed) in {ticks} ticks; "
          f"commits per wall second={commits / wall:.0f}; "
          f"slowest recovery after faults stopped={worst_recovery} ticks (bound 4000)")
    print(f"application verdicts: LATER={later} ({later / count:.1f}/seed) in {lagging} seeds "
          f"with a lagging application")
    if failing:
        print("FAILING SEEDS: " + " ".join(map(str, failing[:50])))
        print(f"replay: python scripts/simulate.py --n {args.n} --seed {failing[0]} --verbose")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
