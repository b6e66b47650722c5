"""Impostors and junk on a validator's p2p port are refused; the cluster keeps committing."""

from __future__ import annotations

import asyncio
import contextlib

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.p2p.handshake import PeerRole, Role, decode_message, encode_message, make_hello, make_proof
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .helpers import register_accounts


async def _closed(ws) -> bool:
    """True once the server has closed the connection (it must, within the deadline)."""
    try:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    except ConnectionClosed:
        return True


def _target(net: LocalNet) -> int:
    """The validator with the highest key: every other validator may dial it (the connection rule)."""
    keys = load_genesis(net.directory / "genesis.json").validator_set().keys
    return max(range(len(keys)), key=lambda i: keys[i].raw)


async def _impostor(net: LocalNet, key: crypto.SigningKey, claim: int | None, chain_id: str | None = None,
                    role: PeerRole = PeerRole.VALIDATOR) -> bool:
    """Shake hands with the target validator as ``key`` naming validator ``claim``'s key (None: its own)."""
    genesis = load_genesis(net.directory / "genesis.json")
    url = f"ws://127.0.0.1:{net.base_port + _target(net)}"
    named = key.public_key if claim is None else genesis.validator_set().keys[claim]
    async with connect(url, max_size=None) as ws:
        hello = make_hello(chain_id or genesis.chain_id, genesis.hash(), named, role)
        await ws.send(encode_message(hello))
        try:
            theirs = decode_message(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed:
            return True
        try:
            await ws.send(encode_message(make_proof(key, hello, theirs, Role.INITIATOR)))
        except ConnectionClosed:
            return True
        return await _closed(ws)


async def _send_oversized(url: str) -> None:
    """Send a 2 MiB frame where a handshake message (at most 1 KiB) is due. The server may cut the
    link mid-write, which the client library reports in more than one way; the test checks the
    server's side instead."""
    with contextlib.suppress(Exception):
        async with connect(url, max_size=None, write_limit=1 << 24) as ws:
            await ws.send(b"x" * (2 << 20))
            await _closed(ws)


async def _logged(net: LocalNet, text: str) -> bool:
    return text in net.log_path(_target(net)).read_text()


async def test_impostors_and_junk_are_refused_and_the_cluster_keeps_committing(net: LocalNet, admin: Wallet) -> None:
    genesis = load_genesis(net.directory / "genesis.json")
    outsider = crypto.generate_key()
    target = _target(net)
    assert await _impostor(net, outsider, (target + 1) % 4), "a validator's key without its private key must be refused"
    assert await _impostor(net, outsider, None), "a key that is not in genesis must be refused"
    assert await _impostor(net, outsider, None, role=PeerRole.OBSERVER), "an observer that is not allowed must be refused"
    assert await _impostor(net, outsider, 0, chain_id="other-chain"), "another chain id must be refused"

    url = f"ws://127.0.0.1:{net.base_port + target}"
    async with connect(url, max_size=None) as ws:  # garbage instead of a Hello
        await ws.send(b"\x00\xffnot a handshake" * 10)
        assert await _closed(ws)
    async with connect(url, max_size=None) as ws:  # a text frame
        await ws.send('{"type":"hello"}')
        assert await _closed(ws)
    await _send_oversized(url)
    await net.wait_for(lambda: _logged(net, "2097152-byte frame is too large for a handshake"), 10, "the oversized frame to be refused")
    reader, writer = await asyncio.open_connection("127.0.0.1", net.base_port + target)  # not even HTTP
    writer.write(b"\x16\x03\x01garbage garbage\r\n\r\n" * 100)
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 10) is not None
    writer.close()

    results = await register_accounts(net, admin, 4)
    assert all(r["result"]["ok"] for r in results)
    statuses = await net.wait_height(max(r["height"] for r in results), timeout=20)
    assert all(s["peers"] == 3 for s in statuses.values()), "validator links were not disturbed"
    assert genesis.chain_id == "warrant-local"
    refusals = [line for line in net.log_path(target).read_text().splitlines() if "refused 127.0.0.1" in line]
    for reason in ("bad-signature", "not-allowed", "chain-id", "malformed"):
        assert any(reason in line for line in refusals), f"no log line for a refusal with reason {reason}"
