"""The PBFT replica: a pure state machine (Castro & Liskov, OSDI'99 / TOCS'02).

Theory of operation. The caller feeds the replica ``step(msg)`` (a message from a peer),
``tick()`` (one logical time unit), ``propose(payload, digest)`` (primary only),
``note_pending(request)`` (the oldest client request waiting, or None) and ``applied(height)``
(the application executed a block), then takes ``ready()`` and performs it with
``consensus.ready.perform``: first every record durably and every committed block, then the
messages. The replica never reads a clock, opens a socket or blocks.

The application's check of a proposal answers ACCEPT, REJECT or LATER (``consensus.interfaces``);
a LATER proposal, which passed every check of the replica's own, is kept (bounded per sender and
in total) and checked again once ``applied`` says the block before it is executed.

``step`` first runs the checks common to all messages (well-formed, known sender, not our own,
valid signature), then a per-kind handler classifies the message against the current view and the
water marks: processed, stashed for later (future view, above the high water mark, view change in
progress) or discarded, always with a :class:`Reason`. Stashed messages are replayed whenever the
view or the window moves.

The handlers are functions over one :class:`consensus.replica_state.State`, a module per phase, after
the sections of the paper: ``normal`` (4.2: ``handle_pre_prepare``, ``maybe_prepared``,
``maybe_committed``), ``committed`` (delivery, checkpoints 4.3: ``handle_checkpoint``,
``become_stable``; state transfer 5.3: ``handle_status``, ``maybe_fetch_state``,
``handle_state_response``), ``viewchange`` (suspicions and 4.4: ``maybe_suspect``,
``start_view_change``, ``maybe_new_view``, ``handle_new_view``) and ``timers`` (``tick``).

Leaving an active view takes two steps (docs/CONSENSUS.md, "No replica alone in a view"): a
replica whose request timer (PBFT 4.4, judged on the oldest waiting request) or progress timer
expires broadcasts a non-binding ``Suspect`` and keeps voting; it moves to the next view only
with 2f+1 suspicions (its own included), which it then relays so every correct replica still in
the view follows it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from consensus import boundary, committed, normal, timers, viewchange
from consensus.actions import Outcome, Reason, Verdict
from consensus.epoch import Epoch
from consensus.interfaces import DigestFn, Signer, Validate, Verifier
from consensus.messages import (
    Checkpoint,
    Commit,
    ConsensusError,
    MalformedMessage,
    Message,
    NewView,
    PrePrepare,
    Prepare,
    StateEntry,
    StateRequest,
    StateResponse,
    Status,
    Suspect,
    ViewChange,
    check_well_formed,
    decode_message,
)
from consensus.params import Config
from consensus.persist import PersistedState
from consensus.ready import Ready, SoftState
from consensus.replica_state import State, discard

__all__ = ["Replica", "ReplicaStatus"]

_HANDLERS: dict[type, Callable[[State, Any], Outcome]] = {
    PrePrepare: normal.handle_pre_prepare,
    Prepare: normal.handle_prepare,
    Commit: normal.handle_commit,
    Checkpoint: committed.handle_checkpoint,
    ViewChange: viewchange.handle_view_change,
    NewView: viewchange.handle_new_view,
    Status: committed.handle_status,
    Suspect: viewchange.handle_suspect,
    StateRequest: committed.handle_state_request,
    StateResponse: committed.handle_state_response,
}


@dataclass(frozen=True, slots=True)
class ReplicaStatus:
    replica: int
    view: int
    active: bool
    primary: int
    stable_seq: int
    high_watermark: int
    last_delivered: int
    next_seq: int
    timeout_ticks: int
    epoch: int = 0
    member: bool = True


class Replica:
    def __init__(
        self,
        config: Config,
        replica_id: int,
        signer: Signer,
        verifier: Verifier,
        validate: Validate,
        digest: DigestFn,
        domain: bytes,
        persisted: PersistedState | None = None,
        app_height: int = 0,
        app_digest: bytes = b"",
        *,
        epochs: Sequence[Epoch] = (),
        key: bytes = b"",
    ) -> None:
        """Create a replica, or restart one.

        Args:
            validate: the application's check of a proposal (``consensus.interfaces.Validate``).
            persisted: the state rebuilt from this replica's Persist records (None: fresh start).
            app_height, app_digest: the application's last committed block (0 = genesis); the
                replica resumes delivering at ``app_height + 1``.
            epochs: the epochs the application knows after executing ``app_height`` (epoch 0
                first; the last may start later). Given, they replace ``config.n``,
                ``replica_id`` and ``verifier``: the replica is in the epoch of
                ``app_height + 1``, its id there is that of ``key`` (its own identity among the
                members), and it may be no member at all (it then votes nothing). Not given: one
                epoch for ever, the ``config.n`` validators checked by ``verifier``.
        """
        if not epochs and not 0 <= replica_id < config.n:
            raise ConsensusError("replica id out of range")
        if epochs and [e.number for e in epochs] != list(range(len(epochs))):
            raise ConsensusError("epochs must be 0, 1, 2... in order")
        self._st = st = State(
            config, replica_id, signer, verifier, validate, digest, domain, persisted, app_height,
            app_digest, epochs, key,
        )
        self.stats: Counter[tuple[str, str]] = st.stats
        """How many messages got each (verdict, reason)."""
        self.counters: Counter[str] = st.counters
        """Events worth a metric: view_changes, new_views, delivered, state_transfer_blocks,
        suspicions, later."""
        self._reported = self._soft_state()
        self._resume()

    # ------------------------------------------------------------------ inputs

    def step(self, msg: Message) -> Outcome:
        """Process one message from a peer and say what was done with it."""
        outcome = self._checked_step(msg)
        self.stats[(outcome.verdict.value, outcome.reason.value if outcome.reason else "")] += 1
        self._flush_stash()
        return outcome

    def _checked_step(self, msg: Message) -> Outcome:
        if not self._st.member:
            return discard(Reason.NOT_A_MEMBER, f"epoch {self._st.epoch.number}")
        outcome = self._common_checks(msg)
        if outcome is None:
            outcome = _HANDLERS[type(msg)](self._st, msg)
        return outcome

    def receive(self, data: bytes) -> Outcome:
        """Decode wire bytes and ``step`` them; garbage is discarded as MALFORMED."""
        try:
            msg = decode_message(data)
        except MalformedMessage as exc:
            self.stats[(Verdict.DISCARD.value, Reason.MALFORMED.value)] += 1
            return discard(Reason.MALFORMED, str(exc))
        return self.step(msg)

    def tick(self) -> None:
        """Advance logical time by one tick: timers, heartbeats, state-transfer retries."""
        if self._st.member:
            timers.tick(self._st)
            self._flush_stash()

    def note_pending(self, oldest: bytes | None) -> None:
        """Tell the replica which client request has waited longest here (None: none waits).

        PBFT 4.4: the request timer runs while a request waits, and is judged on that request:
        other requests committing do not restart it; only a change of the oldest one does (it
        was executed, or dropped). Half-way, a ``Forward`` asks the caller to hand it to the
        primary again; at the timeout the replica suspects the primary (``Suspect``)."""
        st = self._st
        if oldest != st.request:
            st.request = oldest
            st.request_timer = None
            st.forwarded = False
            st.expired = st.timer is not None and st.timer <= 0

    def applied(self, height: int) -> None:
        """The application has executed every block up to ``height``: the proposals it could
        not check before (LATER: "not before executing seq-1") up to ``height + 1`` are checked
        again now; what they produce is in the next Ready."""
        st = self._st
        boundary.note_applied(st, height)
        due = [pp for pps in st.later.values() for seq, pp in pps.items() if seq <= height + 1]
        for pp in due:
            del st.later[pp.sender][pp.seq]
        for pp in sorted(due, key=lambda pp: pp.seq):
            normal.handle_pre_prepare(st, pp)
        self._flush_stash()

    def schedule_epoch(self, epoch: Epoch) -> None:
        """The application learnt of the next epoch (it executed the block that approved it):
        call it while executing that block, before ``applied`` for it or the next ``ready()``.

        The replica switches to it once the block before ``epoch.first_seq`` is delivered and
        executed (``Ready.soft_state.epoch`` says when). Raises ConsensusError if it breaks the
        boundary rule (``consensus.epoch.check_next``); scheduling the same epoch again is a no-op."""
        boundary.schedule(self._st, epoch)
        boundary.maybe_switch(self._st)
        self._flush_stash()

    def greet(self, peer: int) -> None:
        """A link to ``peer`` came up: tell it our view and height now rather than at the next
        status interval (it learns whether it is behind; we learn its height from its answer)."""
        st = self._st
        if st.member:
            st.send(peer, st.sign(Status(st.view, st.last_delivered, st.id)))

    def propose(self, payload: bytes, digest: bytes) -> int:
        """Assign ``payload`` the next sequence number (primary only); returns that seq."""
        st = self._st
        if not self.can_propose():
            raise ConsensusError("cannot propose: not the active primary or the window is full")
        if not payload:
            raise ConsensusError("the empty payload is reserved for null blocks")
        if st.digest(payload) != digest:
            raise ConsensusError("digest does not match payload")
        seq = st.next_seq
        st.next_seq += 1
        pp = st.sign(PrePrepare(st.view, seq, digest, payload, st.id))
        normal.accept_pre_prepare(st, st.slot(seq), pp)
        st.broadcast(pp)
        return seq

    def serve_state(self, to: int, entries: Iterable[StateEntry], epoch: int | None = None) -> None:
        """Answer a ServeState (``to``, ``epoch`` as it says) with committed blocks read from the
        block store."""
        entries = tuple(entries)
        st = self._st
        signed_in = st.epoch_at(entries[0].seq) if entries else None
        if signed_in is not None:
            # Signed in the epoch of its first block, the asker's (it may not know ours yet).
            response = st.sign_in(signed_in, StateResponse(entries, st.id))
            if response is not None:
                st.send(to, response, epoch)

    def start_view_change(self, new_view: int) -> None:
        """Leave the current view for ``new_view`` (tests, and the timers)."""
        viewchange.start_view_change(self._st, new_view)

    # ------------------------------------------------------------------ output

    def ready(self) -> Ready:
        """What the inputs since the last call ask of the caller (see ``consensus.ready``).

        Calling it again says the previous Ready was performed: persist and deliver before
        sending, in the order its fields state. An empty Ready is false."""
        st = self._st
        boundary.note_applied(st, st.taken)  # the previous Ready, performed: its blocks executed
        self._flush_stash()
        out, st.out = st.out, []
        st.taken = st.handed
        # Compared field by field before building a SoftState: most Readies change none of them
        # (the primary follows from the view and the epoch's size).
        last = self._reported
        if (st.view, st.active, st.epoch.number, st.member) == (last.view, last.active, last.epoch, last.member):
            return Ready.of(out, None)
        soft = self._reported = self._soft_state()
        return Ready.of(out, soft)

    # ------------------------------------------------------------------ looking

    @property
    def config(self) -> Config:
        """The parameters of the current epoch (``n`` is its size)."""
        return self._st.config

    @property
    def id(self) -> int:
        """Our replica id in the current epoch (-1: not a member of it)."""
        return self._st.id

    @property
    def epoch(self) -> Epoch:
        return self._st.epoch

    @property
    def epochs(self) -> tuple[Epoch, ...]:
        return tuple(self._st.epochs)

    @property
    def member(self) -> bool:
        """False once in an epoch this replica's key is not a validator of: it votes no more."""
        return self._st.member

    @property
    def view(self) -> int:
        return self._st.view

    @property
    def active(self) -> bool:
        """True once the view has started; False while changing view."""
        return self._st.active

    @property
    def stable_seq(self) -> int:
        return self._st.stable_seq

    @property
    def stable_digest(self) -> bytes:
        return self._st.stable_digest

    @property
    def stable_proof(self) -> tuple[Checkpoint, ...]:
        return self._st.stable_proof

    @property
    def last_delivered(self) -> int:
        return self._st.last_delivered

    @property
    def last_digest(self) -> bytes:
        return self._st.last_digest

    @property
    def next_seq(self) -> int:
        """The seq the next ``propose`` will get."""
        return self._st.next_seq

    def in_sync(self) -> bool:
        """False while this replica knows of committed blocks it has not fetched yet."""
        return self._st.in_sync()

    def is_primary(self) -> bool:
        return self.config.primary(self._st.view) == self.id

    def can_propose(self) -> bool:
        """True when this replica is the active primary and the window has room."""
        st = self._st
        return st.member and st.active and self.is_primary() and st.next_seq <= st.high()

    def log_seqs(self) -> list[int]:
        """Sequence numbers that currently have a slot (all above the stable checkpoint)."""
        return sorted(self._st.log)

    def peer_height(self) -> int | None:
        """The chain height the peers vouch for: the (f+1)-th highest height reported in their
        signed Status heartbeats, so at least one correct replica has reached it and a lying one
        can neither raise nor hide it. None until f+1 peers have reported (alone: our own height).
        """
        st = self._st
        if self.config.n == 1:
            return st.last_delivered
        heights = sorted((h for sender, h in st.heights.items() if sender != self.id), reverse=True)
        return heights[self.config.f] if len(heights) > self.config.f else None

    def status(self) -> ReplicaStatus:
        st = self._st
        return ReplicaStatus(
            self.id, st.view, st.active, self.config.primary(st.view), st.stable_seq,
            st.high(), st.last_delivered, st.next_seq, st.timeout, st.epoch.number, st.member,
        )

    # ------------------------------------------------------------------ internals

    def _soft_state(self) -> SoftState:
        st = self._st
        return SoftState(st.view, self.config.primary(st.view), st.active, st.epoch.number, st.member)

    def _common_checks(self, msg: Any) -> Outcome | None:
        if type(msg) not in _HANDLERS:
            return discard(Reason.MALFORMED, f"not a consensus message: {type(msg).__name__}")
        try:
            check_well_formed(msg, self.config.digest_size)
        except MalformedMessage as exc:
            return discard(Reason.MALFORMED, str(exc))
        st = self._st
        epochs = boundary.candidates(st, msg)
        if epochs is None:
            if msg.sender >= max(e.n for e in st.epochs):
                return discard(Reason.UNKNOWN_SENDER, f"sender {msg.sender}")
            return boundary.stash_unverified(st, msg)
        if msg.sender == self.id and epochs[0] == st.epoch:
            return discard(Reason.DUPLICATE, "our own message")
        if all(msg.sender >= e.n for e in epochs):
            return discard(Reason.UNKNOWN_SENDER, f"sender {msg.sender}")
        epoch = next((e for e in epochs if boundary.verify(st, msg, e)), None)
        if epoch is None:
            return discard(Reason.BAD_SIGNATURE)
        if epoch != st.epoch:
            return boundary.route(st, msg, epoch)
        return None

    def _flush_stash(self) -> None:
        """Replay stashed messages after the view or the window moved."""
        st = self._st
        while st.replay and st.member:
            st.replay = False
            stash, st.stash = st.stash, {}
            for msgs in stash.values():
                for msg in msgs:
                    _HANDLERS[type(msg)](st, msg)
            unverified, st.unverified = st.unverified, {}
            for msgs in unverified.values():
                for msg in msgs:
                    self._checked_step(msg)

    def _resume(self) -> None:
        """After a restart: re-send the votes we had already signed (same digests only)."""
        st = self._st
        if not st.member:
            return
        if not st.active:
            viewchange.broadcast_view_change(st)
        else:
            primary = self.config.primary(st.view)
            for slot in sorted(st.log.values(), key=lambda s: s.seq):
                pp = slot.pre_prepare
                if pp is None or slot.view != st.view:
                    continue
                if self.id != primary:
                    slot.prepares[self.id] = st.sign(Prepare(pp.view, pp.seq, pp.digest, self.id))
                    st.broadcast(slot.prepares[self.id])
                if slot.prepared:
                    slot.commits[self.id] = st.sign(Commit(pp.view, pp.seq, pp.digest, self.id))
                    st.broadcast(slot.commits[self.id])
        if st.last_delivered < st.stable_seq:
            committed.want_state(st, st.stable_seq, [cp.sender for cp in st.stable_proof])
