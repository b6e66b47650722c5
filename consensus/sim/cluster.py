"""n validators wired to a simulated network: the daemon's job, done in memory.

Each node has a *disk* (its Persist records, applied before its messages leave) and a *block
store* (the blocks it delivered, with certificates), from which it answers ServeState. A crash
loses everything else; a restart rebuilds the replica from the disk and the store's height.
Each Ready is performed with ``consensus.ready.perform``, the daemon's own order.

With ``app_lag`` set, each node also runs a simulated *application* that executes a delivered
block ``app_lag`` ticks after its delivery (0: at once, as the daemon does) and, like the node's
check of a proposal (whose header commits to the state after seq-1), answers LATER for a
proposal at a height above the one after its last executed block; it calls
``replica.applied(height)`` after each block it executes. ``later_verdicts`` counts those LATER
answers given to correct replicas.

The same class is the harness of the scenario tests (``deliver_all``, ``crash``, ``tick_until``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Callable

from consensus.actions import Deliver, Forward, Outcome, Persist, ServeState
from consensus.interfaces import ACCEPT, Validation, later, reject
from consensus.messages import Message, StateEntry, describe, encode_message
from consensus.params import Config
from consensus.persist import PersistedState, Record
from consensus.proofs import Checker
from consensus.ready import Effects, SoftState, perform
from consensus.replica import Replica
from consensus.sim.checker import SafetyChecker
from consensus.sim.fakecrypto import DOMAIN, FakeSigner, FakeVerifier, fake_keys, sha256
from consensus.sim.network import Network, NetworkConfig

__all__ = ["Node", "Cluster", "DOMAIN", "SimValidate"]

SimValidate = Callable[[int, int, bytes, bytes], "Validation | bool"]
"""``validate(replica, seq, digest, payload)``: a Validation, or True/False for ACCEPT/REJECT."""


@dataclass
class Node:
    id: int
    replica: Replica | None = None
    disk: dict[bytes, Record] = field(default_factory=dict)
    store: dict[int, StateEntry] = field(default_factory=dict)
    behaviour: Any = None
    """A byzantine behaviour (consensus.sim.byzantine), or None for a correct node."""
    executed: int = 0
    """The simulated application's last executed block (``Cluster(app_lag=...)``)."""
    backlog: list[tuple[int, int]] = field(default_factory=list)
    """(tick due, seq) of delivered blocks the application has not executed yet."""
    effects: Effects | None = None

    @property
    def height(self) -> int:
        return max(self.store, default=0)


class Cluster:
    def __init__(
        self,
        n: int,
        *,
        config: Config | None = None,
        seed: int | str = 0,
        network: NetworkConfig | None = None,
        byzantine: dict[int, Any] | None = None,
        validate: SimValidate | None = None,
        roundtrip: bool = False,
        trace: list[str] | None = None,
        unsafe_amnesia: bool = False,
        app_lag: int | None = None,
    ) -> None:
        """Args:
            validate: ``validate(replica, seq, digest, payload)``; default accepts everything.
            app_lag: run the simulated application, executing blocks this many ticks after
                their delivery (None: no application; proposals are never answered LATER).
            roundtrip: pass every message and persist record through its byte encoding.
            trace: if a list, every event is appended to it as a line of text.
            unsafe_amnesia: TESTS ONLY -- restart replicas *without* their persisted record, to
                show that the checker catches what the write-ahead record prevents.
        """
        self.config = config or Config(n=n)
        self.n = n
        self.rng = random.Random(seed)
        self.network = Network(random.Random(self.rng.getrandbits(64)), network or NetworkConfig(0, 0))
        keys = fake_keys(n)
        self.verifier = FakeVerifier(keys)
        self.signers = [FakeSigner(k) for k in keys]
        self.proofs = Checker(self.config, self.verifier, DOMAIN, sha256)
        byzantine = byzantine or {}
        self.checker = SafetyChecker(n, {i for i in range(n) if i not in byzantine}, self.proofs)
        self.validate = validate
        self.roundtrip = roundtrip
        self.trace = trace
        self.unsafe_amnesia = unsafe_amnesia
        self.app_lag = app_lag
        self.later_verdicts = 0
        """LATER answers the simulated application gave correct replicas."""
        self.now = 0
        self.drop_if: Callable[[int, int, Any], bool] | None = None
        """Scenario tests: messages for which this returns True are lost."""
        self.target = 0
        self.proposed = 0
        self.nodes = [Node(i, behaviour=byzantine.get(i)) for i in range(n)]
        for node in self.nodes:
            self._start(node)

    # ------------------------------------------------------------------ lifecycle

    def _start(self, node: Node) -> None:
        if self.unsafe_amnesia:
            node.disk.clear()
        if self.roundtrip:
            items = {k: r.encode() for k, r in node.disk.items()}
            persisted = PersistedState.from_items(items) if items else None
        else:
            persisted = PersistedState.from_records(node.disk) if node.disk else None
        height = node.height
        node.executed = height  # a restarted application re-executes its block store first
        node.backlog.clear()
        node.effects = node.effects or self._effects(node)
        node.replica = Replica(
            self.config,
            node.id,
            self.signers[node.id],
            self.verifier,
            lambda s, d, p: self._check(node, s, d, p),
            sha256,
            DOMAIN,
            persisted=persisted,
            app_height=height,
            app_digest=node.store[height].digest if height else b"",
        )
        self._process(node)

    def _check(self, node: Node, seq: int, digest: bytes, payload: bytes) -> Validation:
        """The simulated application's check of a proposal at ``node``."""
        if self.app_lag is not None and seq > node.executed + 1:
            if node.behaviour is None:
                self.later_verdicts += 1
            return later(f"executed up to {node.executed}")
        if self.validate is None:
            return ACCEPT
        verdict = self.validate(node.id, seq, digest, payload)
        if isinstance(verdict, Validation):
            return verdict
        return ACCEPT if verdict else reject("refused by the simulated application")

    def _execute_due(self, node: Node) -> None:
        """The lagging application executes the blocks whose time has come."""
        done = 0
        while node.backlog and node.backlog[0][0] <= self.now:
            done = node.backlog.pop(0)[1]
        if done and node.replica is not None:
            node.executed = done
            node.replica.applied(done)

    def crash(self, i: int) -> None:
        """Stop node i: it loses all memory but its disk and block store."""
        self.nodes[i].replica = None
        self._log(f"crash {i}")

    def restart(self, i: int) -> None:
        node = self.nodes[i]
        if node.replica is None:
            self._log(f"restart {i} (height {node.height})")
            self._start(node)

    def partition(self, *groups: set[int] | frozenset[int]) -> None:
        self.network.groups = [frozenset(g) for g in groups]
        self._log(f"partition {[sorted(g) for g in groups]}")

    def heal(self) -> None:
        self.network.groups = None
        self._log("heal")

    def replica(self, i: int) -> Replica:
        r = self.nodes[i].replica
        assert r is not None, f"replica {i} is crashed"
        return r

    def alive(self) -> list[Node]:
        return [node for node in self.nodes if node.replica is not None]

    # ------------------------------------------------------------------ actions

    def _process(self, node: Node) -> None:
        """Perform a node's Readies (persist and deliver first, then send) until none is left."""
        assert node.effects is not None
        while node.replica is not None and (ready := node.replica.ready()):
            perform(ready, node.effects)

    def _effects(self, node: Node) -> Effects:
        """The simulated daemon's side of a Ready for ``node``: its disk, block store, network."""

        def persist(records: tuple[Persist, ...]) -> bool:
            for a in records:
                if a.record is None:
                    node.disk.pop(a.key, None)
                else:
                    node.disk[a.key] = a.record
            return True

        def deliver(a: Deliver) -> bool:
            node.store[a.seq] = StateEntry(a.seq, a.digest, a.payload, a.certificate)
            self.checker.delivered(node.id, a, self.now)
            if self.trace is not None:
                self._log(f"{node.id} deliver s={a.seq} d={a.digest.hex()[:8]}")
            self.on_deliver(node, a)
            if self.app_lag is not None:
                node.backlog.append((self.now + self.app_lag, a.seq))
                if self.app_lag == 0:
                    self._execute_due(node)
            return True

        def broadcast(msg: Message) -> None:
            for dst in range(self.n):
                if dst != node.id:
                    self._send(node, dst, msg)

        def serve(a: ServeState) -> None:
            assert node.replica is not None
            entries = [node.store[s] for s in range(a.from_seq, a.to_seq + 1) if s in node.store]
            node.replica.serve_state(a.to, entries)

        return Effects(
            persist=persist,
            deliver=deliver,
            send=lambda dst, msg: self._send(node, dst, msg),
            broadcast=broadcast,
            forward=lambda a: self.on_forward(node, a),
            serve=serve,
            soft_state=lambda soft: self.on_soft_state(node, soft),
        )

    def on_deliver(self, node: Node, action: Deliver) -> None:
        """A block was delivered at ``node`` (a workload with requests overrides this)."""

    def on_forward(self, node: Node, action: Forward) -> None:
        """``node`` asks to hand a waiting request to the primary again (workloads override)."""

    def on_soft_state(self, node: Node, soft: SoftState) -> None:
        """``node``'s view, primary or activity changed (workloads override)."""

    def _send(self, node: Node, dst: int, msg: Any) -> None:
        if self.drop_if is not None and self.drop_if(node.id, dst, msg):
            self._log(f"{node.id}->{dst} {describe(msg)} dropped by the test")
            return
        if node.behaviour is not None:
            for d, m in node.behaviour.transform(self, node, dst, msg):
                self.network.send(self.now, node.id, d, m)
            return
        self.checker.sent(node.id, msg, self.now)
        self.network.send(self.now, node.id, dst, msg)

    def inject(self, src: int, dst: int, payload: Any) -> None:
        """A byzantine node sends anything (a message object or raw bytes)."""
        self.network.send(self.now, src, dst, payload)

    def deliver(self, src: int, dst: int, payload: Any) -> Outcome | None:
        node = self.nodes[dst] if dst >= 0 else None
        if node is None or node.replica is None:
            return None
        if isinstance(payload, bytes):
            outcome = node.replica.receive(payload)
        elif self.roundtrip:
            outcome = node.replica.receive(encode_message(payload))
        else:
            outcome = node.replica.step(payload)
        if node.behaviour is not None:
            node.behaviour.observe(payload)
        if self.trace is not None:
            what = describe(payload) if not isinstance(payload, bytes) else f"{len(payload)} bytes"
            self._log(f"{src}->{dst} {what} => {outcome}")
        self._process(node)
        return outcome

    # ------------------------------------------------------------------ driving

    def request(self, blocks: int = 1) -> None:
        """Clients want ``blocks`` more blocks committed."""
        self.target += blocks
        self.drive()

    def drive(self) -> None:
        """Like the daemon: tell replicas about pending requests; primaries propose."""
        for node in self.alive():
            r = node.replica
            assert r is not None
            # Each block asked for is one request: the oldest waiting is the next height.
            r.note_pending(b"height/%d" % (r.last_delivered + 1) if r.last_delivered < self.target else None)
            while r.can_propose() and r.next_seq <= self.target:
                self.proposed += 1
                payload = b"block/%d/%d/%d/%d" % (node.id, r.view, r.next_seq, self.proposed)
                r.propose(payload, sha256(payload))
            self._process(node)

    def tick(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.now += 1
            for node in self.alive():
                assert node.replica is not None
                if node.backlog:
                    self._execute_due(node)
                node.replica.tick()
                if node.behaviour is not None:
                    node.behaviour.on_tick(self, node)
                self._process(node)

    def deliver_due(self) -> int:
        count = 0
        while (item := self.network.pop_due(self.now)) is not None:
            self.deliver(*item)
            count += 1
        return count

    def deliver_all(self, limit: int = 1_000_000) -> int:
        """Deliver every message in flight (and those they cause), ignoring delays."""
        count = 0
        while count < limit and (item := self.network.pop_any()) is not None:
            self.deliver(*item)
            count += 1
        return count

    def step(self) -> None:
        """One simulated tick: deliver what is due, drive the workload, tick every replica."""
        self.deliver_due()
        self.drive()
        self.tick()

    def tick_until(self, done: Callable[[], bool], limit: int = 10_000) -> int:
        """Deliver everything, drive and tick until ``done()``; returns the ticks used."""
        for used in range(limit):
            self.deliver_all()
            self.drive()
            self.deliver_all()
            if done():
                return used
            self.tick()
        raise AssertionError(f"not done after {limit} ticks")

    # ------------------------------------------------------------------ looking

    def heights(self) -> list[int]:
        return [node.height for node in self.nodes]

    def block(self, i: int, seq: int) -> StateEntry:
        return self.nodes[i].store[seq]

    def flush(self, i: int) -> None:
        """Perform node i's pending actions (after calling its replica directly)."""
        self._process(self.nodes[i])

    def note(self, line: str) -> None:
        """Add a line to the trace (if tracing)."""
        self._log(line)

    def _log(self, line: str) -> None:
        if self.trace is not None:
            self.trace.append(f"t={self.now} {line}")
