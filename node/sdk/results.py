"""Typed results of the client SDK's main queries (node.sdk.client.Client), as TypedDicts.

They describe the JSON the node answers (docs/PROTOCOL.md, "RPC methods"): amounts are integers
in minor units (fen), times integers in epoch milliseconds, ids and hashes lowercase hex. At run
time they are plain dicts; a type checker (mypy, pyright) checks the keys a program reads.
Fields a newer node may add are not errors: read them with ``.get``.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "Account", "ChainStatus", "CreditLine", "Document", "Event", "Financing", "Freeze", "HistoryEntry", "Holdings",
    "TxAnswer", "TxOutcome", "Warrant",
]

Event = dict[str, Any]  # {"type", "accounts", "warrants", ...fields of its type} (docs/LEDGER.md)


class ChainStatus(TypedDict):
    chain_id: str
    height: int
    block_hash: str
    state_root: str
    view: int
    validators: int
    peers: int
    mempool_size: int
    in_sync: bool
    ready: bool
    role: str  # "validator" or "observer"


class TxOutcome(TypedDict):
    ok: bool
    code: str  # "OK" or a ledger code (docs/LEDGER.md)
    message: NotRequired[str]  # when refused
    events: NotRequired[list[Event]]  # when ok


class TxAnswer(TypedDict):
    """``tx_submit`` (with wait) and ``tx_get``: where the transaction is and what it did."""

    id: str
    status: str  # "pending" or "committed"
    height: NotRequired[int]
    index: NotRequired[int]
    result: NotRequired[TxOutcome]
    tx: NotRequired[dict[str, Any]]  # the signed envelope as submitted


class HistoryEntry(TypedDict):
    tx: str
    height: int
    time: int
    type: str
    to: str | None


class Financing(TypedDict):
    request_tx: str
    financier: str
    mode: str  # "transfer" (factoring) or "pledge"
    principal: int
    discount_bps: int
    advance: int
    recourse: bool
    status: str  # requested, approved, pledged, rejected, released
    applicant: str


class Freeze(TypedDict):
    by: str
    reason: str
    tx: str
    height: int


class Warrant(TypedDict):
    id: str
    root: str
    parent: str | None
    issuer: str
    payee: str
    credit_line: str
    holder: str
    pending_to: str | None
    amount: int
    paid: int
    currency: str
    issued_at: int
    maturity: int
    status: str  # pending, active, overdue, consumed, settled, rejected
    offer_expires: int | None
    children: list[str]
    financing: Financing | None
    frozen: Freeze | None
    history: list[HistoryEntry]
    outstanding: int


class Account(TypedDict):
    address: str
    name: str
    role: str  # core, supplier, financier, regulator ("admin" for an alliance admin)
    registered_height: int
    registered_by: str


class Holdings(TypedDict):
    address: str
    held: list[Warrant]
    incoming: list[Warrant]
    held_outstanding: int
    incoming_outstanding: int


class Document(TypedDict):
    id: str
    doc_type: str
    number: str
    issuer_reg_id: str
    hash: str
    total: int
    currency: str
    allocated: int


class CreditLine(TypedDict):
    core: str
    financier: str
    currency: str
    limit: int
    used: int
    available: int
