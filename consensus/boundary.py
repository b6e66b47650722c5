"""Reconfiguration (docs/CONSENSUS.md, "Reconfiguration"): which epoch a message is of, what is
done with the messages of another epoch, and the switch from one epoch to the next.

Every message is checked in one epoch, the one it belongs to: a PrePrepare, Prepare, Commit or
Checkpoint in the epoch of its seq (its signature cannot mean anything in another: the ids and the
domain are the epoch's); a StateRequest in the epoch of its first seq (the asker's), a
StateResponse in that of its first entry (the asker's again); a Status in the epoch of the height
after its own (the sender's) or ours; a Suspect, ViewChange or NewView in ours or the next.
A message for a seq whose epoch is not fixed yet waits, unverified and bounded, until it is.

The switch (:func:`maybe_switch`) is a pure step taken on every replica at the same seq: once the
block before the next epoch's first seq is delivered *and executed* (the application may have
learnt of a later epoch from it), the replica leaves everything of the old epoch behind -- its
view (change), log, suspicions, stashes -- and enters the new one at view 0, active, with the
block before it as its stable checkpoint (the epoch's genesis). Nothing of the old epoch is in
flight then: the window never crosses the boundary, so every slot of the old epoch is delivered.
"""

from __future__ import annotations

from consensus import committed, viewchange
from consensus.actions import Outcome, Persist, Reason, ServeState, Verdict
from consensus.epoch import Epoch, check_next, signing_domain
from consensus.messages import (
    Checkpoint,
    Commit,
    ConsensusError,
    Message,
    NewView,
    PrePrepare,
    Prepare,
    StateRequest,
    StateResponse,
    Status,
    ViewChange,
    signing_bytes,
)
from consensus.persist import KEY_CHECKPOINT, KEY_VIEW, CheckpointRecord, ViewRecord
from consensus.replica_state import State, discard

__all__ = [
    "candidates", "verify", "route", "stash_unverified", "schedule", "note_applied",
    "maybe_switch", "enter_epoch",
]

_BY_SEQ = (PrePrepare, Prepare, Commit, Checkpoint)


def candidates(st: State, msg: Message) -> list[Epoch] | None:
    """The epochs ``msg`` may be signed in, in the order to try; None: it is for a seq whose
    epoch is not known yet."""
    if isinstance(msg, _BY_SEQ):
        epoch = st.epoch_at(msg.seq)
        return None if epoch is None else [epoch]
    if isinstance(msg, StateRequest):
        return [e for e in [st.epoch_at(msg.from_seq)] if e is not None]
    if isinstance(msg, StateResponse):
        first = st.epoch_at(msg.entries[0].seq) if msg.entries else st.epoch
        return [first] if first is not None else []
    if isinstance(msg, Status):
        theirs = st.epoch_at(msg.seq + 1)
        return [st.epoch] if theirs is None or theirs == st.epoch else [theirs, st.epoch]
    nxt = st.next_epoch()
    return [st.epoch] if nxt is None else [st.epoch, nxt]


def verify(st: State, msg: Message, epoch: Epoch) -> bool:
    """Is ``msg`` validly signed by its sender as a member of ``epoch``?"""
    if epoch == st.epoch:
        return st.check.signed(msg)
    if not 0 <= msg.sender < epoch.n:
        return False
    data = signing_bytes(signing_domain(st.chain_domain, epoch.number), msg, st.chain_domain)
    return epoch.verifier.verify(msg.sender, data, msg.sig)


def _ours(st: State, epoch: Epoch, sender: int) -> int | None:
    """The id in our epoch of member ``sender`` of ``epoch`` (None: not one of ours)."""
    return st.epoch.index(epoch.members[sender])


def route(st: State, msg: Message, epoch: Epoch) -> Outcome:
    """A validly signed message of another epoch than ours."""
    ours = _ours(st, epoch, msg.sender)
    older = epoch.number < st.epoch.number
    if isinstance(msg, Status):
        if ours is not None and ours != st.id:
            # Its height counts for state transfer whatever its epoch: heights are the chain's.
            committed.note_height(st, ours, msg.seq)
        if older:
            _answer_laggard(st, epoch, msg)
        return Outcome(Verdict.PROCESS, Reason.WRONG_EPOCH, f"height of epoch {epoch.number}")
    if older:
        if isinstance(msg, StateRequest):
            # A peer still in an epoch before ours (perhaps with a key in no later one): served,
            # addressed by its id there.
            if msg.from_seq > st.last_delivered:
                return discard(Reason.OUTSIDE_WINDOW, "we do not have these blocks")
            st.out.append(ServeState(
                msg.sender, msg.from_seq, min(msg.to_seq, st.last_delivered), epoch.number
            ))
            return Outcome(Verdict.PROCESS, Reason.WRONG_EPOCH, f"served to epoch {epoch.number}")
        return discard(Reason.WRONG_EPOCH, f"of epoch {epoch.number}, we are in {st.epoch.number}")
    if isinstance(msg, (*_BY_SEQ, ViewChange, NewView)):
        stash = st.next_stash.setdefault(msg.sender, [])
        if len(stash) >= st.config.max_stash_per_sender:
            return discard(Reason.STASH_FULL)
        stash.append(msg)
        return Outcome(Verdict.STASH, Reason.WRONG_EPOCH, f"of epoch {epoch.number}, not entered yet")
    return discard(Reason.WRONG_EPOCH, f"of epoch {epoch.number}, not entered yet")


def _answer_laggard(st: State, epoch: Epoch, msg: Status) -> None:
    """A peer still in an epoch before ours may not know ours (so cannot check what we sign in
    it), and the members that could vouch for the heights it misses may have left: send it the
    next blocks (their certificates prove them; ``ServeState`` in its epoch), once per status
    interval. From them it learns of the next epoch, and so on until it is in ours."""
    if msg.seq >= st.last_delivered:
        return
    last = st.answered.get((epoch.number, msg.sender))
    if last is not None and st.now - last < st.config.status_interval_ticks:
        return
    st.answered[(epoch.number, msg.sender)] = st.now
    end = min(st.last_delivered, msg.seq + st.config.state_batch)
    st.out.append(ServeState(msg.sender, msg.seq + 1, end, epoch.number))


def stash_unverified(st: State, msg: Message) -> Outcome:
    """Keep a message whose seq's epoch is not known yet (so is its signature's meaning),
    bounded per claimed sender; it is stepped again, every check included, once it is."""
    kept = st.unverified.setdefault(msg.sender, [])
    if len(kept) >= st.config.max_stash_per_sender:
        return discard(Reason.STASH_FULL)
    kept.append(msg)
    return Outcome(Verdict.STASH, Reason.EPOCH_UNKNOWN, f"seq {getattr(msg, 'seq', '?')}")


def schedule(st: State, epoch: Epoch) -> None:
    """The application learnt of the next epoch (executing the block that approved it)."""
    if any(e.number == epoch.number for e in st.epochs):
        if epoch not in st.epochs:
            raise ConsensusError(f"epoch {epoch.number} was scheduled before, differently")
        return  # told again (a restarted application re-executing): nothing new
    check_next(st.epochs, epoch, st.config.checkpoint_interval, st.horizon())
    st.epochs.append(epoch)
    st.replay = True


def note_applied(st: State, height: int) -> None:
    """The application executed every block up to ``height``: the horizon may move up."""
    if height <= st.applied:
        return
    cap = st.cap()
    st.applied = height
    maybe_switch(st)
    if st.cap() != cap:
        st.replay = True
        committed.maybe_fetch_state(st)


def maybe_switch(st: State) -> None:
    """Enter the next epoch once the block before its first seq is delivered and executed."""
    while (nxt := st.next_epoch()) is not None and min(st.applied, st.last_delivered) >= nxt.base:
        enter_epoch(st, nxt)


def enter_epoch(st: State, epoch: Epoch) -> None:
    """Leave the old epoch behind; start ``epoch`` at view 0 with its base as stable checkpoint."""
    assert st.last_delivered == epoch.base, "the window never crosses an epoch boundary"
    base_digest = st.last_digest
    st.set_epoch(epoch)
    st.counters["epochs"] += 1
    st.view, st.active = 0, True
    viewchange.reset_suspicion(st)
    st.timeout = st.config.view_change_timeout_ticks
    st.left_with = ()
    st.view_changes = {}
    st.new_view_msg = None
    st.later = {}
    st.helped = {}
    st.answered = {}
    st.heights = {}
    st.fetch_peers = []
    st.own_checkpoint = None
    st.checkpoints = {}
    st.log = {}
    st.unpersist_slots()
    st.stable_seq, st.stable_digest, st.stable_proof = epoch.base, base_digest, ()
    st.next_seq = epoch.first_seq
    st.out.append(Persist(KEY_CHECKPOINT, CheckpointRecord(epoch.base, base_digest, ())))
    st.out.append(Persist(KEY_VIEW, ViewRecord(0, True, epoch.number)))
    st.stash, st.next_stash = (st.next_stash, {}) if st.member else ({}, {})
    st.replay = st.member
    if st.member:
        committed.maybe_fetch_state(st)
    else:
        st.unverified = {}  # a replica of no epoch of ours: it votes, asks and answers no more

