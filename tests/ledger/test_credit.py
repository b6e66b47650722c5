"""set_credit_line by a financier for a core enterprise; outstanding issued never exceeds it."""

from __future__ import annotations

import pytest

from node.ledger import queries
from tests.ledger.world import CNY, World


@pytest.fixture
def w() -> World:
    return World()


def line(w: World) -> dict:
    found = queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))
    assert found is not None
    return found


def test_set_and_query(w: World) -> None:
    w.credit(limit=1_000)
    found = line(w)
    assert (found["limit"], found["used"], found["available"], found["currency"]) == (1_000, 0, 1_000, CNY)
    assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank2")) is None


def test_only_a_financier_sets_it(w: World) -> None:
    w.fails("WRONG_ROLE", "core", "set_credit_line", core=w.addr("core"), currency=CNY, limit=5)


def test_only_for_a_core_enterprise(w: World) -> None:
    w.fails("WRONG_ROLE", "bank", "set_credit_line", core=w.addr("sup1"), currency=CNY, limit=5)


def test_unknown_core(w: World) -> None:
    w.fails("UNKNOWN_ACCOUNT", "bank", "set_credit_line", core="wc" + "00" * 20, currency=CNY, limit=5)


def test_negative_limit(w: World) -> None:
    w.fails("AMOUNT_OUT_OF_RANGE", "bank", "set_credit_line", core=w.addr("core"), currency=CNY, limit=-1)


def test_usage_and_exceeded(w: World) -> None:
    w.credit(limit=1_000)
    w.issue(amount=700)
    assert line(w)["used"] == 700 and line(w)["available"] == 300
    w.fails("CREDIT_LINE_EXCEEDED", "core", "issue", **w.issue_payload(amount=301))
    w.issue(amount=300)
    assert line(w)["available"] == 0


def test_limit_below_used(w: World) -> None:
    w.credit(limit=1_000)
    w.issue(amount=700)
    w.fails("CREDIT_LIMIT_BELOW_USED", "bank", "set_credit_line", core=w.addr("core"), currency=CNY, limit=699)
    w.ok("bank", "set_credit_line", core=w.addr("core"), currency=CNY, limit=700)
    assert line(w)["used"] == 700


def test_currency_is_fixed(w: World) -> None:
    w.credit(limit=1_000)
    w.fails("CURRENCY_MISMATCH", "bank", "set_credit_line", core=w.addr("core"), currency="USD", limit=5)


def test_issue_without_a_line(w: World) -> None:
    w.fails("UNKNOWN_CREDIT_LINE", "core", "issue", **w.issue_payload(bank="bank2"))


def test_issue_in_another_currency(w: World) -> None:
    w.credit()
    doc = w.anchor(currency="USD", number="USD-1", total=100)
    w.fails("CURRENCY_MISMATCH", "core", "issue", **w.issue_payload(amount=100, doc=doc, currency="USD"))
