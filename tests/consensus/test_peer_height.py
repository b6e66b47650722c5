"""Replica.peer_height: the height the peers vouch for, which /health compares with its own."""

from __future__ import annotations

from consensus.messages import Status
from consensus.sim.cluster import Cluster
from tests.consensus.helpers import signed_by, small_config


def test_unknown_until_f_plus_one_peers_report_then_the_f_plus_first_highest() -> None:
    cluster = Cluster(4, config=small_config())
    replica = cluster.replica(0)
    assert replica.peer_height() is None  # nobody has reported: not known to be in sync
    replica.step(signed_by(cluster, 1, Status(0, 10**9, 1, b"")))  # one (lying?) peer alone
    assert replica.peer_height() is None
    replica.step(signed_by(cluster, 2, Status(0, 24, 2, b"")))
    assert replica.peer_height() == 24  # the liar can't push it to 10**9
    replica.step(signed_by(cluster, 3, Status(0, 25, 3, b"")))
    assert replica.peer_height() == 25


def test_a_lone_validator_vouches_for_itself() -> None:
    assert Cluster(1, config=small_config(n=1)).replica(0).peer_height() == 0
