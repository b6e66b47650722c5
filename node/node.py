"""The node: wires the replica, the application, the mesh and the transaction gossip together.

``node.factory.build_node(config)`` makes the parts from the config; :class:`Node` connects them
and drives them from one asyncio event loop. Inputs: frames from peers (``_on_frame``), transactions
from clients (``submit``), and a clock tick (``_tick_loop``). After each input ``_pump`` takes the
replica's Ready and hands it to ``consensus.perform`` with this node's effects, which keeps the
order the write-ahead rule requires: every record in one synced batch, every committed block
executed (one synced batch each), and only then the messages. A view change is noticed from the
Ready's soft state. The check of a proposal (``_check_proposal``) answers the replica ACCEPT,
REJECT or LATER (a block above the one after our last executed block): the replica keeps a LATER
one and asks again once ``applied`` says the block before it is executed.

Frames on the mesh carry a one-byte tag: ``c`` a consensus message (consensus.messages wire
format), ``t`` transactions being relayed (node.mempool.gossip, which owns that framing), ``f`` the
block feed between validators and observers (node.observer.feed).

A node whose key is no validator's runs as an **observer**: no replica; a
:class:`~node.observer.follower.Follower` takes certified blocks from the validators' feeds, and
:meth:`Node.commit_block` (the path the replica's deliveries take too) executes them. Every
validator runs a :class:`~node.observer.server.FeedServer` for its linked observers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from consensus.actions import Deliver, Forward, Persist, ServeState
from consensus.interfaces import ACCEPT, Validate, Validation, later, reject
from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import MalformedMessage, Message, PrePrepare, StateEntry, decode_message, encode_message
from consensus.ready import Effects, SoftState, perform
from consensus.replica import Replica
from node.app import Application, Committed, DivergenceError
from node.config import NodeConfig
from node.errors import ChainError, StoreError
from node.kernel import crypto
from node.kernel.chain import SignedTx
from node.kernel.genesis import Genesis
from node.ledger.epochs import epoch_at, latest_epoch, validator_set_at
from node.logs import kv
from node.mempool.gossip import TAG_TX, Gossip
from node.mempool.pool import Mempool
from node.observer.feed import TAG_FEED
from node.observer.follower import Follower
from node.observer.membership import members_at
from node.observer.server import FeedServer
from node import reconfig
from node.p2p.handshake import PeerRole
from node.p2p.mesh import Mesh
from node.store.leveldb import Store

__all__ = ["TAG_CONSENSUS", "MeshMaker", "Node", "Parts", "ReplicaMaker", "now_ms", "replica_in_sync"]

TAG_CONSENSUS = b"c"
_STATE_FRAME_BYTES = 8 << 20  # blocks per state-transfer answer, roughly
_ARRIVALS = 256  # pre-prepares whose arrival time is remembered until they are checked
log = logging.getLogger("warrantd")


def replica_in_sync(replica: Replica, halted: bool) -> bool:
    """Within a block of the height the peers vouch for (Replica.peer_height); not while that is
    unknown, nor after a halt. /health, chain_status, the in_sync gauge and readiness read this."""
    target = replica.peer_height()
    return not halted and target is not None and replica.last_delivered + 1 >= target


def now_ms() -> int:
    return time.time_ns() // 1_000_000


ReplicaMaker = Callable[[Validate], Replica]
"""Makes the replica, restarted from the store, given the node's proposal check."""
MeshMaker = Callable[[Callable[[crypto.PublicKey, bytes], None], Callable[[crypto.PublicKey, bool], None]], Mesh]
"""Makes the mesh, given where received frames and link changes go."""


@dataclass(frozen=True)
class Parts:
    """What ``node.factory.build_node`` made from the config, for :class:`Node` to wire."""

    config: NodeConfig
    genesis: Genesis
    key: crypto.SigningKey
    index: int | None  # this validator's index in genesis; None: an observer
    store: Store
    mempool: Mempool
    app: Application
    replica: ReplicaMaker | None  # None: an observer (it follows the chain, it does not vote)
    mesh: MeshMaker
    joins: ReplicaMaker | None = None
    """Makes the replica (from the store as it is then) once this node's key is a validator of
    the epoch of its next block: a validator admitted by governance follows until then."""


class Node:
    """A running validator or observer. ``await start()``, then ``await stopped()``; ``await stop()`` ends it.

    Build one with ``node.factory.build_node(config)``."""

    def __init__(self, parts: Parts) -> None:
        self.config = parts.config
        self.name = parts.config.node.name
        self.genesis = parts.genesis
        self.key = parts.key
        self.store = parts.store
        self.mempool = parts.mempool
        self.app = parts.app
        self.validators = parts.genesis.validator_set()
        """The validator set of the replica's epoch (its ids index it); follows each switch."""
        self.index = parts.index
        self.replica = None if parts.replica is None else parts.replica(self._check_proposal)
        self._joins = parts.joins
        self._epoch = -1
        if self.replica is not None:
            self._take_epoch(self.replica)
        self.on_commit: list[Callable[[Committed], None]] = []
        self._effects = Effects(
            persist=self._persist, deliver=self._deliver, send=self._send, broadcast=self._broadcast,
            forward=self._forward, serve=self._serve_state, soft_state=self._view_changed,
            send_in=self._send_in,
        )
        # Sent through whatever self.mesh is when the frame goes out (a test may wrap the mesh).
        self.gossip = Gossip(self.mempool, send=lambda peer, frame: self.mesh.send(peer, frame),
                             on_new=self._schedule_proposal, now_ms=now_ms)
        self.feed = FeedServer(entry=self.app.committed_entry, height=lambda: self.store.meta.height,
                               send=lambda peer, frame: self.mesh.send(peer, frame),
                               queued=lambda peer: self.mesh.queued(peer)[0],
                               blocks_per_s=self.config.p2p.observer_blocks_per_s,
                               frame_bytes=min(_STATE_FRAME_BYTES, self.config.p2p.max_frame // 2), clock=time.monotonic)
        self.follower = None if self.replica is not None else self.make_follower()
        self._members_epochs: tuple[int, int] | None = None  # (newest, current) epoch the members were made for
        self._propose_handle: asyncio.TimerHandle | None = None
        self._arrivals: dict[bytes, int] = {}  # pre-prepare digest -> our clock when it arrived
        self._last_block_ms = now_ms()  # our clock at the last commit: the empty-block interval runs from it
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self.failure: str | None = None
        self.mesh = parts.mesh(self._on_frame, self.peer_changed)

    def make_follower(self) -> Follower:
        """The component that follows the chain from the validators' feeds (an observer runs one;
        a validator that joins later runs one until its epoch, then stops it)."""
        return Follower(
            chain_id=self.genesis.chain_id, height=lambda: self.store.meta.height,
            validators_at=lambda height: validator_set_at(self.store.state, height), digest=self.app.digest,
            commit=self.commit_block, send=lambda peer, frame: self.mesh.send(peer, frame), clock=time.monotonic,
        )

    # -- checking proposals -----------------------------------------------------------------------

    def _check_proposal(self, seq: int, digest: bytes, payload: bytes) -> Validation:
        """The replica asks whether a backup may prepare this proposal (after its own checks)."""
        height = self.store.meta.height
        if seq > height + 1:
            # Its header commits to the state after seq-1, which this node has not executed yet
            # (its last commit is still in flight): the replica keeps it until ``applied``.
            return later(f"block {seq} can be checked once block {seq - 1} is executed; executed: {height}")
        # The block time is judged against our clock when the proposal arrived, not when we get to
        # check it: one kept for LATER or stashed by the replica for a view it had not entered yet
        # would otherwise look late.
        reason = self.app.check_proposal(seq, digest, payload, self._arrivals.get(digest) or now_ms())
        if reason is None:
            return ACCEPT
        log.warning(kv("proposal-refused", seq=seq, reason=reason))
        return reject(reason)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        self.refresh_members()
        await self.mesh.start()
        self._tasks.append(asyncio.create_task(self._tick_loop(), name=f"{self.name}-tick"))
        log.info(kv("started", index=self.index, height=self.store.meta.height,
                    view=None if self.replica is None else self.replica.view, role=self.mesh.own_role.value))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self._propose_handle is not None:
            self._propose_handle.cancel()
        self.gossip.close()
        await self.mesh.stop()
        self.store.close()
        self._stopped.set()

    async def stopped(self) -> None:
        await self._stopped.wait()

    def _fail(self, reason: str) -> None:
        """Stop loudly: the node must not go on (diverged state, broken store)."""
        if self.failure is None:
            self.failure = reason
            log.critical(kv("halt", reason=reason))
            asyncio.get_running_loop().create_task(self.stop())

    # -- inputs ---------------------------------------------------------------------------------

    def submit(self, data: bytes | SignedTx, ready: Callable[[], None] | None = None) -> SignedTx:
        """Admit a client transaction and relay it; raises MempoolError with a stable code.

        ``ready`` (which raises to refuse) is asked once the transaction is known to be no replay
        (node.mempool.pool.Mempool.add)."""
        tx, new = self.mempool.add(data, now_ms(), ready=ready)
        if new:
            self.gossip.relay([tx])
            self._schedule_proposal()
        else:
            self.gossip.relay_again(tx)
        return tx

    def readiness(self) -> tuple[str, str] | None:
        """Why this node should not take submissions now, as (reason, message); None: it should.

        A node that is not linked to a quorum, or more than a block behind what its peers report
        (the (f+1)-th highest height, which a correct validator has), would answer ``pending``
        for what it cannot know and fill its mempool with what may be committed already."""
        if self.failure is not None:
            return "HALTED", f"this node halted ({self.failure}); use another node"
        # An observer forwards what it is given to the validators it is linked to: one will do.
        need = 1 if self.replica is None else self.replica.config.quorum - 1
        linked = len(self.linked_validators())
        if linked < need:
            purpose = "forwarding needs" if self.replica is None else "a quorum needs"
            return "NOT_LINKED", f"this node is linked to {linked} other validators, and {purpose} {need}; retry shortly or use another node"
        network = self.peer_height()
        if network is None:
            return "SYNCING", "this node has not heard its peers' heights yet; retry shortly"
        if not self.in_sync():
            height = self.store.meta.height
            return "SYNCING", f"this node is catching up (height {height}, its peers at {network}); retry shortly or use another node"
        return None

    def in_sync(self) -> bool:
        if self.replica is not None:
            return replica_in_sync(self.replica, self.failure is not None)
        target = self.peer_height()
        return self.failure is None and target is not None and self.store.meta.height + 1 >= target

    def peer_height(self) -> int | None:
        """The height the peers vouch for (the replica's, or the follower's for an observer)."""
        if self.replica is not None:
            return self.replica.peer_height()
        return None if self.follower is None else self.follower.peer_height()

    def peer_index(self, peer: crypto.PublicKey) -> int | None:
        """A linked peer's index in the validator set, None for an observer or a key not in it.
        The mesh names peers by key; the replica by index in the set it votes with."""
        try:
            return self.validators.keys.index(peer)
        except ValueError:
            return None

    def _votes_somewhere(self, replica: Replica, peer: crypto.PublicKey) -> bool:
        """A validator of an epoch the replica knows: the current one, the next (a joiner
        voting before we switched) or an older one (a peer still catching up there)."""
        return any(peer.raw in epoch.members for epoch in replica.epochs)

    def _take_epoch(self, replica: Replica) -> None:
        """The replica's epoch is ours: its validator set (replica ids index it), our index."""
        self._epoch = replica.epoch.number
        self.validators = reconfig.validators_of(replica.epoch)
        self.index = replica.id if replica.member else None

    def _maybe_join(self) -> None:
        """A follower whose key is a validator of the next block's epoch starts voting: the
        replica starts at the base of that epoch (or above it), from the store."""
        if self.replica is not None or self._joins is None or self.failure is not None:
            return
        epochs = reconfig.known_epochs(self.store.state)
        if reconfig.voter_in(epochs, self.store.meta.height, self.key.public_key) is None:
            return
        if self.follower is not None:
            self.follower.stop()
            self.follower = None
        self.replica = replica = self._joins(self._check_proposal)
        self._take_epoch(replica)
        log.warning(kv("joined", epoch=replica.epoch.number, index=replica.id, height=self.store.meta.height))
        self.refresh_members()
        for index in self.linked_validators():
            replica.greet(index)
        self._pump()

    def _leave(self) -> None:
        """The replica's key is no validator of its new epoch (removed, or rotated away): the
        node follows the chain as an observer from now on (restart it with a new key to vote)."""
        replica = self.replica
        assert replica is not None
        log.warning(kv("not-a-validator", epoch=replica.epoch.number,
                       note="this key votes no more: removed, or rotated (restart with the new key)"))
        self.replica = None
        self.index = None
        self.follower = self.make_follower()

    def linked_validators(self) -> set[int]:
        """Indices of the validators (of our set) we have a link to now."""
        return {i for i in map(self.peer_index, self.mesh.connected(PeerRole.VALIDATOR)) if i is not None}

    def peer_changed(self, peer: crypto.PublicKey, up: bool) -> None:
        """A validator's link came up: it gets our whole mempool and our status (or, for an
        observer, our feed request); an observer's link came up: it may ask for our feed. A link
        went down: forget its queues (it gets everything again when it is back)."""
        if not up:
            self.gossip.link_down(peer)
            self.feed.link_down(peer)
            if self.follower is not None:
                self.follower.link_down(peer)
            return
        role = self.mesh.role(peer)
        if self.failure is not None or role is None:
            return
        # Any member may follow our feed: an observer, or a validator of the pending epoch that
        # is still following the chain up to the epoch that admits it (bounded per link).
        self.feed.link_up(peer)
        if role is PeerRole.OBSERVER:
            return
        self.gossip.link_up(peer)
        if self.follower is not None:
            self.follower.link_up(peer)
        index = self.peer_index(peer)
        if self.replica is not None and index is not None:
            self.replica.greet(index)
            self._pump()

    def _on_frame(self, peer: crypto.PublicKey, data: bytes) -> None:
        if self.failure is not None:
            return
        tag, body = data[:1], data[1:]
        if tag == TAG_TX:
            self.gossip.admit_frame(peer, body)  # an observer forwards its clients' transactions
        elif tag == TAG_FEED:
            if self.follower is not None:
                self.follower.on_frame(peer, body)
            elif self.mesh.role(peer) is not None:
                self.feed.on_frame(peer, body)
        elif tag == TAG_CONSENSUS:
            self._on_consensus(peer, body)
        else:
            log.info(kv("frame-unknown-tag", peer=peer.hex()[:16], tag=tag.hex()))

    def _on_consensus(self, peer: crypto.PublicKey, body: bytes) -> None:
        replica = self.replica
        if replica is None or not self._votes_somewhere(replica, peer):  # we are an observer, or it is
            log.info(kv("consensus-from-non-validator", peer=peer.hex()[:16]))
            return
        try:
            msg = decode_message(body)
        except MalformedMessage as exc:
            log.info(kv("consensus-malformed", peer=peer, error=exc))
            return
        if isinstance(msg, PrePrepare):
            self._note_arrival(peer, msg)
        outcome = replica.step(msg)
        if outcome.reason is not None:
            log.debug(kv("consensus-not-processed", peer=peer, outcome=outcome))
        self._pump()

    def _note_arrival(self, peer: crypto.PublicKey, msg: PrePrepare) -> None:
        """Remember when a proposal from its view's primary first arrived (bounded: the oldest are
        forgotten). Only what the primary itself sends counts: its signature is not checked yet,
        but the link is authenticated, so no other peer can push the primary's entries out."""
        primary = msg.view % len(self.validators)
        if msg.payload and msg.sender == primary and peer == self.validators.keys[primary] and msg.digest not in self._arrivals:
            self._arrivals[msg.digest] = now_ms()
            while len(self._arrivals) > _ARRIVALS:
                del self._arrivals[next(iter(self._arrivals))]

    async def _tick_loop(self) -> None:
        period = self.config.consensus.tick_ms / 1000
        while True:
            await asyncio.sleep(period)
            if self.failure is not None:
                return
            try:
                if self.replica is not None:
                    oldest = self.mempool.oldest(now_ms())
                    self.replica.note_pending(None if oldest is None else oldest.id)
                    self.replica.tick()
                    self._pump()
                    self._maybe_propose()
                    self._maybe_propose_empty()
                if self.follower is not None:
                    self.follower.tick()
                self.feed.pump()
            except Exception as exc:  # a bug must stop the node loudly, not stop its clock quietly
                log.exception(kv("tick-failed", error=exc))
                self._fail(f"internal error: {exc!r}")
                return

    # -- proposing ------------------------------------------------------------------------------

    def _schedule_proposal(self) -> None:
        if self._propose_handle is None and self.replica is not None and self.replica.is_primary():
            delay = self.config.consensus.batch_delay_ms / 1000
            self._propose_handle = asyncio.get_running_loop().call_later(delay, self._maybe_propose)

    def _maybe_propose(self) -> None:
        self._propose_handle = None
        if self.mempool.pending():
            self._propose()

    def _maybe_propose_empty(self) -> None:
        """With nothing to propose, an empty block once ``empty_block_interval_ms`` passed since
        the last commit, if the tip's results await a successor to certify them or a time rule
        (offer expiry, overdue) is due; never otherwise, so an idle chain stays as it is."""
        now = now_ms()
        if (
            self._propose_handle is None and not self.mempool.pending() and self.replica is not None
            and self.replica.is_primary()
            and now - self._last_block_ms >= self.config.consensus.empty_block_interval_ms
            and self.app.wants_empty_block(now)
        ):
            self._propose()

    def _propose(self) -> None:
        replica = self.replica
        if self.failure is not None or replica is None or self.index is None:
            return
        # Propose height h only once h-1 is executed: the header carries the state after it.
        if not replica.can_propose() or replica.next_seq != self.app.next_height():
            return
        block = self.app.propose(self.index, now_ms())
        replica.propose(block.raw, block.hash)
        log.info(kv("proposed", height=block.height, txs=len(block.txs), view=replica.view))
        self._pump()

    # -- performing the replica's Ready --------------------------------------------------------

    def _pump(self) -> None:
        """Perform the replica's Readies (``consensus.perform``: persist, deliver, then send)
        until it has nothing more to say, or the node halted."""
        while self.failure is None and self.replica is not None and (ready := self.replica.ready()):
            if not perform(ready, self._effects):
                return
        if self.replica is not None and not self.replica.member:
            self._leave()

    def _persist(self, records: tuple[Persist, ...]) -> bool:
        try:
            self.store.put_consensus({a.key: a.value for a in records})
        except StoreError as exc:  # nothing of this Ready may be sent unpersisted
            self._fail(str(exc))
            return False
        return True

    def _send(self, to: int, msg: Message) -> None:
        self.mesh.send(self.validators.keys[to], TAG_CONSENSUS + encode_message(msg))

    def _send_in(self, epoch: int, to: int, msg: Message) -> None:
        """To member ``to`` of an older epoch (a peer still catching up there)."""
        assert self.replica is not None  # only the replica sends
        members = self.replica.epochs[epoch].members
        self.mesh.send(crypto.PublicKey.from_bytes(members[to]), TAG_CONSENSUS + encode_message(msg))

    def _broadcast(self, msg: Message) -> None:
        self.mesh.broadcast(TAG_CONSENSUS + encode_message(msg))

    def _view_changed(self, soft: SoftState) -> None:
        """A view change started or a new view started: what the old primary proposed but did
        not get committed may be proposed again by the new one. A new epoch: the replica's ids
        now index its validator set."""
        replica = self.replica
        if replica is not None and soft.epoch != self._epoch:
            self._take_epoch(replica)
            log.warning(kv("epoch", epoch=soft.epoch, n=len(self.validators), member=soft.member,
                           first_height=replica.epoch.first_seq))
            self.refresh_members()
        log.warning(kv("new-view" if soft.active else "view-change", view=soft.view, primary=soft.primary))
        self.mempool.release_in_flight()
        self._schedule_proposal()

    def _deliver(self, action: Deliver) -> bool:
        if not self.commit_block(action.seq, action.digest, action.payload, action.certificate):
            return False
        self._schedule_proposal()
        assert self.replica is not None  # only the replica delivers
        # The block may have scheduled the next epoch: the replica learns it before ``applied``.
        reconfig.schedule_pending(self.replica, self.store.state, action.seq)
        self.replica.applied(action.seq)  # proposals it answered LATER for are checked again
        return True

    def commit_block(self, seq: int, digest: bytes, payload: bytes, certificate: ConsensusCertificate) -> bool:
        """Execute and store certified block ``seq``, then tell the listeners and feed the
        observers: the one path for the blocks the replica delivers (its own or by state transfer)
        and those the follower verified. False if the node halted (diverged state, broken store)."""
        started = time.perf_counter()
        try:
            committed = self.app.deliver(seq, digest, payload, certificate)
        except (DivergenceError, StoreError) as exc:
            self._fail(str(exc))
            return False
        log.info(kv("committed", height=seq, txs=len(committed.block.txs), ms=round((time.perf_counter() - started) * 1000, 1)))
        self._last_block_ms = now_ms()
        for callback in self.on_commit:
            callback(committed)
        self.refresh_members()
        self.feed.pump()
        if self.replica is None:
            self._maybe_join()  # a follower admitted by governance votes from its epoch on
        return True

    def refresh_members(self) -> None:
        """Give the mesh the members of the executed state (node.observer.membership) when an
        epoch was scheduled or started since it last got them: new validators are dialed, removed
        ones' links closed."""
        executed = self.store.meta.height
        try:
            epochs = (latest_epoch(self.store.state).epoch, epoch_at(self.store.state, executed + 1).epoch)
            if epochs == self._members_epochs:
                return
            members = members_at(self.store.state, executed, self.genesis, self.config.p2p.peers)
        except ChainError as exc:  # a data directory without epoch records: keep genesis' members
            if self._members_epochs is None:
                log.warning(kv("members-from-genesis", reason=exc))
                self._members_epochs = (-1, -1)
            return
        self._members_epochs = epochs
        self.mesh.set_members(members)

    def _forward(self, action: Forward) -> None:
        """The replica's request timer is half-way for this transaction: hand it to the primary
        and the other peers again (PBFT 4.4), in case they never got it or dropped it."""
        tx = self.mempool.get(action.request)
        if tx is not None:
            log.info(kv("forward", tx=tx.id_hex[:16], primary=action.primary))
            self.gossip.relay([tx])

    def _serve_state(self, action: ServeState) -> None:
        entries: list[StateEntry] = []
        budget = min(_STATE_FRAME_BYTES, self.config.p2p.max_frame // 2)
        for height in range(action.from_seq, action.to_seq + 1):
            entry = self.app.committed_entry(height)
            if entry is None:
                break
            payload, digest, cert = entry
            budget -= len(payload) + 1024
            if entries and budget < 0:
                break
            entries.append(StateEntry(height, digest, payload, cert.to_consensus()))
        assert self.replica is not None  # only the replica asks
        self.replica.serve_state(action.to, entries, action.epoch)
