"""Bad peers against a live mesh: each is refused or dropped, logged, and the mesh keeps working.

Meshes run for validators 1-4; validator 0's key belongs to the test, which plays a peer frame by
frame (and the attacker who knows no key at all).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import pytest

from node.kernel.crypto import generate_key
from node.p2p.handshake import Handshake, PeerRole, Refusal, Role, encode_message, make_hello
from node.p2p.mesh import MAX_PENDING_PER_HOST
from tests.p2p.conftest import (
    CHAIN_ID,
    GENESIS_HASH,
    Cluster,
    Node,
    authenticate,
    closed_code,
    eventually,
    raw_peer,
    running_mesh,
)

MAX_FRAME = 64 * 1024


@pytest.fixture
async def nodes(cluster5: Cluster) -> AsyncIterator[dict[int, Node]]:
    async with running_mesh(cluster5, range(1, 5), max_frame=MAX_FRAME, queue_bytes=1 << 20) as nodes:
        yield nodes


async def assert_mesh_works(nodes: dict[int, Node]) -> None:
    """Every mesh is still linked to every other and a broadcast from each reaches all."""
    everyone = set(nodes)
    for index, node in nodes.items():
        assert node.linked() - {0} == everyone - {index}
    before = {i: len(n.inbox) for i, n in nodes.items()}
    for i, node in nodes.items():
        assert node.mesh.broadcast(f"still here {i}".encode()) >= len(nodes) - 1
    await eventually(
        lambda: all(len(n.inbox) - before[i] == len(nodes) - 1 for i, n in nodes.items()), "broadcasts after abuse"
    )


def hello_frame(cluster: Cluster, index: int = 0, **changes: object) -> bytes:
    hello = json.loads(encode_message(make_hello(CHAIN_ID, GENESIS_HASH, cluster.key(index), PeerRole.VALIDATOR)))
    hello.update(changes)
    return json.dumps(hello).encode()


async def refused(target: Node, *frames: bytes | str) -> tuple[int | None, str]:
    """Send ``frames`` to ``target`` as a fresh connection; the close code and reason it answers with."""
    async with raw_peer(target) as ws:
        for frame in frames:
            await ws.send(frame)
        await closed_code(ws)
        return ws.close_code, ws.close_reason or ""


def refusals(node: Node, reason: Refusal) -> int:
    return node.mesh.stats[f"refused.{reason.value}"]


@pytest.mark.parametrize("claim", ["validator", "observer"])
async def test_key_not_allowed_is_refused_and_logged(
    cluster5: Cluster, nodes: dict[int, Node], caplog: pytest.LogCaptureFixture, claim: str
) -> None:
    caplog.set_level(logging.WARNING, "warrantchain.p2p")
    outsider = Cluster([generate_key()] + cluster5.keys[1:], cluster5.validators)  # its key is nobody's
    async with raw_peer(nodes[4]) as ws:
        with pytest.raises(Exception):  # the mesh closes the connection instead of sending its Proof
            hs = Handshake(role=Role.INITIATOR, key=outsider.keys[0], members=outsider.members({}), chain_id=CHAIN_ID,
                           genesis_hash=GENESIS_HASH, expect=cluster5.key(4), claim=PeerRole(claim))
            for frame in hs.data_to_send():
                await ws.send(frame)
            hs.receive(await ws.recv())
            for frame in hs.data_to_send():
                await ws.send(frame)
            await ws.recv()
        assert await closed_code(ws) == 1008 and ws.close_reason == "not-allowed"
    assert refusals(nodes[4], Refusal.NOT_ALLOWED) == 1
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "127.0.0.1:" in lines[0] and "not-allowed" in lines[0]
    assert 0 not in nodes[4].linked()
    await assert_mesh_works(nodes)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"chain_id": "wc-other"}, Refusal.CHAIN_ID),
        ({"genesis_hash": "00" * 32}, Refusal.GENESIS_HASH),
        ({"key": "stranger"}, Refusal.NOT_ALLOWED),
        ({"key": 4}, Refusal.NOT_ALLOWED),  # the target's own key
        ({"key": 3}, Refusal.WRONG_DIRECTION),  # sent to validator 2: 2 dials 3
        ({"key": "observer"}, Refusal.NOT_ALLOWED),  # an observer's key, claiming to be a validator
    ],
)
async def test_bad_hello_is_refused(cluster5: Cluster, nodes: dict[int, Node], changes: dict[str, object],
                                    reason: Refusal) -> None:
    key = changes.get("key")
    if key is not None:
        keys = {"stranger": generate_key().public_key.hex(), "observer": cluster5.observers[0].public_key.hex()}
        changes = {"key": keys[key] if isinstance(key, str) else cluster5.key(int(str(key))).hex()}
    frame = hello_frame(cluster5, **changes)
    target = nodes[2] if reason is Refusal.WRONG_DIRECTION else nodes[4]
    assert await refused(target, frame) == (1008, reason.value)
    assert refusals(target, reason) == 1
    await assert_mesh_works(nodes)


async def test_replayed_handshake_is_refused(cluster5: Cluster, nodes: dict[int, Node]) -> None:
    # An eavesdropper recorded validator 0's half of a genuine handshake with validator 4 ...
    a = Handshake(role=Role.INITIATOR, key=cluster5.keys[0], members=cluster5.members({}),
                  chain_id=CHAIN_ID, genesis_hash=GENESIS_HASH, expect=cluster5.key(4))
    b = Handshake(role=Role.RESPONDER, key=cluster5.keys[4], members=cluster5.members({}),
                  chain_id=CHAIN_ID, genesis_hash=GENESIS_HASH)
    recorded = a.data_to_send()
    for frame in recorded:
        b.receive(frame)
    for frame in b.data_to_send():
        a.receive(frame)
    recorded += a.data_to_send()
    b.receive(recorded[-1])
    assert a.done and b.done and len(recorded) == 2
    # ... and plays it back to the live validator 4, whose nonce is new.
    assert await refused(nodes[4], *recorded) == (1008, "bad-signature")
    await assert_mesh_works(nodes)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        ("a text frame", "malformed"),
        (b"{not json", "malformed"),
        (b"\x00\x9f\xff\xfe\x81 binary junk", "malformed"),
        (b'{"type":"proof","signature":"' + b"11" * 64 + b'"}', "unexpected"),
        (b"{" + b" " * 4000 + b"}", "malformed"),  # larger than any handshake message
    ],
)
async def test_garbage_during_handshake_drops_the_peer(nodes: dict[int, Node], frame: bytes, reason: str) -> None:
    assert await refused(nodes[4], frame) == (1008, reason)
    await assert_mesh_works(nodes)


async def test_oversized_frame_during_handshake_drops_the_peer(nodes: dict[int, Node]) -> None:
    code, _ = await refused(nodes[4], b"x" * (MAX_FRAME + 1))
    assert code == 1009  # websockets refuses the frame: message too big
    await eventually(lambda: refusals(nodes[4], Refusal.MALFORMED) == 1, "the refusal to be counted")
    await assert_mesh_works(nodes)


async def test_silent_peer_times_out(nodes: dict[int, Node]) -> None:
    assert await refused(nodes[4]) == (1008, "timeout")
    await assert_mesh_works(nodes)


async def test_non_websocket_bytes_are_refused(nodes: dict[int, Node]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", nodes[4].mesh.port)
    try:
        writer.write(b"\x16\x03\x01\x00\xa5 not http at all\r\n\r\n" + bytes(range(256)))
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()  # until the server hangs up
        assert not answer.startswith(b"HTTP/1.1 101")
    finally:
        writer.close()
    await assert_mesh_works(nodes)


async def test_authenticated_peer_delivers_opaque_bytes(cluster5: Cluster, nodes: dict[int, Node]) -> None:
    async with raw_peer(nodes[4]) as ws:
        await authenticate(ws, cluster5, 0, expect=4)
        await eventually(lambda: 0 in nodes[4].linked(), "validator 4 to link validator 0")
        await ws.send(b"\x00\xffany bytes: the daemon parses them")
        await eventually(lambda: (0, b"\x00\xffany bytes: the daemon parses them") in nodes[4].inbox, "delivery")
        assert nodes[4].send(0, b"reply")
        assert await ws.recv() == b"reply"
    await eventually(lambda: 0 not in nodes[4].linked(), "the link to close")
    assert (0, False) in nodes[4].changes
    await assert_mesh_works(nodes)


@pytest.mark.parametrize(("frame", "code"), [("text", 1003), (b"x" * (MAX_FRAME + 1), 1009)])
async def test_bad_frame_after_handshake_drops_the_peer(
    cluster5: Cluster, nodes: dict[int, Node], frame: bytes | str, code: int
) -> None:
    async with raw_peer(nodes[4], max_size=None) as ws:
        await authenticate(ws, cluster5, 0, expect=4)
        await eventually(lambda: 0 in nodes[4].linked(), "validator 4 to link validator 0")
        await ws.send(frame)
        assert await closed_code(ws) == code
    await eventually(lambda: 0 not in nodes[4].linked(), "the link to be dropped")
    assert nodes[4].inbox == [] or all(p != 0 for p, _ in nodes[4].inbox)
    await assert_mesh_works(nodes)


async def test_new_link_from_a_peer_replaces_its_old_one(cluster5: Cluster, nodes: dict[int, Node]) -> None:
    # A restarted peer reconnects before the old TCP link is known dead: the newest link wins.
    async with raw_peer(nodes[4]) as first, raw_peer(nodes[4]) as second:
        await authenticate(first, cluster5, 0, expect=4)
        await eventually(lambda: 0 in nodes[4].linked(), "the first link")
        await authenticate(second, cluster5, 0, expect=4)
        assert await closed_code(first) == 1000
        assert nodes[4].send(0, b"to the new link")
        assert await second.recv() == b"to the new link"
        assert nodes[4].changes.count((0, True)) == 2 and (0, False) not in nodes[4].changes
    await assert_mesh_works(nodes)


async def test_unfinished_handshakes_per_host_are_bounded(nodes: dict[int, Node]) -> None:
    async with contextlib.AsyncExitStack() as stack:
        silent = [await stack.enter_async_context(raw_peer(nodes[4])) for _ in range(MAX_PENDING_PER_HOST)]
        await eventually(lambda: nodes[4].mesh.pending_handshakes == MAX_PENDING_PER_HOST, "pending handshakes")
        assert await refused(nodes[4]) == (1013, "busy")
        assert refusals(nodes[4], Refusal.BUSY) == 1
        for ws in silent:
            await ws.close()
    await eventually(lambda: nodes[4].mesh.pending_handshakes == 0, "pending handshakes to end")
    await assert_mesh_works(nodes)
