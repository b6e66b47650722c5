"""Frame and pending-handshake limits: a few KiB until the handshake completes, then max_frame,
from the very first frame after the peer's Proof; pending handshakes capped across hosts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest

from node.p2p.handshake import Handshake, Role
from node.p2p.mesh import PRE_HANDSHAKE_MAX_FRAME

from .conftest import CHAIN_ID, GENESIS_HASH, Cluster, Node, closed_code, eventually, raw_peer, running_mesh

MAX_FRAME = 256 * 1024


@pytest.fixture
async def nodes(cluster5: Cluster) -> AsyncIterator[dict[int, Node]]:
    async with running_mesh(cluster5, range(3, 5), max_frame=MAX_FRAME, queue_bytes=1 << 20, max_pending=3) as nodes:
        yield nodes


async def test_a_frame_over_the_handshake_limit_is_refused_at_its_header(nodes: dict[int, Node]) -> None:
    async with raw_peer(nodes[4], max_size=None) as ws:
        await ws.send(b"x" * (PRE_HANDSHAKE_MAX_FRAME + 1))
        assert await closed_code(ws) == 1009
    await eventually(lambda: nodes[4].mesh.stats["refused.malformed"] == 1, "the refusal to be counted")


async def test_the_frame_right_behind_the_proof_may_be_large(cluster5: Cluster, nodes: dict[int, Node]) -> None:
    # The peer sends its Proof and at once a frame far over the handshake limit: the node must
    # apply the link's limit to it, although it was parsed before the handshake coroutine ran.
    big = bytes(range(256)) * (100 * 1024 // 256)
    async with raw_peer(nodes[4], max_size=None) as ws:
        hs = Handshake(role=Role.INITIATOR, key=cluster5.keys[0], members=cluster5.members({}),
                       chain_id=CHAIN_ID, genesis_hash=GENESIS_HASH, expect=cluster5.key(4))
        for frame in hs.data_to_send():
            await ws.send(frame)  # Hello
        hs.receive(await ws.recv())
        ws.transport.pause_reading()  # keep our Proof and the big frame together on the wire
        for frame in hs.data_to_send():
            await ws.send(frame)  # Proof
        await ws.send(big)
        ws.transport.resume_reading()
        hs.receive(await ws.recv())
        assert hs.done
        await eventually(lambda: (0, big) in nodes[4].inbox, "the large first frame to be delivered")
        assert ws.close_code is None


async def test_pending_handshakes_are_capped_across_hosts(nodes: dict[int, Node]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(3):
            await stack.enter_async_context(raw_peer(nodes[4]))
        await eventually(lambda: nodes[4].mesh.pending_handshakes == 3, "three pending handshakes")
        async with raw_peer(nodes[4]) as fourth:  # per host the cap is 8; in all it is 3
            assert await closed_code(fourth) == 1013
        assert nodes[4].mesh.stats["refused.busy"] == 1
