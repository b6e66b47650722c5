"""Clients waiting for their transaction's block (``tx_submit`` with ``wait``).

The service registers a future per waiting call and settles it from the node's events: a commit
resolves it with the block, an expiry in the mempool fails it with :class:`TxExpired` (the
transaction left the mempool without a block; it will not commit as it is), and a stop cancels it.
A future that is done for any reason, its caller's timeout included, is forgotten at once, so a
client that gives up leaves nothing behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from node import fmt
from node.app import Committed
from node.errors import WarrantChainError
from node.kernel.chain import SignedTx

__all__ = ["CommitWaiters", "TxExpired"]


class TxExpired(WarrantChainError):
    """The transaction expired in the mempool before a block included it."""

    def __init__(self, tx_id: str, expires: int | None) -> None:
        when = "" if expires is None else f" at {fmt.when(expires)}"
        super().__init__(
            f"transaction {tx_id} expired{when} before a block included it, and this node dropped it: "
            "it will not commit as it is; sign it again with a later expiry"
        )
        self.tx_id = tx_id
        self.expires = expires


class CommitWaiters:
    """Futures of waiting calls, by transaction id."""

    def __init__(self) -> None:
        self._waiting: dict[bytes, list[asyncio.Future[Committed]]] = {}

    def __len__(self) -> int:
        """How many calls wait (for tests and metrics)."""
        return sum(len(futures) for futures in self._waiting.values())

    def wait(self, tx_id: bytes) -> asyncio.Future[Committed]:
        """A future resolved with the block that commits ``tx_id`` (or failed with TxExpired)."""
        future: asyncio.Future[Committed] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tx_id, []).append(future)
        future.add_done_callback(lambda done: self._forget(tx_id, done))
        return future

    def _forget(self, tx_id: bytes, future: asyncio.Future[Committed]) -> None:
        futures = self._waiting.get(tx_id)
        if futures is not None and future in futures:
            futures.remove(future)
            if not futures:
                del self._waiting[tx_id]

    def committed(self, committed: Committed) -> None:
        for tx in committed.block.txs:
            for future in self._waiting.pop(tx.id, ()):
                if not future.done():
                    future.set_result(committed)

    def expired(self, txs: Iterable[SignedTx]) -> None:
        for tx in txs:
            for future in self._waiting.pop(tx.id, ()):
                if not future.done():
                    future.set_exception(TxExpired(tx.id_hex, tx.body.expires))

    def cancel_all(self) -> None:
        """The node stopped: nobody will be answered by a commit here."""
        waiting, self._waiting = self._waiting, {}
        for futures in waiting.values():
            for future in futures:
                future.cancel()
