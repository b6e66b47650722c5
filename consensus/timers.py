"""Logical time: what one tick does (heartbeats, re-sends, the view timers, state-transfer
retries) and the request and progress timers of an active view (PBFT 4.4, 4.5.2).

The *request timer* runs while a client request waits here and is judged on the oldest one
(``Replica.note_pending``); half-way it emits a ``Forward``. The *progress timer* runs while
something proposed in this view is uncommitted (or was refused, or waits for the application:
LATER). Either expiring, while in sync, is this replica's reason to suspect the primary. While
waiting for a NewView, the timer starts only once 2f+1 replicas want that view.
"""

from __future__ import annotations

from consensus import committed, viewchange
from consensus.actions import Forward
from consensus.messages import Status
from consensus.replica_state import State

__all__ = ["tick", "waiting", "tick_timers"]


def tick(st: State) -> None:
    """Advance logical time by one tick: timers, heartbeats, state-transfer retries."""
    st.now += 1
    interval = st.now % st.config.status_interval_ticks == 0
    if interval:
        st.broadcast(st.sign(Status(st.view, st.last_delivered, st.id)))
        if st.own_checkpoint is not None:
            # Checkpoints are not acknowledged: re-send our latest so that a lost one
            # cannot leave a peer's window stuck below it.
            st.broadcast(st.own_checkpoint)
    if st.active:
        tick_timers(st)
        viewchange.maybe_suspect(st)
    else:
        # PBFT 4.5.2: the new-view timer only starts once 2f+1 replicas (us included) want
        # this view, so a replica that ran ahead alone waits for the others instead of
        # racing on through views nobody else is in.
        if st.timer is None:
            if viewchange.view_change_count(st) >= st.config.quorum:
                st.timer = st.timeout
        else:
            st.timer -= 1
            if st.timer <= 0:
                viewchange.start_view_change(st, st.view + 1)
        if interval:
            own = st.view_changes.get(st.id)
            if own is not None and own.view == st.view:
                st.broadcast(own)  # view changes are not acknowledged: re-send
            for suspect in st.left_with:  # so that nobody stays behind in the old view
                st.broadcast(suspect)
    committed.maybe_fetch_state(st)


def waiting(st: State) -> bool:
    # Slots at or below last_delivered are done, even those rebuilt after a restart from
    # the write-ahead record (which keeps pre-prepares, never commits): counting them made a
    # restarted idle backup time out and change view by itself.
    return any(
        s.seq > st.last_delivered and s.view == st.view and s.waiting()
        for s in st.log.values()
    ) or any(seq > st.last_delivered for pps in st.later.values() for seq in pps)


def tick_timers(st: State) -> None:
    """Active view: run the progress and request timers; note when one expires."""
    if not st.in_sync():
        # Catching up: what we wait for may be committed already. Timers restart once we are
        # in sync (a replica cut off from the others must not suspect their primary).
        st.timer = st.request_timer = None
        st.expired = st.forwarded = False
        return
    if waiting(st):
        st.timer = st.timeout if st.timer is None else st.timer - 1
    else:
        st.timer = None
    if st.request is None:
        st.request_timer = None
    elif st.request_timer is None:
        st.request_timer = st.timeout
    else:
        st.request_timer -= 1
        # Forward half-way, and again every timeout while it still waits (a lost forward,
        # or one only this replica could make, must not strand the request for good).
        again = st.request_timer <= 0 and -st.request_timer % st.timeout == 0
        if again or (not st.forwarded and st.request_timer <= st.timeout // 2):
            st.forwarded = True
            st.out.append(Forward(st.request, st.config.primary(st.view)))
    st.expired = (st.timer is not None and st.timer <= 0) or (
        st.request_timer is not None and st.request_timer <= 0
    )
