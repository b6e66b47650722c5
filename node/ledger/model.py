"""Ledger records (msgspec Structs, stored as canonical JSON) and the state key layout.

State keys (the store adds its own ``s`` prefix):

=================================  ===========================================================
``chain``                          ChainConfig: chain id, genesis time
``admin/`` + address               alliance admin named in genesis (value ``1``)
``acct/`` + address                Account
``doc/`` + document id             Document (id = hex SHA-256 of its canonical business key)
``dochash/`` + file hash           index: the document anchored with that file (value: its id)
``pdoc/`` + address + ``/`` + id   index: documents naming the address as a party (value empty)
``dh/`` + id + ``/`` + height(8) + n(4)  DocEntry of the document beyond the HISTORY_INLINE in its record
``dal/`` + id + ``/`` + time(8) + wid  an allocation of the document to issuance ``wid`` (value: amount)
``cl/`` + core + ``/`` + financier CreditLine
``w/`` + warrant id                Warrant, as dump_warrant stores it (defaults, inherited fields left out)
``hold/`` + address + ``/`` + id   index: warrants whose holder is the address (value empty)
``in/`` + address + ``/`` + id     index: offers pending for the address (value empty)
``exp/`` + time(8) + id            index: pending offers by expiry time (block-start expiry)
``due/`` + time(8) + root id       index: issuances by maturity + grace (automatic overdue)
``tx/`` + tx id (32 bytes)         height of the block that included the tx (replay guard)
``wh/`` + id + ``/`` + height(8) + n(4)  HistoryEntry of the warrant beyond the HISTORY_INLINE in its record
``~acc``                           state-root accumulator (outside the root)
=================================  ===========================================================

Times are block times in milliseconds; ``time(8)`` is 8-byte big-endian so the index sorts by time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from node.errors import StoreError
from node.kernel import codec
from node.ledger.state import StateReaderLike

T = TypeVar("T")

__all__ = [
    "CONFIRMED",
    "HISTORY_INLINE",
    "KEY_CHAIN",
    "LIVE",
    "TERMINAL",
    "UNCONFIRMED",
    "Account",
    "Allocation",
    "ChainConfig",
    "CreditLine",
    "DocEntry",
    "Dispute",
    "Document",
    "Financing",
    "Freeze",
    "HistoryEntry",
    "Warrant",
    "INHERITED",
    "dump",
    "dump_warrant",
    "allocation_prefix",
    "allocations_of",
    "key_account",
    "key_allocation",
    "key_admin",
    "key_credit",
    "doc_history_prefix",
    "key_doc_hash",
    "key_document",
    "key_party_doc",
    "key_due",
    "key_expiry",
    "key_history",
    "key_hold",
    "key_incoming",
    "key_tx",
    "key_warrant",
    "history_of",
    "history_prefix",
    "load",
    "load_warrant",
    "iter_walk",
    "walk",
    "warrant_fields",
    "warrant_id",
]

# Warrant statuses. Live warrants carry value; terminal ones never change again.
PENDING, ACTIVE, OVERDUE = "pending", "active", "overdue"
CONSUMED, SETTLED, REJECTED = "consumed", "settled", "rejected"
LIVE = frozenset({PENDING, ACTIVE, OVERDUE})
TERMINAL = frozenset({CONSUMED, SETTLED, REJECTED})


class ChainConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    genesis_time_ms: int


class Account(msgspec.Struct, forbid_unknown_fields=True):
    address: str
    name: str
    role: str
    registered_height: int
    registered_by: str  # admin address, or "genesis"


class Allocation(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An amount of a document's total allocated to a warrant (or, on a warrant, from a document)."""

    ref: str  # the warrant id (on a document) or the document id (on a warrant)
    amount: int


# Document statuses: anchored by the creditor, a document waits for its debtor's confirmation.
UNCONFIRMED, CONFIRMED = "unconfirmed", "confirmed"


class Dispute(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by: str
    reason: str
    tx: str
    height: int


class DocEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One step in a document's life: anchor, confirm, dispute, undispute."""

    tx: str
    height: int
    time: int
    type: str
    by: str
    reason: str | None = None


class Document(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    doc_type: str
    number: str  # canonical (node.ledger.keys)
    issuer_reg_id: str  # canonical for its kind
    issuer_reg_kind: str
    hash: str
    total: int
    currency: str
    seller: str  # the creditor: the supplier the document entitles to payment
    buyer: str  # the debtor: the core enterprise that owes it, and confirms it
    status: str  # unconfirmed / confirmed
    allocated: int
    anchored_by: str
    anchored_tx: str
    anchored_height: int
    # Its allocations are not in the record but under allocation_prefix(id): a document can back
    # any number of issuances, and every issue would otherwise rewrite (and hash twice into the
    # state root) the whole list (docs/LEDGER.md, section 5).
    dispute: Dispute | None = None
    history: list[DocEntry] = []  # the first HISTORY_INLINE entries; the rest under doc_history_prefix(id)


class CreditLine(msgspec.Struct, forbid_unknown_fields=True):
    core: str
    financier: str
    currency: str
    limit: int
    used: int
    set_tx: str
    set_height: int


class HistoryEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tx: str  # hex tx id; "" for block-start housekeeping
    height: int
    time: int
    type: str
    frm: str | None = msgspec.field(default=None, name="from")
    to: str | None = None
    amount: int = 0


class Financing(msgspec.Struct, forbid_unknown_fields=True):
    request_tx: str
    financier: str
    mode: str  # "transfer" (factoring) or "pledge"
    principal: int
    discount_bps: int
    advance: int
    recourse: bool
    status: str  # requested, approved (transfer mode, done), pledged, released, rejected
    applicant: str


class Freeze(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by: str
    reason: str
    tx: str
    height: int


# History entries a warrant or document record holds; later ones each get a key of their own
# (``wh/``, ``dh/``). A warrant lives through a handful of steps (issue, accept, transfer; a
# financing, a settlement), a document through anchor, confirm and perhaps a dispute, so the
# record holds them all in practice; but a holder and a financier trading request / reject, or a
# buyer disputing and undisputing a document it has not confirmed, could otherwise grow it without
# end, and every later rewrite (and its two state-root elements) would carry the whole list
# (docs/LEDGER.md, section 5).
HISTORY_INLINE = 8


# What a descendant inherits from its issuance and never changes, with the value that leaves it
# out of a record. Only the issuance's record stores them: a descendant's record leaves them out
# and load_warrant fills them in, so the two or three records a transfer writes are ~230 bytes
# shorter each (docs/LEDGER.md, section 5).
_BLANK: dict[str, Any] = {"issuer": "", "payee": "", "credit_line": "", "currency": "", "issued_at": 0, "maturity": 0}
INHERITED = tuple(_BLANK)


class Warrant(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """A warrant. Stored as canonical JSON without the fields at their defaults (an empty list,
    null) and, for a descendant, without the INHERITED fields: read it with :func:`load_warrant`,
    write it with :func:`dump_warrant`, show it with :func:`warrant_fields`."""

    id: str
    root: str  # the issuance this warrant descends from (itself for an issuance)
    parent: str | None
    issuer: str = ""
    payee: str = ""  # original payee of the issuance
    credit_line: str = ""  # financier whose credit line the issuance used
    holder: str
    pending_to: str | None
    amount: int
    paid: int
    currency: str = ""
    issued_at: int = 0
    maturity: int = 0
    status: str
    offer_expires: int | None = None
    documents: list[Allocation] = []  # on the issuance only; descendants trace to it via root
    children: list[str] = []
    financing: Financing | None = None
    frozen: Freeze | None = None
    history: list[HistoryEntry] = []  # the first HISTORY_INLINE entries; the rest under history_prefix(id)

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid


class _Terms(msgspec.Struct):
    """The INHERITED fields of an issuance's record (decoding skips the rest)."""

    issuer: str
    payee: str
    credit_line: str
    currency: str
    issued_at: int
    maturity: int


# An issuance's terms by its id. Safe to share between blocks, overlays and stores: an issuance's
# id is the hash of the transaction that made it, whose payload fixes its terms, and they never
# change; so this is a memo of a pure function, not state.
_terms: dict[str, _Terms] = {}
_TERMS_CACHED = 4096


def load_warrant(get: Any, raw: bytes) -> Warrant:
    """A warrant from its stored record, the INHERITED fields of a descendant read from its
    issuance's record (``get`` is any state ``get``)."""
    warrant: Warrant = load(raw, Warrant)
    if warrant.parent is not None:
        terms = _terms.get(warrant.root)
        if terms is None:
            root_raw = get(key_warrant(warrant.root))
            if root_raw is None:
                raise StoreError(f"warrant {warrant.id} descends from {warrant.root}, which is not in state")
            terms = load(root_raw, _Terms)
            if len(_terms) >= _TERMS_CACHED:
                _terms.clear()
            _terms[warrant.root] = terms
        warrant.issuer, warrant.payee, warrant.credit_line = terms.issuer, terms.payee, terms.credit_line
        warrant.currency, warrant.issued_at, warrant.maturity = terms.currency, terms.issued_at, terms.maturity
    return warrant


def dump_warrant(warrant: Warrant) -> bytes:
    """The stored record of ``warrant`` (a descendant's without the INHERITED fields)."""
    if warrant.parent is None:
        return dump(warrant)
    # The keywords written out, not **_BLANK: ~0.15 us less per record, and a transfer writes three
    # on every node. tests/ledger/test_records.py checks that a descendant's record has none of INHERITED.
    return dump(msgspec.structs.replace(warrant, issuer="", payee="", credit_line="", currency="", issued_at=0,
                                        maturity=0))


def warrant_fields(warrant: Warrant) -> dict[str, Any]:
    """Every field of ``warrant`` as JSON-ready values, those at their defaults included (the
    query shapes, docs/LEDGER.md section 9)."""
    return {name: msgspec.to_builtins(getattr(warrant, name)) for name in Warrant.__struct_fields__}


def warrant_id(tx_id: bytes, index: int) -> str:
    """Id of the ``index``-th warrant created by a transaction: hex SHA-256 (64 digits).

    Full length on purpose: tx ids can be ground for free (the nonce), so a shorter id would let
    someone find two transactions whose warrants collide at the birthday bound."""
    return hashlib.sha256(tx_id + index.to_bytes(2, "big")).hexdigest()


def load(data: bytes, kind: type[Any]) -> Any:
    return codec.decode(data, kind)


dump = codec.encode

KEY_CHAIN = b"chain"


def key_account(address: str) -> bytes:
    return b"acct/" + address.encode()


def key_admin(address: str) -> bytes:
    return b"admin/" + address.encode()


def key_document(doc_id: str) -> bytes:
    return b"doc/" + doc_id.encode()


def key_doc_hash(file_hash: str) -> bytes:
    return b"dochash/" + file_hash.encode()


def key_party_doc(address: str, doc_id: str) -> bytes:
    return b"pdoc/" + address.encode() + b"/" + doc_id.encode()


def key_credit(core: str, financier: str) -> bytes:
    return b"cl/" + core.encode() + b"/" + financier.encode()


def key_warrant(wid: str) -> bytes:
    return b"w/" + wid.encode()


def key_hold(address: str, wid: str) -> bytes:
    return b"hold/" + address.encode() + b"/" + wid.encode()


def key_incoming(address: str, wid: str) -> bytes:
    return b"in/" + address.encode() + b"/" + wid.encode()


def key_expiry(time_ms: int, wid: str) -> bytes:
    return b"exp/" + time_ms.to_bytes(8, "big") + wid.encode()


def key_due(time_ms: int, root: str) -> bytes:
    return b"due/" + time_ms.to_bytes(8, "big") + root.encode()


def history_prefix(wid: str) -> bytes:
    """Where a warrant's history entries beyond its record's are, in the order they happened."""
    return b"wh/" + wid.encode() + b"/"


def allocation_prefix(doc_id: str) -> bytes:
    """Where a document's allocations are, by the issuance's block time, then its id."""
    return b"dal/" + doc_id.encode() + b"/"


def key_allocation(doc_id: str, issued_at: int, wid: str) -> bytes:
    """The allocation of document ``doc_id`` to the issuance ``wid`` made at block time ``issued_at``."""
    return allocation_prefix(doc_id) + issued_at.to_bytes(8, "big") + wid.encode()


def allocations_of(reader: StateReaderLike, doc_id: str) -> list[Allocation]:
    """A document's allocations (``ref``: the issuance), in order of issue time, then of id."""
    prefix = allocation_prefix(doc_id)
    cut = len(prefix) + 8  # the issue time
    return [Allocation(ref=key[cut:].decode(), amount=int(value)) for key, value in reader.scan(prefix)]


def doc_history_prefix(doc_id: str) -> bytes:
    """Where a document's history entries beyond its record's are, in the order they happened."""
    return b"dh/" + doc_id.encode() + b"/"


def key_history(prefix: bytes, height: int, serial: int) -> bytes:
    """A history entry under ``prefix`` (:func:`history_prefix`, :func:`doc_history_prefix`) in
    block ``height``; ``serial`` orders it within the block (node.ledger.state.Overlay.serial)."""
    return prefix + height.to_bytes(8, "big") + serial.to_bytes(4, "big")


def history_of(
    reader: StateReaderLike, inline: list[T], prefix: bytes, kind: type[T], limit: int | None = None
) -> tuple[list[T], bool]:
    """(the first ``limit`` (all if None) entries of a history, oldest first; whether there are
    more): ``inline``, a record's own list, then those under ``prefix`` once the record is full."""
    entries = list(inline if limit is None else inline[:limit])
    if len(inline) < HISTORY_INLINE:
        return entries, limit is not None and len(inline) > limit
    for _, raw in reader.scan(prefix):
        if limit is not None and len(entries) >= limit:
            return entries, True
        entries.append(load(raw, kind))
    return entries, False


def key_tx(tx_id: bytes) -> bytes:
    return b"tx/" + tx_id


def walk(get: Any, wid: str) -> list[Warrant]:
    """``wid`` and all its descendants, depth first in children order (``get`` is any state ``get``).

    A list, read in full before the caller changes anything: execution writes while it goes."""
    return list(iter_walk(get, wid))


def iter_walk(get: Any, wid: str) -> Iterator[Warrant]:
    """:func:`walk` one warrant at a time, for a reader that may stop early (a query's budget)."""
    stack = [wid]
    while stack:
        raw = get(key_warrant(stack.pop()))
        if raw is None:
            continue
        warrant = load_warrant(get, raw)
        yield warrant
        stack.extend(reversed(warrant.children))
