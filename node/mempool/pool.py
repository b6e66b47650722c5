"""The mempool: admitted transactions waiting for a block, and the cache of verified signatures.

Admission decodes, checks size, chain id, expiry, that the sender is a registered account (or an
alliance admin), the sender's share of the pool, payload schema and signature, and refuses
duplicates and transactions already committed. The cheap checks come first, so a flood from a key
that is no account costs a decode and one state read per transaction, never a signature check.
Every transaction's signature is verified once per node: the result is remembered (by id and
signature), so validating a proposed block that holds transactions this node already admitted
costs no second verification.

Transactions stay here until a committed block includes them. The primary ``take``s a batch and
marks it in flight; if the view changes before that block commits, ``release_in_flight`` makes
them available to the next proposal, so nothing a failed view left behind is lost.

Block building is fair between senders: ``take`` picks round-robin over the senders with waiting
transactions (each sender's own in arrival order), so one account, however busy, fills at most its
share of a block while others wait; the picked transactions then go into the block in arrival
order, so what a client submitted after what it depends on still executes after it.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from node import fmt
from node.errors import ChainError, WarrantChainError
from node.kernel.chain import SignedTx, decode_tx

__all__ = ["RETRY_CODES", "MempoolError", "Mempool", "VerifiedCache"]

_RELAY_HEADROOM = 2
# Refusals that say "not now" rather than "never": the RPC answers them BUSY, and clients retry.
RETRY_CODES = frozenset({"MEMPOOL_FULL", "SENDER_PENDING_LIMIT"})


class MempoolError(WarrantChainError):
    """A transaction was not admitted; ``code`` is stable (docs/PROTOCOL.md lists them)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class VerifiedCache:
    """Bounded memory of (tx id, signature) pairs whose signature has been verified."""

    def __init__(self, limit: int = 50_000) -> None:
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._limit = limit

    def check(self, tx: SignedTx) -> None:
        """Verify ``tx`` unless it was verified before; raise ChainError if it does not verify."""
        token = tx.id + tx.sig
        if token in self._seen:
            return
        tx.verify()
        self._seen[token] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)


class Mempool:
    def __init__(
        self,
        *,
        chain_id: str,
        max_txs: int,
        max_bytes: int,
        max_ttl_ms: int,
        is_committed: Callable[[bytes], bool],
        check_payload: Callable[[str, dict[str, Any]], object],
        is_registered: Callable[[str], bool],
        max_per_sender: int,
        cache: VerifiedCache | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_ttl_ms = max_ttl_ms
        self.max_per_sender = max_per_sender
        self._is_committed = is_committed
        self._check_payload = check_payload
        self._is_registered = is_registered
        self.cache = cache or VerifiedCache()
        self._txs: dict[bytes, SignedTx] = {}  # every admitted transaction, in arrival order
        self._arrival: dict[bytes, int] = {}
        self._counter = itertools.count()
        self._in_flight: set[bytes] = set()
        # Per sender, its transactions not in flight, in arrival order; the dict's own order is the
        # round-robin order (a sender served by ``take`` moves to the back).
        self._queues: dict[str, collections.OrderedDict[bytes, None]] = {}
        self._per_sender: collections.Counter[str] = collections.Counter()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def pending_of(self, sender: str) -> int:
        """How many of ``sender``'s transactions this mempool holds (in flight included)."""
        return self._per_sender[sender]

    def add(self, data: bytes | SignedTx, now_ms: int, relayed: bool = False) -> tuple[SignedTx, bool]:
        """Admit a transaction; returns it and whether it is new. Raises MempoolError otherwise.

        A transaction relayed by a peer was admitted by that peer already; it gets headroom above
        the limits clients see, so that the primary does not turn away what its peers accepted
        (a client's dependent transactions would then commit out of order).
        """
        try:
            tx = data if isinstance(data, SignedTx) else decode_tx(data)
        except ChainError as exc:
            raise MempoolError("MALFORMED_TX", str(exc)) from None
        existing = self._txs.get(tx.id)
        if existing is not None:
            return existing, False
        body = tx.body
        if body.chain_id != self.chain_id:
            raise MempoolError(
                "WRONG_CHAIN", f"transaction is for chain {body.chain_id!r}; this node serves {self.chain_id!r}"
            )
        if body.expires < now_ms:
            raise MempoolError("TX_EXPIRED", f"transaction expired at {fmt.when(body.expires, now_ms)}; sign it again")
        if body.expires - now_ms > self.max_ttl_ms:
            raise MempoolError(
                "TX_TTL_TOO_LONG",
                f"expires {fmt.when(body.expires, now_ms)}, more than {self.max_ttl_ms // 1000:,} seconds ahead; "
                "choose an earlier expiry",
            )
        if not self._is_registered(body.sender):
            raise MempoolError(
                "UNKNOWN_SENDER",
                f"sender {body.sender} is not a registered account; an alliance admin must register it, "
                "and the registration must be committed, before it can submit",
            )
        headroom = _RELAY_HEADROOM if relayed else 1
        if self._per_sender[body.sender] >= self.max_per_sender * headroom:
            raise MempoolError(
                "SENDER_PENDING_LIMIT",
                f"sender {body.sender} already has {self._per_sender[body.sender]} transactions waiting "
                f"(the limit is {self.max_per_sender}); retry after the next blocks commit",
            )
        try:
            self._check_payload(body.type, body.payload)
        except WarrantChainError as exc:
            raise MempoolError(getattr(exc, "code", "INVALID_PAYLOAD"), str(exc)) from None
        if self._is_committed(tx.id):
            raise MempoolError("TX_ALREADY_COMMITTED", f"transaction {tx.id_hex} is already committed (replay)")
        if len(self._txs) >= self.max_txs * headroom or self._bytes + len(tx.raw) > self.max_bytes * headroom:
            raise MempoolError("MEMPOOL_FULL", "mempool is full; retry after the next blocks commit")
        try:
            self.cache.check(tx)
        except ChainError as exc:
            raise MempoolError("BAD_SIGNATURE", str(exc)) from None
        self._txs[tx.id] = tx
        self._arrival[tx.id] = next(self._counter)
        self._per_sender[body.sender] += 1
        self._queue(body.sender)[tx.id] = None
        self._bytes += len(tx.raw)
        return tx, True

    def _queue(self, sender: str) -> collections.OrderedDict[bytes, None]:
        queue = self._queues.get(sender)
        if queue is None:
            queue = self._queues[sender] = collections.OrderedDict()
        return queue

    def get(self, tx_id: bytes) -> SignedTx | None:
        return self._txs.get(tx_id)

    def txs(self) -> list[SignedTx]:
        """Every admitted transaction, oldest first (what a newly linked peer is sent)."""
        return list(self._txs.values())

    def oldest(self, now_ms: int) -> SignedTx | None:
        """The transaction that has waited longest and can still be included (the replica's
        request timer is judged on it); expired ones met on the way are dropped."""
        expired: list[bytes] = []
        found = None
        for tx_id, tx in self._txs.items():
            if tx.body.expires >= now_ms:
                found = tx
                break
            expired.append(tx_id)
        self.remove(expired)
        return found

    def take(self, max_txs: int, max_bytes: int, now_ms: int) -> list[SignedTx]:
        """Up to ``max_txs`` transactions not in flight, costing at most ``max_bytes``; marks them in flight.

        A transaction costs its encoded size plus one byte (the separator between transactions in
        a block). Senders are served round-robin, each in its own arrival order; a sender whose
        next transaction does not fit is done for this batch (its later ones must not overtake
        it). The batch is returned in arrival order. Expired transactions are dropped on the way.
        """
        batch: list[SignedTx] = []
        size = 0
        expired: list[bytes] = []
        served: dict[str, None] = {}
        active = list(self._queues)
        while active and len(batch) < max_txs:
            still: list[str] = []
            for sender in active:
                queue = self._queues[sender]
                tx = None
                while queue:
                    candidate = self._txs[next(iter(queue))]
                    if candidate.body.expires >= now_ms:
                        tx = candidate
                        break
                    queue.popitem(last=False)
                    expired.append(candidate.id)
                if tx is None or size + len(tx.raw) + 1 > max_bytes:
                    continue
                queue.popitem(last=False)
                batch.append(tx)
                size += len(tx.raw) + 1
                served[sender] = None
                still.append(sender)
                if len(batch) >= max_txs:
                    break
            active = still
        for sender in served:  # who was served goes to the back of the round for the next batch
            queue = self._queues.pop(sender)
            if queue:
                self._queues[sender] = queue
        for sender in [s for s, q in self._queues.items() if not q]:
            del self._queues[sender]
        self.remove(expired)
        self._in_flight.update(tx.id for tx in batch)
        batch.sort(key=lambda tx: self._arrival[tx.id])
        return batch

    def pending(self) -> int:
        """How many transactions wait for a proposal (not in flight)."""
        return len(self._txs) - len(self._in_flight)

    def release_in_flight(self) -> None:
        """After a view change: what was proposed but not committed may be proposed again."""
        if self._in_flight:
            self._in_flight.clear()
            self._rebuild_queues()

    def give_back(self, txs: Sequence[SignedTx]) -> None:
        """Return transactions ``take`` handed out that the caller did not propose after all."""
        if txs:
            self._in_flight.difference_update(tx.id for tx in txs)
            self._rebuild_queues()

    def _rebuild_queues(self) -> None:
        self._queues = {}
        for tx_id, tx in self._txs.items():  # arrival order
            if tx_id not in self._in_flight:
                self._queue(tx.body.sender)[tx_id] = None

    def remove(self, tx_ids: Iterable[bytes]) -> None:
        """Drop transactions (committed, or expired)."""
        for tx_id in tx_ids:
            tx = self._txs.pop(tx_id, None)
            if tx is None:
                continue
            sender = tx.body.sender
            self._bytes -= len(tx.raw)
            del self._arrival[tx_id]
            self._in_flight.discard(tx_id)
            left = self._per_sender[sender] - 1
            if left:
                self._per_sender[sender] = left
            else:
                del self._per_sender[sender]
            queue = self._queues.get(sender)
            if queue is not None:
                queue.pop(tx_id, None)
                if not queue:
                    del self._queues[sender]

    def remove_committed(self, txs: Sequence[SignedTx]) -> None:
        self.remove(tx.id for tx in txs)
