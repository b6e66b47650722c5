"""issue by a core enterprise to a supplier; accept / reject by the payee; issuance offer expiry."""

from __future__ import annotations

import pytest

from node.ledger import Overlay, apply, queries
from tests.ledger.world import CNY, DAY, GRACE, World


@pytest.fixture
def w() -> World:
    w = World()
    w.credit(limit=10_000_000)
    return w


def test_issue_creates_a_pending_offer(w: World) -> None:
    payload = w.issue_payload(amount=1_000_000)
    events = w.ok("core", "issue", **payload)
    wid = events[0]["warrant"]
    assert events == [{"type": "warrant_issued", "warrant": wid, "issuer": w.addr("core"), "to": w.addr("sup1"),
                       "amount": 1_000_000, "currency": CNY, "maturity": payload["maturity"],
                       "accounts": sorted([w.addr("core"), w.addr("sup1")]), "warrants": [wid]}]
    found = w.warrant(wid)
    assert found["status"] == "pending" and found["holder"] == w.addr("core")
    assert found["pending_to"] == w.addr("sup1") and found["offer_expires"] == payload["offer_expires"]
    assert found["root"] == wid and found["parent"] is None and found["payee"] == w.addr("sup1")
    assert found["issued_at"] == w.time and found["paid"] == 0
    assert [h["type"] for h in found["history"]] == ["issue"]
    assert queries.holdings(w.reader, w.addr("sup1"))["incoming"][0]["id"] == wid
    assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"] == 1_000_000  # type: ignore[index]


def test_accept(w: World) -> None:
    wid = w.ok("core", "issue", **w.issue_payload())[0]["warrant"]
    events = w.ok("sup1", "accept", warrant=wid)
    assert events == [{"type": "warrant_accepted", "warrant": wid, "holder": w.addr("sup1"), "amount": 1_000_000,
                       "accounts": sorted([w.addr("core"), w.addr("sup1")]), "warrants": [wid]}]
    found = w.warrant(wid)
    assert found["status"] == "active" and found["holder"] == w.addr("sup1") and found["pending_to"] is None
    held = queries.holdings(w.reader, w.addr("sup1"))
    assert [x["id"] for x in held["held"]] == [wid] and held["incoming"] == []
    assert queries.holdings(w.reader, w.addr("core"))["held"] == []


def test_issue_by_a_supplier(w: World) -> None:
    w.fails("WRONG_ROLE", "sup1", "issue", **w.issue_payload(to="sup2"))


def test_issue_by_an_unregistered_sender(w: World) -> None:
    w.fails("UNKNOWN_SENDER", "stranger", "issue", **w.issue_payload())


def test_issue_to_a_financier(w: World) -> None:
    w.fails("WRONG_ROLE", "core", "issue", **w.issue_payload(to="bank", doc=w.anchor()))


def test_issue_to_an_unknown_payee(w: World) -> None:
    payload = w.issue_payload()
    payload["to"] = "wc" + "00" * 20
    w.fails("UNKNOWN_ACCOUNT", "core", "issue", **payload)


@pytest.mark.parametrize("delta", [0, -1])
def test_maturity_in_the_past(w: World, delta: int) -> None:
    w.fails("MATURITY_IN_PAST", "core", "issue", **w.issue_payload(maturity=w.time + delta))


@pytest.mark.parametrize("when", ["now", "after_maturity"])
def test_offer_expiry_out_of_window(w: World, when: str) -> None:
    payload = w.issue_payload()
    payload["offer_expires"] = w.time if when == "now" else payload["maturity"] + 1
    w.fails("OFFER_EXPIRY_INVALID", "core", "issue", **payload)


def test_allocations_must_equal_the_amount(w: World) -> None:
    doc = w.anchor(total=5_000)
    w.fails("ALLOCATION_MISMATCH", "core", "issue", **w.issue_payload(amount=1_000, documents=[{"doc": doc, "amount": 999}]))


def test_unknown_document(w: World) -> None:
    w.fails("UNKNOWN_DOCUMENT", "core", "issue", **w.issue_payload(doc="ee" * 32))


def test_document_listed_twice(w: World) -> None:
    doc = w.anchor(total=5_000)
    parts = [{"doc": doc, "amount": 500}, {"doc": doc, "amount": 500}]
    w.fails("INVALID_PAYLOAD", "core", "issue", **w.issue_payload(amount=1_000, documents=parts))


def test_document_in_another_currency(w: World) -> None:
    doc = w.anchor(currency="USD", number="U-1", total=1_000)
    w.fails("CURRENCY_MISMATCH", "core", "issue", **w.issue_payload(amount=1_000, doc=doc))


def test_document_fully_allocated(w: World) -> None:
    doc = w.anchor(total=1_000)
    w.issue(amount=1_000, doc=doc)
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **w.issue_payload(amount=1, doc=doc))


def test_several_documents_back_one_issuance(w: World) -> None:
    a, b = w.anchor(number="A", total=300), w.anchor(number="B", total=900)
    wid = w.issue(amount=1_000, documents=[{"doc": a, "amount": 300}, {"doc": b, "amount": 700}])
    assert w.warrant(wid)["documents"] == [{"ref": a, "amount": 300}, {"ref": b, "amount": 700}]


def test_credit_line_exceeded(w: World) -> None:
    w.fails("CREDIT_LINE_EXCEEDED", "core", "issue", **w.issue_payload(amount=10_000_001))


def test_accept_by_someone_else(w: World) -> None:
    wid = w.ok("core", "issue", **w.issue_payload())[0]["warrant"]
    w.fails("NOT_RECIPIENT", "sup2", "accept", warrant=wid)


def test_accept_unknown(w: World) -> None:
    w.fails("UNKNOWN_WARRANT", "sup1", "accept", warrant="00" * 32)


def test_accept_twice(w: World) -> None:
    wid = w.issue()
    w.fails("WARRANT_NOT_PENDING", "sup1", "accept", warrant=wid)


def test_accept_frozen(w: World) -> None:
    wid = w.ok("core", "issue", **w.issue_payload())[0]["warrant"]
    w.ok("reg", "freeze", warrant=wid, reason="court order 12")
    w.fails("WARRANT_FROZEN", "sup1", "accept", warrant=wid)


def test_accept_after_offer_expiry_directly() -> None:
    """apply() alone (no block-start housekeeping) still refuses an expired offer."""
    w = World()
    w.credit()
    payload = w.issue_payload()
    wid = w.ok("core", "issue", **payload)[0]["warrant"]
    w.time = payload["offer_expires"]
    state = Overlay(w.reader)
    result = apply(state, w.tx("sup1", "accept", {"warrant": wid}), w.ctx())
    assert (result.ok, result.code) == (False, "OFFER_EXPIRED")


def test_reject_releases_credit_and_documents(w: World) -> None:
    doc = w.anchor(total=1_000)
    wid = w.ok("core", "issue", **w.issue_payload(amount=1_000, doc=doc))[0]["warrant"]
    events = w.ok("sup1", "reject", warrant=wid)
    assert events == [{"type": "offer_rejected", "warrant": wid, "recipient": w.addr("sup1"),
                       "holder": w.addr("core"), "status": "rejected",
                       "accounts": sorted([w.addr("core"), w.addr("sup1")]), "warrants": [wid]}]
    assert w.status(wid) == "rejected"
    assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"] == 0  # type: ignore[index]
    assert queries.get_document(w.reader, doc)["allocated"] == 0  # type: ignore[index]
    assert queries.holdings(w.reader, w.addr("core")) == {"address": w.addr("core"), "held": [], "incoming": [],
                                                          "held_outstanding": 0, "incoming_outstanding": 0,
                                                          "held_count": 0, "incoming_count": 0, "next_offset": None}
    assert queries.holdings(w.reader, w.addr("sup1"))["incoming"] == []
    w.issue(amount=1_000, doc=doc)  # the document is free again


def test_reject_by_someone_else(w: World) -> None:
    wid = w.ok("core", "issue", **w.issue_payload())[0]["warrant"]
    w.fails("NOT_RECIPIENT", "core", "reject", warrant=wid)


def test_rejected_is_terminal(w: World) -> None:
    wid = w.ok("core", "issue", **w.issue_payload())[0]["warrant"]
    w.ok("sup1", "reject", warrant=wid)
    w.fails("WARRANT_TERMINAL", "sup1", "accept", warrant=wid)
    w.fails("WARRANT_TERMINAL", "sup1", "reject", warrant=wid)
    w.fails("WARRANT_TERMINAL", "reg", "freeze", warrant=wid, reason="late")


def test_issuance_offer_expires_at_block_start(w: World) -> None:
    payload = w.issue_payload()
    wid = w.ok("core", "issue", **payload)[0]["warrant"]
    w.time = payload["offer_expires"] - 1
    w.block([])
    assert w.status(wid) == "pending"
    w.time = payload["offer_expires"]
    w.block([])
    assert w.last_outcome.housekeeping == [{"type": "offer_expired", "warrant": wid, "recipient": w.addr("sup1"),
                                            "holder": w.addr("core"), "status": "rejected",
                                            "accounts": sorted([w.addr("core"), w.addr("sup1")]), "warrants": [wid]}]
    assert w.status(wid) == "rejected"
    assert w.warrant(wid)["history"][-1] | {"time": 0} == {
        "tx": "", "height": w.height, "time": 0, "type": "expire", "from": w.addr("sup1"), "to": w.addr("core"),
        "amount": 1_000_000}
    assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"] == 0  # type: ignore[index]
    assert not any(k.startswith((b"exp/", b"due/")) for k in w.reader.data)
    w.fails("WARRANT_TERMINAL", "sup1", "accept", warrant=wid)


def test_overdue_index_written_at_issue(w: World) -> None:
    payload = w.issue_payload()
    wid = w.ok("core", "issue", **payload)[0]["warrant"]
    due = [k for k in w.reader.data if k.startswith(b"due/")]
    assert due == [b"due/" + (payload["maturity"] + GRACE).to_bytes(8, "big") + wid.encode()]
    assert DAY


def test_an_accept_at_the_offers_expiry_finds_it_already_returned(w: World) -> None:
    """docs/PROTOCOL.md: OFFER_EXPIRED never appears in a block; housekeeping returns the offer first."""
    payload = w.issue_payload()
    wid = w.ok("core", "issue", **payload)[0]["warrant"]
    w.time = payload["offer_expires"]
    w.fails("WARRANT_TERMINAL", "sup1", "accept", warrant=wid)
    held = w.issue(amount=1_000)
    events = w.ok("sup1", "transfer", warrant=held, to=w.addr("sup2"), amount=400, offer_expires=w.time + 10)
    w.time += 10
    w.fails("WARRANT_NOT_PENDING", "sup2", "accept", warrant=events[0]["offered"])
