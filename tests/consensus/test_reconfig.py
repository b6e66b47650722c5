"""Reconfiguration of the replica (docs/CONSENSUS.md, "Reconfiguration"): epochs switch at the
same seq everywhere, f changes with n, messages are checked in their own epoch, restarts resume in
the right one; and the simulator's reconfiguration seeds (``scripts/simulate.py --reconfig``)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.actions import Reason, Verdict
from consensus.epoch import Epoch, fixed_through, signing_domain
from consensus.messages import ConsensusError, Prepare, Status, signing_bytes
from consensus.persist import KEY_VIEW, PersistedState
from consensus.replica import Replica
from consensus.sim.cluster import DOMAIN, Cluster
from consensus.sim.fakecrypto import FakeSigner, FakeVerifier, sha256
from consensus.sim.reconfig import Change, Plan, key_of, run_reconfig_seed
from consensus.sim.runner import run_seed, sim_config
from tests.consensus.sweep import failures

from .helpers import small_config

K = 5


def _plan(kind: str) -> Plan:
    gen0 = lambda ms: tuple((m, 0) for m in ms)  # noqa: E731
    if kind == "add":
        return Plan(kind, 5, gen0(range(4)), (Change(3, gen0(range(5))),))
    if kind == "add-remove":  # 4 -> 5 (approved in block 3: from seq 6) -> 4 without 1 (from 11)
        return Plan(kind, 5, gen0(range(4)), (Change(3, gen0(range(5))), Change(7, gen0([0, 2, 3, 4]))))
    assert kind == "rotate"  # machine 2 gets its next key
    return Plan(kind, 4, gen0(range(4)), (Change(3, ((0, 0), (1, 0), (2, 1), (3, 0))),))


def _cluster(kind: str) -> Cluster:
    return Cluster(0, config=small_config(4), plan=_plan(kind))


def _certified_by(cluster: Cluster, seq: int) -> set[int]:
    """The machines whose commit signatures certify block ``seq`` (at machine 0)."""
    epoch = [e for _, e in cluster.epochs if e.first_seq <= seq][-1]
    return {cluster.machine_of[epoch.members[i]] for i, _ in cluster.block(0, seq).certificate.signatures}


def test_a_fifth_validator_joins_at_the_boundary_and_then_four_of_five_commit() -> None:
    cluster = _cluster("add")
    epoch1 = cluster.epochs[1][1]
    assert (epoch1.first_seq, epoch1.n) == (6, 5)  # approved in block 3: the checkpoint above is 5
    assert cluster.nodes[4].replica is None  # an observer until the epoch that admits it
    cluster.request(12)
    cluster.tick_until(lambda: all(node.height >= 12 for node in cluster.nodes), limit=500)
    for node in cluster.nodes:
        r = node.replica
        assert r is not None and r.member and r.epoch.number == 1 and r.config.n == 5
        assert r.config.quorum == 4 and r.config.f == 1
    assert all(len(cluster.block(0, s).certificate.signatures) >= 3 for s in range(1, 6))
    assert not cluster.checker.violations
    # f = 1 with n = 5: any four commit, the newcomer's vote among them (an original is stopped).
    cluster.crash(1)
    cluster.request(5)
    cluster.tick_until(lambda: all(cluster.nodes[i].height >= 17 for i in (0, 2, 3, 4)), limit=2000)
    assert all(_certified_by(cluster, s) == {0, 2, 3, 4} for s in range(14, 18))
    assert not cluster.checker.violations


def test_a_removed_validator_stops_and_its_messages_are_refused() -> None:
    cluster = _cluster("add-remove")
    cluster.request(14)
    live = [0, 2, 3, 4]
    cluster.tick_until(lambda: all(cluster.nodes[i].height >= 14 for i in live), limit=1000)
    assert cluster.nodes[1].retired and cluster.nodes[1].replica is None
    assert cluster.nodes[1].height == 10  # it delivered the old epoch to its end, then stopped
    r = cluster.replica(0)
    assert (r.epoch.number, r.config.n, r.config.quorum) == (2, 4, 3)
    # Machine 1 signs, with its key and its id of epoch 1, a prepare for a seq of epoch 2.
    old = cluster.epochs[1][1]
    msg = Prepare(0, 12, sha256(b"x"), old.index(key_of((1, 0))))
    data = signing_bytes(signing_domain(DOMAIN, 2), msg, DOMAIN)
    forged = replace(msg, sig=FakeSigner(key_of((1, 0))).sign(data))
    assert r.step(forged).reason is Reason.BAD_SIGNATURE  # id 1 of epoch 2 is machine 2's key
    stray = replace(msg, sender=9, sig=forged.sig)
    assert r.step(stray).reason is Reason.UNKNOWN_SENDER
    assert not cluster.checker.violations


def test_a_key_rotation_switches_without_a_view_change() -> None:
    cluster = _cluster("rotate")
    cluster.request(12)
    cluster.tick_until(lambda: all(node.height >= 12 for node in cluster.nodes), limit=500)
    assert cluster.nodes[2].key == key_of((2, 1))
    assert 2 in _certified_by(cluster, 12) or len(_certified_by(cluster, 12)) >= 3
    assert all(cluster.replica(i).counters["view_changes"] == 0 for i in range(4))
    assert not cluster.checker.violations


def test_a_message_signed_in_one_epoch_does_not_verify_in_the_next() -> None:
    cluster = _cluster("rotate")
    cluster.request(8)
    cluster.tick_until(lambda: all(node.height >= 8 for node in cluster.nodes), limit=500)
    r = cluster.replica(0)
    assert r.epoch.number == 1
    # Machine 1 signed this Status in epoch 0; replayed now, it is of epoch 0 (an old height):
    # it can only count as that height, never as a vote of epoch 1.
    status = Status(0, 8, 1)
    old = replace(status, sig=FakeSigner(key_of((1, 0))).sign(signing_bytes(DOMAIN, status)))
    assert r.step(old).reason is Reason.BAD_SIGNATURE  # height 8 is epoch 1's: not under epoch 0
    assert signing_domain(DOMAIN, 0) == DOMAIN and signing_domain(DOMAIN, 1) != DOMAIN


def test_nothing_is_ordered_above_the_last_seq_whose_epoch_is_fixed() -> None:
    cluster = _cluster("add")
    r = cluster.replica(1)
    assert fixed_through(0, K, cluster.epochs[0][1]) == 5
    # The primary's prepare for seq 6 before anything is executed: epoch of 6 unknown, kept.
    msg = Prepare(0, 6, sha256(b"x"), 2)
    signed = replace(msg, sig=FakeSigner(key_of((2, 0))).sign(signing_bytes(DOMAIN, msg)))
    outcome = r.step(signed)
    assert (outcome.verdict, outcome.reason) == (Verdict.STASH, Reason.EPOCH_UNKNOWN)
    assert not r.can_propose() or r.status().high_watermark <= 5
    assert cluster.replica(0).status().high_watermark == 5


def test_an_epoch_scheduled_too_late_is_refused() -> None:
    cluster = Cluster(0, config=small_config(4), plan=Plan("none", 4, _plan("add").initial, ()))
    added = _plan("add").epochs(K)[1][1]
    late = Epoch(1, 6, added.members, added.verifier)
    cluster.request(5)
    cluster.tick_until(lambda: all(cluster.nodes[i].height >= 5 for i in range(4)), limit=500)
    r = cluster.replica(0)
    with pytest.raises(ConsensusError, match="too late|already fixed"):
        r.schedule_epoch(replace(late, first_seq=6))
    with pytest.raises(ConsensusError, match="cannot follow"):
        r.schedule_epoch(replace(late, number=2, first_seq=16))
    with pytest.raises(ConsensusError, match="one above a checkpoint"):
        r.schedule_epoch(replace(late, first_seq=13))
    r.schedule_epoch(replace(late, first_seq=11))  # in time: the boundary above block 6
    assert r.epochs[-1].first_seq == 11


def test_a_restart_resumes_in_the_epoch_of_its_height_and_a_joiner_starts_at_the_base() -> None:
    cluster = _cluster("add")
    cluster.request(8)
    cluster.tick_until(lambda: all(node.height >= 8 for node in cluster.nodes), limit=500)
    record = cluster.nodes[3].disk[KEY_VIEW]
    assert (record.epoch, record.view) == (1, 0)  # type: ignore[union-attr]
    cluster.crash(3)
    cluster.restart(3)
    r = cluster.replica(3)
    assert (r.epoch.number, r.stable_seq >= 5, r.member) == (1, True, True)
    # A joiner built from scratch at the base (app height = first seq - 1).
    epochs = [e for _, e in cluster.epochs]
    joiner = Replica(
        sim_config(4), 0, FakeSigner(key_of((4, 0))), FakeVerifier([]), lambda s, d, p: None,  # type: ignore[arg-type,return-value]
        sha256, DOMAIN, persisted=None, app_height=5, app_digest=cluster.block(0, 5).digest,
        epochs=epochs, key=key_of((4, 0)),
    )
    assert (joiner.epoch.number, joiner.id, joiner.stable_seq, joiner.view, joiner.active) == (1, 4, 5, 0, True)
    # A record of a later epoch than the height implies is refused.
    with pytest.raises(ConsensusError, match="record is of epoch 1"):
        Replica(sim_config(4), 0, FakeSigner(key_of((0, 0))), FakeVerifier([]), lambda s, d, p: None,  # type: ignore[arg-type,return-value]
                sha256, DOMAIN, persisted=PersistedState(epoch=1), app_height=3, epochs=epochs,
                key=key_of((0, 0)))


CHUNK = 50


@pytest.mark.simulation
@pytest.mark.parametrize("start", range(0, 150, CHUNK))
def test_reconfiguration_seeds(start: int) -> None:
    """Validators join, leave and rotate keys (4->5, 5->4, 4->7, 7->6->4, 4->5->4, rotation)
    while replicas crash, partitions come and go and byzantine ones misbehave."""
    def switched(seed: int, ok: bool, events: dict[str, int]) -> None:
        assert events.get("epochs", 0) > 0 or not ok, f"seed {seed} passed without changing epoch"

    failed = failures(run_reconfig_seed, range(start, start + CHUNK), check=switched)  # on every core
    assert not failed, "\n".join(failed)


@pytest.mark.simulation
def test_replicas_switching_at_different_heights_are_caught() -> None:
    """The deliberate break (``--unsafe-epoch-skew``): some replicas are told the epochs start K
    seqs later. Caught by the checker (agreement, certificates of the true epoch, or progress)."""
    caught = [s for s in range(6) if not run_reconfig_seed(s, unsafe_epoch_skew=True).ok]
    assert len(caught) >= 4, caught
    assert run_reconfig_seed(6, unsafe_epoch_skew=False).ok


@pytest.mark.simulation
@pytest.mark.parametrize("n", [5, 6])
def test_sizes_that_are_not_3f_plus_1(n: int) -> None:
    """n = 5 and 6 (sizes governance makes): f = 1, quorum 4; no suspicion echoing for ever."""
    results = [run_seed(seed, n) for seed in range(40)]
    assert all(r.ok for r in results), [r.summary() for r in results if not r.ok]
    assert sum(r.events["view_changes"] for r in results) > 0
