"""transfer (with split) and split by the current holder; transfer offers accepted, rejected, expired."""

from __future__ import annotations

import pytest

from node.ledger import queries
from tests.ledger.world import DAY, HOUR, World


@pytest.fixture
def w() -> World:
    return World()


def offer(w: World, wid: str, amount: int, who: str = "sup1", to: str = "sup2", **extra: object) -> dict:
    payload = {"warrant": wid, "to": w.addr(to), "amount": amount, "offer_expires": w.time + DAY}
    payload.update(extra)
    return payload


def test_transfer_with_split(w: World) -> None:
    wid = w.issue(amount=1_000)
    events = w.ok("sup1", "transfer", **offer(w, wid, 300))
    sent, kept = events[0]["children"]
    assert events == [{"type": "warrant_transferred", "warrant": wid, "to": w.addr("sup2"), "amount": 300,
                       "children": [sent, kept], "offered": sent, "kept": kept,
                       "accounts": sorted([w.addr("sup1"), w.addr("sup2")]), "warrants": sorted([wid, sent, kept])}]
    parent = w.warrant(wid)
    assert parent["status"] == "consumed" and parent["children"] == [sent, kept]
    assert parent["history"][-1]["type"] == "transfer" and parent["history"][-1]["to"] == w.addr("sup2")
    child = w.warrant(sent)
    assert (child["status"], child["holder"], child["pending_to"], child["amount"]) == (
        "pending", w.addr("sup1"), w.addr("sup2"), 300)
    assert (child["parent"], child["root"], child["issuer"], child["maturity"], child["currency"]) == (
        wid, wid, parent["issuer"], parent["maturity"], parent["currency"])
    rest = w.warrant(kept)
    assert (rest["status"], rest["holder"], rest["amount"]) == ("active", w.addr("sup1"), 700)
    assert queries.holdings(w.reader, w.addr("sup2"))["incoming"][0]["id"] == sent
    mine = queries.holdings(w.reader, w.addr("sup1"))
    assert (mine["held_outstanding"], len(mine["held"])) == (700, 2)  # the pending offer is listed, not counted
    assert queries.holdings(w.reader, w.addr("sup2"))["incoming_outstanding"] == 300
    w.ok("sup2", "accept", warrant=sent)
    assert w.warrant(sent)["holder"] == w.addr("sup2") and w.status(sent) == "active"
    assert [x["id"] for x in queries.holdings(w.reader, w.addr("sup2"))["held"]] == [sent]
    assert sorted(x["id"] for x in queries.holdings(w.reader, w.addr("sup1"))["held"]) == [kept]


def test_transfer_whole(w: World) -> None:
    wid = w.issue(amount=1_000)
    events = w.ok("sup1", "transfer", **offer(w, wid, 1_000))
    assert len(events[0]["children"]) == 1


def test_transfer_rejected_returns_to_sender(w: World) -> None:
    wid = w.issue(amount=1_000)
    sent, _ = w.transfer("sup1", wid, "sup2", 300, accept=False)
    w.ok("sup2", "reject", warrant=sent)
    child = w.warrant(sent)
    assert (child["status"], child["holder"], child["pending_to"]) == ("active", w.addr("sup1"), None)
    assert child["history"][-1]["type"] == "reject"
    w.transfer("sup1", sent, "sup3", 300)  # the sender can use it again


def test_transfer_offer_expires(w: World) -> None:
    wid = w.issue(amount=1_000)
    sent, _ = w.transfer("sup1", wid, "sup2", 300, accept=False)
    w.advance(DAY)
    w.block([])
    assert w.status(sent) == "active" and w.warrant(sent)["holder"] == w.addr("sup1")
    assert w.last_outcome.housekeeping[0]["type"] == "offer_expired"
    assert queries.holdings(w.reader, w.addr("sup2"))["incoming"] == []
    w.fails("WARRANT_NOT_PENDING", "sup2", "accept", warrant=sent)


def test_transfer_by_non_holder(w: World) -> None:
    wid = w.issue()
    w.fails("NOT_HOLDER", "sup2", "transfer", **offer(w, wid, 5, to="sup3"))


def test_transfer_unknown(w: World) -> None:
    w.fails("UNKNOWN_WARRANT", "sup1", "transfer", **offer(w, "00" * 32, 5))


def test_transfer_consumed(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.transfer("sup1", wid, "sup2", 300)
    w.fails("WARRANT_TERMINAL", "sup1", "transfer", **offer(w, wid, 5))


def test_transfer_pending(w: World) -> None:
    wid = w.issue(amount=1_000)
    sent, _ = w.transfer("sup1", wid, "sup2", 300, accept=False)
    w.fails("WARRANT_NOT_ACTIVE", "sup1", "transfer", **offer(w, sent, 5, to="sup3"))


def test_transfer_over_the_parent(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("AMOUNT_EXCEEDS_WARRANT", "sup1", "transfer", **offer(w, wid, 1_001))


def test_transfer_to_self(w: World) -> None:
    wid = w.issue()
    w.fails("SELF_TRANSFER", "sup1", "transfer", **offer(w, wid, 5, to="sup1"))


def test_transfer_to_unknown(w: World) -> None:
    wid = w.issue()
    payload = offer(w, wid, 5)
    payload["to"] = "wc" + "00" * 20
    w.fails("UNKNOWN_ACCOUNT", "sup1", "transfer", **payload)


def test_transfer_to_regulator(w: World) -> None:
    wid = w.issue()
    w.fails("WRONG_ROLE", "sup1", "transfer", **offer(w, wid, 5, to="reg"))


def test_transfer_frozen(w: World) -> None:
    wid = w.issue()
    w.ok("reg", "freeze", warrant=wid, reason="dispute")
    w.fails("WARRANT_FROZEN", "sup1", "transfer", **offer(w, wid, 5))


def test_transfer_pledged(w: World) -> None:
    wid = w.issue()
    w.ok("sup1", "request_financing", warrant=wid, financier=w.addr("bank"), mode="pledge", discount_bps=500,
         advance=10, recourse=True)
    w.fails("FINANCING_PENDING", "sup1", "transfer", **offer(w, wid, 5))
    w.ok("bank", "approve_financing", warrant=wid)
    w.fails("WARRANT_PLEDGED", "sup1", "transfer", **offer(w, wid, 5))


def test_transfer_at_maturity(w: World) -> None:
    wid = w.issue(maturity=w.time + 2 * DAY)
    w.advance(2 * DAY)
    w.fails("WARRANT_MATURED", "sup1", "transfer", **offer(w, wid, 5, offer_expires=w.time + HOUR))


def test_transfer_offer_expiry_after_maturity(w: World) -> None:
    wid = w.issue(maturity=w.time + 2 * DAY)
    w.fails("OFFER_EXPIRY_INVALID", "sup1", "transfer", **offer(w, wid, 5, offer_expires=w.time + 3 * DAY))


def test_transfer_offer_expiry_now(w: World) -> None:
    wid = w.issue()
    w.fails("OFFER_EXPIRY_INVALID", "sup1", "transfer", **offer(w, wid, 5, offer_expires=w.time))


def test_split(w: World) -> None:
    wid = w.issue(amount=1_000)
    events = w.ok("sup1", "split", warrant=wid, amounts=[100, 200, 700])
    children = events[0]["children"]
    assert events[0]["amounts"] == [100, 200, 700] and len(children) == 3
    assert [w.warrant(c)["amount"] for c in children] == [100, 200, 700]
    assert all(w.warrant(c)["holder"] == w.addr("sup1") and w.status(c) == "active" for c in children)
    assert w.status(wid) == "consumed"
    assert sorted(x["id"] for x in queries.holdings(w.reader, w.addr("sup1"))["held"]) == sorted(children)


@pytest.mark.parametrize("amounts", [[100, 899], [100, 901]])
def test_split_not_summing_to_the_parent(w: World, amounts: list[int]) -> None:
    wid = w.issue(amount=1_000)
    w.fails("SPLIT_SUM_MISMATCH", "sup1", "split", warrant=wid, amounts=amounts)


def test_split_into_one_part(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("INVALID_PAYLOAD", "sup1", "split", warrant=wid, amounts=[1_000])


def test_split_with_a_zero_part(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "split", warrant=wid, amounts=[1_000, 0])


def test_split_by_non_holder(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.fails("NOT_HOLDER", "core", "split", warrant=wid, amounts=[500, 500])


def test_split_frozen(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.ok("reg", "freeze", warrant=wid, reason="dispute")
    w.fails("WARRANT_FROZEN", "sup1", "split", warrant=wid, amounts=[500, 500])


def test_split_consumed(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.split("sup1", wid, 500, 500)
    w.fails("WARRANT_TERMINAL", "sup1", "split", warrant=wid, amounts=[500, 500])


def test_split_pledged(w: World) -> None:
    wid = w.issue(amount=1_000)
    w.ok("sup1", "request_financing", warrant=wid, financier=w.addr("bank"), mode="pledge", discount_bps=0,
         advance=10, recourse=False)
    w.ok("bank", "approve_financing", warrant=wid)
    w.fails("WARRANT_PLEDGED", "sup1", "split", warrant=wid, amounts=[500, 500])


def test_split_matured(w: World) -> None:
    wid = w.issue(amount=1_000, maturity=w.time + DAY)
    w.advance(DAY)
    w.fails("WARRANT_MATURED", "sup1", "split", warrant=wid, amounts=[500, 500])
