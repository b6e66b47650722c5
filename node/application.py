"""The application side of consensus: turning mempool batches into blocks, validating proposals,
and executing committed blocks with the ledger into the store.

No asyncio and no sockets here: the daemon calls these methods from its event loop, and tests call
them directly. The replica sees blocks only as opaque payloads (``Block.raw``) with a digest
(``Block.hash``); this module is where the two meet.

Execution lags one block (order-then-execute): the header of block h commits to the state root and
results root after executing block h-1, so the primary proposes h once it has executed h-1, and a
replica whose own roots differ from the committed header's stops with :class:`DivergenceError`
instead of forking silently.
"""

from __future__ import annotations

import collections
import hashlib
from dataclasses import dataclass

from consensus.messages import Certificate as ConsensusCertificate
from node import chain
from node.chain import Block, BlockHeader, SignedTx
from node.errors import ChainError, WarrantChainError
from node.genesis import Genesis
from node.ledger.context import BlockContext
from node.ledger.dispatch import BlockOutcome, execute_block
from node.mempool import Mempool
from node.store import Store

__all__ = ["NULL_DIGEST", "DivergenceError", "Committed", "Application"]

NULL_DIGEST = hashlib.sha256(b"").digest()
_DECODED_CACHE = 2  # proposals in flight whose decoding is reused by digest/validate/deliver


class DivergenceError(WarrantChainError):
    """This node's executed state differs from what the validators certified: it must stop."""


@dataclass(frozen=True)
class Committed:
    """A block that was executed and written, for events and metrics."""

    block: Block
    outcome: BlockOutcome
    certificate: chain.Certificate


class Application:
    def __init__(self, store: Store, genesis: Genesis, mempool: Mempool) -> None:
        self.store = store
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.params = genesis.params
        self.validators = genesis.validator_set()
        self.mempool = mempool
        self._decoded: collections.OrderedDict[bytes, Block | None] = collections.OrderedDict()
        self._last_header: BlockHeader | None = None

    # -- helpers --------------------------------------------------------------------------------

    def _decode(self, payload: bytes) -> Block | None:
        """Decode (and remember) a proposed block; None if it is malformed."""
        token = hashlib.sha256(payload).digest()
        if token in self._decoded:
            return self._decoded[token]
        try:
            block: Block | None = chain.decode_block(payload)
        except ChainError:
            block = None
        self._decoded[token] = block
        if len(self._decoded) > _DECODED_CACHE:
            self._decoded.popitem(last=False)
        return block

    def last_time_ms(self) -> int:
        """Time of the last committed block (genesis time at height 0)."""
        height = self.store.meta.height
        if height == 0:
            return self.genesis.genesis_time_ms
        if self._last_header is None or self._last_header.height != height:
            block = self.store.block(height)
            assert block is not None
            self._last_header = block.header
        return self._last_header.time_ms

    def digest(self, payload: bytes) -> bytes:
        """The consensus digest of a payload: the block hash (or the null digest for b"")."""
        if not payload:
            return NULL_DIGEST
        block = self._decode(payload)
        # A malformed payload gets a digest no header can have, so it never matches a proposal.
        return block.hash if block is not None else hashlib.sha256(b"\xffmalformed" + payload).digest()

    # -- proposing ------------------------------------------------------------------------------

    def next_height(self) -> int:
        return self.store.meta.height + 1

    def propose(self, proposer: int, now_ms: int) -> Block:
        """Build the next block from the mempool (it may be empty)."""
        meta = self.store.meta
        txs = self.mempool.take(self.params.max_block_txs, self.params.max_block_bytes - 1024, now_ms)
        return chain.make_block(
            chain_id=self.chain_id,
            height=meta.height + 1,
            time_ms=max(now_ms, self.last_time_ms() + 1),
            parent=bytes.fromhex(meta.block_hash),
            proposer=proposer,
            txs=txs,
            state_root=bytes.fromhex(meta.state_root),
            results_root=bytes.fromhex(meta.results_root),
        )

    # -- validating a proposal (backups, before they prepare) -----------------------------------

    def check_proposal(self, seq: int, digest: bytes, payload: bytes, now_ms: int) -> str | None:
        """Why a backup must not prepare this proposal, or None if it may."""
        block = self._decode(payload)
        if block is None:
            return "malformed block"
        if block.hash != digest:
            return "digest is not the block hash"
        header = block.header
        meta = self.store.meta
        if header.chain_id != self.chain_id:
            return f"block for chain {header.chain_id!r}"
        if header.height != seq or seq != meta.height + 1:
            return f"block height {header.height} for seq {seq} at local height {meta.height}"
        if header.parent != meta.block_hash:
            return "parent is not our last block"
        if header.state_root != meta.state_root or header.results_root != meta.results_root:
            return "state or results root differs from ours"
        if header.proposer >= len(self.validators):
            return "unknown proposer"
        if header.time_ms <= self.last_time_ms():
            return "block time does not advance"
        if header.time_ms > now_ms + self.params.max_clock_drift_ms:
            return f"block time {header.time_ms} is ahead of our clock {now_ms} by more than the allowed drift"
        if len(block.txs) > self.params.max_block_txs or len(payload) > self.params.max_block_bytes:
            return "block exceeds the size limits"
        seen: set[bytes] = set()
        for tx in block.txs:
            if tx.id in seen:
                return f"transaction {tx.id_hex} appears twice"
            seen.add(tx.id)
            try:
                self.mempool.cache.check(tx)
            except ChainError as exc:
                return str(exc)
        return None

    # -- executing a committed block ------------------------------------------------------------

    def deliver(self, seq: int, digest: bytes, payload: bytes, certificate: ConsensusCertificate) -> Committed:
        """Execute committed block ``seq`` and write it with everything it changed in one batch."""
        meta = self.store.meta
        if seq != meta.height + 1:
            raise DivergenceError(f"consensus delivered block {seq} but the store is at height {meta.height}")
        if payload:
            block = self._decode(payload)
            if block is None or block.hash != digest:
                raise DivergenceError(f"committed block {seq} does not decode to its certified digest")
        else:
            block = self._null_block(seq)
        header = block.header
        if header.parent != meta.block_hash or header.state_root != meta.state_root or header.results_root != meta.results_root:
            raise DivergenceError(
                f"block {seq} was certified on parent {header.parent[:16]} / state {header.state_root[:16]}, "
                f"but this node has {meta.block_hash[:16]} / {meta.state_root[:16]}: its state diverged; "
                "keep its data directory for investigation and see docs/OPERATIONS.md (halt)"
            )
        if not all(self._signature_ok(tx) for tx in block.txs):  # only a faulty quorum could commit this
            raise DivergenceError(f"block {seq} was certified with a transaction whose signature is invalid")
        ctx = BlockContext(height=seq, time_ms=header.time_ms, chain_id=self.chain_id, params=self.params)
        outcome = execute_block(self.store.state, block.txs, ctx)
        cert = chain.Certificate(
            height=seq,
            view=certificate.view,
            block_hash=digest.hex(),
            signatures=[(index, sig.hex()) for index, sig in certificate.signatures],
        )
        self.store.commit_block(
            block, cert, outcome.results, outcome.writes, outcome.state_root, outcome.results_root
        )
        self._last_header = header
        self.mempool.remove_committed(block.txs)
        return Committed(block, outcome, cert)

    def _signature_ok(self, tx: SignedTx) -> bool:
        try:
            self.mempool.cache.check(tx)
        except ChainError:
            return False
        return True

    def _null_block(self, seq: int) -> Block:
        """PBFT's null request at ``seq``: an empty block everyone derives identically."""
        meta = self.store.meta
        return chain.make_block(
            chain_id=self.chain_id,
            height=seq,
            time_ms=self.last_time_ms(),
            parent=bytes.fromhex(meta.block_hash),
            proposer=0,
            txs=[],
            state_root=bytes.fromhex(meta.state_root),
            results_root=bytes.fromhex(meta.results_root),
        )

    # -- serving state transfer -----------------------------------------------------------------

    def committed_entry(self, height: int) -> tuple[bytes, bytes, chain.Certificate] | None:
        """(payload, digest, certificate) of a committed block, for a lagging peer."""
        raw = self.store.block_bytes(height)
        cert = self.store.certificate(height)
        if raw is None or cert is None:
            return None
        digest = bytes.fromhex(cert.block_hash)
        return (b"" if digest == NULL_DIGEST else raw), digest, cert
