"""Every message that is not processed is stashed or discarded, with a reason."""

from __future__ import annotations

import pytest

from consensus.actions import Reason, Verdict
from consensus.messages import Checkpoint, Commit, PrePrepare, Prepare, StateRequest
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import signed_by, small_config

D = sha256(b"block")


@pytest.fixture
def cluster() -> Cluster:
    return Cluster(4, config=small_config(checkpoint_interval=5, window=10))


def outcome_of(cluster: Cluster, msg: object, at: int = 1) -> tuple[Verdict, Reason | None]:
    o = cluster.replica(at).step(msg)  # type: ignore[arg-type]
    return o.verdict, o.reason


def test_processed(cluster: Cluster) -> None:
    assert outcome_of(cluster, signed_by(cluster, 2, Prepare(0, 1, D, 2))) == (Verdict.PROCESS, None)


def test_future_view_is_stashed_and_replayed(cluster: Cluster) -> None:
    msg = signed_by(cluster, 2, Prepare(3, 1, D, 2))
    assert outcome_of(cluster, msg) == (Verdict.STASH, Reason.WRONG_VIEW)


def test_old_view_is_discarded(cluster: Cluster) -> None:
    r = cluster.replica(1)
    r.start_view_change(2)
    assert outcome_of(cluster, signed_by(cluster, 2, Prepare(1, 1, D, 2))) == (
        Verdict.DISCARD, Reason.WRONG_VIEW)


def test_during_a_view_change_normal_messages_wait(cluster: Cluster) -> None:
    cluster.replica(1).start_view_change(1)  # view 1 has not started yet at replica 1
    assert outcome_of(cluster, signed_by(cluster, 2, Prepare(1, 1, D, 2))) == (
        Verdict.STASH, Reason.WRONG_VIEW)


def test_above_the_high_water_mark_is_stashed(cluster: Cluster) -> None:
    assert outcome_of(cluster, signed_by(cluster, 2, Prepare(0, 11, D, 2))) == (
        Verdict.STASH, Reason.OUTSIDE_WINDOW)


def test_at_or_below_the_low_water_mark_is_discarded(cluster: Cluster) -> None:
    cluster.request(6)
    cluster.deliver_all()
    assert cluster.replica(1).stable_seq == 5
    assert outcome_of(cluster, signed_by(cluster, 2, Prepare(0, 5, D, 2))) == (
        Verdict.DISCARD, Reason.OUTSIDE_WINDOW)
    assert outcome_of(cluster, signed_by(cluster, 2, Checkpoint(5, D, 2))) == (
        Verdict.DISCARD, Reason.OUTSIDE_WINDOW)


def test_duplicate_and_conflict(cluster: Cluster) -> None:
    msg = signed_by(cluster, 2, Commit(0, 1, D, 2))
    assert outcome_of(cluster, msg) == (Verdict.PROCESS, None)
    assert outcome_of(cluster, msg) == (Verdict.DISCARD, Reason.DUPLICATE)
    other = signed_by(cluster, 2, Commit(0, 1, sha256(b"other"), 2))
    assert outcome_of(cluster, other) == (Verdict.DISCARD, Reason.CONFLICT)


def test_bad_signature(cluster: Cluster) -> None:
    assert outcome_of(cluster, Prepare(0, 1, D, 2, b"\x00" * 32)) == (
        Verdict.DISCARD, Reason.BAD_SIGNATURE)
    impersonation = signed_by(cluster, 3, Prepare(0, 1, D, 2))  # 3 signs as if it were 2
    assert outcome_of(cluster, impersonation) == (Verdict.DISCARD, Reason.BAD_SIGNATURE)


def test_unknown_sender(cluster: Cluster) -> None:
    assert outcome_of(cluster, Prepare(0, 1, D, 9, b"x")) == (Verdict.DISCARD, Reason.UNKNOWN_SENDER)


@pytest.mark.parametrize("msg", [
    Prepare(0, 1, b"short", 2, b""),
    Prepare(0, -1, D, 2, b""),
    Prepare(0, 1, D, 2, "sig"),  # type: ignore[arg-type]
    "not a message",
    Checkpoint(7, D, 2, b""),
])
def test_malformed(cluster: Cluster, msg: object) -> None:
    if isinstance(msg, Checkpoint):
        msg = signed_by(cluster, 2, msg)  # well signed, but 7 is not a checkpoint seq
    assert outcome_of(cluster, msg) == (Verdict.DISCARD, Reason.MALFORMED)


def test_semantically_malformed(cluster: Cluster) -> None:
    not_primary = signed_by(cluster, 2, PrePrepare(0, 1, sha256(b"p"), b"p", 2))
    wrong_digest = signed_by(cluster, 0, PrePrepare(0, 1, D, b"not the block", 0))
    prepare_from_primary = signed_by(cluster, 0, Prepare(0, 1, D, 0))
    bad_range = signed_by(cluster, 2, StateRequest(5, 1, 2))
    for msg in (not_primary, wrong_digest, prepare_from_primary, bad_range):
        assert outcome_of(cluster, msg) == (Verdict.DISCARD, Reason.MALFORMED)


def test_garbage_bytes_are_malformed(cluster: Cluster) -> None:
    o = cluster.replica(1).receive(b"\x00garbage")
    assert (o.verdict, o.reason) == (Verdict.DISCARD, Reason.MALFORMED)


def test_stats_count_every_classification(cluster: Cluster) -> None:
    r = cluster.replica(1)
    r.step(Prepare(0, 1, D, 9, b"x"))
    r.step(Prepare(0, 1, D, 2, b"x"))
    assert r.stats[("discard", "unknown sender")] == 1
    assert r.stats[("discard", "bad signature")] == 1
    assert str(r.step(Prepare(0, 1, D, 9, b"x"))) == "discard (unknown sender: sender 9)"


def test_stashed_messages_are_replayed_when_the_view_starts(cluster: Cluster) -> None:
    early = signed_by(cluster, 1, PrePrepare(1, 1, sha256(b"p"), b"p", 1))
    r = cluster.replica(2)
    assert r.step(early).verdict is Verdict.STASH
    cluster.crash(0)
    for i in (1, 2, 3):
        cluster.replica(i).note_pending(b"request")
    cluster.tick(25)
    cluster.deliver_all()
    assert r.view == 1 and r.active
    assert 1 in r.log_seqs()
