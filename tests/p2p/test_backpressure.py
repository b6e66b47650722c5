"""A peer that stops reading: the send queue stays within its bounds and the rest of the mesh flows."""

from __future__ import annotations

import asyncio

from node.p2p.mesh import Mesh
from tests.p2p.conftest import Cluster, Node, authenticate, eventually, raw_peer, running_mesh

QUEUE_LIMIT = 8
MAX_FRAME = 64 * 1024
QUEUE_BYTES = 2 * MAX_FRAME
CHUNK = b"z" * (16 * 1024)


async def flood_until_stalled(node: Node, peer: int, quiet: float = 0.3, timeout: float = 20.0) -> int:
    """Send to ``peer`` until nothing has been accepted for ``quiet`` seconds; bytes accepted.

    Checks the queue bounds after every send.
    """
    mesh, key = node.mesh, node.peer_key(peer)
    accepted = 0
    last_progress = asyncio.get_running_loop().time()
    async with asyncio.timeout(timeout):
        while asyncio.get_running_loop().time() - last_progress < quiet:
            for _ in range(QUEUE_LIMIT * 2):
                if mesh.send(key, CHUNK):
                    accepted += len(CHUNK)
                    last_progress = asyncio.get_running_loop().time()
                count, size = mesh.queued(key)
                assert count <= QUEUE_LIMIT and size <= QUEUE_BYTES
            await asyncio.sleep(0.005)  # let the writer move what it can into the socket
    return accepted


async def test_non_reading_peer_is_bounded(cluster5: Cluster) -> None:
    async with running_mesh(
        cluster5, (1, 2), max_frame=MAX_FRAME, queue_limit=QUEUE_LIMIT, queue_bytes=QUEUE_BYTES, ping_interval=None
    ) as nodes:
        mesh = nodes[1].mesh
        # Validator 0 authenticates, then never reads; its client buffers at most one frame.
        async with raw_peer(nodes[1], max_queue=1) as ws:
            await authenticate(ws, cluster5, 0, expect=1)
            await eventually(lambda: 0 in nodes[1].linked(), "the stuck peer's link")
            accepted = await flood_until_stalled(nodes[1], 0)
            # What left the queue sits in socket buffers (kernel, asyncio, websockets write limit):
            # finite, and nothing more is accepted.
            assert 0 < accepted < 64 << 20
            assert mesh.stats["dropped_queue_full"] > 0
            assert mesh.queued(cluster5.key(0)) == (QUEUE_LIMIT, QUEUE_LIMIT * len(CHUNK))
            assert mesh.send(cluster5.key(0), CHUNK) is False

            # The healthy link is unaffected.
            assert mesh.send(cluster5.key(2), b"unaffected")
            await eventually(lambda: (1, b"unaffected") in nodes[2].inbox, "delivery to the healthy peer")


async def test_stuck_peer_is_dropped_by_keepalive(cluster5: Cluster) -> None:
    async with running_mesh(
        cluster5, (1, 2), max_frame=MAX_FRAME, queue_limit=QUEUE_LIMIT, queue_bytes=QUEUE_BYTES, ping_interval=0.2
    ) as nodes:
        mesh: Mesh = nodes[1].mesh
        node: Node = nodes[1]
        async with raw_peer(nodes[1], max_queue=1, ping_interval=None) as ws:
            await authenticate(ws, cluster5, 0, expect=1)
            await eventually(lambda: 0 in nodes[1].linked(), "the stuck peer's link")
            async with asyncio.timeout(10):  # flood until pings can't get through and keepalive drops it
                while 0 in nodes[1].linked():
                    mesh.send(cluster5.key(0), CHUNK)
                    await asyncio.sleep(0.005)
            assert (0, False) in node.changes
            assert mesh.queued(cluster5.key(0)) == (0, 0)  # the queue went with the link
        assert nodes[1].linked() == {2}
