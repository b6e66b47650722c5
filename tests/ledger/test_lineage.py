"""Traceability: the lineage query returns the whole tree of an issuance, field by field.

The story: core issues 1,000,000 to sup1 (R); sup1 splits R into A 600,000 and B 400,000;
transfers 250,000 of A to sup2 (A1, remainder A2 350,000); sup2 splits A1 into A1a 100,000 and
A1b 150,000; sup2 factors A1a with bank (bank becomes holder); sup1 pledges B to bank2. At
maturity core pays A1a in full and A2 in part (50,000). Three levels deep, partly financed, partly
settled.
"""

from __future__ import annotations

from typing import Any

import pytest

from node.errors import QueryCursorError
from node.ledger import queries
from tests.ledger.world import CNY, DAY, World


def step(w: World, who: str, kind: str, **payload: Any) -> tuple[str, int, list[dict[str, Any]]]:
    events = w.ok(who, kind, **payload)
    return w.last_tx, w.height, events


def h(tx: str, height: int, time: int, kind: str, frm: str | None, to: str | None, amount: int) -> dict[str, Any]:
    return {"tx": tx, "height": height, "time": time, "type": kind, "from": frm, "to": to, "amount": amount}


def test_lineage_of_a_split_financed_and_settled_tree() -> None:
    w = World()
    core, sup1, sup2, bank, bank2 = (w.addr(n) for n in ("core", "sup1", "sup2", "bank", "bank2"))
    w.credit(limit=5_000_000)
    doc = w.anchor(total=1_000_000)
    t0 = w.time
    maturity = t0 + 30 * DAY
    payload = w.issue_payload(amount=1_000_000, doc=doc, maturity=maturity)
    tx_issue, h_issue, ev = step(w, "core", "issue", **payload)
    R = ev[0]["warrant"]
    tx_acc, h_acc, _ = step(w, "sup1", "accept", warrant=R)
    tx_split, h_split, ev = step(w, "sup1", "split", warrant=R, amounts=[600_000, 400_000])
    A, B = ev[0]["children"]
    tx_tr, h_tr, ev = step(w, "sup1", "transfer", warrant=A, to=sup2, amount=250_000, offer_expires=t0 + DAY)
    A1, A2 = ev[0]["children"]
    tx_acc2, h_acc2, _ = step(w, "sup2", "accept", warrant=A1)
    tx_split2, h_split2, ev = step(w, "sup2", "split", warrant=A1, amounts=[100_000, 150_000])
    A1a, A1b = ev[0]["children"]
    tx_fin, h_fin, _ = step(w, "sup2", "request_financing", warrant=A1a, financier=bank, mode="transfer",
                            discount_bps=420, advance=95_000, recourse=False)
    tx_fin_ok, h_fin_ok, _ = step(w, "bank", "approve_financing", warrant=A1a)
    tx_pl, h_pl, _ = step(w, "sup1", "request_financing", warrant=B, financier=bank2, mode="pledge",
                          discount_bps=300, advance=380_000, recourse=True)
    tx_pl_ok, h_pl_ok, _ = step(w, "bank2", "approve_financing", warrant=B)
    w.time = maturity
    tx_s1, h_s1, _ = step(w, "core", "settle", warrant=A1a)
    tx_s2, h_s2, _ = step(w, "core", "settle", warrant=A2, amount=50_000)

    tree = queries.lineage(w.reader, A1b)
    assert tree is not None
    assert tree == queries.lineage(w.reader, R) == queries.lineage(w.reader, A2)
    assert queries.lineage(w.reader, "00" * 32) is None

    base = {"root": R, "issuer": core, "payee": sup1, "credit_line": bank, "currency": CNY, "issued_at": t0,
            "maturity": maturity, "pending_to": None, "offer_expires": None, "frozen": None}

    def node(**fields: Any) -> dict[str, Any]:
        out = dict(base)
        out.update({"documents": [], "children": [], "financing": None})
        out.update(fields)
        # What the warrant itself is owed: nothing once consumed (its children carry the value).
        live = out["status"] in ("active", "pending", "overdue")
        out["outstanding"] = out["amount"] - out["paid"] if live else 0
        return out

    t = t0  # every step above ran at t0 until settlement (the world's clock only moves when told)
    expected = node(
        id=R, parent=None, holder=sup1, amount=1_000_000, paid=0, status="consumed",
        documents=[{"ref": doc, "amount": 1_000_000}],
        history=[h(tx_issue, h_issue, t, "issue", core, sup1, 1_000_000),
                 h(tx_acc, h_acc, t, "accept", core, sup1, 1_000_000),
                 h(tx_split, h_split, t, "split", sup1, sup1, 1_000_000)],
        children=[
            node(id=A, parent=R, holder=sup1, amount=600_000, paid=0, status="consumed",
                 history=[h(tx_split, h_split, t, "split", sup1, sup1, 600_000),
                          h(tx_tr, h_tr, t, "transfer", sup1, sup2, 250_000)],
                 children=[
                     node(id=A1, parent=A, holder=sup2, amount=250_000, paid=0, status="consumed",
                          history=[h(tx_tr, h_tr, t, "transfer", sup1, sup2, 250_000),
                                   h(tx_acc2, h_acc2, t, "accept", sup1, sup2, 250_000),
                                   h(tx_split2, h_split2, t, "split", sup2, sup2, 250_000)],
                          children=[
                              node(id=A1a, parent=A1, holder=bank, amount=100_000, paid=100_000, status="settled",
                                   financing={"request_tx": tx_fin, "financier": bank, "mode": "transfer",
                                              "principal": 100_000, "discount_bps": 420, "advance": 95_000,
                                              "recourse": False, "status": "approved", "applicant": sup2},
                                   history=[h(tx_split2, h_split2, t, "split", sup2, sup2, 100_000),
                                            h(tx_fin, h_fin, t, "financing_request", sup2, bank, 100_000),
                                            h(tx_fin_ok, h_fin_ok, t, "financing_transfer", sup2, bank, 100_000),
                                            h(tx_s1, h_s1, maturity, "settle", core, bank, 100_000)]),
                              node(id=A1b, parent=A1, holder=sup2, amount=150_000, paid=0, status="active",
                                   history=[h(tx_split2, h_split2, t, "split", sup2, sup2, 150_000)]),
                          ]),
                     node(id=A2, parent=A, holder=sup1, amount=350_000, paid=50_000, status="active",
                          history=[h(tx_tr, h_tr, t, "split", sup1, sup1, 350_000),
                                   h(tx_s2, h_s2, maturity, "settle", core, sup1, 50_000)]),
                 ]),
            node(id=B, parent=R, holder=sup1, amount=400_000, paid=0, status="active",
                 financing={"request_tx": tx_pl, "financier": bank2, "mode": "pledge", "principal": 400_000,
                            "discount_bps": 300, "advance": 380_000, "recourse": True, "status": "pledged",
                            "applicant": sup1},
                 history=[h(tx_split, h_split, t, "split", sup1, sup1, 400_000),
                          h(tx_pl, h_pl, t, "financing_request", sup1, bank2, 400_000),
                          h(tx_pl_ok, h_pl_ok, t, "pledge", sup1, bank2, 400_000)]),
        ],
    )
    expected["document_disputes"] = []  # the root carries the disputes on its backing documents
    assert tree["children"][0]["children"][0]["children"][0] == expected["children"][0]["children"][0]["children"][0]
    assert tree == expected

    # the invariant the tree shows: live value + paid = issued amount
    def live_and_paid(n: dict[str, Any]) -> tuple[int, int]:
        live = n["outstanding"] if n["status"] in ("active", "pending", "overdue") else 0
        paid = n["paid"]
        for child in n["children"]:
            cl, cp = live_and_paid(child)
            live, paid = live + cl, paid + cp
        return live, paid

    live, paid = live_and_paid(tree)
    assert (live, paid) == (850_000, 150_000)
    # and the tx ids in the history are the ids of the included transactions
    assert w.reader.get(b"tx/" + bytes.fromhex(tx_s2)) == str(h_s2).encode()


def _pages(w: World, wid: str, limit: int) -> list[list[str]]:
    pages, after = [], None
    while True:
        page = queries.descendants(w.reader, wid, after, limit)
        assert page is not None and page["warrant"] == wid
        pages.append([item["id"] for item in page["warrants"]])
        assert all("history" not in item for item in page["warrants"])
        if page["next"] is None:
            return pages
        assert page["next"] == pages[-1][-1]
        after = page["next"]


def test_descendants_page_the_subtree_in_the_traces_depth_first_order() -> None:
    w = World()
    w.credit(limit=5_000_000)
    root = w.issue(amount=1_000_000, doc=w.anchor(total=1_000_000))
    a, b, c = w.split("sup1", root, 500_000, 300_000, 200_000)
    a1, a2 = w.split("sup1", a, 100_000, 400_000)
    a2x, a2y = w.transfer("sup1", a2, "sup2", 50_000)
    c1, c2, c3 = w.split("sup1", c, 50_000, 50_000, 100_000)
    assert a2y is not None

    def order(tree: dict[str, Any]) -> list[str]:
        return [tree["id"], *(i for child in tree["children"] for i in order(child))]

    trace = queries.lineage(w.reader, root)
    assert trace is not None
    whole = order(trace)
    assert whole == [root, a, a1, a2, a2x, a2y, b, c, c1, c2, c3]
    for limit in (1, 2, 3, 4, 11, 100):
        pages = _pages(w, root, limit)
        assert [i for page in pages for i in page] == whole
        assert all(len(page) == limit for page in pages[:-1]) and 1 <= len(pages[-1]) <= limit
    assert _pages(w, a, 2) == [[a, a1], [a2, a2x], [a2y]]  # a subtree stops at its own end
    assert _pages(w, c3, 5) == [[c3]]
    trace_item = next(n for n in trace["children"] if n["id"] == b)
    page = queries.descendants(w.reader, root, a2y, 1)
    assert page is not None and page["warrants"][0]["outstanding"] == trace_item["outstanding"] == 300_000
    with pytest.raises(QueryCursorError, match="not a descendant"):
        queries.descendants(w.reader, a, b, 10)  # b is in the issuance's tree, not under a
    with pytest.raises(QueryCursorError, match="does not exist"):
        queries.descendants(w.reader, root, "00" * 32, 10)
    assert queries.descendants(w.reader, "00" * 32) is None
