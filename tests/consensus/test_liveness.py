"""Liveness cases that once stalled a real network (issue 19), as scenario tests: a restarted idle
backup, a censoring primary, a backup cut off with requests waiting, the Forward of a waiting
request, and the relayed suspicions that keep anyone from staying behind in the old view."""

from __future__ import annotations

from consensus.actions import Forward
from consensus.messages import Suspect, ViewChange
from consensus.sim.cluster import Cluster
from consensus.sim.liveness import RequestCluster

from .helpers import all_at_least, small_config


def test_restarted_idle_backup_does_not_time_out_on_slots_it_already_delivered() -> None:
    """The write-ahead record keeps pre-prepares but never commits: after a restart those slots
    looked uncommitted, so an idle backup changed view by itself two timeouts later."""
    cluster = Cluster(4, config=small_config(checkpoint_interval=5, window=10))
    cluster.request(3)  # below the first checkpoint: the slots stay on disk
    cluster.tick_until(all_at_least(cluster, 3))
    cluster.crash(2)
    cluster.restart(2)
    assert cluster.replica(2).log_seqs() == [1, 2, 3]  # rebuilt from the record
    for _ in range(300):
        cluster.tick()
        cluster.deliver_all()
    assert [(cluster.replica(i).view, cluster.replica(i).active) for i in range(4)] == [(0, True)] * 4
    assert cluster.replica(2).counters["suspicions"] == 0


def test_censoring_primary_is_replaced_while_it_commits_other_requests() -> None:
    """PBFT 4.4: the request timer is judged on the oldest waiting request; blocks committing
    other requests do not restart it."""
    cfg = small_config(view_change_timeout_ticks=20)
    cluster = RequestCluster(4, config=cfg)
    cluster.censor[0] = {b"victim"}
    for i in range(4):
        cluster.submit(i, b"victim")
    tick = 0
    while b"victim" not in cluster.executed[1]:
        assert tick < 200, "the censored request never committed"
        if tick % 3 == 0:
            cluster.submit(tick % 4, b"other-%d" % tick)  # steady progress meanwhile
        cluster.step()
        tick += 1
    assert tick < 4 * cfg.view_change_timeout_ticks  # one timeout, one view change
    assert cluster.replica(1).view == 1 and cluster.replica(1).active
    assert len(cluster.executed[1]) > 5  # others' requests committed all along


def test_the_old_timer_never_replaces_a_censoring_primary_under_load() -> None:
    cfg = small_config(view_change_timeout_ticks=20, unsafe_timer_reset_on_delivery=True)
    cluster = RequestCluster(4, config=cfg)
    cluster.censor[0] = {b"victim"}
    for i in range(4):
        cluster.submit(i, b"victim")
    for tick in range(300):
        if tick % 3 == 0:
            cluster.submit(tick % 4, b"other-%d" % tick)
        cluster.step()
    assert b"victim" not in cluster.executed[1]
    assert cluster.replica(1).view == 0


def test_waiting_request_is_forwarded_half_way_to_the_timeout() -> None:
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=20))
    r = cluster.replica(2)
    r.note_pending(b"req-1")
    forwards = []
    for tick in range(1, 21):
        r.tick()
        forwards += [(tick, a) for a in r.ready().forward]
    assert forwards == [(11, Forward(b"req-1", 0))]  # once, at half the timeout


def test_backup_cut_off_with_requests_waiting_stays_in_the_view_and_votes_again() -> None:
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=10))
    cluster.request(2)
    cluster.tick_until(all_at_least(cluster, 2))
    cluster.partition({3}, {0, 1, 2})
    cluster.target = 3
    cluster.replica(3).note_pending(b"stranded")  # it waits for a request nobody else has
    for _ in range(150):
        cluster.tick()
        cluster.deliver_all()
    r = cluster.replica(3)
    assert r.counters["suspicions"] == 1  # it suspects the primary...
    assert (r.view, r.active) == (0, True)  # ...but does not leave the view alone
    cluster.heal()
    cluster.request(3)
    cluster.tick_until(all_at_least(cluster, 6), limit=300)
    assert [cluster.replica(i).view for i in range(4)] == [0, 0, 0, 0]
    assert (3, "Commit", 0, 6) in cluster.checker.signed  # it votes again, in the same view


def test_the_old_rule_leaves_a_cut_off_backup_alone_in_a_higher_view() -> None:
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=10, unsafe_lone_view_change=True))
    cluster.partition({3}, {0, 1, 2})
    cluster.replica(3).note_pending(b"stranded")
    for _ in range(50):
        cluster.tick()
        cluster.deliver_all()
    cluster.heal()
    cluster.request(3)
    cluster.tick_until(all_at_least(cluster, 3, [0, 1, 2]), limit=300)
    assert (cluster.replica(3).view, cluster.replica(3).active) == (1, False)
    assert [cluster.replica(i).view for i in range(3)] == [0, 0, 0]


def test_relayed_suspicions_bring_along_a_replica_that_heard_none_directly() -> None:
    """Replicas 1 and 2 leave view 0 with 2f+1 suspicions and relay them: replica 3, which gets
    no suspicion or view change straight from its sender, follows on the relayed ones alone."""
    cluster = Cluster(4, config=small_config(view_change_timeout_ticks=10))
    cluster.crash(0)
    for i in (1, 2, 3):
        cluster.replica(i).note_pending(b"req")
    relayed: list[tuple[int, Suspect]] = []

    def lose(src: int, dst: int, msg: object) -> bool:
        if dst != 3 or not isinstance(msg, (Suspect, ViewChange)):
            return False
        if isinstance(msg, Suspect) and msg.sender != src:
            relayed.append((src, msg))
            return False
        return True

    cluster.drop_if = lose
    for _ in range(15):
        cluster.tick()
        cluster.deliver_all()
    assert cluster.replica(3).view == 1 and relayed
    assert {m.sender for _, m in relayed} >= {1, 2}
