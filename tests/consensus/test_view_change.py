"""PBFT section 4.4: view changes, new views carrying prepared certificates, timeouts."""

from __future__ import annotations

from consensus.actions import Broadcast
from consensus.messages import Commit, NewView, PrePrepare, Prepare, ViewChange
from consensus.persist import slot_key
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, same_chain, signed_by, small_config


def test_primary_crash_view_change_then_commits_continue() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.request(5)
    cluster.tick_until(all_at_least(cluster, 5))

    cluster.crash(0)
    cluster.request(5)  # clients wait: the backups' timers run
    cluster.tick_until(all_at_least(cluster, 10, [1, 2, 3]), limit=200)

    for i in (1, 2, 3):
        r = cluster.replica(i)
        assert (r.view, r.active, r.status().primary) == (1, True, 1)
    assert same_chain(cluster, [1, 2, 3], 10)
    assert cluster.block(1, 10).certificate.view == 1

    cluster.restart(0)  # the old primary comes back, learns the view and catches up
    cluster.request(3)
    cluster.tick_until(all_at_least(cluster, 13), limit=300)
    assert same_chain(cluster, [0, 1, 2, 3], 13)
    assert cluster.checker.violations == []


def test_prepared_but_not_committed_block_is_committed_in_the_new_view_with_its_digest() -> None:
    """Only replica 1 (and the primary) prepare seq 1; no commit reaches anyone; the primary
    crashes. The new view must re-propose seq 1 with the same digest (from 1's P set)."""
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit) or (
        isinstance(msg, Prepare) and dst in (2, 3)
    )
    cluster.request(1)
    cluster.deliver_all()
    assert cluster.heights() == [0, 0, 0, 0]
    record = cluster.nodes[1].disk[slot_key(1)]
    assert record.proof is not None  # replica 1 prepared seq 1 (and persisted the certificate)
    assert cluster.nodes[2].disk[slot_key(1)].proof is None  # replica 2 did not
    digest = record.proof.pre_prepare.digest

    cluster.crash(0)
    views: list[NewView] = []

    def watch(src: int, dst: int, msg: object) -> bool:
        if isinstance(msg, NewView):
            views.append(msg)
        return False  # nothing is lost any more

    cluster.drop_if = watch
    cluster.tick_until(all_at_least(cluster, 1, [1, 2, 3]), limit=200)

    new_view = views[0]
    assert new_view.view == 1 and new_view.sender == 1
    assert [(pp.seq, pp.digest) for pp in new_view.pre_prepares] == [(1, digest)]
    for i in (1, 2, 3):
        block = cluster.block(i, 1)
        assert block.digest == digest
        assert block.certificate.view == 1


def test_unprepared_seqs_below_max_s_become_null_blocks() -> None:
    cluster = Cluster(4, config=small_config())
    # seq 1 reaches nobody; seq 2 is prepared by everyone but commits are lost
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit) or (
        isinstance(msg, PrePrepare) and msg.seq == 1
    )
    cluster.request(2)
    cluster.deliver_all()
    cluster.crash(0)
    cluster.drop_if = None
    cluster.tick_until(all_at_least(cluster, 2, [1, 2, 3]), limit=200)
    null = cluster.block(1, 1)
    assert null.payload == b"" and null.digest == sha256(b"")
    assert cluster.block(2, 2).payload.startswith(b"block/0/")
    assert same_chain(cluster, [1, 2, 3], 2)


def test_silent_primary_with_pending_requests_is_replaced() -> None:
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=20))
    cluster.target = 1
    for i in range(4):
        cluster.replica(i).note_pending(b"request")
    for _ in range(19):
        cluster.tick()
    assert cluster.replica(1).view == 0
    cluster.tick(2)
    cluster.deliver_all()
    r = cluster.replica(1)
    assert r.view == 1 and r.active
    assert r.counters["view_changes"] == 1


def test_no_pending_requests_no_view_change() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.tick(200)
    cluster.deliver_all()
    assert [cluster.replica(i).view for i in range(4)] == [0, 0, 0, 0]


def test_timeouts_back_off_and_reset_after_progress() -> None:
    cfg = small_config(view_change_timeout_ticks=10, backoff_factor=2)
    cluster = Cluster(4, config=cfg)
    cluster.crash(0)
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, NewView)  # no view ever starts
    for i in (1, 2, 3):
        cluster.replica(i).note_pending(b"request")
    timeouts = []
    for _ in range(200):
        cluster.tick()
        cluster.deliver_all()
        timeouts.append(cluster.replica(2).status().timeout_ticks)
    seen = sorted(set(timeouts))
    assert seen == [10 * 2**k for k in range(len(seen))] and len(seen) >= 4  # doubles each time
    cluster.drop_if = None
    cluster.restart(0)
    cluster.request(1)
    cluster.tick_until(all_at_least(cluster, 1, [1, 2, 3]), limit=1000)
    assert cluster.replica(2).status().timeout_ticks == 10  # progress resets it


def test_a_replica_alone_in_a_higher_view_waits_for_the_others() -> None:
    """PBFT 4.5.2: the new-view timer starts only with 2f+1 view changes for that view."""
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=10))
    r = cluster.replica(3)
    r.start_view_change(1)
    cluster.drop_if = lambda src, dst, msg: True  # nobody hears it
    cluster.tick(500)
    assert r.view == 1 and not r.active


def test_f_plus_1_view_changes_pull_a_replica_into_the_higher_view() -> None:
    cluster = Cluster(4, config=small_config())
    r = cluster.replica(3)
    for sender in (1, 2):
        vc = signed_by(cluster, sender, ViewChange(5, 0, bytes(32), (), (), sender))
        r.step(vc)
    assert r.view == 5 and not r.active
    sent = [a.msg for a in r.ready().messages if isinstance(a, Broadcast)]
    assert any(isinstance(m, ViewChange) and m.view == 5 for m in sent)


def test_new_view_whose_o_set_does_not_match_v_is_refused() -> None:
    cluster = Cluster(4, config=small_config())
    vcs = tuple(
        signed_by(cluster, s, ViewChange(1, 0, bytes(32), (), (), s)) for s in (0, 2, 3)
    )
    payload = b"sneaky"
    bogus = signed_by(cluster, 1, PrePrepare(1, 1, sha256(payload), payload, 1))
    nv = signed_by(cluster, 1, NewView(1, vcs, (bogus,), 1))
    outcome = cluster.replica(2).step(nv)
    assert outcome.verdict.value == "discard" and "O does not match V" in outcome.detail
    good = signed_by(cluster, 1, NewView(1, vcs, (), 1))
    assert cluster.replica(2).step(good).verdict.value == "process"
    assert cluster.replica(2).view == 1


def test_view_change_with_forged_prepared_certificate_is_refused() -> None:
    from consensus.messages import PreparedProof

    cluster = Cluster(4, config=small_config())
    payload = b"forged"
    pp = signed_by(cluster, 0, PrePrepare(0, 1, sha256(payload), payload, 0))
    # the byzantine replica 3 signs all the "prepares" itself
    prepares = tuple(signed_by(cluster, 3, Prepare(0, 1, pp.digest, 3)) for _ in range(2))
    vc = signed_by(cluster, 3, ViewChange(1, 0, bytes(32), (), (PreparedProof(pp, prepares),), 3))
    outcome = cluster.replica(1).step(vc)
    assert outcome.verdict.value == "discard" and "prepared proof" in outcome.detail


def test_seven_replicas_survive_two_crashed_primaries() -> None:
    cluster = Cluster(7, config=small_config(7))
    cluster.request(3)
    cluster.tick_until(all_at_least(cluster, 3))
    cluster.crash(0)
    cluster.crash(1)
    cluster.request(7)
    cluster.tick_until(all_at_least(cluster, 10, [2, 3, 4, 5, 6]), limit=1000)
    assert cluster.replica(2).view == 2
    assert same_chain(cluster, [2, 3, 4, 5, 6], 10)


def test_a_primary_whose_proposals_the_application_refuses_is_replaced() -> None:
    """The node's block rules (a re-included transaction, an untimely block time, an oversized
    block) make correct backups refuse a byzantine primary's proposals: it costs one view change,
    and nothing it proposed is ever delivered."""
    import random

    from consensus.sim.byzantine import INVALID_MARK, InvalidProposer, refuses_invalid

    liar = InvalidProposer(random.Random(1))
    cluster = Cluster(4, config=small_config(), byzantine={0: liar}, validate=refuses_invalid)
    cluster.request(5)
    cluster.tick_until(all_at_least(cluster, 5, [1, 2, 3]), limit=400)
    assert liar.injected > 0
    for i in (1, 2, 3):
        r = cluster.replica(i)
        assert (r.view, r.status().primary) == (1, 1)
        assert not any(cluster.block(i, s).payload.startswith(INVALID_MARK) for s in range(1, 6))
    assert same_chain(cluster, [1, 2, 3], 5)
    assert cluster.checker.violations == []
