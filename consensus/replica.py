"""The PBFT replica: a pure state machine (Castro & Liskov, OSDI'99 / TOCS'02).

Theory of operation. The caller feeds the replica ``step(msg)`` (a message from a peer),
``tick()`` (one logical time unit), ``propose(payload, digest)`` (primary only) and
``note_pending(request)`` (the oldest client request waiting, or None) and ``applied(height)``
(the application executed a block), then takes ``ready()`` and performs it with
``consensus.ready.perform``: first every record durably and every committed block, then the
messages. The replica never reads a clock, opens a socket or blocks.

The application's check of a proposal answers ACCEPT, REJECT or LATER (``consensus.interfaces``);
a LATER proposal, which passed every check of the replica's own, is kept (bounded per sender and
in total) and checked again after each ``applied``.

``step`` first runs the checks common to all messages (well-formed, known sender, not our own,
valid signature), then a per-kind handler classifies the message against the current view and the
water marks: processed, stashed for later (future view, above the high water mark, view change in
progress) or discarded, always with a :class:`Reason`. Stashed messages are replayed whenever the
view or the window moves.

Sections of the paper: normal case 4.2 (``handle_pre_prepare``, ``maybe_prepared``,
``maybe_committed``), garbage collection 4.3 (``handle_checkpoint``, ``become_stable``), view
changes 4.4 (``start_view_change``, ``maybe_new_view``, ``handle_new_view``), state transfer 5.3
(``handle_status``, ``maybe_fetch_state``, ``handle_state_response``).

Leaving an active view takes two steps (docs/CONSENSUS.md, "No replica alone in a view"): a
replica whose request timer (PBFT 4.4, judged on the oldest waiting request) or progress timer
expires broadcasts a non-binding ``Suspect`` and keeps voting; it moves to the next view only
with 2f+1 suspicions (its own included), which it then relays so every correct replica still in
the view follows it (``maybe_suspect``, ``handle_suspect``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from consensus.actions import (
    PROCESSED,
    Action,
    Broadcast,
    Deliver,
    Forward,
    Outcome,
    Persist,
    Reason,
    Send,
    ServeState,
    Verdict,
)
from consensus.params import Config
from consensus.interfaces import DigestFn, Signer, Validate, Validity, Verifier
from consensus.log import Slot
from consensus.messages import (
    Certificate,
    Checkpoint,
    Commit,
    ConsensusError,
    MalformedMessage,
    Message,
    NewView,
    PrePrepare,
    PreparedProof,
    Prepare,
    StateEntry,
    StateRequest,
    StateResponse,
    Status,
    Suspect,
    ViewChange,
    check_well_formed,
    decode_message,
    signing_bytes,
)
from consensus.persist import (
    KEY_CHECKPOINT,
    KEY_VIEW,
    CheckpointRecord,
    PersistedState,
    SlotRecord,
    ViewRecord,
    slot_key,
)
from consensus.proofs import Checker, NewViewPlan
from consensus.ready import Ready, SoftState

__all__ = ["Replica", "ReplicaStatus"]


def _discard(reason: Reason, detail: str = "") -> Outcome:
    return Outcome(Verdict.DISCARD, reason, detail)


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
    ) -> None:
        """Create a replica, or restart one.

        Args:
            persisted: the state rebuilt from this replica's Persist records (None: fresh start).
            app_height, app_digest: the application's last committed block (0 = genesis); the
                replica resumes delivering at ``app_height + 1``.
        """
        if not 0 <= replica_id < config.n:
            raise ConsensusError("replica id out of range")
        self.config = config
        self.id = replica_id
        self._signer = signer
        self._validate = validate
        self._digest = digest
        self._domain = domain
        self._check = Checker(config, verifier, domain, digest)
        self._out: list[Action] = []
        self.stats: Counter[tuple[str, str]] = Counter()
        """How many messages got each (verdict, reason)."""
        self.counters: Counter[str] = Counter()
        """Events worth a metric: view_changes, new_views, delivered, state_transfer_blocks."""

        p = persisted or PersistedState()
        self.view = p.view
        self.active = p.active
        self.stable_seq, self.stable_digest, self.stable_proof = (
            p.stable_seq, p.stable_digest or bytes(config.digest_size), p.stable_proof
        )
        self.last_delivered = app_height
        self.last_digest = app_digest
        self._log: dict[int, Slot] = {}
        self._persisted_slots: set[int] = set()
        for seq, rec in p.slots.items():
            slot = Slot(seq, view=rec.view, pre_prepare=rec.pre_prepare, proof=rec.proof)
            slot.prepared = rec.proof is not None and rec.proof.pre_prepare.view == rec.view
            self._log[seq] = slot
            self._persisted_slots.add(seq)
        mine = [s for s, slot in self._log.items() if slot.view == self.view and slot.pre_prepare]
        self._next_seq = max([self.stable_seq, self.last_delivered, *mine]) + 1

        self._now = 0
        self._timeout = config.view_change_timeout_ticks
        self._timer: int | None = None
        """Progress timer: runs while something proposed in this view waits to be committed."""
        self._request: bytes | None = None
        """The oldest client request waiting here (``note_pending``)."""
        self._request_timer: int | None = None
        """Request timer (PBFT 4.4): runs for ``_request``; restarts only when that changes."""
        self._forwarded = False
        self._expired = False
        """A timer expired in this view while in sync: our own reason to suspect the primary."""
        self._suspecting = False
        self._suspicions: dict[int, tuple[int, Suspect]] = {}
        """Peers' suspicions of this view: sender -> (tick received, the signed Suspect)."""
        self._left_with: tuple[Suspect, ...] = ()
        """The 2f+1 suspicions we left an active view with; relayed while we wait for a NewView."""
        self._checkpoints: dict[int, dict[int, Checkpoint]] = {}
        self._view_changes: dict[int, ViewChange] = {}
        self._stash: dict[int, list[Message]] = {}
        self._replay = False
        self._heights: dict[int, int] = {}
        self._fetch_target = 0
        self._fetch_peers: list[int] = []
        self._fetch_deadline: int | None = None
        self._fetch_attempt = 0
        self._new_view_msg: NewView | None = None
        self._own_checkpoint: Checkpoint | None = None
        self._helped: dict[int, int] = {}
        self._later: dict[int, dict[int, PrePrepare]] = {}
        """Proposals of this view the application answered LATER for: sender -> seq -> it."""
        self._reported = self._soft_state()

        self._handlers: dict[type, Callable[[Any], Outcome]] = {
            PrePrepare: self.handle_pre_prepare,
            Prepare: self.handle_prepare,
            Commit: self.handle_commit,
            Checkpoint: self.handle_checkpoint,
            ViewChange: self.handle_view_change,
            NewView: self.handle_new_view,
            Status: self.handle_status,
            Suspect: self.handle_suspect,
            StateRequest: self.handle_state_request,
            StateResponse: self.handle_state_response,
        }
        self._resume()

    # ------------------------------------------------------------------ public API

    def ready(self) -> Ready:
        """What the inputs since the last call ask of the caller (see ``consensus.ready``).

        Calling it again says the previous Ready was performed: persist and deliver before
        sending, in the order its fields state. An empty Ready is false."""
        out, self._out = self._out, []
        soft = self._soft_state()
        changed = soft if soft != self._reported else None
        self._reported = soft
        return Ready.of(out, changed)

    def applied(self, height: int) -> None:
        """The application has executed every block up to ``height``: the proposals it could
        not check before (LATER: "not before executing seq-1") up to ``height + 1`` are checked
        again now; what they produce is in the next Ready."""
        due = [
            pp for pps in self._later.values() for seq, pp in pps.items() if seq <= height + 1
        ]
        for pp in due:
            del self._later[pp.sender][pp.seq]
        for pp in sorted(due, key=lambda pp: pp.seq):
            self.handle_pre_prepare(pp)
        if due:
            self._flush_stash()

    def step(self, msg: Message) -> Outcome:
        """Process one message from a peer and say what was done with it."""
        outcome = self._common_checks(msg)
        if outcome is None:
            outcome = self._handlers[type(msg)](msg)
        self.stats[(outcome.verdict.value, outcome.reason.value if outcome.reason else "")] += 1
        self._flush_stash()
        return outcome

    def receive(self, data: bytes) -> Outcome:
        """Decode wire bytes and ``step`` them; garbage is discarded as MALFORMED."""
        try:
            msg = decode_message(data)
        except MalformedMessage as exc:
            self.stats[(Verdict.DISCARD.value, Reason.MALFORMED.value)] += 1
            return _discard(Reason.MALFORMED, str(exc))
        return self.step(msg)

    def tick(self) -> None:
        """Advance logical time by one tick: timers, heartbeats, state-transfer retries."""
        self._now += 1
        if self._now % self.config.status_interval_ticks == 0:
            self._broadcast(self._sign(Status(self.view, self.last_delivered, self.id)))
            if self._own_checkpoint is not None:
                # Checkpoints are not acknowledged: re-send our latest so that a lost one
                # cannot leave a peer's window stuck below it.
                self._broadcast(self._own_checkpoint)
        if self.active:
            self._tick_timers()
            self.maybe_suspect()
        else:
            # PBFT 4.5.2: the new-view timer only starts once 2f+1 replicas (us included) want
            # this view, so a replica that ran ahead alone waits for the others instead of
            # racing on through views nobody else is in.
            if self._timer is None:
                if self._view_change_count() >= self.config.quorum:
                    self._timer = self._timeout
            else:
                self._timer -= 1
                if self._timer <= 0:
                    self.start_view_change(self.view + 1)
            if self._now % self.config.status_interval_ticks == 0:
                own = self._view_changes.get(self.id)
                if own is not None and own.view == self.view:
                    self._broadcast(own)  # view changes are not acknowledged: re-send
                for suspect in self._left_with:  # so that nobody stays behind in the old view
                    self._broadcast(suspect)
        self.maybe_fetch_state()
        self._flush_stash()

    def note_pending(self, oldest: bytes | None) -> None:
        """Tell the replica which client request has waited longest here (None: none waits).

        PBFT 4.4: the request timer runs while a request waits, and is judged on that request:
        other requests committing do not restart it; only a change of the oldest one does (it
        was executed, or dropped). Half-way, a ``Forward`` asks the caller to hand it to the
        primary again; at the timeout the replica suspects the primary (``Suspect``)."""
        if oldest != self._request:
            self._request = oldest
            self._request_timer = None
            self._forwarded = False
            self._expired = self._timer is not None and self._timer <= 0

    def greet(self, peer: int) -> None:
        """A link to ``peer`` came up: tell it our view and height now rather than at the next
        status interval (it learns whether it is behind; we learn its height from its answer)."""
        self._out.append(Send(peer, self._sign(Status(self.view, self.last_delivered, self.id))))

    def in_sync(self) -> bool:
        """False while this replica knows of committed blocks it has not fetched yet."""
        return self.last_delivered >= self._fetch_target

    def is_primary(self) -> bool:
        return self.config.primary(self.view) == self.id

    def can_propose(self) -> bool:
        """True when this replica is the active primary and the window has room."""
        return (
            self.active
            and self.is_primary()
            and self._next_seq <= self.stable_seq + self.config.window
        )

    def propose(self, payload: bytes, digest: bytes) -> int:
        """Assign ``payload`` the next sequence number (primary only); returns that seq."""
        if not self.can_propose():
            raise ConsensusError("cannot propose: not the active primary or the window is full")
        if not payload:
            raise ConsensusError("the empty payload is reserved for null blocks")
        if self._digest(payload) != digest:
            raise ConsensusError("digest does not match payload")
        seq = self._next_seq
        self._next_seq += 1
        pp = self._sign(PrePrepare(self.view, seq, digest, payload, self.id))
        self._accept_pre_prepare(self._slot(seq), pp)
        self._broadcast(pp)
        return seq

    def serve_state(self, to: int, entries: Iterable[StateEntry]) -> None:
        """Answer a ServeState action with committed blocks read from the block store."""
        entries = tuple(entries)
        if entries:
            self._out.append(Send(to, self._sign(StateResponse(entries, self.id))))

    @property
    def next_seq(self) -> int:
        """The seq the next ``propose`` will get."""
        return self._next_seq

    def log_seqs(self) -> list[int]:
        """Sequence numbers that currently have a slot (all above the stable checkpoint)."""
        return sorted(self._log)

    def peer_height(self) -> int | None:
        """The chain height the peers vouch for: the (f+1)-th highest height reported in their
        signed Status heartbeats, so at least one correct replica has reached it and a lying one
        can neither raise nor hide it. None until f+1 peers have reported (alone: our own height).
        """
        if self.config.n == 1:
            return self.last_delivered
        heights = sorted((h for sender, h in self._heights.items() if sender != self.id), reverse=True)
        return heights[self.config.f] if len(heights) > self.config.f else None

    def _soft_state(self) -> SoftState:
        return SoftState(self.view, self.config.primary(self.view), self.active)

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            self.id, self.view, self.active, self.config.primary(self.view), self.stable_seq,
            self.stable_seq + self.config.window, self.last_delivered, self._next_seq,
            self._timeout,
        )

    # ------------------------------------------------------------------ common checks

    def _common_checks(self, msg: Any) -> Outcome | None:
        if type(msg) not in self._handlers:
            return _discard(Reason.MALFORMED, f"not a consensus message: {type(msg).__name__}")
        try:
            check_well_formed(msg, self.config.digest_size)
        except MalformedMessage as exc:
            return _discard(Reason.MALFORMED, str(exc))
        if msg.sender >= self.config.n:
            return _discard(Reason.UNKNOWN_SENDER, f"sender {msg.sender}")
        if msg.sender == self.id:
            return _discard(Reason.DUPLICATE, "our own message")
        if not self._check.signed(msg):
            return _discard(Reason.BAD_SIGNATURE)
        return None

    def _classify(self, msg: PrePrepare | Prepare | Commit) -> Outcome | None:
        """Normal-case messages: current view and inside the water marks, or stash/discard."""
        if msg.view < self.view:
            return _discard(Reason.WRONG_VIEW, f"view {msg.view} < {self.view}")
        if msg.view > self.view or not self.active:
            return self._stash_msg(msg, Reason.WRONG_VIEW)
        if msg.seq <= self.stable_seq:
            return _discard(Reason.OUTSIDE_WINDOW, f"seq {msg.seq} <= low {self.stable_seq}")
        if msg.seq > self.stable_seq + self.config.window:
            return self._stash_msg(msg, Reason.OUTSIDE_WINDOW)
        return None

    def _stash_msg(self, msg: Message, reason: Reason) -> Outcome:
        stash = self._stash.setdefault(msg.sender, [])
        if len(stash) >= self.config.max_stash_per_sender:
            return _discard(Reason.STASH_FULL)
        stash.append(msg)
        return Outcome(Verdict.STASH, reason)

    def _flush_stash(self) -> None:
        """Replay stashed messages after the view or the window moved."""
        while self._replay:
            self._replay = False
            stash, self._stash = self._stash, {}
            for msgs in stash.values():
                for msg in msgs:
                    self._handlers[type(msg)](msg)

    # ------------------------------------------------------------------ normal case (4.2)

    def handle_pre_prepare(self, msg: PrePrepare) -> Outcome:
        outcome = self._classify(msg)
        if outcome is not None:
            return outcome
        if msg.sender != self.config.primary(msg.view):
            return _discard(Reason.MALFORMED, "pre-prepare not from the primary")
        if self._digest(msg.payload) != msg.digest:
            return _discard(Reason.MALFORMED, "digest does not match payload")
        slot = self._slot(msg.seq)
        if slot.pre_prepare is not None:
            if slot.pre_prepare.digest == msg.digest:
                return _discard(Reason.DUPLICATE)
            return _discard(Reason.CONFLICT, "another pre-prepare for this view and seq")
        if slot.committed is not None:
            if slot.committed.digest != msg.digest:
                return _discard(Reason.CONFLICT, "seq already committed with another digest")
        elif msg.payload:
            kept = self._later.get(msg.sender, {}).get(msg.seq)
            if kept is not None:
                if kept.digest == msg.digest:
                    return _discard(Reason.DUPLICATE, "already kept for later")
                return _discard(Reason.CONFLICT, "another pre-prepare for this view and seq")
            verdict = self._validate(msg.seq, msg.digest, msg.payload)
            if verdict.validity is Validity.LATER:
                return self._keep_for_later(msg, verdict.reason)
            if verdict.validity is Validity.REJECT:
                slot.rejected = True
                return _discard(Reason.REJECTED, verdict.reason)
        self._accept_pre_prepare(slot, msg)
        return PROCESSED

    def _keep_for_later(self, msg: PrePrepare, why: str) -> Outcome:
        """Keep a proposal the application can check only after executing the block before it.

        Only a view's primary gets here (its signature, the view, the window and the digest
        were checked), one proposal per seq; the rest is bounded per sender and in total."""
        self.counters["later"] += 1
        mine = self._later.setdefault(msg.sender, {})
        total = sum(len(pps) for pps in self._later.values())
        if len(mine) >= self.config.max_later_per_sender or total >= self.config.max_later:
            return _discard(Reason.STASH_FULL, "too many proposals kept for later")
        mine[msg.seq] = msg
        return Outcome(Verdict.STASH, Reason.LATER, why)

    def _accept_pre_prepare(self, slot: Slot, pp: PrePrepare) -> None:
        """Record ``pp`` durably, then (backups) prepare it."""
        slot.pre_prepare = pp
        slot.rejected = False
        self._persist_slot(slot)
        if self.id != self.config.primary(slot.view):
            prepare = self._sign(Prepare(pp.view, pp.seq, pp.digest, self.id))
            slot.prepares[self.id] = prepare
            self._broadcast(prepare)
        self.maybe_prepared(slot)

    def handle_prepare(self, msg: Prepare) -> Outcome:
        outcome = self._classify(msg)
        if outcome is not None:
            return outcome
        if msg.sender == self.config.primary(msg.view):
            return _discard(Reason.MALFORMED, "the primary does not prepare")
        slot = self._slot(msg.seq)
        old = slot.prepares.get(msg.sender)
        if old is not None:
            return _discard(Reason.DUPLICATE if old.digest == msg.digest else Reason.CONFLICT)
        slot.prepares[msg.sender] = msg
        self.maybe_prepared(slot)
        return PROCESSED

    def maybe_prepared(self, slot: Slot) -> None:
        if slot.prepared or slot.pre_prepare is None:
            return
        need = self.config.quorum - 1
        matching = slot.matching_prepares(self.config.primary(slot.view))
        if len(matching) < need:
            return
        slot.prepared = True
        slot.proof = PreparedProof(slot.pre_prepare, tuple(matching[:need]))
        self._persist_slot(slot)  # the prepared certificate must survive before we commit
        pp = slot.pre_prepare
        commit = self._sign(Commit(pp.view, pp.seq, pp.digest, self.id))
        slot.commits[self.id] = commit
        self._broadcast(commit)
        self.maybe_committed(slot)

    def handle_commit(self, msg: Commit) -> Outcome:
        outcome = self._classify(msg)
        if outcome is not None:
            return outcome
        slot = self._slot(msg.seq)
        old = slot.commits.get(msg.sender)
        if old is not None:
            return _discard(Reason.DUPLICATE if old.digest == msg.digest else Reason.CONFLICT)
        slot.commits[msg.sender] = msg
        self.maybe_committed(slot)
        return PROCESSED

    def maybe_committed(self, slot: Slot) -> None:
        if slot.committed is not None or not slot.prepared or slot.pre_prepare is None:
            return
        matching = slot.matching_commits()
        if len(matching) < self.config.quorum:
            return
        pp = slot.pre_prepare
        slot.committed = Certificate(
            slot.view, slot.seq, pp.digest, tuple((c.sender, c.sig) for c in matching)
        )
        slot.payload = pp.payload
        self.maybe_deliver()

    def maybe_deliver(self) -> None:
        """Deliver committed slots in seq order, without gaps."""
        while True:
            slot = self._log.get(self.last_delivered + 1)
            if slot is None or slot.committed is None:
                return
            self._deliver(slot.seq, slot.committed.digest, slot.payload, slot.committed)

    def _deliver(self, seq: int, digest: bytes, payload: bytes, cert: Certificate) -> None:
        self.last_delivered = seq
        self.last_digest = digest
        self.counters["delivered"] += 1
        self._next_seq = max(self._next_seq, seq + 1)
        self._out.append(Deliver(seq, digest, payload, cert))
        if self.active:
            # Progress: the timeout goes back to its base and the progress timer restarts. The
            # request timer does not: it waits for its own request (PBFT 4.4).
            self._timeout = self.config.view_change_timeout_ticks
            self._timer = None
            if self.config.unsafe_timer_reset_on_delivery:
                self._request_timer = None
            if self._expired and not self._request_expired():
                self._expired = False
        if seq % self.config.checkpoint_interval == 0 and seq > self.stable_seq:
            cp = self._own_checkpoint = self._sign(Checkpoint(seq, digest, self.id))
            self._broadcast(cp)
            self._add_checkpoint(cp)

    def _waiting(self) -> bool:
        # Slots at or below last_delivered are done, even those rebuilt after a restart from
        # the write-ahead record (which keeps pre-prepares, never commits): counting them made a
        # restarted idle backup time out and change view by itself.
        return any(
            s.seq > self.last_delivered and s.view == self.view and s.waiting()
            for s in self._log.values()
        ) or any(seq > self.last_delivered for pps in self._later.values() for seq in pps)

    def _tick_timers(self) -> None:
        """Active view: run the progress and request timers; note when one expires."""
        if not self.in_sync():
            # Catching up: what we wait for may be committed already. Timers restart once we are
            # in sync (a replica cut off from the others must not suspect their primary).
            self._timer = self._request_timer = None
            self._expired = self._forwarded = False
            return
        if self._waiting():
            self._timer = self._timeout if self._timer is None else self._timer - 1
        else:
            self._timer = None
        if self._request is None:
            self._request_timer = None
        elif self._request_timer is None:
            self._request_timer = self._timeout
        else:
            self._request_timer -= 1
            # Forward half-way, and again every timeout while it still waits (a lost forward,
            # or one only this replica could make, must not strand the request for good).
            again = self._request_timer <= 0 and -self._request_timer % self._timeout == 0
            if again or (not self._forwarded and self._request_timer <= self._timeout // 2):
                self._forwarded = True
                self._out.append(Forward(self._request, self.config.primary(self.view)))
        self._expired = (self._timer is not None and self._timer <= 0) or (
            self._request_timer is not None and self._request_timer <= 0
        )

    # ------------------------------------------------------------------ checkpoints (4.3)

    def handle_checkpoint(self, msg: Checkpoint) -> Outcome:
        if msg.seq == 0 or msg.seq % self.config.checkpoint_interval:
            return _discard(Reason.MALFORMED, "not a checkpoint seq")
        if msg.seq <= self.stable_seq:
            return _discard(Reason.OUTSIDE_WINDOW, "at or below the stable checkpoint")
        old = self._checkpoints.get(msg.seq, {}).get(msg.sender)
        if old is not None:
            return _discard(Reason.DUPLICATE if old.digest == msg.digest else Reason.CONFLICT)
        self._add_checkpoint(msg)
        return PROCESSED

    def _add_checkpoint(self, cp: Checkpoint) -> None:
        self._checkpoints.setdefault(cp.seq, {})[cp.sender] = cp
        # Bound memory: keep each sender's most recent few checkpoints only.
        mine = sorted(s for s, votes in self._checkpoints.items() if cp.sender in votes)
        limit = self.config.window // self.config.checkpoint_interval + 2
        for seq in mine[:-limit]:
            del self._checkpoints[seq][cp.sender]
        votes = [v for v in self._checkpoints[cp.seq].values() if v.digest == cp.digest]
        if len(votes) >= self.config.quorum:
            self.become_stable(cp.seq, cp.digest, tuple(sorted(votes, key=lambda v: v.sender)))

    def become_stable(self, seq: int, digest: bytes, proof: tuple[Checkpoint, ...]) -> None:
        """Adopt a stable checkpoint: move the window, collect garbage, fetch state if behind."""
        if seq <= self.stable_seq:
            return
        self.stable_seq, self.stable_digest, self.stable_proof = seq, digest, proof
        self._out.append(Persist(KEY_CHECKPOINT, CheckpointRecord(seq, digest, proof)))
        for s in [s for s in self._log if s <= seq]:
            del self._log[s]
        for s in [s for s in self._persisted_slots if s <= seq]:
            self._persisted_slots.discard(s)
            self._out.append(Persist(slot_key(s), None))
        for s in [s for s in self._checkpoints if s <= seq]:
            del self._checkpoints[s]
        self._next_seq = max(self._next_seq, seq + 1)
        if seq > self.last_delivered:
            self._want_state(seq, [cp.sender for cp in proof])
        self._replay = True

    # ------------------------------------------------------------------ suspicion

    def _request_expired(self) -> bool:
        return self._request_timer is not None and self._request_timer <= 0

    def _reset_suspicion(self) -> None:
        """A new view (or a view change): timers and suspicions start afresh."""
        self._timer = self._request_timer = None
        self._forwarded = self._expired = self._suspecting = False
        self._suspicions = {}

    def _fresh_suspicions(self) -> list[Suspect]:
        ttl = self.config.suspect_ttl_ticks
        return [m for t, m in self._suspicions.values() if self._now - t <= ttl]

    def maybe_suspect(self) -> None:
        """Suspect the primary on our own expired timer, or because f+1 others do (at least one
        correct replica does); leave the view with 2f+1 suspicions, relaying them."""
        if not self.active:
            return
        if self.config.unsafe_lone_view_change:
            if self._expired:
                self.start_view_change(self.view + 1)
            return
        fresh = self._fresh_suspicions()
        # A replica catching up can't judge the primary (the others may be waiting for *it*):
        # it neither suspects nor echoes; 2f+1 suspicions from others still take it along.
        suspecting = self.in_sync() and (self._expired or len(fresh) >= self.config.f + 1)
        if suspecting and (not self._suspecting or self._now % self.config.status_interval_ticks == 0):
            if not self._suspecting:
                self.counters["suspicions"] += 1
            # Suspicions are not acknowledged: re-sent every status interval while they hold.
            self._broadcast(self._sign(Suspect(self.view, self.id)))
        self._suspecting = suspecting
        if len(fresh) + suspecting >= self.config.quorum:
            mine = (self._sign(Suspect(self.view, self.id)),) if suspecting else ()
            self._left_with = (*mine, *sorted(fresh, key=lambda m: m.sender))
            for suspect in self._left_with:
                self._broadcast(suspect)
            self.start_view_change(self.view + 1)

    def handle_suspect(self, msg: Suspect) -> Outcome:
        if msg.view < self.view:
            self._help_into_view(msg.sender)
            return _discard(Reason.WRONG_VIEW, f"suspects view {msg.view}, we are in {self.view}")
        if msg.view > self.view or not self.active:
            return _discard(Reason.WRONG_VIEW, f"suspects view {msg.view}; we are not active in it")
        self._suspicions[msg.sender] = (self._now, msg)
        self.maybe_suspect()
        return PROCESSED

    # ------------------------------------------------------------------ view change (4.4)

    def start_view_change(self, new_view: int) -> None:
        """Leave the current view: broadcast a ViewChange with our checkpoint and P set."""
        if new_view <= self.view:
            return
        self.view = new_view
        self.active = False
        self._reset_suspicion()
        self.counters["view_changes"] += 1
        self._timeout = min(self._timeout * self.config.backoff_factor, self.config.max_timeout_ticks)
        self._timer = None  # starts with 2f+1 view changes for this view (see tick)
        self._later = {}  # proposals of the view we leave: never to be prepared now
        self._out.append(Persist(KEY_VIEW, ViewRecord(self.view, False)))
        self._view_changes = {s: vc for s, vc in self._view_changes.items() if vc.view >= new_view}
        self._broadcast_view_change()
        self.maybe_new_view()

    def _broadcast_view_change(self) -> None:
        proofs = tuple(
            slot.proof for seq, slot in sorted(self._log.items())
            if slot.proof is not None and seq > self.stable_seq
        )
        vc = self._sign(ViewChange(
            self.view, self.stable_seq, self.stable_digest, self.stable_proof, proofs, self.id
        ))
        self._view_changes[self.id] = vc
        self._broadcast(vc)

    def handle_view_change(self, msg: ViewChange) -> Outcome:
        if msg.view < self.view or (msg.view == self.view and self.active):
            self._help_into_view(msg.sender)
            return _discard(Reason.WRONG_VIEW, f"view change to {msg.view}, we are in {self.view}")
        old = self._view_changes.get(msg.sender)
        if old is not None and old.view > msg.view:
            return _discard(Reason.WRONG_VIEW, "older than one already received")
        if old == msg:
            return _discard(Reason.DUPLICATE)
        problem = self._check.view_change_problem(msg)
        if problem is not None:
            return _discard(Reason.MALFORMED, problem)
        self._view_changes[msg.sender] = msg
        self.maybe_join_view_change()
        self.maybe_new_view()
        return PROCESSED

    def _view_change_count(self) -> int:
        return sum(1 for vc in self._view_changes.values() if vc.view == self.view)

    def maybe_join_view_change(self) -> None:
        """f+1 replicas want a higher view: join the smallest view among such a set."""
        views = sorted(
            (vc.view for s, vc in self._view_changes.items() if s != self.id and vc.view > self.view),
            reverse=True,
        )
        if len(views) >= self.config.f + 1:
            self.start_view_change(views[self.config.f])

    def maybe_new_view(self) -> None:
        """As the new primary with 2f+1 view changes: compute O, broadcast NewView, enter it."""
        if self.active or self.config.primary(self.view) != self.id:
            return
        vcs = sorted(
            (vc for vc in self._view_changes.values() if vc.view == self.view),
            key=lambda vc: vc.sender,
        )
        if len(vcs) < self.config.quorum:
            return
        chosen = tuple(vcs[: self.config.quorum])
        plan = self._check.plan_new_view(chosen)
        pps = tuple(
            self._sign(PrePrepare(self.view, seq, digest, payload, self.id))
            for seq, digest, payload in plan.proposals
        )
        nv = self._sign(NewView(self.view, chosen, pps, self.id))
        self._broadcast(nv)
        self._enter_new_view(plan, pps, nv)

    def handle_new_view(self, msg: NewView) -> Outcome:
        if msg.view < self.view or (msg.view == self.view and self.active):
            return _discard(Reason.WRONG_VIEW, f"new view {msg.view}, we are in {self.view}")
        if msg.sender != self.config.primary(msg.view):
            return _discard(Reason.MALFORMED, "new view not from its primary")
        senders = {vc.sender for vc in msg.view_changes}
        if len(senders) != len(msg.view_changes) or len(senders) < self.config.quorum:
            return _discard(Reason.MALFORMED, "V is not 2f+1 distinct view changes")
        for vc in msg.view_changes:
            if vc.view != msg.view or not self._check.signed(vc):
                return _discard(Reason.MALFORMED, f"bad view change from {vc.sender} in V")
            problem = self._check.view_change_problem(vc)
            if problem is not None:
                return _discard(Reason.MALFORMED, f"view change from {vc.sender}: {problem}")
        plan = self._check.plan_new_view(msg.view_changes)
        if len(plan.proposals) != len(msg.pre_prepares):
            return _discard(Reason.MALFORMED, "O does not match V")
        for (seq, digest, _), pp in zip(plan.proposals, msg.pre_prepares):
            if (pp.view, pp.seq, pp.digest, pp.sender) != (msg.view, seq, digest, msg.sender):
                return _discard(Reason.MALFORMED, f"O does not match V at seq {seq}")
            if self._digest(pp.payload) != pp.digest or not self._check.signed(pp):
                return _discard(Reason.MALFORMED, f"bad pre-prepare in O at seq {seq}")
        self.view = msg.view
        self._enter_new_view(plan, msg.pre_prepares, msg)
        return PROCESSED

    def _enter_new_view(self, plan: NewViewPlan, pps: tuple[PrePrepare, ...], nv: NewView) -> None:
        self.active = True
        self._new_view_msg = nv
        self.counters["new_views"] += 1
        self._timer = None
        self._reset_suspicion()
        self._left_with = ()
        self._later = {}
        self._out.append(Persist(KEY_VIEW, ViewRecord(self.view, True)))
        self._view_changes = {s: vc for s, vc in self._view_changes.items() if vc.view > self.view}
        if plan.stable_seq > self.stable_seq:
            self.become_stable(plan.stable_seq, plan.stable_digest, plan.stable_proof)
        for slot in self._log.values():
            slot.enter_view(self.view)
        for pp in pps:
            if pp.seq <= self.stable_seq:
                continue
            slot = self._slot(pp.seq)
            if slot.committed is not None and slot.committed.digest != pp.digest:
                continue  # cannot happen with at most f faulty replicas
            self._accept_pre_prepare(slot, pp)
        last = plan.proposals[-1][0] if plan.proposals else plan.stable_seq
        self._next_seq = max(last, self.stable_seq, self.last_delivered) + 1
        self._replay = True

    # ------------------------------------------------------------------ state transfer (5.3)

    def _help_into_view(self, peer: int) -> None:
        """A peer is behind our (active) view: forward the NewView that started it (it is
        signed by its primary and self-verifying), at most once per status interval."""
        if not self.active or self._new_view_msg is None:
            return
        last = self._helped.get(peer)
        if last is not None and self._now - last < self.config.status_interval_ticks:
            return
        self._helped[peer] = self._now
        self._out.append(Send(peer, self._new_view_msg))

    def handle_status(self, msg: Status) -> Outcome:
        if msg.view < self.view:
            self._help_into_view(msg.sender)
        self._heights[msg.sender] = msg.seq
        heights = sorted(self._heights.values(), reverse=True)
        if len(heights) > self.config.f:
            target = heights[self.config.f]  # at least one correct replica has this height
            if target > self.last_delivered:
                peers = [s for s, h in sorted(self._heights.items()) if h >= target]
                self._want_state(target, peers)
        return PROCESSED

    def _want_state(self, target: int, peers: list[int]) -> None:
        if target > self._fetch_target:
            self._fetch_target = target
            self._fetch_peers = [p for p in peers if p != self.id]
        self.maybe_fetch_state()

    def maybe_fetch_state(self) -> None:
        """Ask a peer for the next batch of committed blocks we miss (retry on timeout)."""
        if self.last_delivered >= self._fetch_target:
            self._fetch_deadline = None
            return
        if self._fetch_deadline is not None and self._now < self._fetch_deadline:
            return
        peers = self._fetch_peers or [r for r in range(self.config.n) if r != self.id]
        if not peers:
            return
        peer = peers[self._fetch_attempt % len(peers)]
        self._fetch_attempt += 1
        start = self.last_delivered + 1
        end = min(self._fetch_target, self.last_delivered + self.config.state_batch)
        self._out.append(Send(peer, self._sign(StateRequest(start, end, self.id))))
        self._fetch_deadline = self._now + self.config.state_request_timeout_ticks

    def handle_state_request(self, msg: StateRequest) -> Outcome:
        if not 1 <= msg.from_seq <= msg.to_seq or msg.to_seq - msg.from_seq >= self.config.state_batch:
            return _discard(Reason.MALFORMED, "bad range")
        if msg.from_seq > self.last_delivered:
            return _discard(Reason.OUTSIDE_WINDOW, "we do not have these blocks")
        self._out.append(ServeState(msg.sender, msg.from_seq, min(msg.to_seq, self.last_delivered)))
        return PROCESSED

    def handle_state_response(self, msg: StateResponse) -> Outcome:
        delivered = 0
        for entry in sorted(msg.entries, key=lambda e: e.seq):
            if entry.seq <= self.last_delivered:
                continue
            if entry.seq != self.last_delivered + 1:
                break
            if self._digest(entry.payload) != entry.digest:
                return _discard(Reason.MALFORMED, f"payload digest at seq {entry.seq}")
            if not self._check.certificate_ok(entry.certificate, entry.seq, entry.digest):
                return _discard(Reason.MALFORMED, f"bad certificate at seq {entry.seq}")
            if entry.seq > self.stable_seq:
                # Remember the block so a late pre-prepare for it is not re-validated
                # (and one with another digest is refused as a conflict).
                slot = self._log.get(entry.seq) or self._log.setdefault(
                    entry.seq, Slot(entry.seq, view=self.view)
                )
                slot.committed, slot.payload = entry.certificate, entry.payload
            self._deliver(entry.seq, entry.digest, entry.payload, entry.certificate)
            self.counters["state_transfer_blocks"] += 1
            delivered += 1
        if not delivered:
            return _discard(Reason.DUPLICATE, "no new blocks")
        self.maybe_deliver()
        self._fetch_deadline = None
        self.maybe_fetch_state()
        return PROCESSED

    # ------------------------------------------------------------------ helpers

    def _resume(self) -> None:
        """After a restart: re-send the votes we had already signed (same digests only)."""
        if not self.active:
            self._broadcast_view_change()
        else:
            primary = self.config.primary(self.view)
            for slot in sorted(self._log.values(), key=lambda s: s.seq):
                pp = slot.pre_prepare
                if pp is None or slot.view != self.view:
                    continue
                if self.id != primary:
                    slot.prepares[self.id] = self._sign(Prepare(pp.view, pp.seq, pp.digest, self.id))
                    self._broadcast(slot.prepares[self.id])
                if slot.prepared:
                    slot.commits[self.id] = self._sign(Commit(pp.view, pp.seq, pp.digest, self.id))
                    self._broadcast(slot.commits[self.id])
        if self.last_delivered < self.stable_seq:
            self._want_state(self.stable_seq, [cp.sender for cp in self.stable_proof])

    def _slot(self, seq: int) -> Slot:
        slot = self._log.get(seq)
        if slot is None:
            slot = self._log[seq] = Slot(seq, view=self.view)
        slot.enter_view(self.view)
        return slot

    def _persist_slot(self, slot: Slot) -> None:
        self._persisted_slots.add(slot.seq)
        self._out.append(
            Persist(slot_key(slot.seq), SlotRecord(slot.view, slot.pre_prepare, slot.proof))
        )

    def _sign(self, msg: Any) -> Any:
        return replace(msg, sig=self._signer.sign(signing_bytes(self._domain, msg)))

    def _broadcast(self, msg: Message) -> None:
        self._out.append(Broadcast(msg))
