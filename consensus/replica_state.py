"""Everything a replica knows, in one object, and the few primitives every phase uses.

The phases are modules of functions over a :class:`State` (``normal``, ``committed``,
``viewchange``, ``timers``); ``consensus.replica.Replica`` is the public face that feeds them.
Nothing here decides anything: a phase reads and changes the fields, and appends what the caller
must do to ``out`` (``sign``, ``broadcast``, ``send``, ``persist_slot``), which
``Replica.ready()`` hands over as one Ready.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from consensus.actions import Action, Broadcast, Outcome, Persist, Reason, Send, Verdict
from consensus.epoch import Epoch, fixed_through, signing_domain
from consensus.interfaces import DigestFn, Signer, Validate, Verifier
from consensus.log import Slot
from consensus.messages import (
    Checkpoint, ConsensusError, Message, NewView, PrePrepare, Suspect, ViewChange, signing_bytes,
)
from consensus.params import Config
from consensus.persist import BlockRecord, PersistedState, SlotRecord, block_key, slot_key
from consensus.proofs import Checker

__all__ = ["State", "discard"]


def discard(reason: Reason, detail: str = "") -> Outcome:
    return Outcome(Verdict.DISCARD, reason, detail)


class State:
    """One replica's state: what it persisted, its log, its timers, what it heard."""

    def __init__(
        self,
        config: Config,
        replica_id: int,
        signer: Signer,
        verifier: Verifier,
        validate: Validate,
        digest: DigestFn,
        domain: bytes,
        persisted: PersistedState | None,
        app_height: int,
        app_digest: bytes,
        epochs: Sequence[Epoch] = (),
        key: bytes = b"",
    ) -> None:
        self.base_config = config
        self.signer = signer
        self.validate = validate
        self.digest = digest
        self.chain_domain = domain
        self.reconfigurable = bool(epochs)
        """False: one epoch for ever (no ``epochs`` given), so every seq's epoch is known."""
        if not epochs:  # the genesis validators, ids as given
            members = tuple(b"replica/%d" % i for i in range(config.n))
            epochs, key = (Epoch(0, 1, members, verifier),), members[replica_id]
        self.epochs: list[Epoch] = list(epochs)
        """Every epoch known, oldest first; the last may not have started (``schedule_epoch``)."""
        self.key = key
        self.applied = app_height
        """The last block the application has executed (``applied``, or a Ready performed)."""
        self.handed = app_height
        """The last block put in a Deliver action."""
        self.taken = app_height
        """The last block of the Readies taken: executed by the time of the next ``ready()``."""
        current = [e for e in self.epochs if e.first_seq <= app_height + 1][-1]
        self.set_epoch(current)
        self.out: list[Action] = []
        """What the caller must do, in the order produced (``Replica.ready()`` sorts it)."""
        self.stats: Counter[tuple[str, str]] = Counter()
        """How many messages got each (verdict, reason)."""
        self.counters: Counter[str] = Counter()
        """Events worth a metric: view_changes, new_views, delivered, state_transfer_blocks,
        suspicions, later (proposals the application could not check yet)."""

        p = persisted or PersistedState()
        if p.epoch > current.number:
            raise ConsensusError(
                f"the persisted record is of epoch {p.epoch}, the application's height "
                f"{app_height} is in epoch {current.number}")
        fresh = p.epoch < current.number
        """The record is of an epoch before: this replica never signed anything in this one
        (it persists the epoch's view record before its first message), so it starts it at
        view 0, at the epoch's base, like every member that entered it."""
        self.view = 0 if fresh else p.view
        self.active = True if fresh else p.active
        self.stable_seq, self.stable_digest, self.stable_proof = (
            p.stable_seq, p.stable_digest or bytes(config.digest_size), p.stable_proof
        )
        if self.stable_seq < current.base:
            base_digest = app_digest if app_height == current.base else b""
            self.stable_seq, self.stable_digest, self.stable_proof = (
                current.base, base_digest or bytes(config.digest_size), ()
            )
        self.last_delivered = app_height
        self.last_digest = app_digest
        self.log: dict[int, Slot] = {}
        self.persisted_slots: set[int] = set()
        self.persisted_blocks: dict[int, set[bytes]] = {s: set(d) for s, d in p.blocks.items()}
        """The digests of the block records on disk for each seq (``consensus.persist``)."""
        for seq, rec in ({} if fresh else p.slots).items():
            slot = Slot(seq, view=rec.view, pre_prepare=rec.pre_prepare, proof=rec.proof)
            slot.prepared = rec.proof is not None and rec.proof.pre_prepare.view == rec.view
            self.log[seq] = slot
            self.persisted_slots.add(seq)
        mine = [s for s, slot in self.log.items() if slot.view == self.view and slot.pre_prepare]
        self.next_seq = max([self.stable_seq, self.last_delivered, *mine]) + 1

        self.now = 0
        self.timeout = config.view_change_timeout_ticks
        self.timer: int | None = None
        """Progress timer: runs while something proposed in this view waits to be committed."""
        self.request: bytes | None = None
        """The oldest client request waiting here (``note_pending``)."""
        self.request_timer: int | None = None
        """Request timer (PBFT 4.4): runs for ``request``; restarts only when that changes."""
        self.forwarded = False
        self.expired = False
        """A timer expired in this view while in sync: our own reason to suspect the primary."""
        self.suspecting = False
        self.suspicions: dict[int, tuple[int, Suspect]] = {}
        """Peers' suspicions of this view: sender -> (tick received, the signed Suspect)."""
        self.left_with: tuple[Suspect, ...] = ()
        """The 2f+1 suspicions we left an active view with; relayed while we wait for a NewView."""
        self.checkpoints: dict[int, dict[int, Checkpoint]] = {}
        self.view_changes: dict[int, ViewChange] = {}
        self.stash: dict[int, list[Message]] = {}
        """Messages for a future view or above the window, per sender; replayed when it moves."""
        self.next_stash: dict[int, list[Message]] = {}
        """Messages of the next epoch (verified in it), per sender id in it; replayed at the switch."""
        self.unverified: dict[int, list[Message]] = {}
        """Messages for seqs whose epoch is not known yet (so their signature cannot be checked),
        per claimed sender, bounded; stepped again (checks included) when more epochs are known."""
        self.replay = False
        """The view or the window moved: replay ``stash`` before the next input."""
        self.later: dict[int, dict[int, PrePrepare]] = {}
        """Proposals of this view the application answered LATER for: sender -> seq -> it."""
        self.heights: dict[int, int] = {}
        self.fetch_target = 0
        self.fetch_peers: list[int] = []
        self.fetch_deadline: int | None = None
        self.fetch_attempt = 0
        self.new_view_msg: NewView | None = None
        self.own_checkpoint: Checkpoint | None = None
        self.helped: dict[int, int] = {}
        self.answered: dict[tuple[int, int], int] = {}
        """(epoch, peer id there) -> tick we last sent blocks to that peer of an older epoch."""

    def set_epoch(self, epoch: Epoch) -> None:
        """Take ``epoch``'s validators, quorum, signing domain and our id in it (-1: not a member)."""
        self.epoch = epoch
        self.config = replace(self.base_config, n=epoch.n)
        self.domain = signing_domain(self.chain_domain, epoch.number)
        self.check = Checker(
            self.config, epoch.verifier, self.domain, self.digest, chain_domain=self.chain_domain,
            base=epoch.base,
        )
        index = epoch.index(self.key)
        self.id = -1 if index is None else index

    @property
    def member(self) -> bool:
        return self.id >= 0

    def next_epoch(self) -> Epoch | None:
        return next((e for e in self.epochs if e.number == self.epoch.number + 1), None)

    def horizon(self) -> int:
        """The last seq whose epoch is known (``consensus.epoch.fixed_through``)."""
        if not self.reconfigurable:
            return 2**63 - 1
        return fixed_through(self.applied, self.config.checkpoint_interval, self.epochs[-1])

    def epoch_at(self, seq: int) -> Epoch | None:
        """The epoch that orders ``seq``, or None if it is not known yet (above the horizon)."""
        if seq > self.horizon():
            return None
        return next((e for e in reversed(self.epochs) if e.first_seq <= seq), None)

    def cap(self) -> int:
        """The last seq this replica may order in its epoch: the epoch's last if the next one is
        known, else the horizon (whatever comes above may belong to an epoch not known yet)."""
        nxt = self.next_epoch()
        return nxt.base if nxt is not None else self.horizon()

    def high(self) -> int:
        """The high water mark: the window, and never above ``cap``."""
        return min(self.stable_seq + self.config.window, self.cap())

    def in_sync(self) -> bool:
        """False while this replica knows of committed blocks it has not fetched yet."""
        return self.last_delivered >= self.fetch_target

    def request_expired(self) -> bool:
        return self.request_timer is not None and self.request_timer <= 0

    def slot(self, seq: int) -> Slot:
        """The slot for ``seq`` in the current view (created, or its older votes forgotten)."""
        slot = self.log.get(seq)
        if slot is None:
            slot = self.log[seq] = Slot(seq, view=self.view)
        slot.enter_view(self.view)
        return slot

    def persist_slot(self, slot: Slot) -> None:
        """Persist the slot's record; each block it names is written once, beside it, and the
        blocks it no longer names are deleted (at most two stay: its pre-prepare's and its
        prepared certificate's)."""
        record = SlotRecord(slot.view, slot.pre_prepare, slot.proof)
        blocks = record.blocks()
        stored = self.persisted_blocks.get(slot.seq, set())
        for digest, payload in blocks.items():
            if digest not in stored:
                self.out.append(Persist(block_key(slot.seq, digest), BlockRecord(payload)))
        for digest in sorted(stored - blocks.keys()):
            self.out.append(Persist(block_key(slot.seq, digest), None))
        self.persisted_blocks[slot.seq] = set(blocks)
        self.persisted_slots.add(slot.seq)
        self.out.append(Persist(slot_key(slot.seq), record))

    def unpersist_slots(self, upto: int | None = None) -> None:
        """Delete the persisted slots (and their blocks) at and below ``upto`` (None: all)."""
        for seq in sorted(s for s in self.persisted_slots | self.persisted_blocks.keys() if upto is None or s <= upto):
            if seq in self.persisted_slots:
                self.persisted_slots.discard(seq)
                self.out.append(Persist(slot_key(seq), None))
            for digest in sorted(self.persisted_blocks.pop(seq, ())):
                self.out.append(Persist(block_key(seq, digest), None))

    def sign(self, msg: Any) -> Any:
        return replace(msg, sig=self.signer.sign(signing_bytes(self.domain, msg, self.chain_domain)))

    def sign_in(self, epoch: Epoch, msg: Any) -> Any:
        """Sign ``msg`` (its sender set to our id there) in another epoch we are a member of
        (answering a peer that is still in it), or None if we are not."""
        index = epoch.index(self.key)
        if index is None:
            return None
        msg = replace(msg, sender=index)
        data = signing_bytes(signing_domain(self.chain_domain, epoch.number), msg, self.chain_domain)
        return replace(msg, sig=self.signer.sign(data))

    def broadcast(self, msg: Message) -> None:
        self.out.append(Broadcast(msg))

    def send(self, to: int, msg: Message, epoch: int | None = None) -> None:
        """Send to ``to``, an id of our epoch (or of ``epoch``, one before: ``Send.epoch``)."""
        self.out.append(Send(to, msg, None if epoch == self.epoch.number else epoch))
