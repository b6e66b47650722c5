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
