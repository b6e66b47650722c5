"""Peers that go away are redialed with backoff and relinked when they return."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

from tests.p2p.conftest import Cluster, Node, eventually, make_node, running_mesh


@contextlib.asynccontextmanager
async def started(node: Node) -> AsyncIterator[Node]:
    try:
        await node.mesh.start()
        yield node
    finally:
        await node.mesh.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_dialed_peer_that_restarts_is_relinked(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes:
        port = nodes[3].mesh.port
        await nodes[3].mesh.stop()
        await eventually(lambda: all(3 not in nodes[i].linked() for i in range(3)), "3 to be gone")
        # Its dialers keep trying and fail while it is down.
        await eventually(lambda: nodes[0].mesh.stats["dial_failures"] >= 2, "redial attempts")

        peers = {j: f"ws://127.0.0.1:{nodes[j].mesh.port}" for j in range(3)}
        async with started(make_node(cluster5, 3, peers, port=port)) as back:
            await eventually(
                lambda: back.linked() == {0, 1, 2} and all(3 in nodes[i].linked() for i in range(3)),
                "3 to be relinked on both ends",
            )
            assert nodes[1].send(3, b"welcome back") and back.send(1, b"thanks")
            await eventually(lambda: back.inbox == [(1, b"welcome back")], "1 -> 3")
            await eventually(lambda: (3, b"thanks") in nodes[1].inbox, "3 -> 1")
            assert [c for c in nodes[0].changes if c[0] == 3] == [(3, True), (3, False), (3, True)]


async def test_dialer_that_restarts_relinks(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes:
        await nodes[0].mesh.stop()
        await eventually(lambda: all(0 not in nodes[i].linked() for i in (1, 2, 3)), "0 to be gone")
        peers = {j: f"ws://127.0.0.1:{nodes[j].mesh.port}" for j in (1, 2, 3)}
        async with started(make_node(cluster5, 0, peers)) as back:
            await eventually(lambda: back.linked() == {1, 2, 3}, "0 to relink")
            assert back.mesh.broadcast(b"hello again") == 3
            await eventually(
                lambda: all((0, b"hello again") in nodes[i].inbox for i in (1, 2, 3)), "the broadcast"
            )


async def test_peer_that_starts_late_is_linked(cluster5: Cluster) -> None:
    port = free_port()
    early = make_node(cluster5, 0, {1: f"ws://127.0.0.1:{port}"}, reconnect_min=0.02, reconnect_max=0.2)
    async with started(early):
        await eventually(lambda: early.mesh.stats["dial_failures"] >= 3, "failed dials while 1 is down")
        assert early.linked() == set()
        async with started(make_node(cluster5, 1, {}, port=port)) as late:
            await eventually(lambda: late.linked() == {0} and early.linked() == {1}, "the link")
