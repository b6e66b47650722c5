"""Crash recovery: the write-ahead record keeps a restarted replica from equivocating."""

from __future__ import annotations

from consensus.actions import Broadcast
from consensus.messages import Commit, PrePrepare, Prepare, ViewChange, signing_bytes
from consensus.persist import PersistedState, slot_key
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
