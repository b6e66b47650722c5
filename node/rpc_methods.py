"""The RPC methods: the facade the daemon implements, params schemas, the method table, dispatch.

No I/O here. node.rpc (aiohttp) feeds calls in through :class:`Dispatcher`; the daemon implements
:class:`NodeAPI` and raises :class:`ApiError` for failures a client can act on. The method table
is the single source for dispatch, params validation (msgspec Structs, strict: no coercion) and
the OpenRPC document served by ``rpc_discover``, so the three can't drift apart.

Error codes: -32700..-32603 are JSON-RPC's own (node.jsonrpc); node errors use the stable codes of
:class:`ErrorCode` (1000-1099); a transaction the ledger refuses carries the ledger's number
(4000-4999, node.ledger.errors). Each application error has a machine-readable ``data.reason``.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol, TypeVar

import msgspec

from node.chain import MAX_TX_BYTES, SignedTx, TxEnvelope, tx_from_envelope
from node.errors import WarrantChainError
from node.fmt import explain_validation
from node.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, LIMIT_EXCEEDED, METHOD_NOT_FOUND, Request, RpcError
from node.ledger.errors import LedgerError
from node.ledger.keys import document_key
from node.metrics import Metrics

__all__ = [
    "ErrorCode",
    "ApiError",
    "NodeStatus",
    "NodeAPI",
    "Method",
    "METHODS",
    "WS_METHODS",
    "SubscribeParams",
    "UnsubscribeParams",
    "Dispatcher",
    "convert_params",
    "openrpc_document",
    "event_matches",
]

log = logging.getLogger(__name__)

VERSION = "0.2.0"  # the protocol version (docs/PROTOCOL.md); 0.2.0: documents have parties and confirmation
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


assert ErrorCode.LIMIT_EXCEEDED == LIMIT_EXCEEDED  # node.jsonrpc answers size limits with it
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


# ---- params -------------------------------------------------------------------------------------

Address = Annotated[str, msgspec.Meta(pattern="^wc[0-9a-f]{40}$", description="account address: wc + 40 hex")]
Hash = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="32-byte hash, lowercase hex")]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="identifier as given by the ledger")]
Height = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1, description="index of the first item of the page")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description=f"items per page, at most {MAX_PAGE}")]


class _Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class NoParams(_Params):
    pass


class TxSubmitParams(_Params):
    tx: TxEnvelope
    wait: bool = False
    timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=MAX_WAIT_MS)] = DEFAULT_WAIT_MS


class TxGetParams(_Params):
    id: Hash


class GetBlockParams(_Params):
    height: Height | None = None
    hash: Hash | None = None
    full: bool = False  # whole transactions instead of their ids
    offset: Offset = 0
    limit: Limit = DEFAULT_PAGE

    def __post_init__(self) -> None:
        if (self.height is None) == (self.hash is None):
            raise ValueError("give exactly one of `height` or `hash`")


class WarrantParams(_Params):
    id: Ident


class AddressParams(_Params):
    address: Address


class HoldingsParams(_Params):
    address: Address
    offset: Offset = 0
    limit: Limit = DEFAULT_PAGE


class DocumentGetParams(_Params):
    id: Hash | None = None
    doc_type: Ident | None = None
    number: Ident | None = None
    issuer_reg_id: Ident | None = None
    issuer_reg_kind: Literal["uscc", "lei", "other"] | None = None  # inferred when left out
    offset: Offset = 0  # of the allocations
    limit: Limit = DEFAULT_PAGE

    def __post_init__(self) -> None:
        key = (self.doc_type, self.number, self.issuer_reg_id)
        if self.id is None and None in key:
            raise ValueError("give `id`, or all of `doc_type`, `number` and `issuer_reg_id`")
        if self.id is not None and (key != (None, None, None) or self.issuer_reg_kind is not None):
            raise ValueError("give `id` or the business key (`doc_type`, `number`, `issuer_reg_id`), not both")


class DocumentIdParams(_Params):
    id: Hash


class AccountDocumentsParams(_Params):
    address: Address
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100
    after: Hash | None = None


class CreditGetParams(_Params):
    financier: Address
    core: Address


class SubscribeParams(_Params):
    topic: Literal["blocks", "account", "warrant"]
    address: Address | None = None
    id: Ident | None = None

    def __post_init__(self) -> None:
        if self.topic == "account" and (self.address is None or self.id is not None):
            raise ValueError('topic "account" takes `address` only')
        if self.topic == "warrant" and (self.id is None or self.address is not None):
            raise ValueError('topic "warrant" takes `id` only')
        if self.topic == "blocks" and (self.id is not None or self.address is not None):
            raise ValueError('topic "blocks" takes no other params')


class UnsubscribeParams(_Params):
    subscription: Ident




def convert_params(params: dict[str, Any] | list[Any] | None, kind: type[_Params]) -> Any:
    """Validate params against ``kind``; raise RpcError(-32602) naming the offending field.

    Positional params (an array) are accepted and matched to the fields in documented order.
    """
    if params is None:
        params = {}
    elif isinstance(params, list):
        names = kind.__struct_fields__
        if len(params) > len(names):
            raise RpcError(INVALID_PARAMS, f"params: {len(params)} positional values given; at most {len(names)} ({', '.join(names)})")
        params = dict(zip(names, params))
    try:
        return msgspec.convert(params, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise RpcError(INVALID_PARAMS, *_describe_validation(str(exc))) from None


def _describe_validation(text: str) -> tuple[str, dict[str, str]]:
    """'Expected `int`, got `str` - at `$.amount`' -> 'params.amount: expected a whole number, got text'."""
    field_path, message = explain_validation(text, root="params")
    return message, {"field": field_path}


# ---- methods ------------------------------------------------------------------------------------

Handler = Callable[["NodeAPI", Any], Awaitable[Any]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Method:
    name: str
    params: type[_Params]
    handler: Handler | None  # None: served per connection by node.rpc (subscriptions)
    summary: str
    result: str  # what the result is, for people (docs/RPC.md, OpenRPC)
    errors: tuple[ErrorCode, ...] = ()
    result_schema: dict[str, Any] = field(default_factory=dict)


def _found(value: _T | None, what: str, reason: str) -> _T:
    if value is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"{what} not found", reason=reason)
    return value


async def _tx_submit(api: NodeAPI, p: TxSubmitParams) -> Json:
    try:
        tx = tx_from_envelope(p.tx)
    except WarrantChainError as exc:  # e.g. a float or lone surrogate deep in the payload
        # The canonical encoder names the value's path in the envelope ("at $.body.payload.amount").
        at = re.search(r" at \$((?:\.\w+|\[\d+\])*)", str(exc))
        field_path = "params.tx" + at[1] if at else "params.tx"
        raise RpcError(INVALID_PARAMS, f"{field_path}: {exc}", {"field": field_path}) from None
    if len(tx.raw) > MAX_TX_BYTES:
        raise RpcError(INVALID_PARAMS, f"params.tx: {len(tx.raw)} bytes; the limit is {MAX_TX_BYTES}", {"field": "params.tx"})
    await api.submit_tx(tx)
    if not p.wait:
        return {"id": tx.id_hex, "status": "pending"}
    try:
        return await asyncio.wait_for(api.wait_tx(tx.id_hex), p.timeout_ms / 1000)
    except TimeoutError:
        raise ApiError(
            ErrorCode.TX_TIMEOUT,
            f"transaction {tx.id_hex} was not committed within {p.timeout_ms} ms; it is still pending: poll tx_get",
            reason="TIMEOUT",
            data={"id": tx.id_hex, "status": "pending"},
        ) from None


async def _tx_get(api: NodeAPI, p: TxGetParams) -> Json:
    return _found(await api.get_tx(p.id), f"transaction {p.id}", "TX_NOT_FOUND")


async def _chain_status(api: NodeAPI, p: NoParams) -> Any:
    return msgspec.to_builtins(await api.status())


def page(items: list[_T], offset: int, limit: int) -> tuple[list[_T], int | None]:
    """Items ``offset`` to ``offset + limit`` and the offset of the next page (None: no more)."""
    end = offset + limit
    return items[offset:end], (end if end < len(items) else None)


async def _chain_get_block(api: NodeAPI, p: GetBlockParams) -> Json:
    block = await api.get_block(height=p.height, block_hash=p.hash, full=p.full, offset=p.offset, limit=p.limit)
    what = f"block at height {p.height}" if p.height is not None else f"block {p.hash}"
    return _found(block, what, "BLOCK_NOT_FOUND")


async def _chain_validators(api: NodeAPI, p: NoParams) -> list[Json]:
    return await api.validators()


async def _warrant_get(api: NodeAPI, p: WarrantParams) -> Json:
    return _found(await api.warrant(p.id), f"warrant {p.id}", "WARRANT_NOT_FOUND")


async def _warrant_trace(api: NodeAPI, p: WarrantParams) -> Json:
    return _found(await api.warrant_trace(p.id), f"warrant {p.id}", "WARRANT_NOT_FOUND")


async def _warrant_proof(api: NodeAPI, p: WarrantParams) -> Json:
    return _found(await api.warrant_proof(p.id), f"warrant {p.id}", "WARRANT_NOT_FOUND")


async def _account_get(api: NodeAPI, p: AddressParams) -> Json:
    return _found(await api.account(p.address), f"account {p.address}", "ACCOUNT_NOT_FOUND")


async def _account_holdings(api: NodeAPI, p: HoldingsParams) -> Json:
    holdings = await api.holdings(p.address, offset=p.offset, limit=p.limit)
    return _found(holdings, f"account {p.address}", "ACCOUNT_NOT_FOUND")


async def _document_get(api: NodeAPI, p: DocumentGetParams) -> Json:
    if p.id is not None:
        doc_id, what = p.id, f"document {p.id}"
    else:
        assert p.doc_type is not None and p.number is not None and p.issuer_reg_id is not None
        try:  # the same canonical key the ledger anchored under, whatever the spelling asked
            key = document_key(p.doc_type, p.number, p.issuer_reg_id, p.issuer_reg_kind)
        except LedgerError as exc:
            raise RpcError(INVALID_PARAMS, f"params: {exc.message}", {"field": "params", "reason": exc.code.value}) from None
        doc_id = key.id
        what = f"document {key.describe()} (id {doc_id})"
    document = dict(_found(await api.document(doc_id=doc_id), what, "DOCUMENT_NOT_FOUND"))
    allocations = document.get("allocations", [])
    document["allocations"], document["next_offset"] = page(allocations, p.offset, p.limit)
    document["allocations_count"] = len(allocations)
    return document


async def _document_allocations(api: NodeAPI, p: DocumentIdParams) -> Json:
    return _found(await api.document_allocations(p.id), f"document {p.id}", "DOCUMENT_NOT_FOUND")


async def _account_documents(api: NodeAPI, p: AccountDocumentsParams) -> Json:
    found = await api.account_documents(p.address, p.limit, p.after)
    return _found(found, f"account {p.address}", "ACCOUNT_NOT_FOUND")


async def _credit_get(api: NodeAPI, p: CreditGetParams) -> Json:
    line = await api.credit(financier=p.financier, core=p.core)
    return _found(line, f"credit line of {p.financier} for {p.core}", "CREDIT_NOT_FOUND")


_NF = (ErrorCode.NOT_FOUND,)
_OBJ: dict[str, Any] = {"type": "object"}

METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method(
            "tx_submit",
            TxSubmitParams,
            _tx_submit,
            "Submit a signed transaction; with wait=true, wait until it is committed.",
            '{"id", "status": "pending"}; with wait: {"id", "status": "committed", "height", "index", "result"} '
            "where result is the ledger's outcome (a committed transaction may still have failed)",
            (ErrorCode.TX_REJECTED, ErrorCode.TX_TIMEOUT, ErrorCode.BUSY, ErrorCode.NOT_READY),
            _OBJ,
        ),
        Method("tx_get", TxGetParams, _tx_get, "A transaction's status and, once committed, its place and result.",
               'as tx_submit: {"id", "status", ...}', (ErrorCode.NOT_FOUND, ErrorCode.NOT_READY), _OBJ),
        Method("chain_status", NoParams, _chain_status, "The node's view of the chain head and its own health.",
               "NodeStatus", (), {"$ref": "#/components/schemas/NodeStatus"}),
        Method("chain_getBlock", GetBlockParams, _chain_get_block,
               "A committed block by height or hash; its transactions' ids, or with full=true the transactions, a page at a time.",
               '{"hash", "header", "txs", "tx_count", "next_offset", "certificate"}', _NF, _OBJ),
        Method("chain_validators", NoParams, _chain_validators, "The validator set from genesis, in consensus order.",
               '[{"index", "name", "pubkey", "address"}]', (), {"type": "array", "items": _OBJ}),
        Method("warrant_get", WarrantParams, _warrant_get, "A warrant's current state.", "warrant object", _NF, _OBJ),
        Method("warrant_trace", WarrantParams, _warrant_trace,
               "A warrant's lineage: ancestors to its issuance, descendants, backing documents and history.",
               "trace object", _NF, _OBJ),
        Method("warrant_proof", WarrantParams, _warrant_proof,
               "Everything needed to verify a warrant offline from the genesis file alone.", "proof bundle", _NF, _OBJ),
        Method("account_get", AddressParams, _account_get, "A registered account: role, name, key.", "account object", _NF, _OBJ),
        Method("account_holdings", HoldingsParams, _account_holdings,
               "The live warrants an account holds and is offered, a page at a time, with totals.",
               "holdings object", _NF, _OBJ),
        Method("document_get", DocumentGetParams, _document_get,
               "An anchored trade document by id or by business key (doc_type, number, issuer_reg_id, optional "
               "issuer_reg_kind), in any spelling: the key is canonicalised as the ledger does; its allocations a page at a time.",
               "document object", _NF, _OBJ),
        Method("document_allocations", DocumentIdParams, _document_allocations,
               "The issuances a document backs, how much each, and what is left of them.",
               '{"document", "total", "allocated", "free", "status", "dispute", "allocations": [{"warrant", "amount", '
               '"status", "outstanding"}]}', _NF, _OBJ),
        Method("account_documents", AccountDocumentsParams, _account_documents,
               "Documents naming an account as seller or buyer, in id order, a page at a time.",
               '{"address", "documents": [document object without history], "next": id to pass as `after`, or null}',
               _NF, _OBJ),
        Method("credit_get", CreditGetParams, _credit_get, "The credit line a financier granted a core enterprise.",
               "credit line object", _NF, _OBJ),
        Method("rpc_discover", NoParams, None, "This API as an OpenRPC 1.2 document.", "OpenRPC document", (), _OBJ),
    ]
}

# Only over the WebSocket at /ws, where a connection can receive notifications.
WS_METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("subscribe", SubscribeParams, None,
               "Receive a notification for each new block, or each event concerning an account or a warrant.",
               "subscription id (string)", (ErrorCode.LIMIT_EXCEEDED,), {"type": "string"}),
        Method("unsubscribe", UnsubscribeParams, None, "Stop a subscription.", "true if it existed",
               (), {"type": "boolean"}),
    ]
}

_ALIASES = {"rpc.discover": "rpc_discover"}  # the name OpenRPC tooling asks for


def event_matches(sub: SubscribeParams, event: Mapping[str, Any]) -> bool:
    """Whether a ledger event goes to an account/warrant subscription (its "accounts"/"warrants" lists)."""
    if sub.topic == "account":
        return sub.address in event.get("accounts", ())
    if sub.topic == "warrant":
        return sub.id in event.get("warrants", ())
    return False


# Any call can be refused by the server's limits (docs/OPERATIONS.md 2.8), whatever its method.
_ANY_CALL = (ErrorCode.LIMIT_EXCEEDED, ErrorCode.RATE_LIMITED)


def openrpc_document() -> Json:
    """An OpenRPC 1.2 document generated from the method tables."""
    methods = [*METHODS.values(), *WS_METHODS.values()]
    _, components = msgspec.json.schema_components(
        [NodeStatus, *(m.params for m in methods)], ref_template="#/components/schemas/{name}"
    )

    out = []
    for m in methods:
        schema = components[m.params.__name__]
        required = set(schema.get("required", ()))
        entry: Json = {
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "either",
            "params": [
                {"name": name, "required": name in required, "schema": prop}
                for name, prop in schema.get("properties", {}).items()
            ],
            "result": {"name": "result", "description": m.result, "schema": m.result_schema},
            "errors": [{"code": int(code), "message": code.name} for code in dict.fromkeys((*m.errors, *_ANY_CALL))],
        }
        if m.name in WS_METHODS:
            entry["description"] = "WebSocket (/ws) only."
        out.append(entry)
    for m in methods:  # inlined as params above; keep only the shared types (TxEnvelope, NodeStatus...)
        components.pop(m.params.__name__, None)
    return {
        "openrpc": "1.2.6",
        "info": {"title": "WarrantChain node", "version": VERSION},
        "methods": out,
        "components": {"schemas": components},
    }


# ---- dispatch -----------------------------------------------------------------------------------

Override = Callable[[Any], Awaitable[Any]]


class Dispatcher:
    """Runs one call against the NodeAPI: validates params, maps errors, counts metrics."""

    def __init__(self, api: NodeAPI, metrics: Metrics) -> None:
        self.api = api
        self.metrics = metrics
        self._discover: Json | None = None

    async def call(self, request: Request, overrides: Mapping[str, Override] | None = None) -> Any:
        """Result of ``request``, or raise RpcError. ``overrides`` binds the per-connection methods."""
        name = _ALIASES.get(request.method, request.method)
        method = METHODS.get(name) or (WS_METHODS.get(name) if overrides else None)
        label = name if method else "unknown"  # bounded label set for metrics
        code = 0
        started = time.monotonic()
        try:
            if method is None:
                raise RpcError(METHOD_NOT_FOUND, f"method {request.method[:80]!r} not found; rpc_discover lists them")
            params = convert_params(request.params, method.params)
            if method.handler is not None:
                return await method.handler(self.api, params)
            if name == "rpc_discover":
                if self._discover is None:
                    self._discover = openrpc_document()
                return self._discover
            assert overrides is not None
            return await overrides[name](params)
        except RpcError as error:
            code = error.code
            raise
        except ApiError as error:
            code = error.code
            raise error.to_rpc() from None
        except LedgerError as error:  # the ledger's verdict, e.g. from a stateful mempool check
            code = error.number
            raise RpcError(code, error.message, {"reason": error.code.value}) from None
        except Exception:
            # A bug or an unexpected failure in the node: keep the traceback in our log, give the
            # client only a reference it can quote to the operator.
            code = INTERNAL_ERROR
            ref = secrets.token_hex(4)
            log.exception("internal error in %s (ref %s)", name, ref)
            raise RpcError(INTERNAL_ERROR, f"internal error (ref {ref}); the node operator can find it in the log",
                           {"ref": ref}) from None
        finally:
            self.metrics.rpc_requests.inc(label, str(code))
            log.debug("rpc %s -> %s in %.1f ms", label, code, (time.monotonic() - started) * 1000)
