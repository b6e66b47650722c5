"""The mempool: admitted transactions waiting for a block, and the cache of verified signatures.

Admission decodes, checks size, chain id, expiry, payload schema and signature, and refuses
duplicates and transactions already committed. Every transaction's signature is verified once
per node: the result is remembered (by id and signature), so validating a proposed block that
holds transactions this node already admitted costs no second verification.

Transactions stay here until a committed block includes them. The primary ``take``s a batch and
marks it in flight; if the view changes before that block commits, ``release_in_flight`` makes
them available to the next proposal, so nothing a failed view left behind is lost.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from node.chain import SignedTx, decode_tx
from node.errors import ChainError, WarrantChainError

__all__ = ["MempoolError", "Mempool", "VerifiedCache"]

_RELAY_HEADROOM = 2


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
        cache: VerifiedCache | None = None,
    ) -> None:
        self.chain_id = chain_id
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self.max_ttl_ms = max_ttl_ms
        self._is_committed = is_committed
        self._check_payload = check_payload
        self.cache = cache or VerifiedCache()
        self._txs: dict[bytes, SignedTx] = {}
        self._in_flight: set[bytes] = set()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

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
            raise MempoolError("TX_EXPIRED", f"transaction expired at {body.expires} (now {now_ms})")
        if body.expires - now_ms > self.max_ttl_ms:
            raise MempoolError(
                "TX_TTL_TOO_LONG", f"expires lies more than {self.max_ttl_ms} ms ahead; choose an earlier expiry"
            )
        try:
            self._check_payload(body.type, body.payload)
        except WarrantChainError as exc:
            raise MempoolError(getattr(exc, "code", "INVALID_PAYLOAD"), str(exc)) from None
        if self._is_committed(tx.id):
            raise MempoolError("TX_ALREADY_COMMITTED", f"transaction {tx.id_hex} is already committed (replay)")
        headroom = _RELAY_HEADROOM if relayed else 1
        if len(self._txs) >= self.max_txs * headroom or self._bytes + len(tx.raw) > self.max_bytes * headroom:
            raise MempoolError("MEMPOOL_FULL", "mempool is full; retry after the next blocks commit")
        try:
            self.cache.check(tx)
        except ChainError as exc:
            raise MempoolError("BAD_SIGNATURE", str(exc)) from None
        self._txs[tx.id] = tx
        self._bytes += len(tx.raw)
        return tx, True

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
        """Up to ``max_txs`` / ``max_bytes`` of the oldest transactions not in flight; marks them in flight."""
        batch: list[SignedTx] = []
        size = 0
        expired: list[bytes] = []
        for tx_id, tx in self._txs.items():
            if tx_id in self._in_flight:
                continue
            if tx.body.expires < now_ms:
                expired.append(tx_id)
                continue
            if len(batch) >= max_txs or size + len(tx.raw) > max_bytes:
                break
            batch.append(tx)
            size += len(tx.raw)
        self.remove(expired)
        self._in_flight.update(tx.id for tx in batch)
        return batch

    def pending(self) -> int:
        """How many transactions wait for a proposal (not in flight)."""
        return len(self._txs) - len(self._in_flight)

    def release_in_flight(self) -> None:
        """After a view change: what was proposed but not committed may be proposed again."""
        self._in_flight.clear()

    def remove(self, tx_ids: Iterable[bytes]) -> None:
        """Drop transactions (committed, or expired)."""
        for tx_id in tx_ids:
            tx = self._txs.pop(tx_id, None)
            if tx is not None:
                self._bytes -= len(tx.raw)
                self._in_flight.discard(tx_id)

    def remove_committed(self, txs: Sequence[SignedTx]) -> None:
        self.remove(tx.id for tx in txs)
