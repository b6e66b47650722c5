"""PBFT section 4.2, normal-case operation: pre-prepare, prepare, commit; pipelining."""

from __future__ import annotations

from consensus.actions import Broadcast, Reason
from consensus.messages import Commit, PrePrepare, Prepare, commit_signing_bytes
from consensus.persist import block_key, slot_key
from consensus.sim.cluster import DOMAIN, Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, same_chain, small_config


def test_one_block_commits_everywhere_with_a_certificate() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.request(1)
    cluster.deliver_all()

    assert cluster.heights() == [1, 1, 1, 1]
    block = cluster.block(2, 1)
    cert = block.certificate
    assert (cert.view, cert.seq, cert.digest) == (0, 1, block.digest)
    assert block.digest == sha256(block.payload)
    signers = {i for i, _ in cert.signatures}
    assert len(signers) >= 3
    for i, sig in cert.signatures:  # the node verifies exactly these bytes
        assert cluster.verifier.verify(i, commit_signing_bytes(DOMAIN, 0, 1, block.digest), sig)
    assert same_chain(cluster, [0, 1, 2, 3], 1)
    assert cluster.checker.violations == []


def test_message_flow_of_one_block() -> None:
    """Primary broadcasts a pre-prepare; each backup broadcasts a prepare; everyone commits."""
    cluster = Cluster(4, config=small_config())
    primary = cluster.replica(0)
    seq = primary.propose(b"tx-batch", sha256(b"tx-batch"))
    ready = primary.ready()
    assert seq == 1
    sent = [a.msg for a in ready.messages if isinstance(a, Broadcast)]
    assert [type(m) for m in sent] == [PrePrepare]
    # on disk before it leaves: the block once, and the slot record naming it
    assert [a.key for a in ready.persist] == [block_key(1, sha256(b"tx-batch")), slot_key(1)]

    backup = cluster.replica(1)
    backup.step(sent[0])
    out = [a.msg for a in backup.ready().messages if isinstance(a, Broadcast)]
    assert [type(m) for m in out] == [Prepare]

    assert backup.step(out[0]).reason is Reason.DUPLICATE  # its own prepare echoed back
    for other in (2, 3):
        r = cluster.replica(other)
        r.step(sent[0])
        prepare = next(a.msg for a in r.ready().messages if isinstance(a, Broadcast))
        backup.step(prepare)
    out = [a.msg for a in backup.ready().messages if isinstance(a, Broadcast)]
    assert [type(m) for m in out] == [Commit]  # prepared: 2f prepares + the pre-prepare


def test_several_blocks_in_flight_within_the_window() -> None:
    cluster = Cluster(4, config=small_config(window=10))
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit)  # nothing commits yet
    cluster.request(25)
    cluster.deliver_all()
    primary = cluster.replica(0)
    assert primary.next_seq == 11  # 10 proposals in flight: the window is full
    assert not primary.can_propose()

    cluster.drop_if = None
    cluster.tick_until(all_at_least(cluster, 25), limit=200)
    assert same_chain(cluster, [0, 1, 2, 3], 25)


def test_deliveries_are_in_order_without_gaps() -> None:
    cluster = Cluster(7, config=small_config(7), seed=3)
    cluster.request(12)
    cluster.tick_until(all_at_least(cluster, 12), limit=200)
    for node in cluster.nodes:
        assert sorted(node.store) == list(range(1, 13))
    assert cluster.checker.violations == []


def test_backup_that_rejects_a_proposal_does_not_prepare_it() -> None:
    cluster = Cluster(4, config=small_config(), validate=lambda r, s, d, p: r != 3)
    cluster.request(1)
    cluster.deliver_all()
    assert cluster.heights() == [1, 1, 1, 0]  # 0, 1, 2 are a quorum; 3 did not prepare
    assert cluster.replica(3).stats[("discard", "rejected by the application")] == 1
    cluster.tick_until(all_at_least(cluster, 1), limit=50)  # 3 fetches the certified block
    assert cluster.replica(3).counters["state_transfer_blocks"] == 1


def test_deliver_action_carries_the_payload() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.replica(0).propose(b"abc", sha256(b"abc"))
    cluster.flush(0)
    cluster.deliver_all()
    assert cluster.block(3, 1).payload == b"abc"
