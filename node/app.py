"""The application side of consensus: turning mempool batches into blocks, validating proposals,
and executing committed blocks with the ledger into the store.

No asyncio and no sockets here: the daemon calls these methods from its event loop, and tests call
them directly. The replica sees blocks only as opaque payloads (``Block.raw``) with a digest
(``Block.hash``); this module is where the two meet.

Execution lags one block (order-then-execute): the header of block h commits to the state root and
results root after executing block h-1, so the primary proposes h once it has executed h-1, and a
replica whose own roots differ from the committed header's stops with :class:`DivergenceError`
instead of forking silently.

Block time (docs/CONSENSUS.md, "Block time"): a backup prepares a block only if its time advances
past its parent's and is *timely* against the backup's own clock at the moment the proposal
arrived: at most ``max_clock_drift_ms`` ahead of it and at most ``max_clock_drift_ms +
max_block_delay_ms`` behind it (CometBFT's proposer-based timestamps). A block is committed only
after 2f+1 validators prepared it, f+1 of them correct, so no single validator moves the ledger's
clock beyond that window around the correct validators' clocks.
"""

from __future__ import annotations

import collections
import enum
import hashlib
from dataclasses import dataclass

from consensus.messages import Certificate as ConsensusCertificate
from node.errors import ChainError, WarrantChainError
from node.kernel import chain
from node.kernel.chain import Block, BlockHeader, SignedTx
from node.kernel.genesis import Genesis
from node.ledger.context import BlockContext
from node.ledger.dispatch import BlockOutcome, execute_block
from node.ledger.epochs import validator_set_at
from node.ledger.housekeeping import next_due
from node.ledger.model import key_account, key_admin
from node.ledger.state import StateReaderLike
from node.mempool.pool import Mempool
from node.store.leveldb import Store

__all__ = ["NULL_DIGEST", "DivergenceError", "Committed", "Application", "ProposalRefusal", "sender_registered"]

NULL_DIGEST = hashlib.sha256(b"").digest()
_DECODED_CACHE = 2  # proposals in flight whose decoding is reused by digest/validate/deliver


def sender_registered(state: StateReaderLike, address: str) -> bool:
    """Whether ``address`` may submit: a registered account or an alliance admin (committed state)."""
    return state.get(key_account(address)) is not None or state.get(key_admin(address)) is not None


class ProposalRefusal(str, enum.Enum):
    """Why a backup refused to prepare a proposal: the stable codes of the
    ``warrantchain_proposals_refused_total{reason}`` metric (docs/OPERATIONS.md 3.4); the log line
    carries the detail."""

    MALFORMED_BLOCK = "MALFORMED_BLOCK"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    WRONG_CHAIN = "WRONG_CHAIN"
    WRONG_HEIGHT = "WRONG_HEIGHT"
    WRONG_PARENT = "WRONG_PARENT"
    WRONG_ROOTS = "WRONG_ROOTS"
    UNKNOWN_PROPOSER = "UNKNOWN_PROPOSER"
    BAD_TIME = "BAD_TIME"
    OVER_LIMITS = "OVER_LIMITS"
    DUPLICATE_TX = "DUPLICATE_TX"
    COMMITTED_TX = "COMMITTED_TX"
    INVALID_TX = "INVALID_TX"


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
        self._due: tuple[int, int | None] | None = None  # (height, next time-rule due) cache
        self._uncertified: tuple[int, bool] | None = None  # (height, tip_uncertified()) cache
        self._ids_checked: tuple[int, bytes] | None = None
        """(store height, block hash) of the last proposal whose ids :meth:`check_proposal` found
        neither repeated nor committed: the store's transaction index changes only when a block
        is committed, so at that height the store need not look them up again."""
        self.refused: collections.Counter[ProposalRefusal] = collections.Counter()
        """Proposals :meth:`check_proposal` refused, by code (read by the metrics at scrape time)."""

    # -- helpers --------------------------------------------------------------------------------

    def _decode(self, payload: bytes) -> Block | None:
        """Decode (and remember) a proposed block; None if it is malformed."""
        token = hashlib.sha256(payload).digest()
        if token in self._decoded:
            return self._decoded[token]
        try:
            # Transactions this node admitted are taken from the mempool, not decoded again.
            block: Block | None = chain.decode_block(payload, self.mempool.get)
        except ChainError:
            block = None
        self._remember(token, block)
        return block

    def _remember(self, token: bytes, block: Block | None) -> None:
        self._decoded[token] = block
        if len(self._decoded) > _DECODED_CACHE:
            self._decoded.popitem(last=False)

    def tip_header(self) -> BlockHeader | None:
        """Header of the last committed block (None at genesis)."""
        height = self.store.meta.height
        if height == 0:
            return None
        if self._last_header is None or self._last_header.height != height:
            block = self.store.block(height)
            assert block is not None
            self._last_header = block.header
        return self._last_header

    def last_time_ms(self) -> int:
        """Time of the last committed block (genesis time at height 0)."""
        header = self.tip_header()
        return self.genesis.genesis_time_ms if header is None else header.time_ms

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
        """Build the next block from the mempool (it may be empty), within the block limits.

        The byte budget leaves room for the header (its transaction count at its widest) and the
        block's punctuation; the mempool counts each transaction's separator. The block is then
        checked with :meth:`limits_error`, the very check backups apply, before it goes out.
        """
        meta = self.store.meta
        params = self.params

        def build(txs: list[SignedTx]) -> Block:
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

        overhead = len(build([]).raw) + len(str(params.max_block_txs)) - 1
        txs = self.mempool.take(params.max_block_txs, params.max_block_bytes - overhead, now_ms)
        block = build(txs)
        while txs and self.limits_error(len(block.raw), len(block.txs)) is not None:
            # Not reached with the budget above; should it ever be, a smaller block goes out.
            keep = len(txs) // 2
            self.mempool.give_back(txs[keep:])
            txs = txs[:keep]
            block = build(txs)
        self._remember(hashlib.sha256(block.raw).digest(), block)  # the replica asks for its digest next
        return block

    def limits_error(self, size: int, tx_count: int) -> str | None:
        """Why a block of ``size`` encoded bytes and ``tx_count`` transactions is too big, or None."""
        if tx_count > self.params.max_block_txs:
            return f"block has {tx_count} transactions; the limit is {self.params.max_block_txs}"
        if size > self.params.max_block_bytes:
            return f"block is {size} bytes; the limit is {self.params.max_block_bytes}"
        return None

    def tip_uncertified(self) -> bool:
        """Whether what the last block did awaits a certified successor: only the next header
        commits to a block's results and the state after it, and a null block certifies no
        header of its own (proof bundles stay incomplete behind one)."""
        meta = self.store.meta
        if self._uncertified is None or self._uncertified[0] != meta.height:
            header = self.tip_header()
            cert = self.store.certificate(meta.height) if header is not None else None
            waiting = header is not None and (
                header.state_root != meta.state_root or (cert is not None and cert.block_hash == NULL_DIGEST.hex())
            )
            self._uncertified = (meta.height, waiting)
        return self._uncertified[1]

    def next_due_ms(self) -> int | None:
        """Earliest block time at which a time rule (offer expiry, overdue marking) applies."""
        height = self.store.meta.height
        if self._due is None or self._due[0] != height:
            self._due = (height, next_due(self.store.state))
        return self._due[1]

    def wants_empty_block(self, now_ms: int) -> bool:
        """Whether a block is due although no transaction waits: the tip's results need a
        successor, or a time rule applies at ``now_ms``."""
        due = self.next_due_ms()
        return self.tip_uncertified() or (due is not None and due <= now_ms)

    # -- validating a proposal (backups, before they prepare) -----------------------------------

    def check_proposal(self, seq: int, digest: bytes, payload: bytes, arrived_ms: int) -> str | None:
        """Why a backup must not prepare this proposal, or None if it may (a refusal is counted
        in :attr:`refused` by its code).

        ``arrived_ms`` is this node's clock when the proposal arrived (the daemon may check a
        proposal later, once it has executed the block before it).
        """
        problem = self._proposal_problem(seq, digest, payload, arrived_ms)
        if problem is None:
            return None
        code, message = problem
        self.refused[code] += 1
        return message

    def _proposal_problem(
        self, seq: int, digest: bytes, payload: bytes, arrived_ms: int
    ) -> tuple[ProposalRefusal, str] | None:
        block = self._decode(payload)
        if block is None:
            return ProposalRefusal.MALFORMED_BLOCK, "malformed block"
        if block.hash != digest:
            return ProposalRefusal.DIGEST_MISMATCH, "digest is not the block hash"
        header = block.header
        meta = self.store.meta
        if header.chain_id != self.chain_id:
            return ProposalRefusal.WRONG_CHAIN, f"block for chain {header.chain_id!r}"
        if header.height != seq or seq != meta.height + 1:
            return (ProposalRefusal.WRONG_HEIGHT,
                    f"block height {header.height} for seq {seq} at local height {meta.height}")
        if header.parent != meta.block_hash:
            return ProposalRefusal.WRONG_PARENT, "parent is not our last block"
        if header.state_root != meta.state_root or header.results_root != meta.results_root:
            return ProposalRefusal.WRONG_ROOTS, "state or results root differs from ours"
        if header.proposer >= len(validator_set_at(self.store.state, seq)):
            return ProposalRefusal.UNKNOWN_PROPOSER, "unknown proposer"  # of the epoch of this height
        reason = self.time_error(header.time_ms, arrived_ms)
        if reason is not None:
            return ProposalRefusal.BAD_TIME, reason
        reason = self.limits_error(len(payload), len(block.txs))
        if reason is not None:
            return ProposalRefusal.OVER_LIMITS, reason
        seen: set[bytes] = set()
        pending = self.mempool
        for tx in block.txs:
            if tx.id in seen:
                return ProposalRefusal.DUPLICATE_TX, f"transaction {tx.id_hex} appears twice"
            seen.add(tx.id)
            # What this node's mempool holds is not committed here: admission refuses a committed
            # id, and committing a block removes its ids from the mempool (``deliver``). Only the
            # ids it does not hold need the store's index (a LevelDB lookup each).
            location = None if tx.id in pending else self.store.tx_location(tx.id)
            if location is not None:
                return (ProposalRefusal.COMMITTED_TX,
                        f"transaction {tx.id_hex} is already committed at height {location.height}")
            try:
                self.mempool.cache.check(tx)
            except ChainError as exc:
                return ProposalRefusal.INVALID_TX, str(exc)
        self._ids_checked = (meta.height, block.hash)
        return None

    def time_error(self, time_ms: int, arrived_ms: int) -> str | None:
        """Why a proposed block time is not acceptable to a backup whose clock read ``arrived_ms``
        when the proposal arrived, or None."""
        if time_ms <= self.last_time_ms():
            return "block time does not advance"
        ahead = self.params.max_clock_drift_ms
        behind = ahead + self.params.max_block_delay_ms
        if time_ms > arrived_ms + ahead:
            return (f"block time {time_ms} is {time_ms - arrived_ms} ms ahead of our clock at its arrival "
                    f"{arrived_ms}; at most {ahead} ms (max_clock_drift_ms) is allowed")
        if time_ms < arrived_ms - behind:
            return (f"block time {time_ms} is {arrived_ms - time_ms} ms behind our clock at its arrival "
                    f"{arrived_ms}; at most {behind} ms (max_clock_drift_ms + max_block_delay_ms) is allowed")
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
        cert = chain.Certificate.from_consensus(certificate)
        self.store.commit_block(
            block, cert, outcome.results, outcome.writes, outcome.state_root, outcome.results_root,
            ids_checked=self._ids_checked == (meta.height, block.hash),
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
