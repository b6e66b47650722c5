"""Trade documents: anchored by a party under their canonical business key, confirmed by their
debtor (确权), disputed by the regulator, and allocated to issuances.

Life of a document (docs/LEDGER.md, "Documents")::

    anchor by the seller ──> unconfirmed ──confirm (buyer)──> confirmed ──> backs issuances
    anchor by the buyer  ──────────────────────────────────> confirmed
    any time: dispute (regulator; or the buyer while unconfirmed) ──> disputed: backs nothing new
              undispute (regulator; or the buyer withdrawing its own) ──> as before

The rules that stop one invoice backing two financings: one canonical business key is one
document (node.ledger.keys), one file hash is one document, only a party anchors, and an issuance
allocates only from a confirmed, undisputed document whose debtor is the issuer and whose
creditor is the payee.
"""

from __future__ import annotations

from collections.abc import Sequence

from node import fmt
from node.ledger import model, payloads
from node.ledger.codes import Code
from node.ledger.context import Exec
from node.ledger.model import Allocation, Dispute, DocEntry, Document
from node.ledger.rules import append_entry, fail, require_account, require_sender

__all__ = [
    "allocate",
    "handle_anchor_document",
    "handle_confirm_document",
    "handle_dispute_document",
    "handle_undispute_document",
    "load_document",
    "release",
]


def _entry(ex: Exec, kind: str, reason: str | None = None) -> DocEntry:
    return DocEntry(tx=ex.tx_hex, height=ex.height, time=ex.time, type=kind, by=ex.sender, reason=reason)


def _record(ex: Exec, doc: Document, kind: str, reason: str | None = None) -> None:
    """Append a history entry for this transaction to ``doc`` (caller saves it)."""
    append_entry(ex.state, ex.height, doc.history, model.doc_history_prefix, doc.id, _entry(ex, kind, reason))


def _save(ex: Exec, doc: Document) -> None:
    ex.state.put(model.key_document(doc.id), model.dump(doc))


def handle_anchor_document(ex: Exec, p: payloads.AnchorDocument) -> None:
    require_sender(ex)
    if ex.sender not in (p.seller, p.buyer):
        raise fail(
            Code.NOT_DOCUMENT_PARTY,
            f"sender {ex.sender} is neither the seller {p.seller} nor the buyer {p.buyer}; only a party to a "
            "document anchors it",
        )
    if p.seller == p.buyer:
        raise fail(Code.INVALID_PAYLOAD, "anchor_document: seller and buyer must be two different accounts")
    require_account(ex.state, p.seller, "supplier", what="seller")
    require_account(ex.state, p.buyer, "core", what="buyer")
    key = payloads.business_key(p)
    doc_id = key.id
    if ex.state.get(model.key_document(doc_id)) is not None:
        raise fail(
            Code.DOCUMENT_EXISTS,
            f"{key.describe()} (as given: {p.number!r}, {p.issuer_reg_id!r}) is already anchored as document "
            f"{doc_id}; a document can be anchored once, whatever its spelling or file",
        )
    other = ex.state.get(model.key_doc_hash(p.hash))
    if other is not None:
        raise fail(
            Code.DOCUMENT_HASH_EXISTS,
            f"a file with hash {p.hash} already backs document {other.decode()}; one file is one document",
        )
    status = model.CONFIRMED if ex.sender == p.buyer else model.UNCONFIRMED
    doc = Document(
        id=doc_id, doc_type=key.doc_type, number=key.number, issuer_reg_id=key.issuer_reg_id,
        issuer_reg_kind=key.issuer_reg_kind, hash=p.hash, total=p.total, currency=p.currency, seller=p.seller,
        buyer=p.buyer, status=status, allocated=0, anchored_by=ex.sender, anchored_tx=ex.tx_hex,
        anchored_height=ex.height, history=[_entry(ex, "anchor")],
    )
    _save(ex, doc)
    ex.state.put(model.key_doc_hash(p.hash), doc_id.encode())
    ex.state.put(model.key_party_doc(p.seller, doc_id), b"")
    ex.state.put(model.key_party_doc(p.buyer, doc_id), b"")
    ex.emit("document_anchored", accounts=[p.seller, p.buyer], warrants=(), document=doc_id, total=p.total,
            currency=p.currency, seller=p.seller, buyer=p.buyer, status=status)


def load_document(ex: Exec, doc_id: str) -> Document:
    raw = ex.state.get(model.key_document(doc_id))
    if raw is None:
        raise fail(Code.UNKNOWN_DOCUMENT, f"no document anchored with id {doc_id}; anchor it first")
    return model.load(raw, Document)  # type: ignore[no-any-return]


def _backing(ex: Exec, doc: Document) -> list[str]:
    """The issuances ``doc`` backs, those allocated earlier in this block included."""
    if doc.allocated == 0:
        # Nothing to list, and no pass over the block's writes (Overlay.scan): a buyer disputing
        # and undisputing its own unconfirmed document, which backs nothing, would otherwise make
        # every validator do that pass for each of its transactions.
        return []
    return [allocation.ref for allocation in model.allocations_of(ex.state, doc.id)]


def _require_undisputed(doc: Document) -> None:
    if doc.dispute is not None:
        raise fail(
            Code.DOCUMENT_DISPUTED,
            f"document {doc.id} is disputed by {doc.dispute.by} ({doc.dispute.reason}); it backs nothing until undisputed",
        )


def handle_confirm_document(ex: Exec, p: payloads.DocumentRef) -> None:
    require_sender(ex)
    doc = load_document(ex, p.doc)
    if ex.sender != doc.buyer:
        raise fail(Code.NOT_DOCUMENT_PARTY, f"document {doc.id} is confirmed by its debtor, the buyer {doc.buyer}; not by {ex.sender}")
    _require_undisputed(doc)
    if doc.status == model.CONFIRMED:
        raise fail(Code.DOCUMENT_CONFIRMED, f"document {doc.id} is already confirmed")
    doc.status = model.CONFIRMED
    _record(ex, doc, "confirm")
    _save(ex, doc)
    ex.emit("document_confirmed", accounts=[doc.buyer, doc.seller], warrants=(), document=doc.id,
            buyer=doc.buyer, seller=doc.seller)


def handle_dispute_document(ex: Exec, p: payloads.DocumentReason) -> None:
    account = require_sender(ex)
    doc = load_document(ex, p.doc)
    if account.role != "regulator":
        if ex.sender != doc.buyer:
            raise fail(
                Code.NOT_DOCUMENT_PARTY,
                f"document {doc.id} can be disputed by a regulator or, before confirming it, its buyer {doc.buyer}",
            )
        if doc.status == model.CONFIRMED:
            raise fail(
                Code.DOCUMENT_CONFIRMED,
                f"the buyer confirmed document {doc.id}; financiers rely on that, so only a regulator can dispute it now",
            )
    _require_undisputed(doc)
    doc.dispute = Dispute(by=ex.sender, reason=p.reason, tx=ex.tx_hex, height=ex.height)
    _record(ex, doc, "dispute", p.reason)
    _save(ex, doc)
    backing = _backing(ex, doc)
    ex.emit("document_disputed", accounts=[doc.buyer, doc.seller], warrants=backing, document=doc.id, by=ex.sender,
            reason=p.reason, backing=backing)


def handle_undispute_document(ex: Exec, p: payloads.DocumentReason) -> None:
    account = require_sender(ex)
    doc = load_document(ex, p.doc)
    if doc.dispute is None:
        raise fail(Code.DOCUMENT_NOT_DISPUTED, f"document {doc.id} is not disputed")
    if account.role != "regulator" and ex.sender != doc.dispute.by:
        raise fail(
            Code.NOT_DOCUMENT_PARTY,
            f"document {doc.id} was disputed by {doc.dispute.by}; a regulator or that account can lift the dispute",
        )
    doc.dispute = None
    _record(ex, doc, "undispute", p.reason)
    _save(ex, doc)
    ex.emit("document_undisputed", accounts=[doc.buyer, doc.seller], warrants=_backing(ex, doc), document=doc.id,
            by=ex.sender, reason=p.reason)


def allocate(
    ex: Exec, warrant_id: str, issuer: str, payee: str, currency: str, parts: Sequence[payloads.DocAllocation]
) -> list[Allocation]:
    """Allocate ``parts`` of documents to a new issuance by ``issuer`` to ``payee``: each document
    is the issuer's debt to the payee, confirmed, undisputed, and its total still covers the part."""
    seen: set[str] = set()
    out: list[Allocation] = []
    for part in parts:
        if part.doc in seen:
            raise fail(Code.INVALID_PAYLOAD, f"document {part.doc} is listed twice; give one allocation per document")
        seen.add(part.doc)
        doc = load_document(ex, part.doc)
        if doc.buyer != issuer or doc.seller != payee:
            raise fail(
                Code.DOCUMENT_PARTY_MISMATCH,
                f"document {doc.id} is owed by {doc.buyer} to {doc.seller}; it backs only an issuance by its "
                f"debtor to its creditor, not by {issuer} to {payee}",
            )
        _require_undisputed(doc)
        if doc.status != model.CONFIRMED:
            raise fail(
                Code.DOCUMENT_UNCONFIRMED,
                f"document {doc.id} awaits its debtor's confirmation; the buyer {doc.buyer} must confirm_document first",
            )
        if doc.currency != currency:
            raise fail(Code.CURRENCY_MISMATCH, f"document {doc.id} is in {doc.currency}, the warrant in {currency}")
        free = doc.total - doc.allocated
        if part.amount > free:
            raise fail(
                Code.DOCUMENT_OVER_ALLOCATED,
                f"document {doc.id} has {fmt.amount(free, doc.currency)} of {fmt.amount(doc.total, doc.currency)} "
                f"left to allocate; {fmt.amount(part.amount, doc.currency)} asked",
            )
        doc.allocated += part.amount
        _save(ex, doc)
        # A key of its own, not a list in the record: the record stays the same size however many
        # issuances the document backs. The warrant id is new (it embeds this tx's id).
        ex.state.put_new(model.key_allocation(doc.id, ex.time, warrant_id), str(part.amount).encode())
        out.append(Allocation(ref=doc.id, amount=part.amount))
    return out


def release(ex: Exec, warrant_id: str, issued_at: int, allocations: Sequence[Allocation]) -> None:
    """Give back a rejected issuance's allocations (``allocations``: its ``documents``, issued at
    block time ``issued_at``) to their documents."""
    for allocation in allocations:
        doc = load_document(ex, allocation.ref)
        doc.allocated -= allocation.amount
        _save(ex, doc)
        ex.state.delete(model.key_allocation(doc.id, issued_at, warrant_id))
