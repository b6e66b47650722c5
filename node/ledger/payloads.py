"""Transaction types and their payload schemas: stateless checks the mempool can run.

Every type maps to a msgspec Struct in :data:`PAYLOADS`; :func:`check_payload` validates a
transaction's plain ``payload`` dict against it strictly (no coercion, no unknown fields) and
raises :class:`LedgerError` with ``UNKNOWN_TX_TYPE``, ``AMOUNT_OUT_OF_RANGE`` (an amount <= 0 or
> 2^63-1), ``INVALID_PAYLOAD`` (any other field; the message names it), or for an anchoring
``INVALID_BUSINESS_KEY`` / ``INVALID_REG_ID`` (a key part that can't be canonicalised).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from node.errors import CryptoError, EncodingError
from node.kernel import codec, crypto
from node.ledger.codes import Code, LedgerError
from node.ledger.keys import BusinessKey, document_key

__all__ = ["PAYLOADS", "Amount", "address_of_key", "business_key", "check_payload", "check_validator_change"]

Amount = Annotated[int, Meta(gt=0, le=codec.INT64_MAX)]
Limit = Annotated[int, Meta(ge=0, le=codec.INT64_MAX)]
Time = Annotated[int, Meta(ge=0, le=codec.INT64_MAX)]
Address = Annotated[str, Meta(pattern="^wc[0-9a-f]{40}$")]
WarrantId = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
Hex32 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$")]
Role = Literal["core", "supplier", "financier", "regulator"]
Name = Annotated[str, Meta(min_length=1, max_length=128)]
Text = Annotated[str, Meta(min_length=1, max_length=256)]
Bps = Annotated[int, Meta(ge=0, le=10_000)]


class _Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class RegisterAccount(_Payload, frozen=True):
    address: Address
    role: Role
    name: Name


class SetRole(_Payload, frozen=True):
    address: Address
    role: Role


class SetCreditLine(_Payload, frozen=True):
    core: Address
    currency: Currency
    limit: Limit


DocType = Literal["invoice", "contract", "delivery_note", "warehouse_receipt"]
RegKind = Literal["uscc", "lei", "other"]


class AnchorDocument(_Payload, frozen=True):
    """Number and registration id are canonicalised (node.ledger.keys) before anything is hashed."""

    doc_type: DocType
    number: Name
    issuer_reg_id: Name  # the document issuer's business registration id
    issuer_reg_kind: RegKind  # uscc: check character verified; lei: MOD 97-10; other: text rule
    hash: Hex32  # SHA-256 of the file
    total: Amount
    currency: Currency
    seller: Address  # the creditor (a supplier)
    buyer: Address  # the debtor (a core enterprise), who confirms the document


class DocumentRef(_Payload, frozen=True):
    doc: Hex32


class DocumentReason(_Payload, frozen=True):
    doc: Hex32
    reason: Text


class DocAllocation(_Payload, frozen=True):
    doc: Hex32
    amount: Amount


class Issue(_Payload, frozen=True):
    to: Address
    amount: Amount
    currency: Currency
    maturity: Time
    credit_line: Address  # the financier whose line this issuance uses
    documents: Annotated[list[DocAllocation], Meta(min_length=1, max_length=32)]
    offer_expires: Time


class WarrantRef(_Payload, frozen=True):
    warrant: WarrantId


class Transfer(_Payload, frozen=True):
    warrant: WarrantId
    to: Address
    amount: Amount
    offer_expires: Time


class Split(_Payload, frozen=True):
    warrant: WarrantId
    amounts: Annotated[list[Amount], Meta(min_length=2, max_length=64)]


class RequestFinancing(_Payload, frozen=True):
    warrant: WarrantId
    financier: Address
    mode: Literal["transfer", "pledge"]
    discount_bps: Bps
    advance: Amount
    recourse: bool


class Settle(_Payload, frozen=True):
    warrant: WarrantId
    amount: Amount | None = None  # None: everything outstanding


class Freeze(_Payload, frozen=True):
    warrant: WarrantId
    reason: Text


PubKey = Annotated[str, Meta(pattern="^0[23][0-9a-f]{64}$")]
# host:port (a DNS name, IPv4, or [IPv6]) where the mesh reaches a validator
Endpoint = Annotated[str, Meta(pattern=r"^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$")]


class ProposeValidatorChange(_Payload, frozen=True):
    """add: ``address``, ``pubkey`` (whose address it is), ``name``, optional ``endpoint``; remove:
    ``address`` alone; rotate: ``address`` (the current one), ``pubkey`` (the new key), optional
    ``name`` and ``endpoint``. ``expires``: block time by which the quorum must be reached."""

    action: Literal["add", "remove", "rotate"]
    address: Address
    expires: Time
    pubkey: PubKey | None = None
    name: Name | None = None
    endpoint: Endpoint | None = None


class ApproveValidatorChange(_Payload, frozen=True):
    proposal: Hex32  # the proposing transaction's id


PAYLOADS: dict[str, type[_Payload]] = {
    "register_account": RegisterAccount,
    "set_role": SetRole,
    "set_credit_line": SetCreditLine,
    "anchor_document": AnchorDocument,
    "confirm_document": DocumentRef,
    "dispute_document": DocumentReason,
    "undispute_document": DocumentReason,
    "issue": Issue,
    "accept": WarrantRef,
    "reject": WarrantRef,
    "transfer": Transfer,
    "split": Split,
    "request_financing": RequestFinancing,
    "approve_financing": WarrantRef,
    "reject_financing": WarrantRef,
    "release_pledge": WarrantRef,
    "settle": Settle,
    "mark_overdue": WarrantRef,
    "freeze": Freeze,
    "unfreeze": Freeze,
    "propose_validator_change": ProposeValidatorChange,
    "approve_validator_change": ApproveValidatorChange,
}

_AMOUNT_FIELDS = ("amount", "total", "advance", "limit")
_AMOUNT_PATH = re.compile(r"(?:^|[.\s])(?:" + "|".join(_AMOUNT_FIELDS) + r")s?(?:\[\d+\])?:")  # "amounts[0]:"


def check_payload(tx_type: str, payload: Any) -> Any:
    """The typed payload of a ``tx_type`` transaction, or LedgerError saying what is wrong."""
    kind = PAYLOADS.get(tx_type)
    if kind is None:
        raise LedgerError(
            Code.UNKNOWN_TX_TYPE, f"unknown transaction type {tx_type[:40]!r}; known types: {', '.join(PAYLOADS)}"
        )
    try:
        typed = codec.convert(payload, kind)
    except EncodingError as exc:
        text = str(exc)
        if ("whole number at least" in text or "whole number at most" in text) and _AMOUNT_PATH.search(text):
            raise LedgerError(
                Code.AMOUNT_OUT_OF_RANGE,
                f"{tx_type}: amounts are whole numbers of minor units (fen) from 1 (0 for a limit) to 2^63-1 ({text})",
            ) from None
        raise LedgerError(Code.INVALID_PAYLOAD, f"{tx_type}: {text}") from None
    if isinstance(typed, AnchorDocument):
        business_key(typed)  # a key that can't be canonicalised is refused before the mempool
    elif isinstance(typed, ProposeValidatorChange):
        check_validator_change(typed)
    return typed


def address_of_key(pubkey: str) -> str:
    """The address of a compressed P-256 key (hex), or LedgerError if it is not a curve point."""
    try:
        return crypto.address_of(bytes.fromhex(pubkey))
    except CryptoError as exc:
        raise LedgerError(Code.INVALID_PAYLOAD, f"pubkey {pubkey[:16]}…: {exc}") from None


def check_validator_change(p: ProposeValidatorChange) -> None:
    """The fields each action needs and allows, and that an added validator's key is its address."""
    needed = {"add": ("pubkey", "name"), "remove": (), "rotate": ("pubkey",)}[p.action]
    allowed = {"add": ("pubkey", "name", "endpoint"), "remove": (), "rotate": ("pubkey", "name", "endpoint")}[p.action]
    for name in ("pubkey", "name", "endpoint"):
        present = getattr(p, name) is not None
        if name in needed and not present:
            raise LedgerError(Code.INVALID_PAYLOAD, f"propose_validator_change: action {p.action!r} needs {name!r}")
        if present and name not in allowed:
            raise LedgerError(Code.INVALID_PAYLOAD, f"propose_validator_change: action {p.action!r} takes no {name!r}")
    if p.pubkey is not None:
        derived = address_of_key(p.pubkey)
        if p.action == "add" and derived != p.address:
            raise LedgerError(Code.VALIDATOR_KEY_MISMATCH, f"pubkey {p.pubkey[:16]}… has address {derived}, not {p.address}")


def business_key(p: AnchorDocument) -> BusinessKey:
    """The canonical business key of an anchoring (LedgerError if a part can't be canonicalised)."""
    return document_key(p.doc_type, p.number, p.issuer_reg_id, p.issuer_reg_kind)
