"""The simulator's safety checker flags each kind of violation it is meant to catch."""

from __future__ import annotations

from consensus.actions import Deliver
from consensus.messages import Certificate, Prepare
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, small_config


def test_equivocation_by_a_correct_replica_is_flagged() -> None:
    checker = Cluster(4, config=small_config()).checker
    checker.sent(1, Prepare(0, 1, sha256(b"a"), 1), now=0)
    checker.sent(1, Prepare(0, 1, sha256(b"a"), 1), now=1)  # the same vote again is fine
    assert checker.violations == []
    checker.sent(1, Prepare(0, 1, sha256(b"b"), 1), now=2)
    assert "equivocation" in checker.violations[0]


def test_disagreement_gaps_and_bad_certificates_are_flagged() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.request(2)
    cluster.tick_until(all_at_least(cluster, 2))
    checker = cluster.checker
    assert checker.violations == []
    good = cluster.block(0, 1)
    other = Deliver(3, sha256(b"x"), b"x", Certificate(0, 3, sha256(b"x"), ()))
    checker.delivered(1, other, now=9)       # height 3 with a bogus certificate
    checker.heights[2] = 2
    checker.delivered(2, other, now=9)
    checker.delivered(3, Deliver(5, good.digest, good.payload, good.certificate), now=9)  # gap
    kinds = " ".join(checker.violations)
    assert "certificate" in kinds and "order" in kinds
    checker.delivered(0, Deliver(3, sha256(b"y"), b"y", other.certificate), now=10)
    assert any("agreement" in v for v in checker.violations)
