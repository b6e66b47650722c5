"""Relay that converges (node.mempool.relay and the daemon's use of it): a peer whose link comes up later
gets what it lacks, a full send queue keeps the rest for later, a resubmitted pending transaction
and the one the request timer waits for are relayed again, and what was committed meanwhile is
not sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from consensus.actions import Forward
from node.cli.warrantd import write_localnet
from node.config import load_config
from node.kernel import chain, crypto
from node.mempool.relay import Relay
from node.factory import build_node
from node.mempool.gossip import TAG_TX
from node.p2p.handshake import PeerRole
from node.node import TAG_CONSENSUS, Node

CHAIN = "warrant-local"


def _txs(count: int, expires: int = 2**62) -> list[chain.SignedTx]:
    key = crypto.generate_key()
    return [
        chain.sign_tx(key, {"chain_id": CHAIN, "type": "split", "sender": key.address, "nonce": i,
                            "expires": expires, "payload": {"warrant": "ab" * 32, "amounts": [1, 2]}})
        for i in range(count)
    ]


def test_a_peer_linked_later_is_queued_the_whole_mempool_and_committed_ones_are_skipped() -> None:
    txs = _txs(3)
    held = {tx.id for tx in txs}
    relay = Relay(limit=10, frame_bytes=1 << 20, still_wanted=held.__contains__)
    relay.queue(txs)  # nobody linked yet: nothing to remember
    assert relay.linked() == []
    relay.link_up(2, txs)
    held.discard(txs[1].id)  # committed before it went out
    batch = relay.next_frame(2)
    assert batch == [txs[0], txs[2]]
    relay.sent(2, len(batch))
    assert relay.next_frame(2) == [] and relay.pending(2) == 0


def test_a_frame_the_mesh_refused_stays_queued_and_queues_are_bounded() -> None:
    txs = _txs(5)
    relay = Relay(limit=3, frame_bytes=2 * len(txs[0].raw) + 8, still_wanted=lambda _: True)
    relay.link_up(1, [])
    relay.queue(txs)
    assert relay.pending(1) == 3 and relay.dropped == 2  # the oldest two dropped
    first = relay.next_frame(1)
    assert first == txs[2:4]  # the frame size cut it at two
    assert relay.next_frame(1) == first  # not sent: still there
    relay.sent(1, len(first))
    assert relay.next_frame(1) == [txs[4]]
    relay.link_down(1)
    assert relay.next_frame(1) == [] and relay.linked() == []


class FakeMesh:
    """Records what the daemon sends; ``accept`` False plays a full send queue. Names peers by
    key like the mesh; ``links`` and ``sent`` use validator indices."""

    def __init__(self, keys: tuple[crypto.PublicKey, ...]) -> None:
        self.keys = keys
        self.links: set[int] = set()
        self.sent: list[tuple[int, bytes]] = []
        self.accept = True

    def connected(self, role: object = None) -> set[crypto.PublicKey]:
        return {self.keys[i] for i in self.links}

    def role(self, peer: crypto.PublicKey) -> PeerRole | None:
        return PeerRole.VALIDATOR if self.keys.index(peer) in self.links else None

    def send(self, peer: crypto.PublicKey, data: bytes) -> bool:
        index = self.keys.index(peer)
        if index not in self.links or not self.accept:
            return False
        self.sent.append((index, data))
        return True

    def broadcast(self, data: bytes) -> int:
        return sum(self.send(self.keys[p], data) for p in sorted(self.links))

    def relayed(self, peer: int) -> list[bytes]:
        """The transactions relayed to ``peer``, in order."""
        out = []
        for to, data in self.sent:
            if to == peer and data[:1] == TAG_TX:
                body, offset = data[1:], 0
                while offset < len(body):
                    size = int.from_bytes(body[offset : offset + 4], "big")
                    out.append(body[offset + 4 : offset + 4 + size])
                    offset += 4 + size
        return out

    async def stop(self) -> None:
        pass


@pytest.fixture()
async def node(tmp_path: Path) -> AsyncIterator[tuple[Node, FakeMesh]]:
    write_localnet(tmp_path, 4, 41000)
    node = build_node(load_config(tmp_path / "v1.toml"))
    mesh = FakeMesh(node.validators.keys)
    node.mesh = mesh  # type: ignore[assignment]
    try:
        yield node, mesh
    finally:
        node.store.close()


def _admin_tx(directory: Path, n: int) -> list[chain.SignedTx]:
    from node.sdk.client import Wallet

    admin = Wallet(crypto.load_key(directory / "admin.pem"), CHAIN)
    return [admin.register_account(crypto.generate_key().address, "supplier", f"s{i}") for i in range(n)]


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


async def test_daemon_relays_to_peers_whose_links_come_up_later(node: tuple[Node, FakeMesh], tmp_path: Path) -> None:
    daemon, mesh = node
    first, second = _admin_tx(tmp_path, 2)
    mesh.links = {2}
    daemon.peer_changed(mesh.keys[2], True)
    daemon.submit(first)  # v0 (the primary) and v3 are not linked yet
    await _settle()
    assert mesh.relayed(2) == [first.raw] and mesh.relayed(0) == []
    mesh.links |= {0, 3}
    daemon.peer_changed(mesh.keys[0], True)
    daemon.peer_changed(mesh.keys[3], True)
    await _settle()
    assert mesh.relayed(0) == [first.raw] and mesh.relayed(3) == [first.raw]
    assert any(to == 0 and data[:1] == TAG_CONSENSUS for to, data in mesh.sent)  # its status, at once

    mesh.accept = False  # full send queues: kept for later
    daemon.submit(second)
    await _settle()
    assert mesh.relayed(0) == [first.raw]
    mesh.accept = True
    await asyncio.sleep(0.3)
    assert mesh.relayed(0) == [first.raw, second.raw]


async def test_daemon_relays_a_resubmitted_or_forwarded_pending_transaction_again(
    node: tuple[Node, FakeMesh], tmp_path: Path
) -> None:
    daemon, mesh = node
    (tx,) = _admin_tx(tmp_path, 1)
    mesh.links = {0, 2, 3}
    for peer in (0, 2, 3):
        daemon.peer_changed(mesh.keys[peer], True)
    daemon.submit(tx)
    await _settle()
    daemon.submit(tx)  # a client that got no answer tries again: pending, and relayed again
    await _settle()
    assert mesh.relayed(0) == [tx.raw, tx.raw]
    daemon.submit(tx)  # ...but not on every retry (at most once a second per transaction)
    await _settle()
    assert mesh.relayed(0) == [tx.raw, tx.raw]
    daemon._forward(Forward(tx.id, 0))  # the request timer's half-way mark
    await _settle()
    assert mesh.relayed(0) == [tx.raw] * 3
