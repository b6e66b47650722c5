"""The node daemon: wires the replica, the application, the mesh and the RPC together.

One asyncio event loop drives everything. Inputs: frames from peers (``_on_frame``), transactions
from clients (``submit``), and a clock tick (``_tick_loop``). After each input the replica's
actions are performed by ``_pump`` in the order the write-ahead rule requires: first every
Persist (one synced batch) and Deliver (execute + one synced batch per block), then the sends.

Frames on the mesh carry a one-byte tag: ``t`` transactions being relayed (each as a 4-byte
big-endian length and its bytes; what clients submit in one burst travels in one frame), ``c`` a
consensus message (consensus.messages wire format). Relay converges (node.mempool.relay): a peer whose
link comes up is sent the whole mempool, a resubmitted transaction and the one the replica's
request timer waits for (``Forward``) are relayed again.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from typing import Any

from consensus.actions import Broadcast, Deliver, Forward, Persist, Send, ServeState
from consensus.config import Config as ConsensusConfig
from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import MalformedMessage, PrePrepare, StateEntry, decode_message, encode_message
from consensus.persist import PersistedState
from consensus.replica import Replica
from node.app import Application, Committed, DivergenceError, sender_registered
from node.cli import passphrase
from node.config import ConfigError, NodeConfig, parse_listen, tls_contexts
from node.errors import ChainError, CryptoError, StoreError, WarrantChainError
from node.kernel import crypto
from node.kernel.chain import SignedTx
from node.kernel.genesis import Genesis, load_genesis
from node.ledger.initial import genesis_state
from node.ledger.payloads import check_payload
from node.logs import kv
from node.mempool.pool import Mempool, MempoolError
from node.mempool.relay import Relay, frame_txs
from node.p2p.mesh import Mesh
from node.store.leveldb import Store

__all__ = ["Node", "StartupError", "replica_in_sync"]

TAG_TX = b"t"
TAG_CONSENSUS = b"c"
_MAX_HELD = 64
_RELAY_FRAME_BYTES = 1 << 20  # a relay frame goes out at this size even mid-burst
_RELAY_RETRY_S = 0.2  # a peer's send queue was full: try the rest of its relay queue again then
_RESUBMIT_RELAY_S = 1.0  # a resubmitted pending transaction is relayed again at most this often
_STATE_FRAME_BYTES = 8 << 20  # blocks per state-transfer answer, roughly
_ARRIVALS = 256  # pre-prepares whose arrival time is remembered until they are checked
log = logging.getLogger("warrantd")


def replica_in_sync(replica: Replica, halted: bool) -> bool:
    """Within a block of the height the peers vouch for (Replica.peer_height); not while that is
    unknown, nor after a halt. /health, chain_status, the in_sync gauge and readiness read this."""
    target = replica.peer_height()
    return not halted and target is not None and replica.last_delivered + 1 >= target


class StartupError(WarrantChainError):
    """The node cannot start: a missing or wrong key, genesis, data directory or config."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class _Signer:
    def __init__(self, key: crypto.SigningKey) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


class _Verifier:
    def __init__(self, keys: tuple[crypto.PublicKey, ...]) -> None:
        self._keys = keys

    def verify(self, replica: int, data: bytes, sig: bytes) -> bool:
        try:
            return 0 <= replica < len(self._keys) and self._keys[replica].verify(sig, data)
        except CryptoError:
            return False


class Node:
    """A running validator. ``await start()``, then ``await stopped()``; ``await stop()`` ends it."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.name = config.node.name
        self.genesis: Genesis = self._load_genesis()
        self.key = self._load_key()
        self.validators = self.genesis.validator_set()
        index = self.validators.index_of(self.key.address)
        if index is None:
            raise StartupError(
                f"key {config.node.key_file} ({self.key.address}) is not a validator in genesis {config.node.genesis}"
            )
        self.index = index
        # Everything that can be refused from the config alone (peers, TLS) is checked before the
        # data directory is touched, and a directory this start created is removed if it fails.
        self.mesh = self._make_mesh()
        data_dir = self.config.path(config.node.data_dir)
        fresh = not data_dir.exists()
        self.store = self._open_store()
        try:
            self._init_rest()
        except BaseException:
            self.store.close()
            if fresh:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise

    def _init_rest(self) -> None:
        config = self.config
        params = self.genesis.params
        self.mempool = Mempool(
            chain_id=self.genesis.chain_id,
            max_txs=config.mempool.max_txs,
            max_bytes=config.mempool.max_bytes,
            max_ttl_ms=params.max_tx_ttl_ms,
            is_committed=self.store.has_tx,
            check_payload=check_payload,
            is_registered=lambda address: sender_registered(self.store.state, address),
            max_per_sender=config.mempool.max_per_sender,
        )
        self.app = Application(self.store, self.genesis, self.mempool)
        self.replica = self._make_replica()
        self.on_commit: list[Callable[[Committed], None]] = []
        self._waiters: dict[bytes, list[asyncio.Future[Committed]]] = {}
        self._held: dict[int, tuple[int, PrePrepare]] = {}
        self._view = (self.replica.view, True)
        self.relay = Relay(
            limit=2 * config.mempool.max_txs, frame_bytes=_RELAY_FRAME_BYTES, still_wanted=self.mempool.__contains__
        )
        self._relay_flush: asyncio.Handle | None = None
        self._relayed_at: dict[bytes, float] = {}  # resubmitted tx id -> when it was relayed again
        self._propose_handle: asyncio.TimerHandle | None = None
        self._arrivals: dict[bytes, int] = {}  # pre-prepare digest -> our clock when it arrived
        self._last_block_ms = now_ms()  # our clock at the last commit: the empty-block interval runs from it
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopped = asyncio.Event()
        self.failure: str | None = None

    # -- construction ---------------------------------------------------------------------------

    def _load_genesis(self) -> Genesis:
        try:
            return load_genesis(self.config.path(self.config.node.genesis))
        except ChainError as exc:
            raise StartupError(str(exc)) from None

    def _load_key(self) -> crypto.SigningKey:
        try:
            return crypto.load_key(self.config.path(self.config.node.key_file),
                                   passphrase.from_env(self.config.node.key_passphrase_env))
        except CryptoError as exc:
            raise StartupError(str(exc)) from None

    def _open_store(self) -> Store:
        data_dir = self.config.path(self.config.node.data_dir)
        fresh = not data_dir.exists()
        store = Store(data_dir)
        genesis_hash = self.genesis.hash()
        try:
            if store.initialized:
                store.check_chain(self.genesis.chain_id, genesis_hash)
            else:
                writes, root = genesis_state(self.genesis)
                store.init_genesis(self.genesis.chain_id, genesis_hash, writes, root, root)
        except WarrantChainError:
            store.close()
            if fresh:
                shutil.rmtree(data_dir, ignore_errors=True)
            raise
        return store

    def _make_replica(self) -> Replica:
        timing = self.config.consensus
        meta = self.store.meta
        cert = self.store.certificate(meta.height) if meta.height else None
        config = ConsensusConfig(
            n=len(self.validators),
            checkpoint_interval=self.genesis.params.checkpoint_interval,
            window=max(timing.window, self.genesis.params.checkpoint_interval),
            view_change_timeout_ticks=max(2, timing.view_change_timeout_ms // timing.tick_ms),
            status_interval_ticks=max(1, 1000 // timing.tick_ms),
            state_request_timeout_ticks=max(2, 2000 // timing.tick_ms),
        )
        persisted = PersistedState.from_items(dict(self.store.consensus_records()))
        return Replica(
            config,
            self.index,
            _Signer(self.key),
            _Verifier(self.validators.keys),
            self._validate,
            self.app.digest,
            self.genesis.chain_id.encode(),
            persisted=persisted,
            app_height=meta.height,
            app_digest=bytes.fromhex(cert.block_hash) if cert else b"",
        )

    def _validate(self, seq: int, digest: bytes, payload: bytes) -> bool:
        # The block time is judged against our clock when the proposal arrived, not when we get to
        # check it: a pre-prepare held until its parent executed (``_hold``) or stashed by the
        # replica for a view it had not entered yet would otherwise look late.
        reason = self.app.check_proposal(seq, digest, payload, self._arrivals.get(digest) or now_ms())
        if reason is not None:
            log.warning(kv("proposal-refused", seq=seq, reason=reason))
        return reason is None

    def _make_mesh(self) -> Mesh:
        p2p = self.config.p2p
        host, port = parse_listen(p2p.listen)
        names = {v.name: i for i, v in enumerate(self.validators.validators)}
        peers: dict[int, str] = {}
        for name, url in p2p.peers.items():
            if name not in names:
                raise StartupError(f"p2p.peers names {name!r}, which is not a validator in genesis")
            if names[name] != self.index:
                peers[names[name]] = url
        ssl_server = ssl_client = None
        if p2p.tls is not None:
            ssl_server, ssl_client = self._tls_contexts()
        return Mesh(
            index=self.index, key=self.key, validators=self.validators, chain_id=self.genesis.chain_id,
            genesis_hash=self.genesis.hash(), listen_host=host, listen_port=port, peers=peers,
            on_message=self._on_frame, on_peer_change=self.peer_changed, max_frame=p2p.max_frame, queue_limit=p2p.queue_limit,
            queue_bytes=2 * p2p.max_frame, handshake_timeout=p2p.handshake_timeout_ms / 1000,
            max_pending=p2p.max_pending_handshakes, max_pending_per_host=p2p.max_pending_per_host,
            ssl_server=ssl_server, ssl_client=ssl_client, log=logging.getLogger("warrantd.p2p"),
        )

    def _tls_contexts(self) -> tuple[Any, Any]:
        try:
            return tls_contexts(self.config)
        except ConfigError as exc:
            raise StartupError(str(exc)) from None

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.mesh.start()
        self._tasks.append(asyncio.create_task(self._tick_loop(), name=f"{self.name}-tick"))
        log.info(kv("started", index=self.index, height=self.store.meta.height, view=self.replica.view))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        if self._propose_handle is not None:
            self._propose_handle.cancel()
        if self._relay_flush is not None:
            self._relay_flush.cancel()
        await self.mesh.stop()
        self.store.close()
        for waiters in self._waiters.values():
            for future in waiters:
                if not future.done():
                    future.cancel()
        self._stopped.set()

    async def stopped(self) -> None:
        await self._stopped.wait()

    def _fail(self, reason: str) -> None:
        """Stop loudly: the node must not go on (diverged state, broken store)."""
        if self.failure is None:
            self.failure = reason
            log.critical(kv("halt", reason=reason))
            asyncio.get_running_loop().create_task(self.stop())

    # -- inputs ---------------------------------------------------------------------------------

    def submit(self, data: bytes | SignedTx) -> SignedTx:
        """Admit a client transaction and relay it; raises MempoolError with a stable code."""
        tx, new = self.mempool.add(data, now_ms())
        if new:
            self._relay([tx])
            self._schedule_proposal()
        else:
            self._relay_again(tx)
        return tx

    def readiness(self) -> tuple[str, str] | None:
        """Why this node should not take submissions now, as (reason, message); None: it should.

        A node that is not linked to a quorum, or more than a block behind what its peers report
        (the (f+1)-th highest height, which a correct validator has), would answer ``pending``
        for what it cannot know and fill its mempool with what may be committed already."""
        if self.failure is not None:
            return "HALTED", f"this node halted ({self.failure}); use another node"
        need = self.replica.config.quorum - 1
        linked = len(self.mesh.connected())
        if linked < need:
            return "NOT_LINKED", f"this node is linked to {linked} other validators, and a quorum needs {need}; retry shortly or use another node"
        network = self.replica.peer_height()
        if network is None:
            return "SYNCING", "this node has not heard its peers' heights yet; retry shortly"
        if not self.in_sync():
            height = self.store.meta.height
            return "SYNCING", f"this node is catching up (height {height}, its peers at {network}); retry shortly or use another node"
        return None

    def in_sync(self) -> bool:
        return replica_in_sync(self.replica, self.failure is not None)

    def _relay(self, txs: list[SignedTx], peers: list[int] | None = None) -> None:
        """Queue ``txs`` for ``peers`` (default: all linked); a burst goes out in one frame."""
        self.relay.queue(txs, peers)
        self._schedule_relay(0.0)

    def _relay_again(self, tx: SignedTx) -> None:
        """A client resubmitted a pending transaction: peers may lack it (rate-limited per tx)."""
        now = time.monotonic()
        if now - self._relayed_at.get(tx.id, -_RESUBMIT_RELAY_S) < _RESUBMIT_RELAY_S:
            return
        if len(self._relayed_at) >= 2 * self.config.mempool.max_txs:  # bound: forget what left
            self._relayed_at = {k: t for k, t in self._relayed_at.items() if k in self.mempool}
        self._relayed_at[tx.id] = now
        self._relay([tx])

    def _schedule_relay(self, delay: float) -> None:
        if self._relay_flush is None:
            loop = asyncio.get_running_loop()
            self._relay_flush = loop.call_soon(self._flush_relay) if delay == 0 else loop.call_later(delay, self._flush_relay)

    def _flush_relay(self) -> None:
        self._relay_flush = None
        for peer in self.relay.linked():
            while batch := self.relay.next_frame(peer):
                if not self.mesh.send(peer, TAG_TX + frame_txs(batch)):
                    self._schedule_relay(_RELAY_RETRY_S)  # its send queue is full: later
                    break
                self.relay.sent(peer, len(batch))

    def peer_changed(self, peer: int, up: bool) -> None:
        """A link came up: the peer gets our whole mempool and our status; a link went down:
        forget its queue (it gets everything again when it is back)."""
        if not up:
            self.relay.link_down(peer)
            return
        if self.failure is not None:
            return
        self.relay.link_up(peer, self.mempool.txs())
        self._schedule_relay(0.0)
        self.replica.greet(peer)
        self._pump()

    def _admit_relayed(self, peer: int, body: bytes) -> None:
        """Admit the transactions of a relay frame; a malformed frame is dropped from there on."""
        offset, now, end = 0, now_ms(), len(body)
        while offset < end:
            size = int.from_bytes(body[offset : offset + 4], "big")
            if offset + 4 + size > end or size == 0:
                log.info(kv("relay-malformed", peer=peer, offset=offset))
                return
            try:
                _, new = self.mempool.add(body[offset + 4 : offset + 4 + size], now, relayed=True)
            except MempoolError as exc:
                log.debug(kv("relay-refused", peer=peer, code=exc.code))
            else:
                if new:
                    self._schedule_proposal()
            offset += 4 + size

    def wait_committed(self, tx_id: bytes) -> asyncio.Future[Committed]:
        """A future resolved with the block that commits ``tx_id``."""
        future: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(tx_id, []).append(future)
        return future

    def _on_frame(self, peer: int, data: bytes) -> None:
        if self.failure is not None:
            return
        tag, body = data[:1], data[1:]
        if tag == TAG_TX:
            self._admit_relayed(peer, body)
        elif tag == TAG_CONSENSUS:
            try:
                msg = decode_message(body)
            except MalformedMessage as exc:
                log.info(kv("consensus-malformed", peer=peer, error=exc))
                return
            if isinstance(msg, PrePrepare):
                self._note_arrival(peer, msg)
            if isinstance(msg, PrePrepare) and msg.seq > self.store.meta.height + 1:
                # Its header commits to the state after seq-1, which this node has not executed
                # yet (its last commit is still in flight): hold it until we have.
                self._hold(peer, msg)
                return
            outcome = self.replica.step(msg)
            if outcome.reason is not None:
                log.debug(kv("consensus-not-processed", peer=peer, outcome=outcome))
            self._pump()
        else:
            log.info(kv("frame-unknown-tag", peer=peer, tag=tag.hex()))

    def _note_arrival(self, peer: int, msg: PrePrepare) -> None:
        """Remember when a proposal from its view's primary first arrived (bounded: the oldest are
        forgotten). Only what the primary itself sends counts: its signature is not checked yet,
        but the link is authenticated, so no other peer can push the primary's entries out."""
        primary = msg.view % len(self.validators)
        if msg.payload and peer == msg.sender == primary and msg.digest not in self._arrivals:
            self._arrivals[msg.digest] = now_ms()
            while len(self._arrivals) > _ARRIVALS:
                del self._arrivals[next(iter(self._arrivals))]

    def _hold(self, peer: int, msg: PrePrepare) -> None:
        self._held[msg.seq] = (peer, msg)
        while len(self._held) > _MAX_HELD:
            del self._held[max(self._held)]

    def _release_held(self) -> None:
        height = self.store.meta.height
        for seq in sorted(self._held):
            if seq <= height:
                del self._held[seq]
            elif seq == height + 1:
                _, msg = self._held.pop(seq)
                self.replica.step(msg)

    async def _tick_loop(self) -> None:
        period = self.config.consensus.tick_ms / 1000
        while True:
            await asyncio.sleep(period)
            if self.failure is not None:
                return
            try:
                oldest = self.mempool.oldest(now_ms())
                self.replica.note_pending(None if oldest is None else oldest.id)
                self.replica.tick()
                self._pump()
                self._maybe_propose()
                self._maybe_propose_empty()
            except Exception as exc:  # a bug must stop the node loudly, not stop its clock quietly
                log.exception(kv("tick-failed", error=exc))
                self._fail(f"internal error: {exc!r}")
                return

    # -- proposing ------------------------------------------------------------------------------

    def _schedule_proposal(self) -> None:
        if self._propose_handle is None and self.replica.is_primary():
            delay = self.config.consensus.batch_delay_ms / 1000
            self._propose_handle = asyncio.get_running_loop().call_later(delay, self._maybe_propose)

    def _maybe_propose(self) -> None:
        self._propose_handle = None
        if self.mempool.pending():
            self._propose()

    def _maybe_propose_empty(self) -> None:
        """With nothing to propose, an empty block once ``empty_block_interval_ms`` passed since
        the last commit, if the tip's results await a successor to certify them or a time rule
        (offer expiry, overdue) is due; never otherwise, so an idle chain stays as it is."""
        now = now_ms()
        if (
            self._propose_handle is None and not self.mempool.pending() and self.replica.is_primary()
            and now - self._last_block_ms >= self.config.consensus.empty_block_interval_ms
            and self.app.wants_empty_block(now)
        ):
            self._propose()

    def _propose(self) -> None:
        if self.failure is not None:
            return
        # Propose height h only once h-1 is executed: the header carries the state after it.
        if not self.replica.can_propose() or self.replica.next_seq != self.app.next_height():
            return
        block = self.app.propose(self.index, now_ms())
        self.replica.propose(block.raw, block.hash)
        log.info(kv("proposed", height=block.height, txs=len(block.txs), view=self.replica.view))
        self._pump()

    # -- performing the replica's actions -------------------------------------------------------

    def _pump(self) -> None:
        while True:
            actions = self.replica.drain()
            if not actions:
                break
            records = {a.key: a.value for a in actions if isinstance(a, Persist)}
            if records:
                try:
                    self.store.put_consensus(records)
                except StoreError as exc:  # nothing of this batch may be sent unpersisted
                    self._fail(str(exc))
                    return
            for action in actions:
                if isinstance(action, Deliver):
                    if not self._deliver(action):
                        return
            for action in actions:
                if isinstance(action, Broadcast):
                    self.mesh.broadcast(TAG_CONSENSUS + encode_message(action.msg))
                elif isinstance(action, Send):
                    self.mesh.send(action.to, TAG_CONSENSUS + encode_message(action.msg))
                elif isinstance(action, ServeState):
                    self._serve_state(action)
                elif isinstance(action, Forward):
                    self._forward(action)
            self._release_held()
        status = self.replica.status()
        if (status.view, status.active) != self._view:
            # A view change started or ended: what the old primary proposed but did not get
            # committed may be proposed again by the new one.
            self._view = (status.view, status.active)
            log.warning(kv("view-change" if not status.active else "new-view", view=status.view, primary=status.primary))
            self.mempool.release_in_flight()
            self._schedule_proposal()

    def _deliver(self, action: Deliver) -> bool:
        started = time.perf_counter()
        try:
            committed = self.app.deliver(action.seq, action.digest, action.payload, action.certificate)
        except (DivergenceError, StoreError) as exc:
            self._fail(str(exc))
            return False
        log.info(kv("committed", height=action.seq, txs=len(committed.block.txs), ms=round((time.perf_counter() - started) * 1000, 1)))
        self._last_block_ms = now_ms()
        for tx in committed.block.txs:
            for future in self._waiters.pop(tx.id, ()):
                if not future.done():
                    future.set_result(committed)
        for callback in self.on_commit:
            callback(committed)
        self._schedule_proposal()
        return True

    def _forward(self, action: Forward) -> None:
        """The replica's request timer is half-way for this transaction: hand it to the primary
        and the other peers again (PBFT 4.4), in case they never got it or dropped it."""
        tx = self.mempool.get(action.request)
        if tx is not None:
            log.info(kv("forward", tx=tx.id_hex[:16], primary=action.primary))
            self._relay([tx])

    def _serve_state(self, action: ServeState) -> None:
        entries: list[StateEntry] = []
        budget = min(_STATE_FRAME_BYTES, self.config.p2p.max_frame // 2)
        for height in range(action.from_seq, action.to_seq + 1):
            entry = self.app.committed_entry(height)
            if entry is None:
                break
            payload, digest, cert = entry
            budget -= len(payload) + 1024
            if entries and budget < 0:
                break
            entries.append(
                StateEntry(
                    height, digest, payload,
                    ConsensusCertificate(
                        cert.view, height, digest, tuple((i, bytes.fromhex(s)) for i, s in cert.signatures)
                    ),
                )
            )
        self.replica.serve_state(action.to, entries)
