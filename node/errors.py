"""The node's error types: one per layer, each carrying a message a person can act on.

Every public function in the kernel raises a subclass of :class:`WarrantChainError` for bad input,
never a third-party library's exception, so the RPC and p2p boundaries can map them to a stable
JSON-RPC code or a refused peer.
"""

from __future__ import annotations

__all__ = [
    "WarrantChainError",
    "CryptoError",
    "EncodingError",
    "ChainError",
    "StoreError",
    "QueryTooLarge",
    "QueryCursorError",
]


class WarrantChainError(Exception):
    """Base of every error this project raises on purpose."""


class CryptoError(WarrantChainError):
    """A key, signature or address is malformed or does not verify."""


class EncodingError(WarrantChainError):
    """A value cannot be canonically encoded, or bytes do not decode to the expected schema."""


class ChainError(WarrantChainError):
    """A transaction, block, certificate or Merkle proof is malformed or invalid."""


class StoreError(WarrantChainError):
    """The LevelDB store cannot be opened, belongs to another chain, or holds inconsistent data."""


class QueryTooLarge(WarrantChainError):
    """A read-only query would read more records than one call may (``[rpc] max_query_reads``), or
    its answer would nest deeper than JSON can carry."""

    def __init__(self, message: str, limit: int, reason: str = "QUERY_TOO_LARGE") -> None:
        super().__init__(message)
        self.limit = limit
        self.reason = reason  # QUERY_TOO_LARGE: too many records; TRACE_TOO_DEEP: a lineage nested too deep


class QueryCursorError(WarrantChainError):
    """A paging cursor that does not belong to what is paged (the RPC's invalid params)."""
