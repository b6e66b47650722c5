"""Crash recovery: the write-ahead record keeps a restarted replica from equivocating."""

from __future__ import annotations

import pytest

from consensus.actions import Broadcast
from consensus.messages import (
    Commit, MalformedMessage, PrePrepare, PreparedProof, Prepare, ViewChange, pack, signing_bytes,
)
from consensus.persist import BLOCK_PREFIX, PersistedState, block_key, slot_key
from consensus.sim.cluster import DOMAIN, Cluster
from consensus.sim.fakecrypto import sha256

from .helpers import all_at_least, signed_by, small_config


def test_restarted_backup_does_not_prepare_a_second_digest_for_the_same_slot() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, (Prepare, Commit)) and dst != 1
    cluster.request(1)
    cluster.deliver_all()
    first = cluster.nodes[1].disk[slot_key(1)].pre_prepare
    assert first is not None

    cluster.crash(1)
    cluster.restart(1)  # rebuilt from its disk only
    r = cluster.replica(1)
    # the byzantine primary now offers another block for the same view and seq
    evil = signed_by(cluster, 0, PrePrepare(0, 1, sha256(b"evil"), b"evil", 0))
    outcome = r.step(evil)
    assert outcome.reason is not None and outcome.reason.name == "CONFLICT"
    signed = [a.msg for a in r.ready().messages if isinstance(a, Broadcast)]
    assert all(m.digest == first.digest for m in signed if isinstance(m, (Prepare, Commit)))


def test_restarted_replica_resends_only_what_it_had_signed() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit)
    cluster.request(3)
    cluster.deliver_all()
    cluster.crash(2)
    before = {k: v for k, v in cluster.nodes[2].disk.items()}
    signed = {s: before[slot_key(s)].pre_prepare.digest for s in (1, 2, 3)}
    sent: list[tuple[int, object]] = []  # watch what the restart sends
    cluster.drop_if = lambda src, dst, msg: sent.append((dst, msg)) or True  # type: ignore[func-returns-value]
    cluster.restart(2)
    # It had prepared all three (only commits were lost): it re-sends its prepare and its commit
    # for each, with the digests on its disk, to each of the three others; and nothing else.
    votes = sorted((type(m).__name__, m.seq, m.digest, dst) for dst, m in sent)  # type: ignore[attr-defined]
    assert votes == sorted(
        (kind, s, signed[s], dst) for s in (1, 2, 3) for kind in ("Commit", "Prepare") for dst in (0, 1, 3)
    )
    assert all(cluster.verifier.verify(2, signing_bytes(DOMAIN, m), m.sig) for _, m in sent)  # type: ignore[arg-type, attr-defined]


def test_restarted_primary_does_not_reuse_a_sequence_number() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: True  # its proposals never leave
    cluster.request(2)
    assert cluster.replica(0).next_seq == 3
    cluster.crash(0)
    cluster.restart(0)
    assert cluster.replica(0).next_seq == 3  # seqs 1 and 2 were signed for other payloads


def test_restart_in_the_middle_of_a_view_change_rejoins_it() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.crash(0)
    for i in (1, 2, 3):
        cluster.replica(i).note_pending(b"request")
    cluster.tick(21)  # timers fire: everyone suspects the primary of view 0
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, ViewChange)
    cluster.deliver_all()  # 2f+1 suspicions: everyone sends a ViewChange to view 1 (lost)
    assert all(cluster.replica(i).view == 1 for i in (1, 2, 3))
    cluster.crash(3)
    cluster.drop_if = None
    cluster.deliver_all()
    cluster.restart(3)
    r = cluster.replica(3)
    assert r.view == 1
    cluster.restart(0)
    cluster.request(2)
    cluster.tick_until(all_at_least(cluster, 2), limit=500)


def test_persisted_record_round_trips_through_bytes() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.request(7)
    cluster.tick_until(all_at_least(cluster, 7))
    r = cluster.replica(1)
    r.start_view_change(1)
    items: dict[bytes, bytes] = {}
    for node_action in r.ready().persist:
        cluster.nodes[1].disk[node_action.key] = node_action.record  # type: ignore[assignment]
    for key, record in cluster.nodes[1].disk.items():
        items[key] = record.encode()
    state = PersistedState.from_items(items)
    assert state == PersistedState.from_records(cluster.nodes[1].disk)
    assert (state.view, state.active, state.stable_seq) == (1, False, 5)
    assert sorted(state.slots) == [6, 7]


# -- the block is persisted once, beside the slot records that name it --------------------------


def _blocks_on(cluster: Cluster, i: int) -> dict[int, set[bytes]]:
    found: dict[int, set[bytes]] = {}
    for key in cluster.nodes[i].disk:
        if key.startswith(BLOCK_PREFIX):
            found.setdefault(int.from_bytes(key[len(BLOCK_PREFIX):len(BLOCK_PREFIX) + 8], "big"), set()).add(
                key[len(BLOCK_PREFIX) + 8:])
    return found


def test_a_slot_s_block_is_persisted_once_though_its_record_is_persisted_twice() -> None:
    cluster = Cluster(4, config=small_config())
    primary, backup = cluster.replica(0), cluster.replica(1)
    block = b"block-of-2000-transactions" * 100
    primary.propose(block, sha256(block))
    pre_prepare = next(a.msg for a in primary.ready().messages if isinstance(a, Broadcast))
    backup.step(pre_prepare)
    accepted = backup.ready()
    assert [a.key for a in accepted.persist] == [block_key(1, sha256(block)), slot_key(1)]
    assert accepted.persist[0].value == block
    slot_bytes = accepted.persist[1].value
    assert slot_bytes is not None and block not in slot_bytes  # the record names the block by digest
    for other in (2, 3):
        r = cluster.replica(other)
        r.step(pre_prepare)
        backup.step(next(a.msg for a in r.ready().messages if isinstance(a, Broadcast)))
    prepared = backup.ready()
    assert [type(a.msg) for a in prepared.messages] == [Commit]
    assert [a.key for a in prepared.persist] == [slot_key(1)]  # the certificate, not the block again
    assert len(prepared.persist[0].value or b"") < 2000


def test_a_restart_from_bytes_gets_the_blocks_of_its_slots_back() -> None:
    """Replica 1 alone prepared seq 1, nobody committed; it restarts from its disk's bytes
    (roundtrip) and its ViewChange still carries the block, so the new view commits that block."""
    cluster = Cluster(4, config=small_config(), roundtrip=True)
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit) or (isinstance(msg, Prepare) and dst in (2, 3))
    cluster.request(1)
    cluster.deliver_all()
    record = cluster.nodes[1].disk[slot_key(1)]
    assert record.proof is not None and cluster.nodes[2].disk[slot_key(1)].proof is None
    original = record.proof.pre_prepare.payload
    cluster.crash(1)
    cluster.restart(1)
    cluster.crash(0)
    carried: list[bytes] = []

    def watch(src: int, dst: int, msg: object) -> bool:
        if isinstance(msg, ViewChange) and src == 1:
            carried.extend(p.pre_prepare.payload for p in msg.prepared)
        return False

    cluster.drop_if = watch
    cluster.tick_until(all_at_least(cluster, 1, [1, 2, 3]), limit=300)
    assert carried and set(carried) == {original}
    assert cluster.block(2, 1).payload == original


def test_a_slot_record_whose_block_is_missing_is_refused_as_corrupt() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit)
    cluster.request(1)
    cluster.deliver_all()
    items = {k: r.encode() for k, r in cluster.nodes[2].disk.items()}
    assert PersistedState.from_items(items).slots[1].pre_prepare is not None
    digest = cluster.nodes[2].disk[slot_key(1)].pre_prepare.digest
    del items[block_key(1, digest)]
    with pytest.raises(MalformedMessage, match="corrupt persisted record .*block .* of slot 1 is missing"):
        PersistedState.from_items(items)


def test_a_slot_record_written_before_blocks_were_separate_still_reads() -> None:
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Commit)
    cluster.request(1)
    cluster.deliver_all()
    rec = cluster.nodes[2].disk[slot_key(1)]
    old = pack({"view": (rec.view, "int"), "pre_prepare": (rec.pre_prepare, PrePrepare),
                "proof": (rec.proof, PreparedProof)})  # the block inside, no block record
    state = PersistedState.from_items({slot_key(1): old})
    assert state.slots[1] == rec and state.blocks == {}


def test_a_block_no_slot_record_names_any_more_is_deleted() -> None:
    """Backups accepted block A for seq 1 in view 0 (not prepared); in view 1 the new primary
    proposes another block for seq 1: the backups keep only that one on disk."""
    cluster = Cluster(4, config=small_config())
    cluster.drop_if = lambda src, dst, msg: isinstance(msg, Prepare)
    cluster.request(1)
    cluster.deliver_all()
    first = cluster.nodes[2].disk[slot_key(1)].pre_prepare.digest
    assert _blocks_on(cluster, 2) == {1: {first}}
    cluster.crash(0)
    cluster.drop_if = None
    cluster.tick_until(all_at_least(cluster, 1, [1, 2, 3]), limit=300)
    committed = cluster.block(2, 1).digest
    assert committed != first
    record = cluster.nodes[2].disk.get(slot_key(1))
    if record is not None:  # not yet collected by a checkpoint
        assert _blocks_on(cluster, 2).get(1) == {committed}
    state = PersistedState.from_items({k: r.encode() for k, r in cluster.nodes[2].disk.items()})
    assert first not in state.blocks.get(1, set())


def test_slot_records_at_or_below_the_stable_checkpoint_are_not_read() -> None:
    """A slot record left at or below the stable checkpoint (one of an epoch before, which a
    restarted replica does not resume) may name blocks garbage collection deleted: start-up
    skips it instead of refusing the record as corrupt."""
    cluster = Cluster(4, config=small_config(checkpoint_interval=5, window=10))
    cluster.request(7)
    cluster.tick_until(all_at_least(cluster, 7), limit=100)
    disk = cluster.nodes[1].disk
    items = {k: r.encode() for k, r in disk.items()}
    assert PersistedState.from_items(items).stable_seq == 5
    leftover = cluster.nodes[1].disk[slot_key(6)]
    items[slot_key(3)] = leftover.encode()  # names block 6's digest at seq 3: no such block record
    state = PersistedState.from_items(items)
    assert 3 not in state.slots and sorted(state.slots) == [6, 7]
    items[slot_key(8)] = leftover.encode()  # above the checkpoint it is read, and its block is missing
    with pytest.raises(MalformedMessage, match="block .* of slot 8 is missing"):
        PersistedState.from_items(items)
