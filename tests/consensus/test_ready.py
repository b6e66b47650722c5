"""The Ready contract: one value per input, performed in the write-ahead order by ``perform``;
the application's verdicts (ACCEPT, REJECT, LATER) and the replica's LATER stash."""

from __future__ import annotations

from consensus import ACCEPT, Effects, Ready, SoftState, later, perform, reject
from consensus.actions import Broadcast, Deliver, Forward, Persist, Reason, Send, ServeState, Verdict
from consensus.messages import Certificate, PrePrepare, Prepare, Status
from consensus.persist import ViewRecord
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, same_chain, signed_by, small_config

CERT = Certificate(0, 1, bytes(32), ())
STATUS = Status(0, 0, 1)


def _ready() -> Ready:
    return Ready(
        persist=(Persist(b"view", ViewRecord(1, False)),),
        deliver=(Deliver(1, bytes(32), b"b1", CERT), Deliver(2, bytes(32), b"b2", CERT)),
        messages=(Broadcast(STATUS), Send(2, STATUS)),
        forward=(Forward(b"req", 1),),
        serve=(ServeState(3, 1, 2),),
        soft_state=SoftState(1, 1, False),
    )


def _recorder(log: list[str], persist_ok: bool = True, deliver_ok: bool = True) -> Effects:
    def persist(records: tuple[Persist, ...]) -> bool:
        log.append(f"persist {len(records)}")
        return persist_ok

    def deliver(block: Deliver) -> bool:
        log.append(f"deliver {block.seq}")
        return deliver_ok

    return Effects(
        persist=persist,
        deliver=deliver,
        send=lambda to, msg: log.append(f"send {to}"),
        broadcast=lambda msg: log.append("broadcast"),
        forward=lambda f: log.append("forward"),
        serve=lambda s: log.append(f"serve {s.to}"),
        soft_state=lambda soft: log.append(f"soft {soft.view} {soft.active}"),
    )


def test_perform_persists_and_delivers_before_anything_leaves() -> None:
    log: list[str] = []
    assert perform(_ready(), _recorder(log))
    assert log == [
        "persist 1", "deliver 1", "deliver 2", "soft 1 False", "broadcast", "send 2", "forward",
        "serve 3",
    ]


def test_perform_sends_nothing_when_persisting_or_delivering_fails() -> None:
    log: list[str] = []
    assert not perform(_ready(), _recorder(log, persist_ok=False))
    assert log == ["persist 1"]
    log.clear()
    assert not perform(_ready(), _recorder(log, deliver_ok=False))
    assert log == ["persist 1", "deliver 1"]


def test_an_empty_ready_is_false_and_a_soft_state_alone_is_not() -> None:
    assert not Ready()
    assert Ready(soft_state=SoftState(0, 0, True))


def test_of_sorts_actions_into_fields_keeping_their_order() -> None:
    ready = _ready()
    mixed = [ready.serve[0], ready.messages[0], ready.deliver[0], ready.persist[0], ready.forward[0],
             ready.messages[1], ready.deliver[1]]
    assert Ready.of(mixed, ready.soft_state) == ready
    assert Ready.of([]) == Ready() and Ready.of((), SoftState(0, 0, True)) == Ready(soft_state=SoftState(0, 0, True))


def test_soft_state_comes_when_the_view_changes_and_only_then() -> None:
    cluster = Cluster(4, config=small_config())
    r = cluster.replica(1)
    assert r.ready().soft_state is None  # nothing changed since construction
    r.start_view_change(1)
    ready = r.ready()
    assert ready.soft_state == SoftState(view=1, primary=1, active=False)
    assert [a.key for a in ready.persist] == [b"view"]  # the promise is on disk first
    r.tick()
    assert r.ready().soft_state is None


def test_soft_state_reports_the_new_view_starting() -> None:
    cluster = Cluster(4, config=small_config())
    seen: list[tuple[int, SoftState]] = []
    cluster.on_soft_state = lambda node, soft: seen.append((node.id, soft))  # type: ignore[method-assign]
    cluster.crash(0)
    cluster.request(1)  # waits: its primary is down
    cluster.tick_until(all_at_least(cluster, 1, [1, 2, 3]), limit=300)
    for i in (1, 2, 3):
        mine = [soft for node, soft in seen if node == i]
        assert mine == [SoftState(1, 1, False), SoftState(1, 1, True)]


def _backup_with(verdicts: list[object]) -> tuple[Cluster, list[int]]:
    """A cluster whose replica 1 answers each check with the next of ``verdicts``."""
    asked: list[int] = []

    def validate(replica: int, seq: int, digest: bytes, payload: bytes) -> object:
        if replica != 1:
            return ACCEPT
        asked.append(seq)
        return verdicts.pop(0) if verdicts else ACCEPT

    return Cluster(4, config=small_config(), validate=validate), asked  # type: ignore[arg-type]


def test_a_later_proposal_is_kept_and_prepared_once_the_block_before_is_executed() -> None:
    cluster, asked = _backup_with([later("block 1 not executed")])
    r = cluster.replica(1)
    pp = signed_by(cluster, 0, PrePrepare(0, 2, sha256(b"b2"), b"b2", 0))
    outcome = r.step(pp)
    assert (outcome.verdict, outcome.reason, outcome.detail) == (Verdict.STASH, Reason.LATER, "block 1 not executed")
    assert r.step(pp).reason is Reason.DUPLICATE  # kept once, the application not asked again
    other = signed_by(cluster, 0, PrePrepare(0, 2, sha256(b"x"), b"x", 0))
    assert r.step(other).reason is Reason.CONFLICT
    assert not r.ready().messages  # no prepare yet
    r.applied(0)
    assert asked == [2] and not r.ready()  # seq 2 needs block 1 executed: not asked again
    r.applied(1)
    assert asked == [2, 2]
    sent = [a.msg for a in r.ready().messages]
    assert [(type(m), m.seq) for m in sent] == [(Prepare, 2)]


def test_a_rejected_proposal_is_refused_with_the_applications_reason() -> None:
    cluster, _ = _backup_with([reject("block time does not advance")])
    pp = signed_by(cluster, 0, PrePrepare(0, 1, sha256(b"b1"), b"b1", 0))
    outcome = cluster.replica(1).step(pp)
    assert (outcome.reason, outcome.detail) == (Reason.REJECTED, "block time does not advance")


def test_the_application_is_asked_only_after_the_replicas_own_checks() -> None:
    cluster, asked = _backup_with([])
    r = cluster.replica(1)
    forged = PrePrepare(0, 1, sha256(b"b1"), b"b1", 0, sig=b"\x00" * 32)
    assert r.step(forged).reason is Reason.BAD_SIGNATURE
    not_primary = signed_by(cluster, 2, PrePrepare(0, 1, sha256(b"b1"), b"b1", 2))
    assert r.step(not_primary).reason is Reason.MALFORMED
    future = signed_by(cluster, 2, PrePrepare(6, 1, sha256(b"b1"), b"b1", 2))
    assert r.step(future).verdict is Verdict.STASH  # a future view: stashed, not checked
    wrong = signed_by(cluster, 0, PrePrepare(0, 1, sha256(b"other"), b"b1", 0))
    assert r.step(wrong).reason is Reason.MALFORMED
    assert asked == []


def test_later_proposals_are_bounded_per_sender_and_dropped_with_the_view() -> None:
    cfg = small_config(window=10, max_later_per_sender=3, max_later=3)
    cluster = Cluster(4, config=cfg, validate=lambda r, s, d, p: later("not yet"))
    r = cluster.replica(1)
    outcomes = [
        r.step(signed_by(cluster, 0, PrePrepare(0, s, sha256(b"%d" % s), b"%d" % s, 0))).reason
        for s in range(1, 6)
    ]
    assert outcomes == [Reason.LATER] * 3 + [Reason.STASH_FULL] * 2
    r.start_view_change(1)
    r.ready()
    r.applied(10)
    assert not r.ready().messages  # nothing of the old view is checked or prepared now


def test_a_lagging_application_still_commits_every_block_everywhere() -> None:
    cluster = Cluster(4, config=small_config(), app_lag=3)
    cluster.request(12)
    cluster.tick_until(all_at_least(cluster, 12), limit=400)
    assert same_chain(cluster, [0, 1, 2, 3], 12)
    assert cluster.later_verdicts > 0
    cluster.tick(3)  # the last block executes three ticks after its delivery
    assert [node.executed for node in cluster.nodes] == [12] * 4
    assert all(cluster.replica(i).view == 0 for i in range(4))  # LATER costs no view change
    assert cluster.checker.violations == []
