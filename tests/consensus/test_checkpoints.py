"""PBFT section 4.3: checkpoints every K blocks, 2f+1 agreement, garbage collection."""

from __future__ import annotations

from consensus.messages import Checkpoint
from consensus.persist import BLOCK_PREFIX, SLOT_PREFIX, CheckpointRecord

from .helpers import all_at_least, small_config
from consensus.sim.cluster import Cluster


def test_checkpoint_becomes_stable_and_the_log_is_collected() -> None:
    cluster = Cluster(4, config=small_config(checkpoint_interval=5, window=10))
    cluster.request(12)
    cluster.tick_until(all_at_least(cluster, 12), limit=100)

    for i in range(4):
        r = cluster.replica(i)
        assert r.stable_seq == 10
        assert len({cp.sender for cp in r.stable_proof}) >= 3  # 2f+1 signed checkpoints
        assert all(cp.seq == 10 and cp.digest == cluster.block(i, 10).digest for cp in r.stable_proof)
        assert r.log_seqs() == [11, 12]  # everything up to the checkpoint is gone
        disk = cluster.nodes[i].disk
        slots = sorted(int.from_bytes(k[len(SLOT_PREFIX):], "big") for k in disk if k.startswith(SLOT_PREFIX))
        assert slots == [11, 12]  # ...from the persisted record too
        blocks = sorted(int.from_bytes(k[len(BLOCK_PREFIX):len(BLOCK_PREFIX) + 8], "big")
                        for k in disk if k.startswith(BLOCK_PREFIX))
        assert blocks == [11, 12]  # with the blocks they named
        assert disk[b"checkpoint"] == CheckpointRecord(10, r.stable_digest, r.stable_proof)
        assert r.status().high_watermark == 20


def test_the_window_moves_only_with_a_stable_checkpoint() -> None:
    cluster = Cluster(4, config=small_config(checkpoint_interval=5, window=10))
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Checkpoint)
    cluster.request(30)
    cluster.tick_until(all_at_least(cluster, 10), limit=100)
    assert cluster.heights() == [10, 10, 10, 10]  # stuck at the high water mark
    assert cluster.replica(0).stable_seq == 0

    cluster.drop_if = None
    cluster.tick_until(all_at_least(cluster, 30), limit=300)
    assert cluster.replica(0).stable_seq >= 25


def test_checkpoint_quorum_needs_2f_plus_1_matching_digests() -> None:
    cluster = Cluster(4, config=small_config(checkpoint_interval=5, window=10))
    r = cluster.replica(0)
    from .helpers import signed_by

    for sender, digest in [(1, b"a" * 32), (2, b"a" * 32), (3, b"b" * 32)]:
        r.step(signed_by(cluster, sender, Checkpoint(5, digest, sender)))
    assert r.stable_seq == 0  # two agree, one differs: not stable
    r.step(signed_by(cluster, 3, Checkpoint(10, b"c" * 32, 3)))
    assert r.stable_seq == 0
