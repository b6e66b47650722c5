"""Leaving a view: suspicions, view changes and new views (PBFT 4.4, and docs/CONSENSUS.md "No
replica alone in a view").

A replica whose request or progress timer expired while in sync broadcasts a non-binding
``Suspect`` and keeps voting; with 2f+1 suspicions (its own included) it leaves the view,
relaying them, and broadcasts a ``ViewChange`` with its stable checkpoint and prepared
certificates. f+1 view changes for higher views pull it into the smallest. The new primary, with
2f+1 valid view changes, computes O (``Checker.plan_new_view``) and broadcasts a ``NewView``;
backups recompute O and refuse one that differs.
"""

from __future__ import annotations

from consensus import committed, normal
from consensus.actions import PROCESSED, Outcome, Persist, Reason
from consensus.messages import NewView, PrePrepare, Suspect, ViewChange
from consensus.persist import KEY_VIEW, ViewRecord
from consensus.proofs import NewViewPlan
from consensus.replica_state import State, discard

__all__ = [
    "reset_suspicion", "fresh_suspicions", "maybe_suspect", "handle_suspect", "start_view_change",
    "broadcast_view_change", "handle_view_change", "view_change_count", "maybe_join_view_change",
    "maybe_new_view", "handle_new_view", "enter_new_view",
]


def reset_suspicion(st: State) -> None:
    """A new view (or a view change): timers and suspicions start afresh."""
    st.timer = st.request_timer = None
    st.forwarded = st.expired = st.suspecting = False
    st.suspicions = {}


def fresh_suspicions(st: State) -> list[Suspect]:
    ttl = st.config.suspect_ttl_ticks
    return [m for t, m in st.suspicions.values() if st.now - t <= ttl]


def maybe_suspect(st: State) -> None:
    """Suspect the primary on our own expired timer, or because f+1 others do (at least one
    correct replica does); leave the view with 2f+1 suspicions, relaying them."""
    if not st.active:
        return
    if st.config.unsafe_lone_view_change:
        if st.expired:
            start_view_change(st, st.view + 1)
        return
    fresh = fresh_suspicions(st)
    # A replica catching up can't judge the primary (the others may be waiting for *it*):
    # it neither suspects nor echoes; 2f+1 suspicions from others still take it along.
    suspecting = st.in_sync() and (st.expired or len(fresh) >= st.config.f + 1)
    if suspecting and (not st.suspecting or st.now % st.config.status_interval_ticks == 0):
        if not st.suspecting:
            st.counters["suspicions"] += 1
        # Suspicions are not acknowledged: re-sent every status interval while they hold.
        st.broadcast(st.sign(Suspect(st.view, st.id)))
    st.suspecting = suspecting
    if len(fresh) + suspecting >= st.config.quorum:
        mine = (st.sign(Suspect(st.view, st.id)),) if suspecting else ()
        st.left_with = (*mine, *sorted(fresh, key=lambda m: m.sender))
        for suspect in st.left_with:
            st.broadcast(suspect)
        start_view_change(st, st.view + 1)


def handle_suspect(st: State, msg: Suspect) -> Outcome:
    if msg.view < st.view:
        committed.help_into_view(st, msg.sender)
        return discard(Reason.WRONG_VIEW, f"suspects view {msg.view}, we are in {st.view}")
    if msg.view > st.view or not st.active:
        return discard(Reason.WRONG_VIEW, f"suspects view {msg.view}; we are not active in it")
    st.suspicions[msg.sender] = (st.now, msg)
    maybe_suspect(st)
    return PROCESSED


def start_view_change(st: State, new_view: int) -> None:
    """Leave the current view: broadcast a ViewChange with our checkpoint and P set."""
    if new_view <= st.view:
        return
    st.view = new_view
    st.active = False
    reset_suspicion(st)
    st.counters["view_changes"] += 1
    st.timeout = min(st.timeout * st.config.backoff_factor, st.config.max_timeout_ticks)
    st.timer = None  # starts with 2f+1 view changes for this view (see tick)
    st.later = {}  # proposals of the view we leave: never to be prepared now
    st.out.append(Persist(KEY_VIEW, ViewRecord(st.view, False, st.epoch.number)))
    st.view_changes = {s: vc for s, vc in st.view_changes.items() if vc.view >= new_view}
    broadcast_view_change(st)
    maybe_new_view(st)


def broadcast_view_change(st: State) -> None:
    proofs = tuple(
        slot.proof for seq, slot in sorted(st.log.items())
        if slot.proof is not None and seq > st.stable_seq
    )
    vc = st.sign(ViewChange(
        st.view, st.stable_seq, st.stable_digest, st.stable_proof, proofs, st.id
    ))
    st.view_changes[st.id] = vc
    st.broadcast(vc)


def handle_view_change(st: State, msg: ViewChange) -> Outcome:
    if msg.view < st.view or (msg.view == st.view and st.active):
        committed.help_into_view(st, msg.sender)
        return discard(Reason.WRONG_VIEW, f"view change to {msg.view}, we are in {st.view}")
    old = st.view_changes.get(msg.sender)
    if old is not None and old.view > msg.view:
        return discard(Reason.WRONG_VIEW, "older than one already received")
    if old == msg:
        return discard(Reason.DUPLICATE)
    problem = st.check.view_change_problem(msg)
    if problem is not None:
        return discard(Reason.MALFORMED, problem)
    st.view_changes[msg.sender] = msg
    maybe_join_view_change(st)
    maybe_new_view(st)
    return PROCESSED


def view_change_count(st: State) -> int:
    return sum(1 for vc in st.view_changes.values() if vc.view == st.view)


def maybe_join_view_change(st: State) -> None:
    """f+1 replicas want a higher view: join the smallest view among such a set."""
    views = sorted(
        (vc.view for s, vc in st.view_changes.items() if s != st.id and vc.view > st.view),
        reverse=True,
    )
    if len(views) >= st.config.f + 1:
        start_view_change(st, views[st.config.f])


def maybe_new_view(st: State) -> None:
    """As the new primary with 2f+1 view changes: compute O, broadcast NewView, enter it."""
    if st.active or st.config.primary(st.view) != st.id:
        return
    vcs = sorted(
        (vc for vc in st.view_changes.values() if vc.view == st.view),
        key=lambda vc: vc.sender,
    )
    if len(vcs) < st.config.quorum:
        return
    chosen = tuple(vcs[: st.config.quorum])
    plan = st.check.plan_new_view(chosen)
    pps = tuple(
        st.sign(PrePrepare(st.view, seq, digest, payload, st.id))
        for seq, digest, payload in plan.proposals
    )
    nv = st.sign(NewView(st.view, chosen, pps, st.id))
    st.broadcast(nv)
    enter_new_view(st, plan, pps, nv)


def handle_new_view(st: State, msg: NewView) -> Outcome:
    if msg.view < st.view or (msg.view == st.view and st.active):
        return discard(Reason.WRONG_VIEW, f"new view {msg.view}, we are in {st.view}")
    if msg.sender != st.config.primary(msg.view):
        return discard(Reason.MALFORMED, "new view not from its primary")
    senders = {vc.sender for vc in msg.view_changes}
    if len(senders) != len(msg.view_changes) or len(senders) < st.config.quorum:
        return discard(Reason.MALFORMED, "V is not 2f+1 distinct view changes")
    for vc in msg.view_changes:
        if vc.view != msg.view or not st.check.signed(vc):
            return discard(Reason.MALFORMED, f"bad view change from {vc.sender} in V")
        problem = st.check.view_change_problem(vc)
        if problem is not None:
            return discard(Reason.MALFORMED, f"view change from {vc.sender}: {problem}")
    plan = st.check.plan_new_view(msg.view_changes)
    if len(plan.proposals) != len(msg.pre_prepares):
        return discard(Reason.MALFORMED, "O does not match V")
    for (seq, digest, _), pp in zip(plan.proposals, msg.pre_prepares):
        if (pp.view, pp.seq, pp.digest, pp.sender) != (msg.view, seq, digest, msg.sender):
            return discard(Reason.MALFORMED, f"O does not match V at seq {seq}")
        if st.digest(pp.payload) != pp.digest or not st.check.signed(pp):
            return discard(Reason.MALFORMED, f"bad pre-prepare in O at seq {seq}")
    st.view = msg.view
    enter_new_view(st, plan, msg.pre_prepares, msg)
    return PROCESSED


def enter_new_view(st: State, plan: NewViewPlan, pps: tuple[PrePrepare, ...], nv: NewView) -> None:
    st.active = True
    st.new_view_msg = nv
    st.counters["new_views"] += 1
    st.timer = None
    reset_suspicion(st)
    st.left_with = ()
    st.later = {}
    st.out.append(Persist(KEY_VIEW, ViewRecord(st.view, True, st.epoch.number)))
    st.view_changes = {s: vc for s, vc in st.view_changes.items() if vc.view > st.view}
    if plan.stable_seq > st.stable_seq:
        committed.become_stable(st, plan.stable_seq, plan.stable_digest, plan.stable_proof)
    for slot in st.log.values():
        slot.enter_view(st.view)
    for pp in pps:
        if pp.seq <= st.stable_seq:
            continue
        slot = st.slot(pp.seq)
        if slot.committed is not None and slot.committed.digest != pp.digest:
            continue  # cannot happen with at most f faulty replicas
        normal.accept_pre_prepare(st, slot, pp)
    last = plan.proposals[-1][0] if plan.proposals else plan.stable_seq
    st.next_seq = max(last, st.stable_seq, st.last_delivered) + 1
    st.replay = True
