"""The normal case (PBFT 4.2): pre-prepare, prepare, commit, and the application's verdict.

A backup accepts a pre-prepare that is in the current view and window, comes from the view's
primary, matches its digest, is the first for its slot and that the application ACCEPTs; it
then broadcasts a prepare. *Prepared* = the pre-prepare and 2f matching prepares from distinct
backups: the prepared certificate is persisted, then a commit broadcast. *Committed* = 2f+1
matching commits; ``committed.maybe_deliver`` hands the blocks over in order.

A proposal the application can check only after executing the block before it (LATER) is kept
per sender, bounded, and checked again by ``Replica.applied``; only proposals that passed every
check of the replica's own get that far. Messages for a future view or above the window are
stashed and replayed when the view or the window moves (``State.replay``).
"""

from __future__ import annotations

from typing import TypeVar

from consensus import committed
from consensus.actions import PROCESSED, Outcome, Reason, Verdict
from consensus.interfaces import Validity
from consensus.log import Slot
from consensus.messages import Certificate, Commit, Message, PrePrepare, PreparedProof, Prepare
from consensus.replica_state import State, discard

__all__ = [
    "classify", "stash_message", "handle_pre_prepare", "keep_for_later", "accept_pre_prepare",
    "handle_prepare", "maybe_prepared", "handle_commit", "maybe_committed",
]


def classify(st: State, msg: PrePrepare | Prepare | Commit) -> Outcome | None:
    """Normal-case messages: current view and inside the water marks, or stash/discard."""
    if msg.view < st.view:
        return discard(Reason.WRONG_VIEW, f"view {msg.view} < {st.view}")
    if msg.view > st.view or not st.active:
        return stash_message(st, msg, Reason.WRONG_VIEW)
    if msg.seq <= st.stable_seq:
        return discard(Reason.OUTSIDE_WINDOW, f"seq {msg.seq} <= low {st.stable_seq}")
    if msg.seq > st.high():
        # Above the window, or above the last seq whose epoch is fixed (``State.cap``).
        return stash_message(st, msg, Reason.OUTSIDE_WINDOW)
    return None


def stash_message(st: State, msg: Message, reason: Reason) -> Outcome:
    stash = st.stash.setdefault(msg.sender, [])
    if len(stash) >= st.config.max_stash_per_sender:
        return discard(Reason.STASH_FULL)
    stash.append(msg)
    return Outcome(Verdict.STASH, reason)


def handle_pre_prepare(st: State, msg: PrePrepare) -> Outcome:
    outcome = classify(st, msg)
    if outcome is not None:
        return outcome
    if msg.sender != st.config.primary(msg.view):
        return discard(Reason.MALFORMED, "pre-prepare not from the primary")
    if st.digest(msg.payload) != msg.digest:
        return discard(Reason.MALFORMED, "digest does not match payload")
    slot = st.slot(msg.seq)
    if slot.pre_prepare is not None:
        if slot.pre_prepare.digest == msg.digest:
            return discard(Reason.DUPLICATE)
        return discard(Reason.CONFLICT, "another pre-prepare for this view and seq")
    if slot.committed is not None:
        if slot.committed.digest != msg.digest:
            return discard(Reason.CONFLICT, "seq already committed with another digest")
    elif msg.payload:
        kept = st.later.get(msg.sender, {}).get(msg.seq)
        if kept is not None:
            if kept.digest == msg.digest:
                return discard(Reason.DUPLICATE, "already kept for later")
            return discard(Reason.CONFLICT, "another pre-prepare for this view and seq")
        verdict = st.validate(msg.seq, msg.digest, msg.payload)
        if verdict.validity is Validity.LATER:
            return keep_for_later(st, msg, verdict.reason)
        if verdict.validity is Validity.REJECT:
            slot.rejected = True
            return discard(Reason.REJECTED, verdict.reason)
    accept_pre_prepare(st, slot, msg)
    return PROCESSED


def keep_for_later(st: State, msg: PrePrepare, why: str) -> Outcome:
    """Keep a proposal the application can check only after executing the block before it.

    Only a view's primary gets here (its signature, the view, the window and the digest
    were checked), one proposal per seq; the rest is bounded per sender and in total."""
    st.counters["later"] += 1
    mine = st.later.setdefault(msg.sender, {})
    total = sum(len(pps) for pps in st.later.values())
    if len(mine) >= st.config.max_later_per_sender or total >= st.config.max_later:
        return discard(Reason.STASH_FULL, "too many proposals kept for later")
    mine[msg.seq] = msg
    return Outcome(Verdict.STASH, Reason.LATER, why)


def accept_pre_prepare(st: State, slot: Slot, pp: PrePrepare) -> None:
    """Record ``pp`` durably, then (backups) prepare it."""
    slot.pre_prepare = pp
    slot.rejected = False
    st.persist_slot(slot)
    if st.id != st.config.primary(slot.view):
        prepare = st.sign(Prepare(pp.view, pp.seq, pp.digest, st.id))
        slot.prepares[st.id] = prepare
        st.broadcast(prepare)
    maybe_prepared(st, slot)


def handle_prepare(st: State, msg: Prepare) -> Outcome:
    outcome = classify(st, msg)
    if outcome is not None:
        return outcome
    if msg.sender == st.config.primary(msg.view):
        return discard(Reason.MALFORMED, "the primary does not prepare")
    slot = st.slot(msg.seq)
    refused = _record_vote(slot.prepares, msg)
    if refused is not None:
        return refused
    maybe_prepared(st, slot)
    return PROCESSED


_Vote = TypeVar("_Vote", Prepare, Commit)


def _record_vote(votes: dict[int, _Vote], msg: _Vote) -> Outcome | None:
    """Keep a sender's first vote for a slot; a repeat is a duplicate, another digest a conflict."""
    old = votes.get(msg.sender)
    if old is not None:
        return discard(Reason.DUPLICATE if old.digest == msg.digest else Reason.CONFLICT)
    votes[msg.sender] = msg
    return None


def maybe_prepared(st: State, slot: Slot) -> None:
    if slot.prepared or slot.pre_prepare is None:
        return
    need = st.config.quorum - 1
    matching = slot.matching_prepares(st.config.primary(slot.view))
    if len(matching) < need:
        return
    slot.prepared = True
    slot.proof = PreparedProof(slot.pre_prepare, tuple(matching[:need]))
    st.persist_slot(slot)  # the prepared certificate must survive before we commit
    pp = slot.pre_prepare
    commit = st.sign(Commit(pp.view, pp.seq, pp.digest, st.id))
    slot.commits[st.id] = commit
    st.broadcast(commit)
    maybe_committed(st, slot)


def handle_commit(st: State, msg: Commit) -> Outcome:
    outcome = classify(st, msg)
    if outcome is not None:
        return outcome
    slot = st.slot(msg.seq)
    refused = _record_vote(slot.commits, msg)
    if refused is not None:
        return refused
    maybe_committed(st, slot)
    return PROCESSED


def maybe_committed(st: State, slot: Slot) -> None:
    if slot.committed is not None or not slot.prepared or slot.pre_prepare is None:
        return
    matching = slot.matching_commits()
    if len(matching) < st.config.quorum:
        return
    pp = slot.pre_prepare
    slot.committed = Certificate(
        slot.view, slot.seq, pp.digest, tuple((c.sender, c.sig) for c in matching)
    )
    slot.payload = pp.payload
    committed.maybe_deliver(st)
