"""Random fault schedules from a seed, run on a Cluster, checked for agreement and progress.

One seed fixes everything: the byzantine replicas and their behaviours, the network's delays,
loss and duplication, crash/restart and partition/heal times, and every random choice inside the
network and the behaviours. ``run_seed(seed, n)`` twice gives the same trace.

Correct replicas check proposals with :func:`consensus.sim.byzantine.refuses_invalid`, the
simulated application: a byzantine replica may propose blocks that fail it (the node's block
rules), which must cost a view change and nothing else. In ``LAGGING_SHARE`` of the seeds (drawn
from a generator of their own, so every other choice of a seed stays what it was) the
application also executes each block 0-3 ticks after its delivery and answers LATER for a
proposal above the block after its last executed one, as the node does; those LATER answers are
counted in ``SimResult.later``.

Schedule: during the *fault phase* (150-400 ticks) clients ask for one block every few ticks;
up to f replicas are faulty at any time (byzantine ones for the whole run, plus crashed ones);
partitions come and go, messages are delayed, reordered, duplicated and lost. Then the network
heals, crashed replicas restart, loss and duplication stop (byzantine replicas keep misbehaving),
and every correct replica must reach the same height, at least the number of blocks asked for,
within ``progress_bound`` ticks. Safety (consensus.sim.checker) is checked throughout.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from consensus.params import Config
from consensus.sim.byzantine import BEHAVIOURS, Composite, InvalidProposer, refuses_invalid
from consensus.sim.cluster import Cluster
from consensus.sim.network import NetworkConfig

if TYPE_CHECKING:
    from consensus.sim.reconfig import Plan

__all__ = ["SimResult", "sim_config", "run_seed", "LAGGING_SHARE"]

LAGGING_SHARE = 0.5
"""Seeds whose simulated application lags its deliveries (and answers LATER)."""


def sim_config(n: int, **overrides: object) -> Config:
    """The small-window, short-timeout configuration the simulator uses."""
    values: dict[str, object] = dict(
        n=n, checkpoint_interval=5, window=10, view_change_timeout_ticks=30, backoff_factor=2,
        max_timeout_ticks=480, status_interval_ticks=10, state_request_timeout_ticks=15,
        state_batch=50,
    )
    values.update(overrides)
    return Config(**values)  # type: ignore[arg-type]


@dataclass
class SimResult:
    seed: int
    n: int
    ok: bool
    violations: list[str]
    ticks: int
    height: int
    byzantine: dict[int, str]
    faults: Counter[str] = field(default_factory=Counter)
    recovery_ticks: int = 0
    """Ticks from the end of the faults until every correct replica had the same full height."""
    events: Counter[str] = field(default_factory=Counter)
    """Protocol events summed over correct replicas (since their last restart)."""
    app_lag: int | None = None
    """Ticks the simulated application executes blocks after their delivery (None: no lag model)."""
    plan: str = ""
    """The reconfiguration plan's kind (``consensus.sim.reconfig``), if any."""
    later: int = 0
    """LATER answers the application gave correct replicas' proposals checks."""
    trace: list[str] | None = None

    def summary(self) -> str:
        byz = ", ".join(f"{i}:{name}" for i, name in sorted(self.byzantine.items())) or "none"
        faults = " ".join(f"{k}={v}" for k, v in sorted(self.faults.items()))
        status = "ok" if self.ok else "FAIL"
        plan = f" plan={self.plan}" if self.plan else ""
        return (f"seed {self.seed} n={self.n}{plan}: {status} height={self.height} ticks={self.ticks} "
                f"byzantine=[{byz}] app_lag={self.app_lag} later={self.later} {faults}")


def run_seed(
    seed: int,
    n: int = 4,
    *,
    verbose: bool = False,
    blocks: int | None = None,
    progress_bound: int = 4000,
    config: Config | None = None,
    unsafe_amnesia: bool = False,
    plan: Plan | None = None,
    unsafe_epoch_skew: bool = False,
) -> SimResult:
    """Run one seed. With ``plan`` (``consensus.sim.reconfig``) the validator set changes while
    the faults go on: ``n`` is the plan's machines, at most the fewest faults any epoch tolerates
    are faulty at once, the clients ask for blocks until ten past the last epoch's start, and
    liveness is judged on the correct members of the last epoch. ``unsafe_epoch_skew``: some of
    them are told the epochs start K seqs later (the deliberate break)."""
    if plan is not None:
        n = plan.machines
        rng = random.Random(f"warrantchain-reconfig/{plan.name}/{seed}")
        f = plan.f_min
    else:
        rng = random.Random(f"warrantchain-sim/{n}/{seed}")
        f = (n - 1) // 3
    faults: Counter[str] = Counter()

    byz_ids = sorted(rng.sample(range(n), rng.randint(0, f)))
    byzantine = {}
    for i in byz_ids:
        brng = random.Random(rng.getrandbits(64))
        kinds = rng.sample(BEHAVIOURS, rng.randint(1, len(BEHAVIOURS)))
        parts = [cls(brng) for cls in kinds]
        # Proposals the application refuses (the node's block rules) are drawn from a generator
        # of their own, so every other choice a seed makes stays what it was.
        extra = random.Random(f"warrantchain-sim/{n}/{seed}/{i}/invalid-proposer")
        if extra.random() < 0.3:
            parts.append(InvalidProposer(random.Random(extra.getrandbits(64))))
        byzantine[i] = Composite(brng, parts)
    correct = [i for i in range(n) if i not in byzantine]
    faults["byzantine"] = len(byz_ids)

    net = NetworkConfig(
        min_delay=1,
        max_delay=rng.randint(1, 5),
        loss=rng.choice([0.0, 0.01, 0.05, 0.1, 0.2]),
        duplicate=rng.choice([0.0, 0.02, 0.1]),
    )
    fault_end = rng.randint(150, 400)
    request_every = rng.randint(2, 10)
    blocks = blocks if blocks is not None else (30 if n <= 4 else 20)
    epochs = plan.epochs((config or sim_config(n)).checkpoint_interval) if plan is not None else []
    last_members = {m for m, _ in (plan.changes[-1].members if plan and plan.changes else ())}
    final = [m for m in correct if m in last_members]
    """With a plan: the correct members of the last epoch, whose progress is judged."""
    skewed: frozenset[int] = frozenset()
    if epochs:
        blocks = max(blocks, epochs[-1][1].first_seq + 10)
        if unsafe_epoch_skew:
            skew_rng = random.Random(f"warrantchain-reconfig/{seed}/skew")
            voters = [m for m, _ in plan.changes[0].members if m in correct]  # type: ignore[union-attr]
            skewed = frozenset(skew_rng.sample(voters, skew_rng.randint(1, len(voters) - 1)))

    # Crash/restart windows, never more than f - (byzantine) down at once.
    events: list[tuple[int, int, str, object]] = []
    budget = f - len(byz_ids)
    windows: list[tuple[int, int, int]] = []
    for _ in range(rng.randint(0, 4)):
        if not budget:
            break
        start = rng.randint(0, fault_end - 10)
        end = min(start + rng.randint(10, 150), fault_end)
        node = rng.choice(correct)
        overlapping = [w for w in windows if w[0] < end and start < w[1]]
        if len(overlapping) >= budget or any(w[2] == node for w in overlapping):
            continue
        windows.append((start, end, node))
        events += [(start, len(events), "crash", node), (end, len(events) + 1, "restart", node)]
    for _ in range(rng.randint(0, 3)):
        start = rng.randint(0, fault_end - 10)
        end = min(start + rng.randint(10, 120), fault_end)
        order = list(range(n))
        rng.shuffle(order)
        cut = rng.randint(1, n - 1)
        groups = (frozenset(order[:cut]), frozenset(order[cut:]))
        events += [(start, len(events), "partition", groups), (end, len(events) + 1, "heal", None)]
    events.sort(key=lambda e: (e[0], e[1]))

    lag_rng = random.Random(f"warrantchain-sim/{n}/{seed}/app-lag")
    app_lag = lag_rng.choice([0, 0, 1, 2, 3]) if lag_rng.random() < LAGGING_SHARE else None

    trace: list[str] | None = [] if verbose else None
    cluster = Cluster(
        n,
        config=config or sim_config(n),
        seed=rng.getrandbits(64),
        network=net,
        byzantine=byzantine,
        roundtrip=rng.random() < 0.05,
        trace=trace,
        unsafe_amnesia=unsafe_amnesia,
        validate=refuses_invalid,
        app_lag=app_lag,
        plan=plan,
        skewed=skewed,
    )
    if trace is not None:
        trace.append(
            f"seed {seed} n={n} plan={plan} skewed={sorted(skewed)} "
            f"byzantine={ {i: b.name for i, b in byzantine.items()} } "
            f"network={net} fault_end={fault_end} request_every={request_every} "
            f"blocks={blocks} roundtrip={cluster.roundtrip} app_lag={app_lag} events={[(e[0], e[2], e[3]) for e in events]}"
        )

    violations = cluster.checker.violations
    ok = False
    ev = 0
    while True:
        now = cluster.now
        while ev < len(events) and events[ev][0] <= now:
            _, _, kind, arg = events[ev]
            ev += 1
            if kind in ("crash", "partition"):
                faults[kind] += 1
            if kind == "crash":
                cluster.crash(arg)  # type: ignore[arg-type]
            elif kind == "restart":
                cluster.restart(arg)  # type: ignore[arg-type]
            elif kind == "partition":
                cluster.partition(*arg)  # type: ignore[misc]
            else:
                cluster.heal()
        if now == fault_end:
            cluster.heal()
            for i in range(n):
                cluster.restart(i)
            net.loss = net.duplicate = 0.0
            cluster.note("faults stop")
        cluster.target = min(blocks, now // request_every + 1)
        cluster.step()
        if violations and not verbose:
            break
        if now > fault_end:
            heights = {cluster.nodes[i].height for i in (final if plan is not None else correct)}
            if len(heights) == 1 and min(heights) >= blocks:
                ok = not violations
                break
            if now > fault_end + progress_bound:
                violations.append(
                    f"t={now} progress: heights {cluster.heights()} not equal and >= {blocks} "
                    f"{progress_bound} ticks after the faults stopped"
                )
                break
    faults["dropped"] = cluster.network.dropped
    faults["duplicated"] = cluster.network.duplicated
    faults["injected"] = sum(b.total_injected for b in byzantine.values())
    events_seen: Counter[str] = Counter()
    for i in correct:
        replica = cluster.nodes[i].replica
        if replica is not None:
            events_seen.update(replica.counters)
    return SimResult(
        seed=seed,
        n=n,
        ok=ok and not violations,
        violations=list(violations),
        ticks=cluster.now,
        height=max(cluster.nodes[i].height for i in correct),
        byzantine={i: b.name for i, b in byzantine.items()},
        faults=faults,
        events=events_seen,
        recovery_ticks=cluster.now - fault_end,
        app_lag=app_lag,
        later=cluster.later_verdicts,
        plan=plan.name if plan is not None else "",
        trace=trace,
    )
