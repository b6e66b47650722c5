"""anchor_document: unique business key, total > 0; allocations never exceed the total."""

from __future__ import annotations

import pytest

from node.ledger import queries
from node.ledger.model import document_id
from tests.ledger.world import CNY, World


@pytest.fixture
def w() -> World:
    return World()


def anchor(w: World, who: str = "sup1", number: str = "INV-7", **extra: object) -> dict:
    payload = {"doc_type": "invoice", "number": number, "issuer_reg_id": "91310000X", "hash": "ab" * 32,
               "total": 500, "currency": CNY}
    payload.update(extra)
    return w.do(who, "anchor_document", **payload)


def test_anchor(w: World) -> None:
    result = anchor(w)
    doc_id = document_id("invoice", "INV-7", "91310000X")
    assert result["events"] == [{"type": "document_anchored", "document": doc_id, "total": 500, "currency": CNY,
                                  "accounts": [w.addr("sup1")], "warrants": []}]
    doc = queries.get_document(w.reader, doc_id)
    assert doc is not None
    assert doc["total"] == 500 and doc["allocated"] == 0 and doc["allocations"] == []
    assert doc["anchored_by"] == w.addr("sup1") and doc["hash"] == "ab" * 32


def test_same_business_key_with_another_file_is_refused(w: World) -> None:
    anchor(w)
    w.fails("DOCUMENT_EXISTS", "sup2", "anchor_document", doc_type="invoice", number="INV-7",
            issuer_reg_id="91310000X", hash="cd" * 32, total=500, currency=CNY)


def test_other_number_is_another_document(w: World) -> None:
    anchor(w)
    assert anchor(w, number="INV-8")["ok"]


def test_total_zero(w: World) -> None:
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "anchor_document", doc_type="invoice", number="1",
            issuer_reg_id="x", hash="ab" * 32, total=0, currency=CNY)


def test_bad_hash(w: World) -> None:
    w.fails("INVALID_PAYLOAD", "sup1", "anchor_document", doc_type="invoice", number="1",
            issuer_reg_id="x", hash="AB" * 32, total=5, currency=CNY)


def test_unregistered_sender(w: World) -> None:
    w.fails("UNKNOWN_SENDER", "stranger", "anchor_document", doc_type="invoice", number="1",
            issuer_reg_id="x", hash="ab" * 32, total=5, currency=CNY)


def test_allocation_recorded_and_limited(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000)
    wid = w.issue(amount=600, doc=doc)
    found = queries.get_document(w.reader, doc)
    assert found is not None and found["allocated"] == 600
    assert found["allocations"] == [{"ref": wid, "amount": 600}]
    assert w.warrant(wid)["documents"] == [{"ref": doc, "amount": 600}]
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **w.issue_payload(amount=401, doc=doc))
    w.issue(amount=400, doc=doc)
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **w.issue_payload(amount=1, doc=doc))
