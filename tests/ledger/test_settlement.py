"""settle by the issuer at or after maturity (whole or partial); overdue, automatic and by hand."""

from __future__ import annotations

import pytest

from node.ledger import Overlay, apply, queries
from tests.ledger.world import DAY, GRACE, World


@pytest.fixture
def w() -> World:
    return World()


def used(w: World) -> int:
    return queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"]  # type: ignore[index,no-any-return]


def tree(w: World) -> tuple[str, str, str, str]:
    """root 1,000 -> sup2 300 (accepted), sup1 keeps 700 which it splits 200 + 500."""
    root = w.issue(amount=1_000, maturity=w.time + 10 * DAY)
    sent, kept = w.transfer("sup1", root, "sup2", 300)
    assert kept is not None
    a, b = w.split("sup1", kept, 200, 500)
    return root, sent, a, b


def test_settle_whole_issuance(w: World) -> None:
    root, sent, a, b = tree(w)
    assert used(w) == 1_000
    w.advance(10 * DAY)
    events = w.ok("core", "settle", warrant=root)
    assert events == [{"type": "warrant_settled", "warrant": root, "amount": 1_000, "payments": [
        {"warrant": sent, "holder": w.addr("sup2"), "amount": 300, "status": "settled"},
        {"warrant": a, "holder": w.addr("sup1"), "amount": 200, "status": "settled"},
        {"warrant": b, "holder": w.addr("sup1"), "amount": 500, "status": "settled"},
    ], "accounts": sorted([w.addr("core"), w.addr("sup1"), w.addr("sup2")]), "warrants": sorted([root, sent, a, b])}]
    assert all(w.status(x) == "settled" and w.warrant(x)["outstanding"] == 0 for x in (sent, a, b))
    assert used(w) == 0
    assert queries.holdings(w.reader, w.addr("sup1"))["held"] == []
    w.fails("NOTHING_TO_SETTLE", "core", "settle", warrant=root)
    w.fails("WARRANT_TERMINAL", "core", "settle", warrant=sent)


def test_settle_partially_in_lineage_order(w: World) -> None:
    root, sent, a, b = tree(w)
    w.advance(10 * DAY)
    events = w.ok("core", "settle", warrant=root, amount=400)
    assert [(p["warrant"], p["amount"], p["status"]) for p in events[0]["payments"]] == [
        (sent, 300, "settled"), (a, 100, "active")]
    assert w.warrant(a)["paid"] == 100 and w.warrant(a)["outstanding"] == 100
    assert used(w) == 600
    w.ok("core", "settle", warrant=b)
    w.ok("core", "settle", warrant=root)
    assert w.status(a) == "settled" and used(w) == 0


def test_settle_one_warrant(w: World) -> None:
    _root, sent, _a, _b = tree(w)
    w.advance(10 * DAY)
    events = w.ok("core", "settle", warrant=sent, amount=100)
    assert events[0]["payments"] == [{"warrant": sent, "holder": w.addr("sup2"), "amount": 100, "status": "active"}]
    history = w.warrant(sent)["history"][-1]
    assert (history["type"], history["from"], history["to"], history["amount"]) == (
        "settle", w.addr("core"), w.addr("sup2"), 100)


def test_settle_pays_the_holder_of_a_pledged_warrant(w: World) -> None:
    root = w.issue(amount=1_000, maturity=w.time + 10 * DAY)
    w.ok("sup1", "request_financing", warrant=root, financier=w.addr("bank"), mode="pledge", discount_bps=100,
         advance=800, recourse=True)
    w.ok("bank", "approve_financing", warrant=root)
    w.advance(10 * DAY)
    payment = w.ok("core", "settle", warrant=root)[0]["payments"][0]
    assert payment["holder"] == w.addr("sup1") and payment["pledgee"] == w.addr("bank")


def test_settle_before_maturity(w: World) -> None:
    root, *_ = tree(w)
    w.advance(10 * DAY - 1)
    w.fails("NOT_MATURED", "core", "settle", warrant=root)


def test_settle_by_another_core(w: World) -> None:
    root, *_ = tree(w)
    w.advance(10 * DAY)
    w.fails("NOT_ISSUER", "core2", "settle", warrant=root)


def test_settle_by_a_supplier(w: World) -> None:
    root, *_ = tree(w)
    w.advance(10 * DAY)
    w.fails("WRONG_ROLE", "sup1", "settle", warrant=root)


def test_settle_unknown(w: World) -> None:
    w.fails("UNKNOWN_WARRANT", "core", "settle", warrant="00" * 32)


def test_settle_more_than_outstanding(w: World) -> None:
    root, sent, _a, _b = tree(w)
    w.advance(10 * DAY)
    w.fails("AMOUNT_EXCEEDS_OUTSTANDING", "core", "settle", warrant=root, amount=1_001)
    w.fails("AMOUNT_EXCEEDS_OUTSTANDING", "core", "settle", warrant=sent, amount=301)


def test_settle_frozen(w: World) -> None:
    root, sent, _a, _b = tree(w)
    w.ok("reg", "freeze", warrant=sent, reason="garnishment")
    w.advance(10 * DAY)
    w.fails("WARRANT_FROZEN", "core", "settle", warrant=sent)
    events = w.ok("core", "settle", warrant=root)  # frozen descendants are skipped
    assert events[0]["amount"] == 700 and w.status(sent) == "active"
    w.fails("NOTHING_TO_SETTLE", "core", "settle", warrant=root)


def test_settle_rejected_issuance(w: World) -> None:
    w.credit()
    wid = w.ok("core", "issue", **w.issue_payload(maturity=w.time + 2 * DAY))[0]["warrant"]
    w.ok("sup1", "reject", warrant=wid)
    w.advance(2 * DAY)
    w.fails("WARRANT_TERMINAL", "core", "settle", warrant=wid)


def test_automatic_overdue(w: World) -> None:
    root, sent, a, b = tree(w)
    w.advance(10 * DAY)
    w.ok("core", "settle", warrant=sent)
    w.advance(GRACE - 1)
    w.block([])
    assert w.status(a) == "active"
    w.advance(1)
    w.block([])
    assert w.status(a) == "overdue" and w.status(b) == "overdue" and w.status(sent) == "settled"
    kinds = [(e["type"], e["warrant"], e["outstanding"]) for e in w.last_outcome.housekeeping]
    assert kinds == [("warrant_overdue", a, 200), ("warrant_overdue", b, 500)]
    assert not any(k.startswith(b"due/") for k in w.reader.data)
    w.fails("WARRANT_NOT_ACTIVE", "sup1", "mark_overdue", warrant=a)
    w.ok("core", "settle", warrant=root)  # overdue warrants can still be paid
    assert w.status(a) == "settled" and w.status(b) == "settled"


def _direct(w: World, who: str, wid: str) -> tuple[bool, str]:
    """mark_overdue through apply() alone, without the block-start pass that would pre-empt it."""
    result = apply(Overlay(w.reader), w.tx(who, "mark_overdue", {"warrant": wid}), w.ctx())
    return result.ok, result.code


def test_mark_overdue_by_hand(w: World) -> None:
    root, _sent, a, _b = tree(w)
    w.advance(10 * DAY + GRACE - 1)
    assert _direct(w, "reg", a) == (False, "NOT_YET_OVERDUE")
    w.advance(1)
    assert _direct(w, "reg", a) == (True, "OK")
    assert _direct(w, "stranger", a) == (False, "UNKNOWN_SENDER")
    assert _direct(w, "reg", root) == (False, "WARRANT_TERMINAL")


def test_mark_overdue_too_early_in_a_block(w: World) -> None:
    _root, sent, _a, _b = tree(w)
    w.fails("NOT_YET_OVERDUE", "sup2", "mark_overdue", warrant=sent)


def test_overdue_cannot_move(w: World) -> None:
    _root, _sent, a, _b = tree(w)
    w.advance(10 * DAY + GRACE)
    w.block([])
    w.fails("WARRANT_NOT_ACTIVE", "sup1", "split", warrant=a, amounts=[100, 100])


def test_a_settled_tree_owes_nothing_anywhere(w: World) -> None:
    root, sent, a, b = tree(w)
    w.advance(10 * DAY)
    w.ok("core", "settle", warrant=root)
    assert w.status(root) == "consumed" and w.warrant(root)["outstanding"] == 0
    lineage = queries.lineage(w.reader, root)
    assert lineage is not None and lineage["outstanding"] == 0
