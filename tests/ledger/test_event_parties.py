"""Every ledger event declares the accounts and warrants it concerns, and subscriptions are routed
by those declarations alone (no guessing from field values)."""

from __future__ import annotations

from typing import Any

from node.rpc.methods import event_matches
from node.rpc.schemas import SubscribeParams
from tests.ledger.world import DAY, World


def _addresses(value: Any) -> set[str]:
    """Every account address anywhere inside an event's own fields (nested lists and dicts too)."""
    if isinstance(value, str):
        return {value} if value.startswith("wc") and len(value) == 42 else set()
    if isinstance(value, dict):
        return set().union(*(_addresses(v) for k, v in value.items() if k not in ("accounts", "warrants")))
    if isinstance(value, list):
        return set().union(*(_addresses(v) for v in value))
    return set()


def _routes_to(event: dict[str, Any], address: str) -> bool:
    return event_matches(SubscribeParams(topic="account", address=address), event)


def story(w: World) -> list[tuple[str, dict[str, Any]]]:
    """(signer, event) for a story touching every kind of event: issue, accept, split, transfer,
    financing (pledge and factoring), freeze, settlement with a pledgee, overdue."""
    out: list[tuple[str, dict[str, Any]]] = []

    def ok(who: str, kind: str, **payload: Any) -> list[dict[str, Any]]:
        events = w.ok(who, kind, **payload)
        out.extend((who, event) for event in events)
        return events

    w.credit()
    doc = ok("sup1", "anchor_document", **w.anchor_payload("INV-P", hash="cd" * 32, total=1_000))[0]["document"]
    ok("core", "confirm_document", doc=doc)
    root = ok("core", "issue", **w.issue_payload("sup1", 1_000, doc=doc, maturity=w.time + 10 * DAY))[0]["warrant"]
    ok("sup1", "accept", warrant=root)
    a, b = ok("sup1", "split", warrant=root, amounts=[600, 400])[0]["children"]
    sent = ok("sup1", "transfer", warrant=a, to=w.addr("sup2"), amount=250, offer_expires=w.time + DAY)[0]["offered"]
    ok("sup2", "accept", warrant=sent)
    ok("sup1", "request_financing", warrant=b, financier=w.addr("bank"), mode="pledge", discount_bps=100,
       advance=300, recourse=True)
    ok("bank", "approve_financing", warrant=b)
    ok("sup2", "request_financing", warrant=sent, financier=w.addr("bank2"), mode="transfer", discount_bps=100,
       advance=200, recourse=False)
    ok("bank2", "approve_financing", warrant=sent)
    ok("reg", "freeze", warrant=b, reason="review")
    ok("reg", "unfreeze", warrant=b, reason="done")
    w.advance(10 * DAY)
    ok("core", "settle", warrant=root, amount=900)
    return out


def test_every_event_names_every_party_and_its_warrants() -> None:
    w = World()
    events = story(w)
    assert {e["type"] for _, e in events} >= {
        "document_anchored", "warrant_issued", "warrant_accepted", "warrant_split", "warrant_transferred",
        "financing_requested", "financing_approved", "warrant_frozen", "warrant_unfrozen", "warrant_settled",
    }
    for signer, event in events:
        declared = set(event["accounts"])
        assert w.addr(signer) in declared, f"{event['type']} does not name its sender"
        assert _addresses(event) <= declared, f"{event['type']} leaves out {_addresses(event) - declared}"
        assert w.last_tx not in event["warrants"], "a transaction id is not a warrant"
        if "warrant" in event:
            assert event["warrant"] in event["warrants"]


def test_the_parties_the_old_routing_missed_are_notified() -> None:
    w = World()
    events = {e["type"]: (signer, e) for signer, e in story(w)}
    settled = events["warrant_settled"][1]
    for payment in settled["payments"]:  # holders paid inside payments[] (bank2 factored, bank is pledgee)
        assert _routes_to(settled, payment["holder"])
        if "pledgee" in payment:
            assert _routes_to(settled, payment["pledgee"])
    assert any("pledgee" in p for p in settled["payments"])
    for kind in ("warrant_split", "financing_requested", "document_anchored"):
        signer, event = events[kind]
        assert _routes_to(event, w.addr(signer)), f"the sender of {kind} is not notified"
    # Factoring moves the warrant from the applicant to the bank: both hear of it.
    approved = [e for s, e in story(World()) if e["type"] == "financing_approved" and e["mode"] == "transfer"][0]
    assert len(approved["accounts"]) == 2


def test_routing_by_warrant_uses_the_declared_warrants_only() -> None:
    w = World()
    events = story(w)
    transfer = next(e for _, e in events if e["type"] == "warrant_transferred")
    assert set(transfer["warrants"]) == {transfer["warrant"], *transfer["children"]}
    assert transfer["offered"] == transfer["children"][0] and transfer["kept"] == transfer["children"][1]
    for wid in transfer["warrants"]:
        assert event_matches(SubscribeParams(topic="warrant", id=wid), transfer)
    assert not event_matches(SubscribeParams(topic="warrant", id="ee" * 32), transfer)
    anchored = next(e for _, e in events if e["type"] == "document_anchored")
    assert anchored["warrants"] == []  # a document id is not a warrant
