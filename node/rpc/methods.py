"""The RPC methods: the method table over the NodeAPI facade (node.rpc.api), the OpenRPC document, dispatch.

No I/O here. node.rpc.server (aiohttp) feeds calls in through :class:`Dispatcher`; the daemon implements
:class:`NodeAPI` and raises :class:`ApiError` for failures a client can act on. The method table
is the single source for dispatch, params validation (msgspec Structs, strict: no coercion) and
the OpenRPC document served by ``rpc_discover``, so the three can't drift apart.

Error codes: -32700..-32603 are JSON-RPC's own (node.rpc.jsonrpc); node errors use the stable codes of
:class:`ErrorCode` (1000-1099); a transaction the ledger refuses carries the ledger's number
(4000-4999, node.ledger.codes). Each application error has a machine-readable ``data.reason``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from node.errors import QueryCursorError, WarrantChainError
from node.kernel.chain import MAX_TX_BYTES, tx_from_envelope
from node.ledger.codes import LedgerError
from node.ledger.keys import document_key
from node.metrics import Metrics
from node.rpc.api import VERSION, ApiError, ErrorCode, Json, NodeAPI, NodeStatus
from node.rpc.jsonrpc import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, Request, RpcError
from node.rpc.schemas import (
    AccountDocumentsParams,
    AddressParams,
    CreditGetParams,
    DescendantsParams,
    DocumentGetParams,
    DocumentIdParams,
    GetBlockParams,
    HoldingsParams,
    NoParams,
    Params,
    ProposalsParams,
    SubscribeParams,
    TxGetParams,
    TxSubmitParams,
    UnsubscribeParams,
    ValidatorSetParams,
    WarrantParams,
    convert_params,
)

__all__ = ["Method", "METHODS", "WS_METHODS", "Dispatcher", "openrpc_document", "event_matches", "page"]

log = logging.getLogger(__name__)

# ---- methods ------------------------------------------------------------------------------------

Handler = Callable[["NodeAPI", Any], Awaitable[Any]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Method:
    name: str
    params: type[Params]
    handler: Handler | None  # None: served per connection by node.rpc.server (subscriptions)
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


async def _warrant_descendants(api: NodeAPI, p: DescendantsParams) -> Json:
    try:
        found = await api.warrant_descendants(p.id, p.after, p.limit)
    except QueryCursorError as exc:
        raise RpcError(INVALID_PARAMS, f"params.after: {exc}", {"field": "params.after"}) from None
    return _found(found, f"warrant {p.id}", "WARRANT_NOT_FOUND")


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


async def _validator_set(api: NodeAPI, p: ValidatorSetParams) -> Json:
    return await api.validator_set(p.height)


async def _validator_history(api: NodeAPI, p: NoParams) -> Json:
    return await api.validator_history()


async def _governance_proposals(api: NodeAPI, p: ProposalsParams) -> Json:
    return await api.governance_proposals(p.status, p.limit)


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
        Method("warrant_descendants", DescendantsParams, _warrant_descendants,
               "A warrant's subtree a page at a time, flat, in warrant_trace's depth-first order; for trees "
               "too deep or large for warrant_trace.",
               '{"warrant", "warrants": [warrant object without history, children as ids], "next": id to pass as '
               '`after`, or null}', _NF, _OBJ),
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
        Method("validator_set", ValidatorSetParams, _validator_set,
               "The validator set that certifies a block height (default: the next block), from the epoch records "
               "governance writes; final=false while a later block could still change it.",
               '{"height", "final", "epoch": {"epoch", "first_height", "validators": [{"name", "pubkey", "address", '
               '"endpoint"}], "previous", "proposal", "approved_height", "hash", "n", "f", "quorum"}, "pending": epoch or null}',
               (ErrorCode.NOT_READY,), _OBJ),
        Method("validator_history", NoParams, _validator_history,
               "Every validator set since genesis (epochs, each chained to the one before by hash).",
               '{"epochs": [epoch as in validator_set, plus "status": "past" / "active" / "pending"]}',
               (ErrorCode.NOT_READY,), _OBJ),
        Method("governance_proposals", ProposalsParams, _governance_proposals,
               "Validator set change proposals of the alliance admins, newest last, optionally by status.",
               '{"required": approvals needed, "proposals": [{"id", "action", "address", "pubkey", "name", "endpoint", '
               '"proposer", "proposed_height", "expires", "approvals", "status", "closed_height", "epoch"}]}',
               (), _OBJ),
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
            self.metrics.rpc_requests[(label, str(code))] += 1
            log.debug("rpc %s -> %s in %.1f ms", label, code, (time.monotonic() - started) * 1000)
