"""The committed prefix of the log: delivering it in order, checkpointing it (PBFT 4.3) and
fetching or serving it by state transfer (5.3).

After delivering a multiple of K a replica broadcasts ``Checkpoint(seq, digest)``; 2f+1 matching
ones make it stable: the window moves and the slots and records at or below it are collected.
A replica behind the (f+1)-th highest height its peers report (so a correct one has it), or
behind a stable checkpoint, asks a peer for the blocks with ``StateRequest``; every transferred
block is checked against its own commit certificate, so any peer may answer. The replica keeps
no blocks: a ``ServeState`` asks the caller to answer from its block store.
"""

from __future__ import annotations

from consensus.actions import PROCESSED, Deliver, Outcome, Persist, Reason, ServeState
from consensus.log import Slot
from consensus.messages import (
    Certificate,
    Checkpoint,
    StateRequest,
    StateResponse,
    Status,
)
from consensus.persist import KEY_CHECKPOINT, CheckpointRecord
from consensus.replica_state import State, discard

__all__ = [
    "maybe_deliver", "deliver", "handle_checkpoint", "add_checkpoint", "become_stable",
    "help_into_view", "handle_status", "note_height", "want_state", "maybe_fetch_state", "handle_state_request",
    "handle_state_response",
]


def maybe_deliver(st: State) -> None:
    """Deliver committed slots in seq order, without gaps."""
    while True:
        slot = st.log.get(st.last_delivered + 1)
        if slot is None or slot.committed is None:
            return
        deliver(st, slot.seq, slot.committed.digest, slot.payload, slot.committed)


def deliver(st: State, seq: int, digest: bytes, payload: bytes, cert: Certificate) -> None:
    st.last_delivered = st.handed = seq
    st.last_digest = digest
    st.counters["delivered"] += 1
    st.next_seq = max(st.next_seq, seq + 1)
    st.out.append(Deliver(seq, digest, payload, cert))
    if st.active:
        # Progress: the timeout goes back to its base and the progress timer restarts. The
        # request timer does not: it waits for its own request (PBFT 4.4).
        st.timeout = st.config.view_change_timeout_ticks
        st.timer = None
        if st.config.unsafe_timer_reset_on_delivery:
            st.request_timer = None
        if st.expired and not st.request_expired():
            st.expired = False
    if seq % st.config.checkpoint_interval == 0 and seq > st.stable_seq:
        cp = st.own_checkpoint = st.sign(Checkpoint(seq, digest, st.id))
        st.broadcast(cp)
        add_checkpoint(st, cp)


def handle_checkpoint(st: State, msg: Checkpoint) -> Outcome:
    if msg.seq == 0 or msg.seq % st.config.checkpoint_interval:
        return discard(Reason.MALFORMED, "not a checkpoint seq")
    if msg.seq <= st.stable_seq:
        return discard(Reason.OUTSIDE_WINDOW, "at or below the stable checkpoint")
    old = st.checkpoints.get(msg.seq, {}).get(msg.sender)
    if old is not None:
        return discard(Reason.DUPLICATE if old.digest == msg.digest else Reason.CONFLICT)
    add_checkpoint(st, msg)
    return PROCESSED


def add_checkpoint(st: State, cp: Checkpoint) -> None:
    st.checkpoints.setdefault(cp.seq, {})[cp.sender] = cp
    # Bound memory: keep each sender's most recent few checkpoints only.
    mine = sorted(s for s, votes in st.checkpoints.items() if cp.sender in votes)
    limit = st.config.window // st.config.checkpoint_interval + 2
    for seq in mine[:-limit]:
        del st.checkpoints[seq][cp.sender]
    votes = [v for v in st.checkpoints[cp.seq].values() if v.digest == cp.digest]
    if len(votes) >= st.config.quorum:
        become_stable(st, cp.seq, cp.digest, tuple(sorted(votes, key=lambda v: v.sender)))


def become_stable(st: State, seq: int, digest: bytes, proof: tuple[Checkpoint, ...]) -> None:
    """Adopt a stable checkpoint: move the window, collect garbage, fetch state if behind."""
    if seq <= st.stable_seq:
        return
    st.stable_seq, st.stable_digest, st.stable_proof = seq, digest, proof
    st.out.append(Persist(KEY_CHECKPOINT, CheckpointRecord(seq, digest, proof)))
    for s in [s for s in st.log if s <= seq]:
        del st.log[s]
    st.unpersist_slots(seq)
    for s in [s for s in st.checkpoints if s <= seq]:
        del st.checkpoints[s]
    st.next_seq = max(st.next_seq, seq + 1)
    if seq > st.last_delivered:
        want_state(st, seq, [cp.sender for cp in proof])
    st.replay = True


def help_into_view(st: State, peer: int) -> None:
    """A peer is behind our (active) view: forward the NewView that started it (it is
    signed by its primary and self-verifying), at most once per status interval."""
    if not st.active or st.new_view_msg is None:
        return
    last = st.helped.get(peer)
    if last is not None and st.now - last < st.config.status_interval_ticks:
        return
    st.helped[peer] = st.now
    st.send(peer, st.new_view_msg)


def handle_status(st: State, msg: Status) -> Outcome:
    if msg.view < st.view:
        help_into_view(st, msg.sender)
    note_height(st, msg.sender, msg.seq)
    return PROCESSED


def note_height(st: State, peer: int, height: int) -> None:
    """``peer`` (an id of our epoch) has delivered up to ``height``: fetch what f+1 vouch for."""
    st.heights[peer] = height
    heights = sorted(st.heights.values(), reverse=True)
    if len(heights) > st.config.f:
        target = heights[st.config.f]  # at least one correct replica has this height
        if target > st.last_delivered:
            peers = [s for s, h in sorted(st.heights.items()) if h >= target]
            want_state(st, target, peers)


def want_state(st: State, target: int, peers: list[int]) -> None:
    if target > st.fetch_target:
        st.fetch_target = target
        st.fetch_peers = [p for p in peers if p != st.id]
    maybe_fetch_state(st)


def maybe_fetch_state(st: State) -> None:
    """Ask a peer for the next batch of committed blocks we miss (retry on timeout)."""
    if st.last_delivered >= st.fetch_target:
        st.fetch_deadline = None
        return
    if st.last_delivered >= st.cap():
        return  # the next seq's epoch: asked for once it is known (or entered)
    if st.fetch_deadline is not None and st.now < st.fetch_deadline:
        return
    peers = st.fetch_peers or [r for r in range(st.config.n) if r != st.id]
    if not peers:
        return
    peer = peers[st.fetch_attempt % len(peers)]
    st.fetch_attempt += 1
    start = st.last_delivered + 1
    end = min(st.fetch_target, st.last_delivered + st.config.state_batch)
    st.send(peer, st.sign(StateRequest(start, end, st.id)))
    st.fetch_deadline = st.now + st.config.state_request_timeout_ticks


def handle_state_request(st: State, msg: StateRequest) -> Outcome:
    if not 1 <= msg.from_seq <= msg.to_seq or msg.to_seq - msg.from_seq >= st.config.state_batch:
        return discard(Reason.MALFORMED, "bad range")
    if msg.from_seq > st.last_delivered:
        return discard(Reason.OUTSIDE_WINDOW, "we do not have these blocks")
    st.out.append(ServeState(msg.sender, msg.from_seq, min(msg.to_seq, st.last_delivered)))
    return PROCESSED


def handle_state_response(st: State, msg: StateResponse) -> Outcome:
    delivered = 0
    cap = st.cap()
    for entry in sorted(msg.entries, key=lambda e: e.seq):
        if entry.seq <= st.last_delivered:
            continue
        if entry.seq != st.last_delivered + 1 or entry.seq > cap:
            break  # above the cap: its certificate is checked in its own epoch, once there
        if st.digest(entry.payload) != entry.digest:
            return discard(Reason.MALFORMED, f"payload digest at seq {entry.seq}")
        problem = st.check.certificate_problem(entry.certificate, entry.seq, entry.digest)
        if problem is not None:
            return discard(Reason.MALFORMED, problem)
        if entry.seq > st.stable_seq:
            # Remember the block so a late pre-prepare for it is not re-validated
            # (and one with another digest is refused as a conflict).
            slot = st.log.get(entry.seq) or st.log.setdefault(
                entry.seq, Slot(entry.seq, view=st.view)
            )
            slot.committed, slot.payload = entry.certificate, entry.payload
        deliver(st, entry.seq, entry.digest, entry.payload, entry.certificate)
        st.counters["state_transfer_blocks"] += 1
        delivered += 1
    if not delivered:
        return discard(Reason.DUPLICATE, "no new blocks")
    maybe_deliver(st)
    st.fetch_deadline = None
    maybe_fetch_state(st)
    return PROCESSED
