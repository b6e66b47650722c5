"""A mesh of real meshes on 127.0.0.1: links, both-way delivery, broadcast, one link per pair."""

from __future__ import annotations

import random

import pytest

from node.p2p.mesh import Mesh, P2PError, backoff_delay
from tests.p2p.conftest import CHAIN_ID, GENESIS_HASH, Cluster, eventually, make_node, running_mesh


async def test_four_meshes_link_and_deliver_both_ways(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes:
        for i, sender in nodes.items():
            for j in nodes:
                if i != j:
                    assert sender.send(j, f"{i}->{j}".encode())
        await eventually(lambda: all(len(n.inbox) == 3 for n in nodes.values()), "12 directed messages")
        for j, node in nodes.items():
            assert sorted(node.inbox) == sorted((i, f"{i}->{j}".encode()) for i in nodes if i != j)

        # Exactly one link per pair: 6 pairs, each counted once on both sides, no churn.
        assert sum(n.mesh.stats["handshakes_ok"] for n in nodes.values()) == 12
        assert all(n.mesh.stats["refused"] == 0 for n in nodes.values())
        assert all(sorted(n.changes) == [(p, True) for p in sorted(n.linked())] for n in nodes.values())


async def test_broadcast_reaches_every_peer(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes:
        assert nodes[2].mesh.broadcast(b"tx") == 3
        payload = bytes(range(256)) * 4096  # 1 MiB, binary, arrives unchanged
        assert nodes[0].mesh.broadcast(payload) == 3
        await eventually(
            lambda: all(len(n.inbox) == (2 if i not in (0, 2) else 1) for i, n in nodes.items()),
            "both broadcasts everywhere",
        )
        for i in (1, 3):
            assert nodes[i].inbox == [(2, b"tx"), (0, payload)] or nodes[i].inbox == [(0, payload), (2, b"tx")]
        assert nodes[0].inbox == [(2, b"tx")] and nodes[2].inbox == [(0, payload)]
        assert nodes[0].mesh.stats["frames_out"] == 3


async def test_send_refuses_unknown_peer_and_oversized_data(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(2), max_frame=1024, queue_bytes=4096) as nodes:
        mesh = nodes[0].mesh
        assert mesh.send(cluster5.key(4), b"x") is False  # not running
        assert mesh.send(cluster5.key(1), b"x" * 1025) is False
        assert mesh.broadcast(b"x" * 1025) == 0
        assert mesh.stats["dropped_not_connected"] == 1 and mesh.stats["dropped_oversize"] == 2
        assert mesh.send(cluster5.key(1), b"x" * 1024)
        await eventually(lambda: len(nodes[1].inbox) == 1, "a frame of exactly max_frame")


async def test_a_raising_callback_does_not_drop_the_link(cluster5: Cluster) -> None:
    def explode(peer: int, data: bytes) -> None:
        raise RuntimeError("daemon bug")

    buggy = make_node(cluster5, 1, {}, on_message=explode)
    try:
        await buggy.mesh.start()
        sender = make_node(cluster5, 0, {1: f"ws://127.0.0.1:{buggy.mesh.port}"})
        try:
            await sender.mesh.start()
            await eventually(lambda: sender.linked() == {1} and buggy.linked() == {0}, "the link")
            assert sender.send(1, b"boom") and sender.send(1, b"boom again")
            await eventually(lambda: buggy.mesh.stats["callback_errors"] == 2, "both callback errors")
            assert buggy.linked() == {0} and sender.linked() == {1}
        finally:
            await sender.mesh.stop()
    finally:
        await buggy.mesh.stop()


async def test_stop_closes_everything(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(3)) as nodes:
        await nodes[1].mesh.stop()
        assert nodes[1].linked() == set()
        await eventually(lambda: all(1 not in n.linked() for n in nodes.values()), "peers noticing")
        assert (1, False) in nodes[0].changes and (1, False) in nodes[2].changes


def test_constructor_checks_configuration(cluster5: Cluster) -> None:
    with pytest.raises(P2PError, match="max_observer_links"):
        Mesh(key=cluster5.keys[1], members=cluster5.members({}), chain_id=CHAIN_ID,
             genesis_hash=GENESIS_HASH, listen_host="127.0.0.1", listen_port=0,
             on_message=lambda p, d: None, max_observer_links=-1)
    with pytest.raises(P2PError, match="ws:// or wss://"):
        make_node(cluster5, 0, {1: "http://127.0.0.1:1"})
    with pytest.raises(P2PError, match="queue_bytes"):
        make_node(cluster5, 0, {}, max_frame=1 << 20, queue_bytes=1 << 10)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for failures in range(12):
        base = min(2.0, 0.05 * 2**failures)
        delays = [backoff_delay(failures, 0.05, 2.0, rng) for _ in range(200)]
        assert all(base / 2 <= d <= base for d in delays)
        assert len(set(delays)) > 100  # jittered, not lock step
    assert backoff_delay(10_000, 0.05, 2.0, rng) <= 2.0
