"""Liveness schedules: client requests with identities, relayed like the daemon relays them.

``run_schedule(seed)`` runs one of three schedules (chosen by the seed) that each once stalled a
real network (issue 19):

* ``restart-submit``: a backup crashes, restarts cut off from everyone, and clients submit to it
  before its links come up; then the links come up;
* ``censor``: the primary of view 0 commits everyone's requests but one client's;
* ``isolated``: a backup with requests waiting is cut off for 50-300 ticks, then heals.

Each runs under a steady load (a request every few ticks to a random replica), network delay,
reordering, loss and duplication. The workload plays the daemon's part: a request submitted to a
replica enters its pool and is relayed once to every peer (lost if the link is down); when links
come up (heal, restart) every replica sends its pool to its peers again; a ``Forward`` action
relays the waiting request again. A primary proposes up to ``batch`` of the oldest requests it
holds that are not executed and not in flight in its view; a delivered block executes them.

Checked: safety (``SafetyChecker``), every request executed by every correct replica within
``latency_bound`` ticks of max(its submission, the end of the faults), and at the end every correct
replica active in one view: nobody left alone in a higher one.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from consensus.actions import Deliver, Forward
from consensus.ready import SoftState
from consensus.params import Config
from consensus.sim.cluster import Cluster, Node
from consensus.sim.fakecrypto import sha256
from consensus.sim.network import NetworkConfig
from consensus.sim.runner import sim_config

__all__ = ["SCHEDULES", "Relayed", "RequestCluster", "ScheduleResult", "run_schedule"]

SCHEDULES = ("restart-submit", "censor", "isolated")


@dataclass(frozen=True, slots=True)
class Relayed:
    """A request travelling between replicas' pools (the daemon's relay frame)."""

    request: bytes


class RequestCluster(Cluster):
    """A Cluster whose clients submit identified requests to chosen replicas."""

    def __init__(self, n: int, *, batch: int = 3, **kwargs: Any) -> None:
        self.batch = batch
        self.pools: list[dict[bytes, None]] = [{} for _ in range(n)]
        """What each replica holds and has not executed (lost on a crash, like a mempool)."""
        self.executed: list[dict[bytes, int]] = [{} for _ in range(n)]
        """Request -> tick executed, per replica (kept across crashes, like the block store)."""
        self.in_flight: list[set[bytes]] = [set() for _ in range(n)]
        self.submitted: dict[bytes, int] = {}
        self.censor: dict[int, set[bytes]] = {}
        """Replica -> requests it leaves out of its proposals (a byzantine primary)."""
        self.forwards = 0
        super().__init__(n, **kwargs)

    # -- the daemon's part ---------------------------------------------------------------------

    def submit(self, i: int, request: bytes) -> None:
        """A client gives ``request`` to replica ``i`` (which relays it once to every peer)."""
        if self.nodes[i].replica is None or request in self.executed[i]:
            return  # the client is refused (a crashed node) or told it is done
        self.submitted.setdefault(request, self.now)
        self._log(f"submit {request.decode()} to {i}")
        if request not in self.pools[i]:
            self.pools[i][request] = None
            self._relay(i, request)

    def links_up(self) -> None:
        """Links came up (heal, restart): every replica sends its pool to every peer."""
        for node in self.alive():
            for request in list(self.pools[node.id]):
                self._relay(node.id, request)

    def _relay(self, i: int, request: bytes) -> None:
        for dst in range(self.n):
            if dst != i:
                self.network.send(self.now, i, dst, Relayed(request))

    def deliver(self, src: int, dst: int, payload: Any) -> Any:
        if isinstance(payload, Relayed):
            if dst >= 0 and self.nodes[dst].replica is not None and payload.request not in self.executed[dst]:
                self.pools[dst].setdefault(payload.request, None)
            return None
        return super().deliver(src, dst, payload)

    def on_forward(self, node: Node, action: Forward) -> None:
        if action.request in self.pools[node.id]:
            self.forwards += 1
            self._relay(node.id, action.request)

    def on_deliver(self, node: Node, action: Deliver) -> None:
        if not action.payload:
            return  # a null block
        for request in action.payload.split(b"|")[1].split(b","):
            self.executed[node.id].setdefault(request, self.now)
            self.pools[node.id].pop(request, None)

    def on_soft_state(self, node: Node, soft: SoftState) -> None:
        self.in_flight[node.id].clear()  # like the daemon's release_in_flight on a view change

    def crash(self, i: int) -> None:
        super().crash(i)
        self.pools[i].clear()
        self.in_flight[i].clear()

    def drive(self) -> None:
        for node in self.alive():
            r = node.replica
            assert r is not None
            i = node.id
            pool = self.pools[i]
            skip = self.censor.get(i, set())  # a censor does not suspect itself for those
            r.note_pending(next((q for q in pool if q not in skip), None))
            while r.can_propose():
                batch = [q for q in pool if q not in self.in_flight[i] and q not in skip][: self.batch]
                if not batch:
                    break
                self.in_flight[i].update(batch)
                self.proposed += 1
                payload = b"%d/%d|%s|%d" % (i, r.view, b",".join(batch), self.proposed)
                r.propose(payload, sha256(payload))
            self._process(node)


@dataclass
class ScheduleResult:
    seed: int
    n: int
    schedule: str
    ok: bool
    violations: list[str]
    ticks: int
    requests: int
    worst_latency: int
    """Most ticks any request took, from max(submission, end of faults) until every correct
    replica executed it."""
    forwards: int
    events: Counter[str] = field(default_factory=Counter)
    trace: list[str] | None = None

    def summary(self) -> str:
        status = "ok" if self.ok else "FAIL"
        return (f"seed {self.seed} n={self.n} {self.schedule}: {status} requests={self.requests} "
                f"worst={self.worst_latency} ticks={self.ticks}")


def run_schedule(
    seed: int,
    *,
    schedule: str | None = None,
    config: Config | None = None,
    verbose: bool = False,
    latency_bound: int = 150,
) -> ScheduleResult:
    """Run one seeded liveness schedule (``schedule`` None: chosen by the seed)."""
    rng = random.Random(f"warrantchain-liveness/{seed}")
    kind = schedule or SCHEDULES[seed % len(SCHEDULES)]
    n = 7 if rng.random() < 0.1 else 4
    cfg = sim_config(n) if config is None else dataclasses.replace(config, n=n)
    net = NetworkConfig(
        min_delay=1, max_delay=rng.randint(1, 4), loss=rng.choice([0.0, 0.01, 0.05]),
        duplicate=rng.choice([0.0, 0.02]),
    )
    trace: list[str] | None = [] if verbose else None
    cluster = RequestCluster(n, config=cfg, seed=rng.getrandbits(64), network=net, trace=trace)
    every = rng.randint(4, 10)
    load_end = rng.randint(200, 300)
    victim = rng.randrange(1, n)  # the backup the faults hit (never the first primary)
    correct = set(range(n))

    # (tick, action) events of the schedule; faults end at `gst`.
    events: dict[int, list[tuple[str, Any]]] = {}
    if kind == "restart-submit":
        down = rng.randint(20, 80)
        up = down + rng.randint(10, 60)
        link = up + rng.randint(5, 30)
        events.setdefault(down, []).append(("crash", victim))
        events.setdefault(up, []).append(("restart-alone", victim))
        for t in range(up, link, max(1, (link - up) // 4)):
            events.setdefault(t, []).append(("submit-to", victim))
        events.setdefault(link, []).append(("heal", None))
        gst = link
    elif kind == "censor":
        cluster.censor[0] = set()
        correct.discard(0)
        cluster.checker.correct.discard(0)
        start = rng.randint(20, 60)
        for k in range(rng.randint(1, 3)):
            events.setdefault(start + 20 * k, []).append(("submit-censored", k))
        gst = 0
    else:
        cut = rng.randint(20, 80)
        heal = cut + rng.randint(50, 160)
        events.setdefault(cut, []).append(("isolate", victim))
        for t in range(cut, heal, max(1, (heal - cut) // 5)):
            events.setdefault(t, []).append(("submit-to", victim))
        events.setdefault(heal, []).append(("heal", None))
        gst = heal
    if trace is not None:
        trace.append(f"seed {seed} n={n} schedule={kind} victim={victim} every={every} "
                     f"load_end={load_end} network={net} events={sorted(events.items())}")

    number = 0

    def request(tag: str) -> bytes:
        nonlocal number
        number += 1
        return b"%s-%d" % (tag.encode(), number)

    violations = cluster.checker.violations
    load_end = max(load_end, gst + 30)
    limit = load_end + latency_bound + 400
    while cluster.now < limit:
        now = cluster.now
        for what, arg in events.get(now, ()):
            if what == "crash":
                cluster.crash(arg)
            elif what == "restart-alone":
                cluster.partition({arg}, set(range(n)) - {arg})
                cluster.restart(arg)
            elif what == "isolate":
                cluster.partition({arg}, set(range(n)) - {arg})
            elif what == "heal":
                cluster.heal()
                cluster.links_up()
            elif what == "submit-to":
                cluster.submit(arg, request("r"))
            elif what == "submit-censored":
                q = request("victim")
                cluster.censor[0].add(q)
                for i in range(n):  # the client gives it to everyone
                    cluster.submit(i, q)
        if now < load_end and now % every == 0:
            cluster.submit(rng.randrange(n), request("r"))
        cluster.step()
        if violations and not verbose:
            break
        if now > load_end and now % 5 == 0 and all(
            q in cluster.executed[i] for q in cluster.submitted for i in correct
        ):
            break

    # Let the views settle, then look: one view, active, at every correct replica.
    for _ in range(3 * cfg.status_interval_ticks + cfg.view_change_timeout_ticks):
        cluster.step()
    worst = 0
    for q, submitted in cluster.submitted.items():
        since = max(submitted, gst)
        for i in sorted(correct):
            done = cluster.executed[i].get(q)
            if done is None:
                violations.append(f"progress: request {q.decode()} never executed by {i}")
                break
            worst = max(worst, done - since)
            if done - since > latency_bound:
                violations.append(
                    f"latency: request {q.decode()} executed by {i} {done - since} ticks after "
                    f"t={since} (bound {latency_bound})"
                )
                break
    views = {i: (cluster.replica(i).view, cluster.replica(i).active) for i in sorted(correct)}
    if len(set(views.values())) != 1 or not all(active for _, active in views.values()):
        violations.append(f"views: correct replicas not active in one view at the end: {views}")
    events_seen: Counter[str] = Counter()
    for i in correct:
        events_seen.update(cluster.replica(i).counters)
    return ScheduleResult(
        seed=seed, n=n, schedule=kind, ok=not violations, violations=list(violations),
        ticks=cluster.now, requests=len(cluster.submitted), worst_latency=worst,
        forwards=cluster.forwards, events=events_seen, trace=trace,
    )
