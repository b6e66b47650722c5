"""State transfer (PBFT section 5.3 in spirit): a lagging replica fetches committed blocks with
their certificates, verifies them and catches up."""

from __future__ import annotations

from dataclasses import replace

from consensus.params import Config
from consensus.messages import Certificate, StateEntry, StateResponse
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, same_chain, signed_by, small_config


def test_replica_that_missed_500_blocks_catches_up_by_state_transfer() -> None:
    cluster = Cluster(4, config=Config(n=4, checkpoint_interval=10, window=20))
    cluster.partition({0, 1, 2}, {3})
    cluster.request(500)
    cluster.tick_until(all_at_least(cluster, 500, [0, 1, 2]), limit=2000)
    assert cluster.nodes[3].height == 0
    assert cluster.replica(0).stable_seq == 500  # the others garbage-collected their logs

    cluster.heal()
    used = cluster.tick_until(all_at_least(cluster, 500), limit=500)

    lagging = cluster.replica(3)
    assert lagging.counters["state_transfer_blocks"] == 500
    assert same_chain(cluster, [0, 1, 2, 3], 500)
    assert lagging.stable_seq == 500
    assert used < 100, "catching up should take a few status intervals, not a crawl"
    assert cluster.checker.violations == []  # every transferred block had a valid certificate

    cluster.request(5)  # and the cluster carries on with all four
    cluster.tick_until(all_at_least(cluster, 505), limit=2000)
    assert same_chain(cluster, [0, 1, 2, 3], 505)


def _entry(cluster: Cluster, seq: int) -> StateEntry:
    return cluster.nodes[0].store[seq]


def test_transferred_blocks_need_a_valid_certificate_and_digest() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.partition({0, 1, 2}, {3})
    cluster.request(3)
    cluster.tick_until(all_at_least(cluster, 3, [0, 1, 2]))
    r = cluster.replica(3)
    good = _entry(cluster, 1)

    too_few = replace(good.certificate, signatures=good.certificate.signatures[:2])
    forged = Certificate(0, 1, good.digest, tuple((i, b"nope") for i in range(4)))
    wrong_payload = replace(good, payload=b"something else")
    other_seq = replace(good, certificate=replace(good.certificate, seq=2))
    for bad in (replace(good, certificate=too_few), replace(good, certificate=forged),
                wrong_payload, other_seq):
        outcome = r.step(signed_by(cluster, 1, StateResponse((bad,), 1)))
        assert (outcome.verdict.value, outcome.reason.value) == ("discard", "malformed")
    assert r.last_delivered == 0

    # any replica may relay certified blocks: the certificate is what is trusted
    outcome = r.step(signed_by(cluster, 2, StateResponse((good, _entry(cluster, 2)), 2)))
    assert outcome.verdict.value == "process" and r.last_delivered == 2


def test_a_transferred_certificate_is_held_to_the_offline_verifiers_rule() -> None:
    """Every listed signature must be valid (docs/PROTOCOL.md, commit certificate): a quorum of
    good ones plus one junk signature used to pass the replica's count, so a byzantine peer could
    make a node store a certificate that its own proof bundles then fail on. One check now serves
    both (consensus.proofs.certificate_problem, used by node.kernel.chain.Certificate.verify)."""
    cluster = Cluster(4, config=small_config())
    cluster.partition({0, 1, 2}, {3})
    cluster.request(1)
    cluster.tick_until(all_at_least(cluster, 1, [0, 1, 2]))
    r = cluster.replica(3)
    good = _entry(cluster, 1)
    missing = next(i for i in range(4) if i not in {s for s, _ in good.certificate.signatures})
    padded = replace(good.certificate, signatures=(*good.certificate.signatures, (missing, b"junk")))
    repeated = replace(good.certificate, signatures=(*good.certificate.signatures, good.certificate.signatures[0]))
    for cert, why in ((padded, f"signature of validator {missing} is invalid"),
                      (repeated, f"unknown or repeated validator {good.certificate.signatures[0][0]}")):
        outcome = r.step(signed_by(cluster, 1, StateResponse((replace(good, certificate=cert),), 1)))
        assert (outcome.reason.value if outcome.reason else None, outcome.detail) == (
            "malformed", f"certificate for block 1: {why}")
    assert r.last_delivered == 0
    assert r.step(signed_by(cluster, 1, StateResponse((good,), 1))).verdict.value == "process"


def test_restart_with_an_application_height_resumes_from_it() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.request(7)
    cluster.tick_until(all_at_least(cluster, 7))
    cluster.crash(2)
    cluster.nodes[2].disk.clear()  # lost the consensus record, kept its blocks
    cluster.restart(2)
    r = cluster.replica(2)
    assert r.last_delivered == 7 and r.last_digest == cluster.block(2, 7).digest
    cluster.request(6)
    cluster.tick_until(all_at_least(cluster, 13), limit=300)
    assert same_chain(cluster, [0, 1, 2, 3], 13)
    assert sorted(cluster.nodes[2].store) == list(range(1, 14))


def test_a_block_without_certificate_is_refused_even_a_null_one() -> None:
    cluster = Cluster(4, config=small_config())
    null = StateEntry(1, sha256(b""), b"", Certificate(0, 1, sha256(b""), ()))
    outcome = cluster.replica(1).step(signed_by(cluster, 2, StateResponse((null,), 2)))
    assert outcome.reason is not None and outcome.reason.value == "malformed"  # no certificate
