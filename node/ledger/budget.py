"""The bound on one query's work: a state reader that counts what a query reads.

Every read-only RPC query runs on the node's event loop, between consensus messages, and some
follow the data wherever it leads (a warrant's whole tree, an account's every holding, a proof's
every transaction). :class:`ReadBudget` stands in for the committed state reader and counts one
unit per record read (a ``get``, or a key a ``scan`` yields); past its limit the query stops with
:class:`~node.errors.QueryTooLarge`, which the RPC answers as ``LIMIT_EXCEEDED`` /
``QUERY_TOO_LARGE``. Other work a query does in proportion to what it reads (a block's
transactions decoded for a proof) is charged with :meth:`ReadBudget.charge`.
"""

from __future__ import annotations

from collections.abc import Iterator

from node.errors import QueryTooLarge
from node.ledger.state import StateReaderLike

__all__ = ["ReadBudget"]


class ReadBudget:
    """A StateReaderLike over ``reader`` that allows ``limit`` units of reading, then raises."""

    __slots__ = ("reader", "limit", "used", "what")

    def __init__(self, reader: StateReaderLike, limit: int, what: str = "this query") -> None:
        self.reader = reader
        self.limit = limit
        self.used = 0
        self.what = what  # names the call in the refusal: "warrant_trace of 9f2c…"

    def charge(self, units: int = 1) -> None:
        self.used += units
        if self.used > self.limit:
            raise QueryTooLarge(
                f"{self.what} reads more than {self.limit:,} records, the most one call may (max_query_reads); "
                "ask for less (a smaller page, a single warrant) or ask the node's operator",
                self.limit,
            )

    def get(self, key: bytes) -> bytes | None:
        self.charge()
        return self.reader.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for item in self.reader.scan(prefix):
            self.charge()
            yield item
