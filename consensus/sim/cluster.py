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

With ``plan`` set (``consensus.sim.reconfig.Plan``) the validator set changes as the plan says:
the nodes are the plan's machines, each node's replica learns of an epoch when the node delivers
the block that approves it, and the cluster does what the daemon does at a switch (a machine not
yet a member follows as an observer, copying certified blocks; one whose key rotated restarts its
replica with its new key; a removed one stops). Replica ids are per epoch; the network addresses
machines.

The same class is the harness of the scenario tests (``deliver_all``, ``crash``, ``tick_until``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable

from consensus.actions import Deliver, Forward, Outcome, Persist, ServeState
from consensus.epoch import Epoch, signing_domain
from consensus.interfaces import ACCEPT, Validation, later, reject
from consensus.messages import Message, StateEntry, describe, encode_message, signing_bytes
from consensus.params import Config
from consensus.persist import PersistedState, Record
from consensus.proofs import Checker
from consensus.ready import Effects, SoftState, perform
from consensus.replica import Replica
from consensus.sim.checker import SafetyChecker
from consensus.sim.fakecrypto import DOMAIN, FakeSigner, FakeVerifier, fake_keys, sha256
from consensus.sim.network import Network, NetworkConfig

if TYPE_CHECKING:
    from consensus.sim.reconfig import Plan

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
    up: bool = True
    """False between ``crash`` and ``restart``."""
    retired: bool = False
    """Removed from the validator set (``plan``): it stops."""
    key: bytes = b""
    """The identity its replica runs with (``plan``)."""

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
        plan: Plan | None = None,
        skewed: frozenset[int] = frozenset(),
    ) -> None:
        """Args:
            validate: ``validate(replica, seq, digest, payload)``; default accepts everything.
            app_lag: run the simulated application, executing blocks this many ticks after
                their delivery (None: no application; proposals are never answered LATER).
            roundtrip: pass every message and persist record through its byte encoding.
            trace: if a list, every event is appended to it as a line of text.
            unsafe_amnesia: TESTS ONLY -- restart replicas *without* their persisted record, to
                show that the checker catches what the write-ahead record prevents.
            plan: change the validator set as this plan says (``n`` is then its machines).
            skewed: TESTS ONLY (with ``plan``) -- these machines are told that the first change
                starts K seqs later than it does, to show that the checker catches replicas
                switching at different heights.
        """
        self.plan = plan
        self.skewed = skewed
        if plan is not None:
            n = plan.machines
        self.config = config or Config(n=n)
        self.n = n
        self.rng = random.Random(seed)
        self.network = Network(random.Random(self.rng.getrandbits(64)), network or NetworkConfig(0, 0))
        keys = fake_keys(n)
        self.verifier = FakeVerifier(keys)
        self.signers = [FakeSigner(k) for k in keys]
        self.proofs = Checker(self.config, self.verifier, DOMAIN, sha256)
        self.epochs: list[tuple[int, Epoch]] = (
            plan.epochs(self.config.checkpoint_interval) if plan is not None else []
        )
        """(approving height, epoch), the truth the checker judges by (``plan``)."""
        self._checkers = [self.epoch_checker(e) for _, e in self.epochs]
        self.machine_of = {e.members[i]: m for _, e in self.epochs for i, (m, _) in
                           enumerate(self._members(e.number))}
        self.key_signers = {k: FakeSigner(k) for k in self.machine_of}
        byzantine = byzantine or {}
        self.checker = SafetyChecker(
            n, {i for i in range(n) if i not in byzantine}, self.proofs,
            proofs_at=self.checker_at if plan is not None else None,
        )
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

    # ------------------------------------------------------------------ epochs (plan)

    def _members(self, number: int) -> tuple[tuple[int, int], ...]:
        assert self.plan is not None
        return self.plan.initial if number == 0 else self.plan.changes[number - 1].members

    def epoch_checker(self, epoch: Epoch) -> Checker:
        """The checks of ``epoch`` as its members make them."""
        return Checker(
            replace(self.config, n=epoch.n), epoch.verifier,
            signing_domain(DOMAIN, epoch.number), sha256, chain_domain=DOMAIN, base=epoch.base,
        )

    def checker_at(self, seq: int) -> Checker:
        """The checks of the epoch that truly orders ``seq``."""
        number = max(i for i, (_, e) in enumerate(self.epochs) if e.first_seq <= seq)
        return self._checkers[number]

    def _told(self, node: Node, approved: int, epoch: Epoch) -> Epoch:
        """The epoch as ``node`` is told of it (shifted by K on a skewed node: a broken ledger)."""
        if node.id in self.skewed and epoch.number >= 1:
            return replace(epoch, first_seq=epoch.first_seq + self.config.checkpoint_interval)
        return epoch

    def known_epochs(self, node: Node, height: int) -> list[Epoch]:
        """The epochs ``node``'s application knows once it executed block ``height``."""
        return [self._told(node, a, e) for a, e in self.epochs if a <= height]

    def _key_for(self, node: Node, epochs: list[Epoch], height: int) -> bytes | None:
        """The key ``node`` runs its replica with at ``height``: its key in the epoch of
        ``height + 1`` if a member, else None (an observer until admitted, or removed)."""
        current = [e for e in epochs if e.first_seq <= height + 1][-1]
        return next((k for k in current.members if self.machine_of[k] == node.id), None)

    def _admitted_later(self, node: Node) -> bool:
        """Will ``node`` be a member of an epoch after its height's? (It waits as an observer.)"""
        later = [e for _, e in self.epochs if e.first_seq > node.height + 1]
        return any(self.machine_of[k] == node.id for e in later for k in e.members)

    def _after_switch(self, node: Node) -> None:
        """The daemon's part when the replica left the validator set: run with the machine's
        new key (a rotation), wait as an observer, or stop (removed)."""
        r = node.replica
        if r is None or r.member or self.plan is None:
            return
        self._log(f"{node.id} not a member of epoch {r.epoch.number}")
        node.replica = None
        self._start(node)

    def sync_observers(self) -> None:
        """Machines waiting to be admitted copy the next certified blocks from a reachable
        member (each checked against the validator set of its height, as an observer node
        does) and start voting once at the base of the epoch that admits them."""
        for node in self.nodes:
            if not node.up or node.replica is not None or node.retired:
                continue
            for peer in self.nodes:
                if peer.replica is None or peer.height <= node.height \
                        or self.network.blocked(peer.id, node.id):
                    continue
                while node.height < peer.height:
                    entry = peer.store[node.height + 1]
                    if self.checker_at(entry.seq).certificate_problem(
                            entry.certificate, entry.seq, entry.digest) is not None:
                        break
                    node.store[entry.seq] = entry
                    self.checker.delivered(node.id, Deliver(entry.seq, entry.digest, entry.payload, entry.certificate), self.now)
                    if self._key_for(node, self.known_epochs(node, node.height), node.height):
                        break
                break
            if self._key_for(node, self.known_epochs(node, node.height), node.height):
                self._log(f"{node.id} admitted at height {node.height}")
                self._start(node)

    def sign_as(self, node: Node, msg: Any) -> Any:
        """``msg`` signed by ``node``'s replica's key in its epoch (byzantine behaviours)."""
        r = node.replica
        if r is None or self.plan is None:
            return replace(msg, sig=self.signers[node.id].sign(signing_bytes(DOMAIN, msg)))
        data = signing_bytes(signing_domain(DOMAIN, r.epoch.number), msg, DOMAIN)
        return replace(msg, sig=self.key_signers[node.key].sign(data))

    def replica_id(self, node: Node) -> int:
        """``node``'s id in its replica's epoch (its index without a plan)."""
        r = node.replica
        return node.id if r is None or self.plan is None else max(r.id, 0)

    def proofs_of(self, node: Node) -> Checker:
        """The checks of ``node``'s replica's epoch."""
        r = node.replica
        return self.proofs if r is None or self.plan is None else self._checkers[r.epoch.number]

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
        signer, epochs, key = self.signers[node.id] if self.plan is None else None, [], b""
        if self.plan is not None:
            epochs = self.known_epochs(node, height)
            found = self._key_for(node, epochs, height)
            if found is None:
                node.retired = not self._admitted_later(node)
                self._log(f"{node.id} {'removed' if node.retired else 'observes'} at height {height}")
                return
            key, signer = found, self.key_signers[found]
            node.key = key
        assert signer is not None
        node.replica = Replica(
            self.config,
            node.id,
            signer,
            self.verifier,
            lambda s, d, p: self._check(node, s, d, p),
            sha256,
            DOMAIN,
            persisted=persisted,
            app_height=height,
            app_digest=node.store[height].digest if height else b"",
            epochs=epochs,
            key=key,
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
        self.nodes[i].up = False
        self._log(f"crash {i}")

    def restart(self, i: int) -> None:
        node = self.nodes[i]
        if not node.up or (node.replica is None and self.plan is None):
            node.up = True
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
        self._after_switch(node)

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
            for approved, epoch in self.epochs:
                if approved == a.seq and node.replica is not None:
                    # The daemon: executing the approving block reveals the next epoch.
                    node.replica.schedule_epoch(self._told(node, approved, epoch))
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
            node.replica.serve_state(a.to, entries, a.epoch)

        def send(to: int, msg: Message) -> None:
            r = node.replica
            if self.plan is not None and r is not None:
                to = self.machine_of[r.epoch.members[to]]  # the replica's ids are its epoch's
            self._send(node, to, msg)

        def send_in(epoch: int, to: int, msg: Message) -> None:
            self._send(node, self.machine_of[self.epochs[epoch][1].members[to]], msg)

        return Effects(
            persist=persist,
            deliver=deliver,
            send=send,
            send_in=send_in,
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
            if self.plan is not None:
                self.sync_observers()
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
