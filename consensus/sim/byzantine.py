"""Byzantine behaviours. A byzantine node runs a real Replica inside (so it also does the right
thing most of the time) and tampers with what it sends; it can only sign as itself.

* :class:`EquivocatingPrimary` -- as primary, sends different proposals to two halves of the
  backups, each backed by its own commit vote; as new primary, sends one half a NewView built
  from another valid set of view changes (another O), or nothing.
* :class:`ConflictingVoter` -- prepares, commits and checkpoints for conflicting digests.
* :class:`Replayer` -- re-sends old messages (its own and others', validly signed).
* :class:`GarbageSender` -- random bytes, bad signatures, unknown senders, impersonation,
  wrong digests, forged proofs, bogus state.
* :class:`InvalidProposer` -- as primary, proposes validly signed blocks that every correct
  replica's application refuses (the node's block rules: a transaction committed before, a block
  time off by a minute, a block over the limits), so the view must change away from it.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from consensus.interfaces import ACCEPT, Validation, reject
from consensus.messages import (
    Certificate,
    Checkpoint,
    Commit,
    NewView,
    PrePrepare,
    PreparedProof,
    Prepare,
    StateEntry,
    StateResponse,
    ViewChange,
)
from consensus.sim.fakecrypto import sha256

if TYPE_CHECKING:
    from consensus.sim.cluster import Cluster, Node

__all__ = [
    "Behaviour",
    "EquivocatingPrimary",
    "ConflictingVoter",
    "Replayer",
    "GarbageSender",
    "InvalidProposer",
    "INVALID_MARK",
    "refuses_invalid",
    "Composite",
    "BEHAVIOURS",
]


def _sign(cluster: Cluster, node: Node, msg: Any) -> Any:
    return cluster.sign_as(node, msg)


def _evil(digest: bytes) -> bytes:
    return sha256(b"evil" + digest)


class Behaviour:
    name = "correct"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.injected = 0

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        return [(dst, msg)]

    def observe(self, payload: Any) -> None:
        pass

    def on_tick(self, cluster: Cluster, node: Node) -> None:
        pass


class EquivocatingPrimary(Behaviour):
    name = "equivocating-primary"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.view_changes: dict[int, ViewChange] = {}

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        if isinstance(msg, NewView) and self._other_half(msg.view, 0, dst):
            # The other half gets a NewView built from another valid V (so another O set), or
            # never hears that the view started.
            self.injected += 1
            alt = self._alternative_new_view(cluster, node, msg)
            return [] if alt is None else [(dst, alt)]
        if not isinstance(msg, PrePrepare) or not msg.payload:
            if isinstance(msg, Commit) and self._other_half(msg.view, msg.seq, dst):
                return []  # its honest commit goes to the first half only
            return [(dst, msg)]
        if not self._other_half(msg.view, msg.seq, dst):
            return [(dst, msg), (dst, _sign(cluster, node, Commit(msg.view, msg.seq, msg.digest, cluster.replica_id(node))))]
        payload = msg.payload + b"/evil"
        evil = _sign(cluster, node, PrePrepare(msg.view, msg.seq, sha256(payload), payload, cluster.replica_id(node)))
        commit = _sign(cluster, node, Commit(msg.view, msg.seq, evil.digest, cluster.replica_id(node)))
        self.injected += 1
        return [(dst, evil), (dst, commit)]

    def observe(self, payload: Any) -> None:
        if isinstance(payload, ViewChange):
            self.view_changes[payload.sender] = payload

    def _alternative_new_view(self, cluster: Cluster, node: Node, nv: NewView) -> NewView | None:
        pool = {vc.sender: vc for vc in self.view_changes.values() if vc.view == nv.view}
        for vc in nv.view_changes:
            pool.setdefault(vc.sender, vc)
        proofs = cluster.proofs_of(node)
        q = proofs.config.quorum
        if len(pool) <= q:
            return None
        subset = tuple(sorted(pool.values(), key=lambda vc: vc.sender)[-q:])
        if any(proofs.view_change_problem(vc) for vc in subset):
            return None
        plan = proofs.plan_new_view(subset)
        pps = tuple(_sign(cluster, node, PrePrepare(nv.view, s, d, p, cluster.replica_id(node)))
                    for s, d, p in plan.proposals)
        return _sign(cluster, node, NewView(nv.view, subset, pps, cluster.replica_id(node)))  # type: ignore[no-any-return]

    def _other_half(self, view: int, seq: int, dst: int) -> bool:
        return hash((view, seq, dst, 7919)) % 2 == 1


class ConflictingVoter(Behaviour):
    name = "conflicting-voter"

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        if isinstance(msg, (Prepare, Commit, Checkpoint)) and self.rng.random() < 0.5:
            self.injected += 1
            return [(dst, _sign(cluster, node, replace(msg, digest=_evil(msg.digest), sig=b"")))]
        return [(dst, msg)]

    def on_tick(self, cluster: Cluster, node: Node) -> None:
        r = node.replica
        if r is None or self.rng.random() > 0.2:
            return
        seq = r.stable_seq + self.rng.randint(1, cluster.config.window)
        digest = sha256(b"random%d" % self.rng.getrandbits(32))
        kind = self.rng.choice([Prepare, Commit])
        msg = _sign(cluster, node, kind(r.view, seq, digest, cluster.replica_id(node)))
        self.injected += 1
        for dst in range(cluster.n):
            if dst != node.id:
                cluster.inject(node.id, dst, msg)


class Replayer(Behaviour):
    name = "replayer"

    def __init__(self, rng: random.Random) -> None:
        super().__init__(rng)
        self.seen: list[Any] = []

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        self.observe(msg)
        return [(dst, msg)]

    def observe(self, payload: Any) -> None:
        if isinstance(payload, bytes):
            return
        if len(self.seen) < 400:
            self.seen.append(payload)
        else:
            self.seen[self.rng.randrange(400)] = payload

    def on_tick(self, cluster: Cluster, node: Node) -> None:
        if not self.seen or self.rng.random() > 0.3:
            return
        for _ in range(self.rng.randint(1, 3)):
            msg = self.rng.choice(self.seen)
            self.injected += 1
            cluster.inject(node.id, self.rng.randrange(cluster.n), msg)


class GarbageSender(Behaviour):
    name = "garbage"

    def on_tick(self, cluster: Cluster, node: Node) -> None:
        r = node.replica
        if r is None or self.rng.random() > 0.3:
            return
        rng, me, at = self.rng, cluster.replica_id(node), node.id
        dst = rng.choice([d for d in range(cluster.n) if d != at])
        seq = r.stable_seq + rng.randint(1, cluster.config.window)
        digest = sha256(b"g%d" % rng.getrandbits(32))
        kind = rng.randrange(9)
        if kind == 0:
            payload: Any = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 60)))
        elif kind == 1:
            payload = rng.choice([b'{"type":"Prepare"}', b"[]", b'{"type":"Commit","view":-1}',
                                  b'{"type":"Nope"}', b"\xff\xfe", b'{"type":1}'])
        elif kind == 2:  # bad signature
            payload = Prepare(r.view, seq, digest, me, bytes(32))
        elif kind == 3:  # impersonation: claims to be someone else, signs with its own key
            other = rng.choice([d for d in range(r.config.n) if d != me])
            payload = _sign(cluster, node, Commit(r.view, seq, digest, other))
        elif kind == 4:  # unknown sender
            payload = Prepare(r.view, seq, digest, cluster.n + rng.randint(0, 5), b"x")
        elif kind == 5:  # payload that does not match its digest, wrong digest size
            payload = rng.choice([
                _sign(cluster, node, PrePrepare(r.view, seq, digest, b"other", me)),
                _sign(cluster, node, Prepare(r.view, seq, b"short", me)),
            ])
        elif kind == 6:  # a view change with a forged prepared certificate
            pp = _sign(cluster, node, PrePrepare(r.view, seq, digest, b"x", me))
            fake = PreparedProof(pp, tuple(_sign(cluster, node, Prepare(r.view, seq, digest, me))
                                           for _ in range(r.config.quorum)))
            payload = _sign(cluster, node, ViewChange(r.view + 1, r.stable_seq, r.stable_digest,
                                                      r.stable_proof, (fake,), me))
        elif kind == 7:  # blocks with a certificate signed by itself only
            cert = Certificate(r.view, r.last_delivered + 1, digest,
                               tuple((me, b"s") for _ in range(r.config.quorum)))
            entry = StateEntry(r.last_delivered + 1, digest, b"forged", cert)
            payload = _sign(cluster, node, StateResponse((entry,), me))
        else:  # checkpoint at a seq that is not a checkpoint
            payload = _sign(cluster, node, Checkpoint(seq * cluster.config.checkpoint_interval + 1,
                                                      digest, me))
        self.injected += 1
        cluster.inject(at, dst, payload)


INVALID_MARK = b"invalid/"


class InvalidProposer(Behaviour):
    """Its own proposals carry :data:`INVALID_MARK`, which the simulated application refuses."""

    name = "invalid-proposer"

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        if isinstance(msg, PrePrepare) and msg.payload and msg.sender == cluster.replica_id(node) \
                and not msg.payload.startswith(INVALID_MARK):
            payload = INVALID_MARK + msg.payload
            self.injected += 1
            return [(dst, _sign(cluster, node, PrePrepare(msg.view, msg.seq, sha256(payload), payload, cluster.replica_id(node))))]
        return [(dst, msg)]


def refuses_invalid(replica: int, seq: int, digest: bytes, payload: bytes) -> Validation:
    """The simulated application's check of a proposal: what an invalid proposer sends fails it."""
    if payload.startswith(INVALID_MARK):
        return reject("an invalid proposer's block")
    return ACCEPT


class Composite(Behaviour):
    def __init__(self, rng: random.Random, parts: list[Behaviour]) -> None:
        super().__init__(rng)
        self.parts = parts
        self.name = "+".join(p.name for p in parts)

    def transform(self, cluster: Cluster, node: Node, dst: int, msg: Any) -> list[tuple[int, Any]]:
        out = [(dst, msg)]
        for part in self.parts:
            out = [item for d, m in out for item in part.transform(cluster, node, d, m)]
        return out

    def observe(self, payload: Any) -> None:
        for part in self.parts:
            part.observe(payload)

    def on_tick(self, cluster: Cluster, node: Node) -> None:
        for part in self.parts:
            part.on_tick(cluster, node)

    @property
    def total_injected(self) -> int:
        return sum(p.injected for p in self.parts)


BEHAVIOURS: list[type[Behaviour]] = [EquivocatingPrimary, ConflictingVoter, Replayer, GarbageSender]
