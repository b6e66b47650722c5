"""request_financing by the holder; approve / reject by the named financier; release_pledge."""

from __future__ import annotations

from typing import Any

import pytest

from node.ledger import queries
from tests.ledger.world import DAY, World


@pytest.fixture
def w() -> World:
    return World()


def ask(w: World, wid: str, mode: str = "transfer", who: str = "sup1", bank: str = "bank", **extra: Any) -> dict:
    payload = {"warrant": wid, "financier": w.addr(bank), "mode": mode, "discount_bps": 350, "advance": 900,
               "recourse": True}
    payload.update(extra)
    return payload


def test_factoring(w: World) -> None:
    wid = w.issue(amount=1_000)
    events = w.ok("sup1", "request_financing", **ask(w, wid))
    assert events == [{"type": "financing_requested", "warrant": wid, "financier": w.addr("bank"),
                       "mode": "transfer", "advance": 900, "accounts": sorted([w.addr("sup1"), w.addr("bank")]),
                       "warrants": [wid]}]
    record = w.warrant(wid)["financing"]
    assert record == {"request_tx": w.warrant(wid)["history"][-1]["tx"], "financier": w.addr("bank"),
                      "mode": "transfer", "principal": 1_000, "discount_bps": 350, "advance": 900,
                      "recourse": True, "status": "requested", "applicant": w.addr("sup1")}
    events = w.ok("bank", "approve_financing", warrant=wid)
    assert events[0]["holder"] == w.addr("bank") and events[0]["mode"] == "transfer"
    found = w.warrant(wid)
    assert found["holder"] == w.addr("bank") and found["financing"]["status"] == "approved"
    assert [h["type"] for h in found["history"]][-2:] == ["financing_request", "financing_transfer"]
    assert [x["id"] for x in queries.holdings(w.reader, w.addr("bank"))["held"]] == [wid]
    assert queries.holdings(w.reader, w.addr("sup1"))["held"] == []
    w.transfer("bank", wid, "sup2", 100)  # the financier now holds and may move it


def test_pledge_and_release(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.ok("sup1", "request_financing", **ask(w, wid, mode="pledge"))
    w.ok("bank", "approve_financing", warrant=wid)
    found = w.warrant(wid)
    assert found["holder"] == w.addr("sup1") and found["financing"]["status"] == "pledged"
    w.fails("WARRANT_PLEDGED", "sup1", "request_financing", **ask(w, wid, bank="bank2"))
    w.ok("bank", "release_pledge", warrant=wid)
    assert w.warrant(wid)["financing"]["status"] == "released"
    w.transfer("sup1", wid, "sup2", 100)


def test_reject(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.ok("sup1", "request_financing", **ask(w, wid))
    assert w.ok("bank", "reject_financing", warrant=wid) == [
        {"type": "financing_rejected", "warrant": wid, "financier": w.addr("bank"),
         "accounts": sorted([w.addr("sup1"), w.addr("bank")]), "warrants": [wid]}]
    assert w.warrant(wid)["financing"]["status"] == "rejected"
    w.ok("sup1", "request_financing", **ask(w, wid, bank="bank2"))  # may ask another


def test_request_by_non_holder(w: World) -> None:
    wid = w.issue()
    w.fails("NOT_HOLDER", "sup2", "request_financing", **ask(w, wid))


def test_request_by_unregistered(w: World) -> None:
    wid = w.issue()
    w.fails("UNKNOWN_SENDER", "stranger", "request_financing", **ask(w, wid))


def test_request_from_a_non_financier(w: World) -> None:
    wid = w.issue()
    w.fails("WRONG_ROLE", "sup1", "request_financing", **ask(w, wid, bank="sup2"))


def test_request_from_unknown_financier(w: World) -> None:
    wid = w.issue()
    payload = ask(w, wid)
    payload["financier"] = "wc" + "00" * 20
    w.fails("UNKNOWN_ACCOUNT", "sup1", "request_financing", **payload)


def test_request_from_oneself(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.ok("bank", "approve_financing", warrant=wid)
    w.fails("SELF_TRANSFER", "bank", "request_financing", **ask(w, wid))


def test_advance_over_amount(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("ADVANCE_EXCEEDS_AMOUNT", "sup1", "request_financing", **ask(w, wid, advance=1_001))


def test_advance_zero(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "request_financing", **ask(w, wid, advance=0))


def test_discount_over_100_percent(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("INVALID_PAYLOAD", "sup1", "request_financing", **ask(w, wid, discount_bps=10_001))


def test_unknown_mode(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("INVALID_PAYLOAD", "sup1", "request_financing", **ask(w, wid, mode="lease"))


def test_request_twice(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.fails("FINANCING_PENDING", "sup1", "request_financing", **ask(w, wid, bank="bank2"))


def test_request_frozen(w: World) -> None:
    wid = w.issue()
    w.ok("reg", "freeze", warrant=wid, reason="fraud check")
    w.fails("WARRANT_FROZEN", "sup1", "request_financing", **ask(w, wid))


def test_request_consumed(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.split("sup1", wid, 500, 500)
    w.fails("WARRANT_TERMINAL", "sup1", "request_financing", **ask(w, wid))


def test_request_matured(w: World) -> None:
    wid = w.issue(maturity=w.time + DAY)
    w.advance(DAY)
    w.fails("WARRANT_MATURED", "sup1", "request_financing", **ask(w, wid))


def test_approve_by_another_financier(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.fails("NOT_FINANCIER", "bank2", "approve_financing", warrant=wid)
    w.fails("NOT_FINANCIER", "bank2", "reject_financing", warrant=wid)


def test_approve_by_a_non_financier(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.fails("WRONG_ROLE", "sup1", "approve_financing", warrant=wid)


def test_approve_without_request(w: World) -> None:
    wid = w.issue()
    w.fails("NO_FINANCING_REQUEST", "bank", "approve_financing", warrant=wid)
    w.fails("NO_FINANCING_REQUEST", "bank", "reject_financing", warrant=wid)


def test_approve_twice(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid, mode="pledge"))
    w.ok("bank", "approve_financing", warrant=wid)
    w.fails("NO_FINANCING_REQUEST", "bank", "approve_financing", warrant=wid)


def test_approve_frozen(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.ok("reg", "freeze", warrant=wid, reason="fraud check")
    w.fails("WARRANT_FROZEN", "bank", "approve_financing", warrant=wid)
    w.ok("bank", "reject_financing", warrant=wid)  # refusing is always possible


def test_approve_matured(w: World) -> None:
    wid = w.issue(maturity=w.time + DAY)
    w.ok("sup1", "request_financing", **ask(w, wid))
    w.advance(DAY)
    w.fails("WARRANT_MATURED", "bank", "approve_financing", warrant=wid)


def test_release_not_pledged(w: World) -> None:
    wid = w.issue()
    w.fails("NOT_PLEDGED", "bank", "release_pledge", warrant=wid)
    w.ok("sup1", "request_financing", **ask(w, wid, mode="pledge"))
    w.fails("NOT_PLEDGED", "bank", "release_pledge", warrant=wid)


def test_release_by_another_financier(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", **ask(w, wid, mode="pledge"))
    w.ok("bank", "approve_financing", warrant=wid)
    w.fails("NOT_FINANCIER", "bank2", "release_pledge", warrant=wid)
    w.fails("WRONG_ROLE", "sup1", "release_pledge", warrant=wid)
