"""A byzantine validator for fault tests: the real daemon (node.node.Node) run inside the test
process with a validator's genesis key (v3 unless told), whose mesh is wrapped so that what it sends can be
tampered with, plus an injector of replays, conflicting votes and garbage.

It follows the protocol where the test needs it to (view changes, so that the test can make it
primary) and lies where the test wants it to:

* re-inclusion: as primary, it adds transactions that are already committed to its proposals;
* a wrong clock: as primary, it stamps its proposals with its clock off by ``clock_skew_ms``;

* equivocation: as primary, it sends one backup (a different one per seq) a *different valid
  block* for the same seq (same parent and roots, one transaction fewer, a later time) with its
  own commit vote for it, and the others the real block;
* conflicting votes: its prepares, commits and checkpoints carry a wrong digest half the time,
  and it votes for random digests at real seqs;
* replay: old consensus messages, its own and other validators' commits rebuilt from the
  certificates of committed blocks, sent again;
* garbage: frames with unknown tags, bytes that are not JSON, unknown message types, bad
  signatures, impersonation (another validator's index, its own signature), unknown senders,
  out-of-range integers, payloads that don't match their digest, forged state responses, junk
  transactions.

Every kind of injection is counted in ``Byzantine.counts``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import random
from dataclasses import replace
from typing import Any

from consensus.messages import (
    Certificate,
    Checkpoint,
    Commit,
    MalformedMessage,
    Prepare,
    PrePrepare,
    StateEntry,
    StateResponse,
    decode_message,
    encode_message,
    signing_bytes,
)
from node.config import load_config
from node.kernel import chain
from node.kernel.crypto import PublicKey
from node.factory import build_node
from node.mempool.gossip import TAG_TX
from node.node import TAG_CONSENSUS
from node.p2p.mesh import Mesh
from node.sdk.localnet import LocalNet

INDEX = 3


def _evil(digest: bytes) -> bytes:
    return hashlib.sha256(b"evil" + digest).digest()


class TamperingMesh:
    """Wraps the node's Mesh; everything the daemon sends goes through :meth:`Byzantine.transform`."""

    def __init__(self, mesh: Mesh, byzantine: Byzantine) -> None:
        self.inner = mesh
        self.byzantine = byzantine

    def __getattr__(self, name: str) -> Any:  # start, stop, connected, ...: the real mesh's
        return getattr(self.inner, name)

    def send(self, peer: PublicKey, data: bytes) -> bool:
        index = self.byzantine.node.peer_index(peer)
        if index is None:  # not a validator: nothing to tamper with
            return bool(self.inner.send(peer, data))
        ok = False
        for dst, frame in self.byzantine.transform(index, data):
            ok = self.send_raw(dst, frame) or ok
        return ok

    def send_raw(self, index: int, frame: bytes) -> bool:
        """Send to validator ``index`` as it is, past :meth:`Byzantine.transform`."""
        return bool(self.inner.send(self.byzantine.node.validators.keys[index], frame))

    def broadcast(self, data: bytes) -> int:
        return sum(self.send(self.byzantine.node.validators.keys[i], data) for i in sorted(self.byzantine.node.linked_validators()))


class Byzantine:
    def __init__(self, net: LocalNet, rng: random.Random, index: int = INDEX) -> None:
        self.net = net
        self.rng = rng
        self.index = index
        self.node = build_node(load_config(net.directory / f"v{index}.toml"))
        self.domain = self.node.genesis.chain_id.encode()
        self.node.mesh = TamperingMesh(self.node.mesh, self)  # type: ignore[assignment]
        self.mesh: TamperingMesh = self.node.mesh  # type: ignore[assignment]
        self.equivocate = False
        self.conflicting_votes = False
        self.reinclude: list[chain.SignedTx] = []  # committed transactions to put in its proposals again
        self.clock_skew_ms = 0  # how far its clock is off when it stamps a proposal
        self._honest_propose = self.node.app.propose
        self.node.app.propose = self._propose  # type: ignore[method-assign]
        self.counts: collections.Counter[str] = collections.Counter()
        self.sent: list[bytes] = []  # consensus frames it sent, for replay
        self._injector: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.node.start()

    async def stop(self) -> None:
        await self.stop_injecting()
        if self.node.failure is None:
            await self.node.stop()
        else:
            await self.node.stopped()

    def start_injecting(self, interval: float = 0.05) -> None:
        self._injector = asyncio.create_task(self._inject_loop(interval))

    async def stop_injecting(self) -> None:
        if self._injector is not None:
            self._injector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._injector
            self._injector = None

    # -- signing --------------------------------------------------------------------------------

    def sign(self, msg: Any) -> Any:
        return replace(msg, sig=self.node.key.sign(signing_bytes(self.domain, replace(msg, sig=b""))))

    def frame(self, msg: Any) -> bytes:
        return TAG_CONSENSUS + encode_message(msg)

    # -- lying in its own proposals --------------------------------------------------------------

    def _propose(self, proposer: int, now_ms: int) -> chain.Block:
        """The daemon's block, stamped by a clock ``clock_skew_ms`` off, with ``reinclude`` added."""
        if self.clock_skew_ms:
            self.counts[f"proposal stamped by a clock {self.clock_skew_ms:+d} ms off"] += 1
        block = self._honest_propose(proposer, now_ms + self.clock_skew_ms)
        if not self.reinclude:
            return block
        self.counts["proposal re-including a committed transaction"] += 1
        header = block.header
        return chain.make_block(
            chain_id=header.chain_id, height=header.height, time_ms=header.time_ms,
            parent=bytes.fromhex(header.parent), proposer=header.proposer, txs=[*block.txs, *self.reinclude],
            state_root=bytes.fromhex(header.state_root), results_root=bytes.fromhex(header.results_root),
        )

    # -- tampering with what the daemon sends -----------------------------------------------------

    def transform(self, peer: int, data: bytes) -> list[tuple[int, bytes]]:
        if data[:1] != TAG_CONSENSUS:
            return [(peer, data)]
        try:
            msg = decode_message(data[1:])
        except MalformedMessage:
            return [(peer, data)]
        if len(self.sent) < 500:
            self.sent.append(data)
        else:
            self.sent[self.rng.randrange(500)] = data
        if isinstance(msg, PrePrepare) and msg.payload and msg.sender == self.index and self.equivocate:
            return self._equivocate(peer, msg)
        if isinstance(msg, (Prepare, Commit, Checkpoint)) and self.conflicting_votes and self.rng.random() < 0.5:
            self.counts["conflicting vote (own vote, wrong digest)"] += 1
            return [(peer, self.frame(self.sign(replace(msg, digest=_evil(msg.digest)))))]
        return [(peer, data)]

    def _equivocate(self, peer: int, msg: PrePrepare) -> list[tuple[int, bytes]]:
        backups = [i for i in range(self.net.count) if i != self.index]
        fooled = backups[msg.seq % len(backups)]
        if peer != fooled:
            return [(peer, self.frame(msg))]
        real = chain.decode_block(msg.payload)
        header = real.header
        other = chain.make_block(
            chain_id=header.chain_id, height=header.height, time_ms=header.time_ms + 1,
            parent=bytes.fromhex(header.parent), proposer=header.proposer, txs=real.txs[:-1],
            state_root=bytes.fromhex(header.state_root), results_root=bytes.fromhex(header.results_root),
        )
        evil = self.sign(PrePrepare(msg.view, msg.seq, other.hash, other.raw, self.index))
        vote = self.sign(Commit(msg.view, msg.seq, other.hash, self.index))
        self.counts["equivocating pre-prepare (a second valid block for the seq)"] += 1
        return [(peer, self.frame(evil)), (peer, self.frame(vote))]

    # -- injections -----------------------------------------------------------------------------

    async def _inject_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            peers = sorted(self.node.linked_validators())
            if not peers:
                continue
            peer = self.rng.choice(peers)
            choice = self.rng.randrange(4)
            if choice == 0 and self.sent:
                self.counts["replay of its own old message"] += 1
                self.mesh.send_raw(peer, self.rng.choice(self.sent))
            elif choice == 1:
                await self._replay_certificate(peer)
            elif choice == 2:
                self._random_vote(peer)
            else:
                self._garbage(peer)

    async def _replay_certificate(self, peer: int) -> None:
        height = self.node.store.meta.height
        if height < 1:
            return
        cert = self.node.store.certificate(self.rng.randint(1, height))
        if cert is None:
            return
        for sender, sig in cert.signatures:
            commit = Commit(cert.view, cert.height, bytes.fromhex(cert.block_hash), sender, bytes.fromhex(sig))
            self.mesh.send_raw(peer, self.frame(commit))
        self.counts["replay of other validators' old commits"] += 1

    def _random_vote(self, peer: int) -> None:
        replica = self.node.replica
        seq = replica.last_delivered + self.rng.randint(1, 5)
        digest = hashlib.sha256(b"random%d" % self.rng.getrandbits(32)).digest()
        kind = self.rng.choice([Prepare, Commit])
        self.mesh.send_raw(peer, self.frame(self.sign(kind(replica.view, seq, digest, self.index))))
        self.counts["vote for a random digest at a real seq"] += 1

    def _garbage(self, peer: int) -> None:
        rng = self.rng
        replica = self.node.replica
        view, seq = replica.view, replica.last_delivered + 1
        digest = hashlib.sha256(b"g%d" % rng.getrandbits(32)).digest()
        kind = rng.randrange(10)
        if kind == 0:
            name, frame = "random bytes", bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        elif kind == 1:
            name, frame = "consensus frame that is not a message", TAG_CONSENSUS + rng.choice([
                b"", b"{", b"[]", b"null", b'{"type":"Nope"}', b'{"type":1}', b"\xff\xfe\x00",
                b'{"type":"Prepare"}', b'{"type":"Commit","view":-1,"seq":1,"digest":"00","sender":3,"sig":""}',
                b"[" * 5000 + b"]" * 5000,
            ])
        elif kind == 2:
            name = "out-of-range integers"
            body = {"type": "Prepare", "view": 2**64, "seq": -1, "digest": digest.hex(), "sender": self.index, "sig": "00"}
            frame = TAG_CONSENSUS + json.dumps(body).encode()
        elif kind == 3:
            name, frame = "bad signature", self.frame(Prepare(view, seq, digest, self.index, bytes(64)))
        elif kind == 4:
            other = rng.choice([i for i in range(self.net.count) if i != self.index])
            name = "impersonation (another index, own signature)"
            frame = self.frame(replace(self.sign(Commit(view, seq, digest, self.index)), sender=other))
        elif kind == 5:
            name, frame = "unknown sender", self.frame(Prepare(view, seq, digest, 9, b"x"))
        elif kind == 6:
            name = "pre-prepare whose payload is not its digest"
            frame = self.frame(self.sign(PrePrepare(view, seq, digest, b'{"header":{}}', self.index)))
        elif kind == 7:
            name = "forged state response (certificate signed by itself only)"
            cert = Certificate(view, seq, digest, tuple((self.index, b"s") for _ in range(3)))
            frame = self.frame(self.sign(StateResponse((StateEntry(seq, digest, b"forged", cert),), self.index)))
        elif kind == 8:
            name = "junk transaction frame"
            frame = TAG_TX + rng.choice([b"", b"{}", b"not json", b'{"body":{},"pubkey":"00","sig":"00"}'])
        else:
            name = "unknown frame tag"
            frame = bytes([rng.choice(b"abdefxyz\x00\xff")]) + b"hello"
        self.counts[f"garbage: {name}"] += 1
        self.mesh.send_raw(peer, frame)
