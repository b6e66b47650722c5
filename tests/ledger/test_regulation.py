"""freeze / unfreeze by a regulator, with the reason recorded."""

from __future__ import annotations

import pytest

from tests.ledger.world import World


@pytest.fixture
def w() -> World:
    return World()


def test_freeze_and_unfreeze(w: World) -> None:
    wid = w.issue()
    assert w.ok("reg", "freeze", warrant=wid, reason="court order 2026-17") == [
        {"type": "warrant_frozen", "warrant": wid, "reason": "court order 2026-17",
         "accounts": sorted([w.addr("reg"), w.addr("sup1")]), "warrants": [wid]}]
    frozen = w.warrant(wid)["frozen"]
    assert frozen["by"] == w.addr("reg") and frozen["reason"] == "court order 2026-17"
    assert frozen["height"] == w.height
    w.ok("reg", "unfreeze", warrant=wid, reason="order lifted")
    found = w.warrant(wid)
    assert found["frozen"] is None
    assert [h["type"] for h in found["history"]][-2:] == ["freeze", "unfreeze"]
    w.transfer("sup1", wid, "sup2", 10)


def test_freeze_by_non_regulator(w: World) -> None:
    wid = w.issue()
    w.fails("WRONG_ROLE", "core", "freeze", warrant=wid, reason="x")


def test_freeze_twice(w: World) -> None:
    wid = w.issue()
    w.ok("reg", "freeze", warrant=wid, reason="x")
    w.fails("WARRANT_FROZEN", "reg", "freeze", warrant=wid, reason="y")


def test_freeze_unknown(w: World) -> None:
    w.fails("UNKNOWN_WARRANT", "reg", "freeze", warrant="00" * 32, reason="x")


def test_freeze_without_reason(w: World) -> None:
    wid = w.issue()
    w.fails("INVALID_PAYLOAD", "reg", "freeze", warrant=wid, reason="")


def test_freeze_consumed(w: World) -> None:
    wid = w.issue(amount=10)
    w.split("sup1", wid, 5, 5)
    w.fails("WARRANT_TERMINAL", "reg", "freeze", warrant=wid, reason="x")


def test_unfreeze_not_frozen(w: World) -> None:
    wid = w.issue()
    w.fails("WARRANT_NOT_FROZEN", "reg", "unfreeze", warrant=wid, reason="x")


def test_unfreeze_by_non_regulator(w: World) -> None:
    wid = w.issue()
    w.ok("reg", "freeze", warrant=wid, reason="x")
    w.fails("WRONG_ROLE", "sup1", "unfreeze", warrant=wid, reason="x")


@pytest.mark.parametrize("kind", ["issuance", "transfer child"])
def test_frozen_offer_does_not_expire_and_expires_at_the_next_block_after_unfreeze(w: World, kind: str) -> None:
    """Finding 4 of issue 11: a frozen pending issuance used to be rejected by expiry (credit and
    documents released) and the regulator's unfreeze then failed with WARRANT_TERMINAL."""
    from node.ledger import next_due, queries
    from tests.ledger.world import DAY

    if kind == "issuance":
        wid = w.issue(accept=False)
        recipient = "sup1"
    else:
        wid, _ = w.transfer("sup1", w.issue(), "sup2", 10, accept=False)
        recipient = "sup2"
    expires = w.warrant(wid)["offer_expires"]
    used = queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"]
    w.ok("reg", "freeze", warrant=wid, reason="inquiry")
    assert next_due(w.reader) != expires  # out of the expiry index while frozen
    w.advance(2 * DAY)  # well past its expiry
    assert w.time > expires
    w.block([])  # housekeeping runs
    found = w.warrant(wid)
    assert found["status"] == "pending" and found["frozen"] is not None
    assert found["pending_to"] == w.addr(recipient)
    assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"] == used
    w.fails("WARRANT_FROZEN", recipient, "accept", warrant=wid)

    w.ok("reg", "unfreeze", warrant=wid, reason="cleared")
    assert w.status(wid) == "pending"  # the unfreeze's own block ran its housekeeping before it
    assert next_due(w.reader) == expires  # back in the index under its own expiry: due now
    w.block([])  # the next block expires it
    assert w.last_outcome.housekeeping[0]["type"] == "offer_expired"
    assert w.status(wid) == ("rejected" if kind == "issuance" else "active")
    assert next_due(w.reader) != expires
    if kind == "issuance":
        assert queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))["used"] == used - 1_000_000


def test_frozen_offer_unfrozen_before_its_expiry_keeps_its_expiry(w: World) -> None:
    from node.ledger import next_due

    wid = w.issue(accept=False)
    expires = w.warrant(wid)["offer_expires"]
    w.ok("reg", "freeze", warrant=wid, reason="inquiry")
    w.ok("reg", "unfreeze", warrant=wid, reason="cleared")
    assert next_due(w.reader) == expires and w.status(wid) == "pending"
    w.ok("sup1", "accept", warrant=wid)
