"""Malformed p2p input against real validators: before the handshake (anyone who can reach the
port) every malformed frame gets the connection closed; after it (a peer holding validator 3's
genesis key) garbage frames are dropped or get the link closed, and the validators keep serving,
keep committing, and change nothing that was committed."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import connect

from consensus.messages import (
    Checkpoint,
    Commit,
    Prepare,
    StateRequest,
    Status,
    Suspect,
    ViewChange,
    encode_message,
    signing_bytes,
)
from node.config import DEFAULT_MAX_FRAME
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.mempool.gossip import TAG_TX
from node.node import TAG_CONSENSUS
from node.p2p.handshake import encode_message as encode_handshake
from node.p2p.handshake import Members, PeerRole, make_hello
from node.p2p.mesh import Mesh
from node.sdk.localnet import LocalNet

from .conftest import RUNNING, commit_one, committed_view
from .rpc_inputs import json_value

TRIED: collections.Counter[str] = collections.Counter()
SEED = 20261128
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def before(cluster: LocalNet) -> dict[int, tuple[int, str, str]]:
    return asyncio.run(committed_view(cluster))


def _closed_by_server(url: str, frame: bytes | str) -> bool:
    """Send one frame before any handshake; True once the server has closed the connection."""
    try:
        with connect(url, max_size=None, open_timeout=10, close_timeout=2) as ws:
            ws.send(frame)
            while True:
                ws.recv(timeout=10)  # anything the server says first (its Hello) is fine
    except (ConnectionClosed, InvalidHandshake, ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


_hello_fields = st.fixed_dictionaries(
    {}, optional={"type": st.just("hello") | json_value, "chain_id": st.just("warrant-local") | json_value,
                  "genesis_hash": st.text("0123456789abcdef", max_size=70) | json_value,
                  "key": st.text("0123456789abcdef", max_size=70) | json_value,
                  "role": st.sampled_from(["validator", "observer"]) | json_value, "nonce": st.text("0123456789abcdef", max_size=70) | json_value,
                  "version": json_value},
)


@FUZZ
@given(frame=st.binary(max_size=2000) | st.text(max_size=200) | _hello_fields.map(lambda d: json.dumps(d).encode()),
       turn=st.integers(0, 2))
def test_malformed_frames_before_the_handshake_close_the_connection(cluster: LocalNet, before: dict, frame: bytes | str,
                                                                    turn: int) -> None:
    url = f"ws://127.0.0.1:{cluster.base_port + RUNNING[turn]}"
    assert _closed_by_server(url, frame), f"{url} kept a connection open after {frame[:80]!r}"
    TRIED["pre-handshake frames (hypothesis: bytes, text, malformed Hello)"] += 1


def test_hello_variants_with_wrong_values_are_refused(cluster: LocalNet, before: dict) -> None:
    genesis = load_genesis(cluster.directory / "genesis.json")
    url = f"ws://127.0.0.1:{cluster.base_port + RUNNING[0]}"
    keys = genesis.validator_set().keys
    good = json.loads(encode_handshake(make_hello(genesis.chain_id, genesis.hash(), keys[3], PeerRole.VALIDATOR)))
    variants = [
        {**good, "chain_id": "other-chain"}, {**good, "genesis_hash": "00" * 32}, {**good, "key": keys[RUNNING[0]].hex()},
        {**good, "key": crypto.generate_key().public_key.hex()}, {**good, "key": "02" + "ff" * 32}, {**good, "key": 3},
        {**good, "role": "admin"}, {**good, "nonce": "00"},
        {**good, "extra": 1}, {k: v for k, v in good.items() if k != "nonce"}, [good], {**good, "key": keys[3].hex()[:-2]},
    ]
    for variant in variants:
        assert _closed_by_server(url, json.dumps(variant).encode()), variant
        TRIED["Hello messages with wrong values"] += 1
    # A well-formed Hello (a validator dialing one with a higher key, as the connection rule
    # wants), then garbage instead of the Proof.
    server = max(RUNNING, key=lambda i: keys[i].raw)
    dialer = next(i for i in range(len(keys)) if keys[i].raw < keys[server].raw)
    url = f"ws://127.0.0.1:{cluster.base_port + server}"
    hello = encode_handshake(make_hello(genesis.chain_id, genesis.hash(), keys[dialer], PeerRole.VALIDATOR))
    for junk in (b"", b"\x00" * 100, b"{}", hello, json.dumps({"type": "proof", "signature": "00" * 64}).encode()):
        with connect(url, max_size=None, open_timeout=10) as ws:
            ws.send(hello)
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=10)  # the validator's own Hello
                ws.send(junk)
                while True:
                    ws.recv(timeout=10)
        TRIED["garbage in place of the handshake Proof"] += 1


class _TestPeer:
    """Validator 3's seat on the mesh, taken by the test with v3's genesis key."""

    def __init__(self, net: LocalNet) -> None:
        genesis = load_genesis(net.directory / "genesis.json")
        self.key = crypto.load_key(net.directory / "v3.pem")
        self.domain = genesis.chain_id.encode()
        self.downs: collections.Counter[int] = collections.Counter()
        self.keys = genesis.validator_set().keys
        self.mesh = Mesh(
            key=self.key, chain_id=genesis.chain_id,
            members=Members.of({k: f"ws://127.0.0.1:{net.base_port + i}" if i in RUNNING else None
                                for i, k in enumerate(self.keys)}),
            genesis_hash=genesis.hash(), listen_host="127.0.0.1", listen_port=net.base_port + 3,
            on_message=lambda peer, data: None, on_peer_change=self._changed, log=logging.getLogger("test-peer"),
            max_frame=2 * DEFAULT_MAX_FRAME,  # so that it can send frames over the validators' limit
            queue_bytes=8 * DEFAULT_MAX_FRAME,
        )

    def _changed(self, peer: crypto.PublicKey, up: bool) -> None:
        if not up:
            self.downs[self.keys.index(peer)] += 1

    def linked(self) -> set[int]:
        return {self.keys.index(k) for k in self.mesh.connected()}

    def send(self, index: int, frame: bytes) -> bool:
        return self.mesh.send(self.keys[index], frame)

    def sign(self, msg):  # type: ignore[no-untyped-def]
        return replace(msg, sig=self.key.sign(signing_bytes(self.domain, msg)))


def _garbage(rng: random.Random, peer: _TestPeer, view: int, height: int) -> tuple[str, bytes]:
    kind = rng.randrange(9)
    if kind == 0:
        return "random bytes", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 3000)))
    if kind == 1:
        tag = rng.choice([TAG_CONSENSUS, TAG_TX])
        return "tagged random bytes", tag + bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 500)))
    if kind == 2:
        valid = encode_message(peer.sign(Prepare(view, height + 1, bytes(32), 3)))
        mutated = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.getrandbits(8)
        return "mutated consensus message", TAG_CONSENSUS + bytes(mutated)
    if kind == 3:
        body = {"type": rng.choice(["Prepare", "Commit", "PrePrepare", "ViewChange", "StateResponse", "Nope"]),
                "view": rng.choice([-1, 2**64, "1", None, 1.5]), "seq": rng.choice([0, -5, 2**70]),
                "digest": rng.choice(["zz", "", "AB" * 32]), "sender": rng.choice([3, 99, -1]), "sig": ""}
        return "consensus message with wrong field types", TAG_CONSENSUS + json.dumps(body).encode()
    if kind == 4:
        return "deeply nested JSON", TAG_CONSENSUS + b"[" * 200_000 + b"]" * 200_000
    if kind == 5:
        body = {"body": {"chain_id": "warrant-local", "type": "issue", "sender": "wc" + "1" * 40, "nonce": -1,
                         "expires": 2**70, "payload": {"amount": 1e308}}, "pubkey": "02", "sig": "00"}
        return "malformed relayed transaction", TAG_TX + json.dumps(body).encode()
    if kind == 6:  # validly signed by v3, absurd values
        msg = rng.choice([
            Status(2**62, 2**62, 3), Checkpoint(2**62, bytes(32), 3), StateRequest(1, 2**62, 3),
            Commit(view, 2**62, bytes(32), 3), ViewChange(2**62, 0, b"", (), (), 3),
            Suspect(2**62, 3), Suspect(view, 3),  # one suspicion alone changes nothing
        ])
        return "signed message with absurd numbers", TAG_CONSENSUS + encode_message(peer.sign(msg))
    if kind == 7:
        return "4 MiB frame of junk", TAG_CONSENSUS + b"\x00" * (4 << 20)
    return "unknown frame tag", bytes([rng.choice(b"AZaz09\x00\xff")]) + b"payload"


async def test_garbage_after_the_handshake_is_dropped_or_refused(cluster: LocalNet, before: dict) -> None:
    peer = _TestPeer(cluster)
    rng = random.Random(SEED)
    await peer.mesh.start()
    try:
        async def linked() -> bool:
            return peer.linked() >= set(RUNNING)

        await cluster.wait_for(linked, 30, "v0..v2 to link to the test peer")
        status = (await cluster.heights([0]))[0]
        for _ in range(600):
            name, frame = _garbage(rng, peer, status["view"], status["height"])
            target = rng.choice(RUNNING)
            if peer.send(target, frame):
                TRIED[f"post-handshake: {name}"] += 1
            await asyncio.sleep(0.002)

        async def garbage_written() -> bool:  # every junk frame has gone out (some are 4 MiB)
            return all(peer.mesh.queued(peer.keys[i]) == (0, 0) for i in RUNNING)

        await cluster.wait_for(garbage_written, 90, "the test peer to write out its garbage")
        await asyncio.sleep(0.5)  # the validators read what was written before judging the links
        assert not peer.downs, f"well-sized binary garbage should be dropped, not cut links: {dict(peer.downs)}"

        # A frame over the validators' limit: they close the link (websockets close 1009),
        # then dial validator 3 again by themselves.
        for target in RUNNING:
            assert peer.send(target, TAG_CONSENSUS + b"\x00" * DEFAULT_MAX_FRAME)
            TRIED["post-handshake: frame over the frame limit"] += 1

        async def refused_and_relinked() -> bool:
            return all(peer.downs[i] for i in RUNNING) and peer.linked() >= set(RUNNING)

        await cluster.wait_for(refused_and_relinked, 30, "each validator to cut the oversize link and relink")
    finally:
        await peer.mesh.stop()

    after = await committed_view(cluster)
    assert after == before, f"committed state changed under malformed p2p input: {before} -> {after}"
    await commit_one(cluster)
    print(f"\nmalformed p2p inputs tried: {sum(TRIED.values())}")
    for name, count in sorted(TRIED.items()):
        print(f"  {count:6d}  {name}")
