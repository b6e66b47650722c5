"""Everything a replica knows, in one object, and the few primitives every phase uses.

The phases are modules of functions over a :class:`State` (``normal``, ``committed``,
``viewchange``, ``timers``); ``consensus.replica.Replica`` is the public face that feeds them.
Nothing here decides anything: a phase reads and changes the fields, and appends what the caller
must do to ``out`` (``sign``, ``broadcast``, ``send``, ``persist_slot``), which
``Replica.ready()`` hands over as one Ready.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from consensus.actions import Action, Broadcast, Outcome, Persist, Reason, Send, Verdict
from consensus.interfaces import DigestFn, Signer, Validate, Verifier
from consensus.log import Slot
from consensus.messages import Checkpoint, Message, NewView, PrePrepare, Suspect, ViewChange, signing_bytes
from consensus.params import Config
from consensus.persist import PersistedState, SlotRecord, slot_key
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
    ) -> None:
        self.config = config
        self.id = replica_id
        self.signer = signer
        self.validate = validate
        self.digest = digest
        self.domain = domain
        self.check = Checker(config, verifier, domain, digest)
        self.out: list[Action] = []
        """What the caller must do, in the order produced (``Replica.ready()`` sorts it)."""
        self.stats: Counter[tuple[str, str]] = Counter()
        """How many messages got each (verdict, reason)."""
        self.counters: Counter[str] = Counter()
        """Events worth a metric: view_changes, new_views, delivered, state_transfer_blocks,
        suspicions, later (proposals the application could not check yet)."""

        p = persisted or PersistedState()
        self.view = p.view
        self.active = p.active
        self.stable_seq, self.stable_digest, self.stable_proof = (
            p.stable_seq, p.stable_digest or bytes(config.digest_size), p.stable_proof
        )
        self.last_delivered = app_height
        self.last_digest = app_digest
        self.log: dict[int, Slot] = {}
        self.persisted_slots: set[int] = set()
        for seq, rec in p.slots.items():
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
        self.persisted_slots.add(slot.seq)
        self.out.append(
            Persist(slot_key(slot.seq), SlotRecord(slot.view, slot.pre_prepare, slot.proof))
        )

    def sign(self, msg: Any) -> Any:
        return replace(msg, sig=self.signer.sign(signing_bytes(self.domain, msg)))

    def broadcast(self, msg: Message) -> None:
        self.out.append(Broadcast(msg))

    def send(self, to: int, msg: Message) -> None:
        self.out.append(Send(to, msg))
