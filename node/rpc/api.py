"""The facade the RPC serves (NodeAPI, implemented by node.service, faked in tests) and its errors.

Error codes: -32700..-32603 are JSON-RPC's own (node.rpc.jsonrpc); node errors use the stable codes of
:class:`ErrorCode` (1000-1099); a transaction the ledger refuses carries the ledger's number
(4000-4999, node.ledger.codes). Each application error has a machine-readable ``data.reason``.
"""

from __future__ import annotations

import contextvars
import enum
from collections.abc import Mapping
from typing import Any, Protocol

import msgspec

from node.errors import WarrantChainError
from node.kernel.chain import SignedTx
from node.rpc.jsonrpc import LIMIT_EXCEEDED, RpcError

__all__ = ["ErrorCode", "ApiError", "NodeStatus", "NodeAPI", "Json", "VERSION", "DEFAULT_PAGE", "MAX_PAGE",
           "QueryMeter", "current_meter", "metered", "reset_meter"]


VERSION = "0.3.0"  # the protocol version (docs/PROTOCOL.md); 0.3.0: bounded queries and warrant_descendants
DEFAULT_WAIT_MS = 10_000
MAX_WAIT_MS = 120_000
# Paging of lists that grow with the chain (a block's transactions, holdings, allocations).
DEFAULT_PAGE = 1000
MAX_PAGE = 10_000


class ErrorCode(enum.IntEnum):
    """Stable application error codes. Never renumber; add new ones at the end."""

    NOT_FOUND = 1001  # the block/tx/warrant/account/document/credit line does not exist
    TX_REJECTED = 1002  # the node refused the transaction (data.reason says why); not retried as is
    TX_TIMEOUT = 1003  # wait=true and the transaction was not committed in time; it is still pending
    BUSY = 1004  # mempool full or node overloaded: retry later
    NOT_READY = 1005  # node starting or catching up: it can't answer this yet
    LIMIT_EXCEEDED = 1006  # a limit was reached (subscriptions, connections, answer size): data.reason, data.limit
    RATE_LIMITED = 1007  # too many calls from this address: retry after data.retry_after_ms


assert ErrorCode.LIMIT_EXCEEDED == LIMIT_EXCEEDED  # node.rpc.jsonrpc answers size limits with it


class QueryMeter(Protocol):
    """The client's rate as the queries of one request see it (node.rpc.guard.RateMeter)."""

    def allowance(self) -> int:
        """Records the client may read now, with what its rate has left."""
        ...

    def spend(self, reads: int) -> None:
        """Charge ``reads`` records read to the client's rate."""
        ...

    def retry_after_ms(self) -> int:
        """How long until the client's rate is whole again."""
        ...


# Set by the server around each request it dispatches; read by the NodeAPI that reads state, so
# that a query can stop where the client's rate ends (calls of one batch share it).
_METER: contextvars.ContextVar[QueryMeter | None] = contextvars.ContextVar("rpc_query_meter", default=None)


def metered(meter: QueryMeter) -> contextvars.Token[QueryMeter | None]:
    """Meter the queries dispatched from here on in this context; undo with :func:`reset_meter`."""
    return _METER.set(meter)


def reset_meter(token: contextvars.Token[QueryMeter | None]) -> None:
    _METER.reset(token)


def current_meter() -> QueryMeter | None:
    """The meter of the request being served, or None outside one (tests, in-process callers)."""
    return _METER.get()


_NODE_CODES = frozenset(int(code) for code in ErrorCode)


class ApiError(WarrantChainError):
    """A failure the client can act on, raised by a NodeAPI implementation.

    ``reason`` is an UPPER_SNAKE identifier clients may branch on (e.g. ``WARRANT_FROZEN``,
    ``BAD_SIGNATURE``); it goes to ``error.data.reason`` with any extra ``data``. ``code`` is an
    ErrorCode, or a ledger number (4000-4999) when passing on the ledger's verdict; a LedgerError
    raised by the facade is passed on the same way without wrapping.
    """

    def __init__(self, code: ErrorCode | int, message: str, *, reason: str | None = None, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        if not (code in _NODE_CODES or 4000 <= code <= 4999):
            raise ValueError(f"application error code {code} is neither an ErrorCode nor a ledger number")
        self.code = int(code)
        self.message = message
        self.reason = reason
        self.data = dict(data or {})

    def to_rpc(self) -> RpcError:
        data = dict(self.data)
        if self.reason is not None:
            data["reason"] = self.reason
        return RpcError(self.code, self.message, data or None)


class NodeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What ``chain_status`` and ``GET /health`` report."""

    chain_id: str
    height: int
    block_hash: str
    state_root: str
    view: int
    validators: int
    peers: int
    mempool_size: int
    in_sync: bool
    ready: bool = True  # False while it takes no submissions (halted, not linked to a quorum, catching up): /health answers 503
    role: str = "validator"  # or "observer": follows the chain without voting (view is then 0)


Json = dict[str, Any]


class NodeAPI(Protocol):
    """What the RPC server needs from the node. Implemented by the daemon, faked in tests.

    Every method returns JSON-ready values (dict/list/str/int/bool/None). Lookups return None when
    the thing does not exist; the RPC layer turns that into NOT_FOUND. Raise ApiError for other
    failures a client can act on; any other exception is logged and answered as "internal error".
    """

    async def status(self) -> NodeStatus: ...

    async def submit_tx(self, tx: SignedTx) -> None:
        """Verify (signature, chain id, expiry, size) and add to the mempool, then gossip it.

        Raise ApiError(TX_REJECTED, reason=...) or ApiError(BUSY). Resubmitting a transaction that
        is already pending or committed should return normally, so that clients can retry.
        """
        ...

    async def wait_tx(self, tx_id: str) -> Json:
        """Wait until the transaction is committed (or return at once if it is); return as get_tx.

        The RPC layer bounds the wait and cancels it on timeout.
        """
        ...

    async def get_tx(self, tx_id: str) -> Json | None:
        """``{"id", "status": "pending"}`` or ``{"id", "status": "committed", "height", "index", "result"}``."""
        ...

    async def get_block(
        self, *, height: int | None = None, block_hash: str | None = None, full: bool = False,
        offset: int = 0, limit: int = DEFAULT_PAGE,
    ) -> Json | None:
        """The block by height or by hash (exactly one is given), with its hash and certificate.

        ``txs`` holds the transactions ``offset`` to ``offset + limit`` of the block: their ids, or
        the transactions themselves when ``full``; ``tx_count`` is the block's total and
        ``next_offset`` where the next page starts (None after the last).
        """
        ...

    async def validators(self) -> list[Json]: ...

    async def warrant(self, warrant_id: str) -> Json | None: ...

    async def warrant_trace(self, warrant_id: str) -> Json | None: ...

    async def warrant_proof(self, warrant_id: str) -> Json | None: ...

    async def warrant_descendants(self, warrant_id: str, after: str | None, limit: int) -> Json | None:
        """None if the warrant does not exist; raises QueryCursorError if ``after`` is not in its subtree."""
        ...

    async def account(self, address: str) -> Json | None: ...

    async def holdings(self, address: str, *, offset: int = 0, limit: int = DEFAULT_PAGE) -> Json | None:
        """``held`` and ``incoming`` each from ``offset``, at most ``limit``; totals and counts over all."""
        ...

    async def document(self, *, doc_id: str) -> Json | None:
        """By id; the RPC layer derives the id from a business key (node.ledger.keys.document_key)."""
        ...

    async def document_allocations(self, doc_id: str) -> Json | None: ...

    async def account_documents(self, address: str, limit: int, after: str | None) -> Json | None:
        """None if the account does not exist."""
        ...

    async def credit(self, *, financier: str, core: str) -> Json | None: ...

    async def validator_set(self, height: int | None) -> Json:
        """The epoch in force at ``height`` (None: the next block's) with ``final`` and ``pending``
        (node.ledger.epochs.validator_set_query)."""
        ...

    async def validator_history(self) -> Json:
        """``{"epochs": [...]}``, epoch 0 first, each with its ``status``."""
        ...

    async def governance_proposals(self, status: str | None, limit: int) -> Json:
        """``{"proposals": [...], "required": approvals needed}``, newest last."""
        ...
