"""Must-show 1 of issue 18 on a real network: observers follow the chain without voting.

Four validators and three observers, each a process on 127.0.0.1, except validator v3, which runs
in the test's event loop so that the test can corrupt the block feed it sends (a byzantine
validator). v0 serves no observers (p2p.max_observer_links = 0), so o0 is linked to v1, v2 and
the byzantine v3; o1 knows only v3's address; o2's key is not allowed (it is not in genesis:
node.observer = true starts it anyway).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.config import load_config
from node.factory import build_node
from node.kernel import chain, crypto
from node.kernel.crypto import PublicKey
from node.node import Node
from node.observer.feed import TAG_FEED, FeedBlocks, FeedEntry, decode_feed, encode_blocks
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain, register_accounts
from tests.scrape import scrape

CHAIN_ID = "warrant-local"
BYZANTINE = 3
O_ALL, O_BYZ, O_STRANGER = 4, 5, 6  # LocalNet indices of o0, o1, o2


def _tamper(entry: FeedEntry, how: int) -> FeedEntry:
    """A block whose certificate doesn't verify (or doesn't certify this block)."""
    cert = entry.certificate
    if how == 0:  # one commit signature altered
        (signer, sig), *rest = cert.signatures
        bad = f"{int(sig[:2], 16) ^ 1:02x}{sig[2:]}"
        return FeedEntry(entry.payload, chain.Certificate(cert.height, cert.view, cert.block_hash, [(signer, bad), *rest]))
    if how == 1:  # too few signatures: one short of the quorum
        return FeedEntry(entry.payload, chain.Certificate(cert.height, cert.view, cert.block_hash, cert.signatures[:2]))
    # the genuine certificate on another block (the payload's last byte flipped)
    return FeedEntry(entry.payload[:-1] + bytes([entry.payload[-1] ^ 1]) if entry.payload else b"x", cert)


class TamperingFeed:
    """Wraps the byzantine validator's mesh: every feed frame it sends is corrupted while ``on``."""

    def __init__(self, mesh: Any) -> None:
        self.inner = mesh
        self.on = True
        self.tampered = 0
        self._rng = random.Random(18)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send(self, peer: PublicKey, data: bytes) -> bool:
        if self.on and data[:1] == TAG_FEED:
            frame = decode_feed(data[1:])
            if isinstance(frame, FeedBlocks) and frame.entries:
                self.tampered += 1
                data = encode_blocks(frame.tip, [_tamper(e, self._rng.randrange(3)) for e in frame.entries])
        return bool(self.inner.send(peer, data))


@pytest.fixture()
async def network(tmp_path: Path) -> AsyncIterator[tuple[LocalNet, Node, TamperingFeed]]:
    net = LocalNet(tmp_path / "net", 4, observers=3)
    # o1 knows only the byzantine validator's address; v0 serves no observer.
    path = net.directory / "o1.toml"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(("v0 =", "v1 =", "v2 ="))]
    path.write_text("\n".join(lines) + "\n")
    net.configure(0, "p2p", {"max_observer_links": 0})
    # o2 gets a key nobody admitted.
    (net.directory / "o2.pem").unlink()
    crypto.save_key(net.directory / "o2.pem", crypto.generate_key())
    net.configure(O_STRANGER, "node", {"observer": True})
    byzantine = build_node(load_config(net.directory / f"v{BYZANTINE}.toml"))
    feed = TamperingFeed(byzantine.mesh)
    byzantine.mesh = feed  # type: ignore[assignment]
    try:
        for index in (0, 1, 2, O_ALL, O_BYZ, O_STRANGER):
            net.start(index)
        await byzantine.start()
        await net.wait_for(lambda: _linked(net, 0, 3), 60, "v0 to link to the other validators")
        yield net, byzantine, feed
    finally:
        net.stop_all()
        if byzantine.failure is None:
            await byzantine.stop()


async def _linked(net: LocalNet, index: int, peers: int) -> bool:
    status = await net.status(index)
    return status is not None and status["peers"] >= peers


async def test_an_observer_follows_serves_forwards_and_refuses(network: tuple[LocalNet, Node, TamperingFeed]) -> None:
    net, byzantine, feed = network
    admin = Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)
    newcomer = crypto.generate_key()
    observer = net.client(O_ALL)
    async with observer:
        await net.wait_for(lambda: _ready(net, O_ALL), 60, "o0 to be linked (to v1, v2, v3) and in sync")
        status = await observer.status()
        assert status["role"] == "observer" and status["view"] == 0

        # Events on the observer, for a transaction submitted *through* the observer: it forwards
        # it to the validators, which commit it, and its waiter answers with the block.
        async with observer.subscribe("account", address=newcomer.address) as events, observer.subscribe("blocks") as blocks:
            result = await observer.submit(admin.register_account(newcomer.address, "supplier", "newcomer"))
            assert result["status"] == "committed" and result["result"]["ok"]
            async with asyncio.timeout(20):
                event = await anext(events)
                block = await anext(blocks)
                while block["height"] < result["height"]:
                    block = await anext(blocks)
        assert event["type"] == "account_registered" and event["tx"] == result["id"]
        assert block["height"] == result["height"]
        async with net.client(0) as validator:
            assert (await validator.call("tx_get", id=result["id"]))["height"] == result["height"]

        # More blocks, submitted to the validators; the observer has them all, identically.
        done = await register_accounts(net, admin, 6, via=[0, 1, 2])
        height = max(r["height"] for r in done)
        await net.wait_height(height, [0, 1, 2, O_ALL], timeout=30)
        assert await assert_same_chain(net, [0, 1, 2, O_ALL]) >= height
        assert byzantine.store.meta.height >= height - 1  # the byzantine validator votes honestly
        # ... and serves reads from its own state, and the explorer.
        account = await observer.call("account_get", address=newcomer.address)
        assert account["name"] == "newcomer" and account["role"] == "supplier"
        async with aiohttp.ClientSession() as session, session.get(net.rpc_url(O_ALL).removesuffix("/rpc") + "/") as page:
            assert page.status == 200 and "text/html" in page.content_type

    # Stopped while the chain moves on, it catches up from where it was when it is back.
    net.stop(O_ALL)
    more = await register_accounts(net, admin, 3, via=[1, 2])
    height = max(r["height"] for r in more)
    net.start(O_ALL)
    await net.wait_height(height, [O_ALL], timeout=30)
    assert await assert_same_chain(net, [0, 1, 2, O_ALL]) >= height

    # o1 hears only the byzantine validator, whose every block fails verification: it executes
    # none of them, and says why.
    assert feed.tampered > 0
    metrics = await scrape(net.rpc_url(O_BYZ))
    assert metrics.value("warrantchain_feed_refused_total") >= 1
    assert (await net.status(O_BYZ))["height"] == 0  # type: ignore[index]
    log = net.log_path(O_BYZ).read_text()
    assert "feed-refused" in log
    assert any(reason in log for reason in ("is invalid", "signatures;", "does not hash to the digest"))
    # Once the same validator sends the blocks as they are, o1 catches up: the refusals were of the
    # blocks, not of the link.
    feed.on = False
    await net.wait_height(height, [O_BYZ], timeout=30)
    assert await assert_same_chain(net, [0, O_BYZ]) >= height

    # o2's key is not allowed: every validator refuses it, and it has nothing.
    stranger = await net.status(O_STRANGER)
    assert stranger is not None and stranger["peers"] == 0 and stranger["height"] == 0 and not stranger["ready"]
    refused = (await scrape(net.rpc_url(1))).value("warrantchain_p2p_handshakes_refused_total", reason="not-allowed")
    assert refused is not None and refused >= 1
    assert "not-allowed" in net.log_path(1).read_text()

    # v0 serves no observer: it refused o0 for the cap (after o0 proved its key), and fed nobody;
    # v1 fed o0.
    v0 = await scrape(net.rpc_url(0))
    assert (v0.value("warrantchain_p2p_handshakes_refused_total", reason="observer-limit") or 0) >= 1
    assert v0.value("warrantchain_feed_blocks_served_total") == 0
    assert ((await scrape(net.rpc_url(1))).value("warrantchain_feed_blocks_served_total") or 0) >= 1


async def _ready(net: LocalNet, index: int) -> bool:
    status = await net.status(index)
    return status is not None and status["ready"] and status["peers"] >= 3
