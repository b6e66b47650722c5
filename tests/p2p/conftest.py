"""Builders for p2p tests: a validator set with its keys, meshes on 127.0.0.1, a raw test peer.

Everything that opens a socket is an async context manager that closes it in ``finally``, so a
failing assertion never leaks a listener or a task into the next test.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from node.kernel.chain import Validator, ValidatorSet
from node.kernel.crypto import PublicKey, SigningKey, generate_key
from node.p2p.handshake import Handshake, Members, Role
from node.p2p.mesh import Mesh

CHAIN_ID = "wc-test"
GENESIS_HASH = hashlib.sha256(b"p2p test genesis").digest()


@dataclass
class Cluster:
    keys: list[SigningKey]
    validators: ValidatorSet
    observers: list[SigningKey] = field(default_factory=list)

    def key(self, index: int) -> PublicKey:
        return self.keys[index].public_key

    def index(self, key: PublicKey) -> int:
        """A validator's index, or -1 - i for observer i (so tests can name observers too)."""
        for i, k in enumerate(self.keys):
            if k.public_key == key:
                return i
        return -1 - [o.public_key for o in self.observers].index(key)

    def members(self, urls: dict[int, str], validators: Iterable[int] | None = None) -> Members:
        """Members: the validators ``validators`` (default: all) at ``urls``, and the observers."""
        chosen = range(len(self.keys)) if validators is None else validators
        return Members.of({self.key(i): urls.get(i) for i in chosen}, (o.public_key for o in self.observers))


def make_cluster(n: int, observers: int = 0) -> Cluster:
    # Sorted by key, so that index order is the connection rule's order: the lower index dials the higher.
    keys = sorted((generate_key() for _ in range(n)), key=lambda k: k.public_key.raw)
    validators = ValidatorSet(
        Validator(name=f"v{i}", pubkey=k.public_key.hex(), address=k.address) for i, k in enumerate(keys)
    )
    return Cluster(keys, validators, [generate_key() for _ in range(observers)])


@pytest.fixture(scope="session")
def cluster5() -> Cluster:
    """Five validators and two allowed observers: tests run meshes for some and drive the others by hand."""
    return make_cluster(5, observers=2)


@dataclass
class Node:
    """A mesh plus what its callbacks saw, with peers named by index (observer i is -1 - i)."""

    mesh: Mesh
    cluster: Cluster
    inbox: list[tuple[int, bytes]] = field(default_factory=list)
    changes: list[tuple[int, bool]] = field(default_factory=list)

    def received(self, peer: int | None = None) -> list[bytes]:
        return [data for (p, data) in self.inbox if peer is None or p == peer]

    def linked(self) -> set[int]:
        return {self.cluster.index(k) for k in self.mesh.connected()}

    def send(self, peer: int, data: bytes) -> bool:
        return self.mesh.send(self.peer_key(peer), data)

    def peer_key(self, peer: int) -> PublicKey:
        return self.cluster.key(peer) if peer >= 0 else self.cluster.observers[-1 - peer].public_key


async def eventually(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait until ``cond()`` holds; fail naming ``what`` after ``timeout`` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out after {timeout}s waiting for {what}")


def make_node(
    cluster: Cluster,
    index: int,
    peers: dict[int, str],
    port: int = 0,
    on_message: Callable[[PublicKey, bytes], None] | None = None,
    members: Members | None = None,
    **options: Any,
) -> Node:
    """A mesh (not started) recording what it receives, unless ``on_message`` is given. Index
    ``index`` >= 0 is that validator, -1 - i observer i; ``members`` defaults to the whole cluster
    at ``peers``."""
    node: Node
    options.setdefault("handshake_timeout", 1.0)
    options.setdefault("reconnect_max", 0.5)
    key = cluster.keys[index] if index >= 0 else cluster.observers[-1 - index]
    mesh = Mesh(
        key=key,
        members=cluster.members(peers) if members is None else members,
        chain_id=CHAIN_ID,
        genesis_hash=GENESIS_HASH,
        listen_host="127.0.0.1",
        listen_port=port,
        on_message=on_message or (lambda peer, data: node.inbox.append((cluster.index(peer), data))),
        on_peer_change=lambda peer, up: node.changes.append((cluster.index(peer), up)),
        **options,
    )
    node = Node(mesh, cluster)
    return node


def url(node: Node, scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{node.mesh.port}"


@contextlib.asynccontextmanager
async def running_mesh(
    cluster: Cluster, indices: Iterable[int], scheme: str = "ws", **options: Any
) -> AsyncIterator[dict[int, Node]]:
    """Start meshes for ``indices`` (highest first, so each dialer knows its peers' ports),
    wait until they are fully linked, and stop them all on exit."""
    nodes: dict[int, Node] = {}
    try:
        for index in sorted(indices, reverse=True):
            peers = {j: url(n, scheme) for j, n in nodes.items()}
            node = make_node(cluster, index, peers, **options)
            nodes[index] = node
            await node.mesh.start()
        everyone = set(nodes)
        await eventually(
            lambda: all(n.linked() == everyone - {i} for i, n in nodes.items()), "a full mesh"
        )
        yield nodes
    finally:
        await asyncio.gather(*(n.mesh.stop() for n in nodes.values()))


async def authenticate(ws: ClientConnection, cluster: Cluster, index: int, expect: int) -> Handshake:
    """Run the real handshake by hand over ``ws`` as validator ``index`` (observer -1 - i if negative)."""
    hs = Handshake(
        role=Role.INITIATOR,
        key=cluster.keys[index] if index >= 0 else cluster.observers[-1 - index],
        members=cluster.members({}),
        chain_id=CHAIN_ID,
        genesis_hash=GENESIS_HASH,
        expect=cluster.key(expect),
    )
    while True:
        for frame in hs.data_to_send():
            await ws.send(frame)
        if hs.done:
            return hs
        hs.receive(await ws.recv())


@contextlib.asynccontextmanager
async def raw_peer(target: Node, **options: Any) -> AsyncIterator[ClientConnection]:
    """A websocket connection to ``target`` that the test drives frame by frame."""
    options.setdefault("compression", None)
    async with connect(url(target), open_timeout=2, close_timeout=1, **options) as ws:
        yield ws


async def closed_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    """Wait until the mesh closes ``ws``; the close code (1006 if the TCP link just dropped)."""
    async with asyncio.timeout(timeout):
        await ws.wait_closed()
    return ws.close_code
