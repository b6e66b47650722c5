"""Trade documents anchored by business key, and the allocation of their totals to issuances."""

from __future__ import annotations

from collections.abc import Sequence

from node import fmt
from node.ledger import model, payloads
from node.ledger.context import Exec
from node.ledger.errors import Code
from node.ledger.model import Allocation, Document
from node.ledger.rules import fail, require_sender

__all__ = ["allocate", "handle_anchor_document", "load_document", "release"]


def handle_anchor_document(ex: Exec, p: payloads.AnchorDocument) -> None:
    require_sender(ex)
    doc_id = model.document_id(p.doc_type, p.number, p.issuer_reg_id)
    key = model.key_document(doc_id)
    if ex.state.get(key) is not None:
        raise fail(
            Code.DOCUMENT_EXISTS,
            f"{p.doc_type} {p.number!r} of {p.issuer_reg_id!r} is already anchored as document {doc_id}; "
            "a document can be anchored once, whatever its file",
        )
    doc = Document(
        id=doc_id, doc_type=p.doc_type, number=p.number, issuer_reg_id=p.issuer_reg_id, hash=p.hash,
        total=p.total, currency=p.currency, allocated=0, anchored_by=ex.sender, anchored_tx=ex.tx_hex,
        anchored_height=ex.height,
    )
    ex.state.put(key, model.dump(doc))
    ex.emit("document_anchored", accounts=(), warrants=(), document=doc_id, total=p.total, currency=p.currency)


def load_document(ex: Exec, doc_id: str) -> Document:
    raw = ex.state.get(model.key_document(doc_id))
    if raw is None:
        raise fail(Code.UNKNOWN_DOCUMENT, f"no document anchored with id {doc_id}; anchor it first")
    return model.load(raw, Document)  # type: ignore[no-any-return]


def allocate(ex: Exec, warrant_id: str, currency: str, parts: Sequence[payloads.DocAllocation]) -> list[Allocation]:
    """Allocate ``parts`` of documents to a new issuance; every total must still cover them."""
    seen: set[str] = set()
    out: list[Allocation] = []
    for part in parts:
        if part.doc in seen:
            raise fail(Code.INVALID_PAYLOAD, f"document {part.doc} is listed twice; give one allocation per document")
        seen.add(part.doc)
        doc = load_document(ex, part.doc)
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
        doc.allocations.append(Allocation(ref=warrant_id, amount=part.amount))
        ex.state.put(model.key_document(doc.id), model.dump(doc))
        out.append(Allocation(ref=doc.id, amount=part.amount))
    return out


def release(ex: Exec, warrant_id: str, allocations: Sequence[Allocation]) -> None:
    """Give back a rejected issuance's allocations to their documents."""
    for allocation in allocations:
        doc = load_document(ex, allocation.ref)
        doc.allocated -= allocation.amount
        doc.allocations = [a for a in doc.allocations if a.ref != warrant_id]
        ex.state.put(model.key_document(doc.id), model.dump(doc))
