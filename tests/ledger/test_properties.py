"""Property-based tests: random sequences of operations by random actors keep the invariants.

Each example sets up two core enterprises with credit lines and a confirmed invoice from each
supplier to each of them, then runs up to 40 random steps (one block each): anchor a document
(often a spelling variant of a key already anchored, or a file already used), confirm, dispute,
undispute, issue, accept, reject, transfer, split, financing in both modes, release, settle,
freeze, unfreeze, mark overdue, or letting time pass (so offers expire and warrants fall overdue).
Most steps are signed by the party entitled to act, some by a random account, so rejections are
exercised too. After every step the invariants of DESIGN.md section 6 are checked; at the end the
incremental state root is compared with one recomputed from scratch, and the whole block log is
replayed on a fresh state (same root) and replayed without its first transaction (another root).

Settings: 300 examples, derandomized (the same examples on every run), no deadline; raise with
``LEDGER_EXAMPLES=1000`` for a longer search.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.kernel import codec
from node.ledger import Code, model, queries
from node.ledger.keys import document_id
from node.ledger.state import ACC_KEY, full_accumulator, root_of
from tests.ledger.world import DAY, HOUR, World

EXAMPLES = int(os.environ.get("LEDGER_EXAMPLES", "300"))
ACTORS = ["core", "core2", "sup1", "sup2", "sup3", "bank", "bank2", "reg"]
KINDS = ["anchor", "confirm", "dispute", "undispute", "issue", "accept", "reject", "transfer", "split", "request_financing", "approve_financing",
         "reject_financing", "release_pledge", "settle", "freeze", "unfreeze", "mark_overdue", "wait"]
LIVE = ("pending", "active", "overdue")
CODES = {code.value for code in Code}

step_strategy = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 9),  # < 8: the entitled party signs; otherwise a random actor
    st.integers(0, len(ACTORS) - 1),  # the random actor / counterparty
    st.integers(0, 10_000),  # which warrant
    st.integers(-5, 1_200_000),  # an amount, sometimes invalid
    st.sampled_from([HOUR, 6 * HOUR, DAY, 3 * DAY, 8 * DAY, 20 * DAY, 40 * DAY]),  # a duration
)


def warrants(w: World) -> dict[str, dict[str, Any]]:
    """Every warrant in state as the queries show it, each with its whole history (record, then
    ``wh/`` keys)."""
    out = {}
    for key, value in w.reader.data.items():
        if key.startswith(b"w/"):
            warrant = model.load_warrant(w.reader.get, value)
            x = out[key[2:].decode()] = model.warrant_fields(warrant)
            entries = model.history_of(w.reader, warrant.history, model.history_prefix(warrant.id), model.HistoryEntry)[0]
            x["history"] = codec.decode(codec.encode(entries))
    return out


def documents(w: World) -> dict[str, dict[str, Any]]:
    """Every document in state as the queries show it, with its allocations (``dal/`` keys)."""
    out = {}
    for key in w.reader.data:
        if key.startswith(b"doc/"):
            doc = queries.get_document(w.reader, key[4:].decode())
            assert doc is not None
            out[doc["id"]] = doc
    return out


SUPPLIERS = ["sup1", "sup2", "sup3"]
CORES = ["core", "core2"]
# spellings of the keys fresh_world anchors ("INV-<supplier>-<core>"), and new ones
NUMBERS = ["INV-sup1-core", "inv-sup1-core ", "INV\u2011SUP2\u200b-core2", "\uff29NV-sup3-CORE", "NEW-{n}", "NEW-{n}"]


def run_document_step(w: World, step: tuple[str, int, int, int, int, int], docs: dict[tuple[str, str], str]) -> tuple[str, dict[str, Any]]:
    kind, entitled, other, index, _, _ = step
    right = entitled < 8
    rand = ACTORS[other]
    if kind == "anchor":
        seller, buyer = SUPPLIERS[other % 3], CORES[index % 2]
        signer = (seller if index % 3 else buyer) if right else rand
        number = NUMBERS[index % len(NUMBERS)].format(n=w.nonce)
        existing = sorted(documents(w).values(), key=lambda d: d["id"])
        file_hash = existing[index % len(existing)]["hash"] if index % 5 == 0 else f"{w.nonce:064x}"
        return signer, w.do(signer, "anchor_document", **w.anchor_payload(
            number, seller=seller, buyer=buyer, hash=file_hash, total=index % 2_000_000 + 1))
    wanted = {"confirm": lambda d: d["status"] == "unconfirmed", "undispute": lambda d: d["dispute"] is not None}
    doc = choose(documents(w), index, wanted.get(kind, lambda d: True))
    assert doc is not None
    buyer = name_of(w, doc["buyer"])
    if kind == "confirm":
        signer = buyer if right else rand
        return signer, w.do(signer, "confirm_document", doc=doc["id"])
    if kind == "dispute":
        signer = ("reg" if entitled % 2 or doc["status"] == "confirmed" else buyer) if right else rand
        return signer, w.do(signer, "dispute_document", doc=doc["id"], reason="random check")
    disputer = name_of(w, (doc["dispute"] or {}).get("by"))
    signer = ("reg" if entitled % 2 or disputer == "stranger" else disputer) if right else rand
    return signer, w.do(signer, "undispute_document", doc=doc["id"], reason="cleared")


def name_of(w: World, address: str | None) -> str:
    for name in ACTORS:
        if w.addr(name) == address:
            return name
    return "stranger"


def choose(ws: dict[str, dict[str, Any]], index: int, prefer: Any) -> dict[str, Any] | None:
    """A warrant picked by ``index``, among those ``prefer`` likes if there are any."""
    pool = sorted(ws)
    preferred = [i for i in pool if prefer(ws[i])]
    pool = preferred or pool
    return ws[pool[index % len(pool)]] if pool else None


def _financing(status: str) -> Any:
    return lambda x: x["status"] in LIVE and (x["financing"] or {}).get("status") == status


def preference(kind: str, now: int) -> Any:
    if kind in ("accept", "reject"):
        return lambda x: x["status"] == "pending"
    if kind in ("approve_financing", "reject_financing"):
        return _financing("requested")
    if kind == "release_pledge":
        return _financing("pledged")
    if kind == "settle":
        return lambda x: x["status"] in (*LIVE, "consumed") and x["maturity"] <= now
    if kind == "unfreeze":
        return lambda x: x["frozen"] is not None
    if kind == "mark_overdue":
        return lambda x: x["status"] in LIVE
    return lambda x: x["status"] == "active" and x["frozen"] is None


def run_step(w: World, step: tuple[str, int, int, int, int, int], docs: dict[tuple[str, str], str]) -> tuple[str, dict[str, Any] | None]:
    """Sign and execute one step; returns (signer name, result or None if nothing to do)."""
    kind, entitled, other, index, amount, duration = step
    ws = warrants(w)
    right = entitled < 8
    rand = ACTORS[other]
    w.advance(duration // 16)  # time passes between blocks, so offers expire and warrants mature
    if kind == "wait":
        w.advance(duration // 2)
        w.block([])
        return "", None
    if kind in ("anchor", "confirm", "dispute", "undispute"):
        return run_document_step(w, step, docs)
    if kind == "issue":
        core = "core" if other % 2 == 0 else "core2"
        signer = core if right else rand
        maturity = w.time + 1 + duration
        to = SUPPLIERS[index % 3]
        # mostly the issuer's own debt to the payee; sometimes another pair's document
        doc = docs[(to, core)] if entitled % 4 else docs[(SUPPLIERS[other % 3], CORES[index % 2])]
        amount = amount % 400_000 + 1 if right else amount
        payload = {"to": w.addr(to), "amount": amount, "currency": "CNY",
                   "maturity": maturity, "credit_line": w.addr("bank"),
                   "documents": [{"doc": doc, "amount": amount}],
                   "offer_expires": min(maturity, w.time + 1 + duration // 4)}
        return signer, w.do(signer, "issue", **payload)
    target = choose(ws, index, preference(kind, w.time))
    if target is None:
        return "", None
    wid = target["id"]
    holder = name_of(w, target["holder"])
    financier = name_of(w, (target["financing"] or {}).get("financier"))
    if kind in ("accept", "reject"):
        signer = name_of(w, target["pending_to"]) if right else rand
        return signer, w.do(signer, kind, warrant=wid)
    if kind == "transfer":
        signer = holder if right else rand
        to = ACTORS[(other + 1) % len(ACTORS)]
        return signer, w.do(signer, "transfer", warrant=wid, to=w.addr(to), amount=amount % (target["amount"] + 2),
                            offer_expires=min(target["maturity"], w.time + 1 + duration // 10))
    if kind == "split":
        signer = holder if right else rand
        first = amount % (target["amount"] + 1)
        parts = [first, target["amount"] - first] if right else [first, target["amount"] - first + entitled - 8]
        return signer, w.do(signer, "split", warrant=wid, amounts=parts)
    if kind == "request_financing":
        signer = holder if right else rand
        bank = "bank" if other % 2 else "bank2"
        return signer, w.do(signer, "request_financing", warrant=wid, financier=w.addr(bank),
                            mode="pledge" if index % 2 else "transfer", discount_bps=index % 10_001,
                            advance=max(1, amount % (target["amount"] + 2)), recourse=bool(other % 2))
    if kind in ("approve_financing", "reject_financing", "release_pledge"):
        signer = financier if right and financier != "stranger" else rand
        return signer, w.do(signer, kind, warrant=wid)
    if kind == "settle":
        signer = name_of(w, target["issuer"]) if right else rand
        payload: dict[str, Any] = {"warrant": wid}
        if amount % 3:
            payload["amount"] = amount % (target["amount"] + 2) or 1
        return signer, w.do(signer, "settle", **payload)
    if kind in ("freeze", "unfreeze"):
        signer = "reg" if right else rand
        return signer, w.do(signer, kind, warrant=wid, reason="random check")
    assert kind == "mark_overdue"
    signer = rand
    return signer, w.do(signer, "mark_overdue", warrant=wid)


def check_documents(w: World, before: dict[str, dict[str, Any]], signer: str, result: dict[str, Any] | None,
                    kind: str, ws: dict[str, dict[str, Any]], old_ws: dict[str, dict[str, Any]]) -> None:
    """One canonical key and one file per document; allocations only from the issuer's own
    confirmed, undisputed debt to the payee; confirmation and disputes by the right party only."""
    ds = documents(w)
    signer_addr = w.addr(signer) if signer else None
    hashes = {k[8:].decode(): v.decode() for k, v in w.reader.data.items() if k.startswith(b"dochash/")}
    assert hashes == {d["hash"]: d["id"] for d in ds.values()}, "one file hash backs exactly one document"
    for doc_id, d in ds.items():
        assert document_id(d["doc_type"], d["number"], d["issuer_reg_id"], d["issuer_reg_kind"]) == doc_id
        assert d["allocated"] == sum(a["amount"] for a in d["allocations"]) <= d["total"]
        for allocation in d["allocations"]:
            root = ws[allocation["ref"]]
            assert root["status"] != "rejected" and root["parent"] is None
            assert (root["issuer"], root["payee"]) == (d["buyer"], d["seller"])
            assert {"ref": doc_id, "amount": allocation["amount"]} in root["documents"]
        old = before.get(doc_id)
        if old is None:
            assert signer_addr in (d["seller"], d["buyer"]), "only a party anchors a document"
            continue
        if old["status"] == "confirmed":
            assert d["status"] == "confirmed"
        elif d["status"] == "confirmed":
            assert signer_addr == d["buyer"], "only the debtor confirms"
        if old["dispute"] is None and d["dispute"] is not None:
            assert signer == "reg" or (signer_addr == d["buyer"] and old["status"] == "unconfirmed")
        if old["dispute"] is not None and d["dispute"] is None:
            assert signer == "reg" or signer_addr == old["dispute"]["by"]
    for wid, x in ws.items():  # a new issuance drew only on confirmed, undisputed documents
        if wid not in old_ws and x["parent"] is None:
            assert kind == "issue" and result is not None and result["ok"]
            for allocation in x["documents"]:
                was = before[allocation["ref"]]
                assert was["status"] == "confirmed" and was["dispute"] is None
                assert {"ref": wid, "amount": allocation["amount"]} in ds[allocation["ref"]]["allocations"]


def check_invariants(w: World, before: dict[str, dict[str, Any]], signer: str) -> None:
    ws = warrants(w)
    signer_addr = w.addr(signer) if signer else None
    parent_of: dict[str, str] = {}
    for wid, x in ws.items():
        assert 0 < x["amount"] <= 2**63 - 1 and 0 <= x["paid"] <= x["amount"]
        for child in x["children"]:
            assert child not in parent_of, f"warrant {child} has two parents"
            parent_of[child] = wid
            assert ws[child]["parent"] == wid and ws[child]["root"] == x["root"]
        if x["status"] == "consumed":
            assert x["paid"] == 0 and sum(ws[c]["amount"] for c in x["children"]) == x["amount"]
            consumed = [h for h in x["history"] if h["type"] in ("split", "transfer") and h["tx"] == x["history"][-1]["tx"]]
            assert len(consumed) >= 1
        else:
            assert x["children"] == []
        if x["parent"] is None:
            assert x["root"] == wid
        # terminal states never change; holders change only by the new holder's own signature
        old = before.get(wid)
        if old is not None:
            assert x["history"][:len(old["history"])] == old["history"], f"history of {wid} rewritten"
            if old["status"] in model.TERMINAL:
                assert x == old, f"terminal warrant {wid} changed"
            if x["status"] == "consumed" and old["status"] != "consumed":
                assert signer_addr == old["holder"], "only the holder consumes a warrant"
            if x["holder"] != old["holder"]:
                assert signer_addr == x["holder"], "a warrant moved without its new holder's signature"
    # for every issuance: live descendants + paid = original amount
    roots = [x for x in ws.values() if x["parent"] is None]
    credit: dict[tuple[str, str], int] = {}
    for root in roots:
        tree = [x for x in ws.values() if x["root"] == root["id"]]
        live = sum(x["amount"] - x["paid"] for x in tree if x["status"] in LIVE)
        paid = sum(x["paid"] for x in tree)
        if root["status"] == "rejected":
            assert len(tree) == 1 and paid == 0
            continue
        assert live + paid == root["amount"]
        key = (root["issuer"], root["credit_line"])
        credit[key] = credit.get(key, 0) + live
    # credit used equals the outstanding issued amount
    for key, value in w.reader.data.items():
        if key.startswith(b"cl/"):
            line = codec.decode(value)
            assert line["used"] == credit.get((line["core"], line["financier"]), 0)
            assert 0 <= line["used"] <= line["limit"]
    # spilled history entries belong to records that are full (a failed transaction leaves none)
    for key in w.reader.data:
        if key.startswith(b"wh/"):
            assert len(ws[key[3:67].decode()]["history"]) > model.HISTORY_INLINE, f"stray history entry {key!r}"
        if key.startswith(b"dh/"):
            doc = codec.decode(w.reader.data[model.key_document(key[3:67].decode())])
            assert len(doc["history"]) == model.HISTORY_INLINE, f"stray document history entry {key!r}"
    # the holdings index lists exactly the live warrants under their holders
    held = {k for k in w.reader.data if k.startswith(b"hold/")}
    assert held == {model.key_hold(x["holder"], x["id"]) for x in ws.values() if x["status"] in LIVE}
    incoming = {k for k in w.reader.data if k.startswith(b"in/")}
    assert incoming == {model.key_incoming(x["pending_to"], x["id"]) for x in ws.values() if x["status"] == "pending"}


def fresh_world() -> tuple[World, dict[tuple[str, str], str]]:
    w = World()
    w.credit(limit=3_000_000, core="core")
    w.credit(limit=2_000_000, core="core2")
    docs = {(sup, core): w.anchor(number=f"INV-{sup}-{core}", total=1_200_000, seller=sup, buyer=core)
            for sup in SUPPLIERS for core in CORES}
    # two accepted warrants and one open offer to start from
    for to, amount, accept in (("sup1", 600_000, True), ("sup2", 500_000, True), ("sup3", 300_000, False)):
        w.issue(to=to, amount=amount, accept=accept, doc=docs[(to, "core")], maturity=w.time + 20 * DAY)
    return w, docs


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(step_strategy, min_size=10, max_size=40))
def test_random_operations_keep_the_invariants(steps: list[tuple[str, int, int, int, int, int]]) -> None:
    w, docs = fresh_world()
    for step in steps:
        before, before_docs = warrants(w), documents(w)
        signer, result = run_step(w, step, docs)
        if result is not None and not result["ok"]:
            assert result["code"] in CODES and result["message"]
        check_invariants(w, before, signer)
        check_documents(w, before_docs, signer, result, step[0], warrants(w), before)
    # the incremental root is the root of the whole state
    pairs = iter(w.reader.data.items())
    assert root_of(full_accumulator(pairs)) == w.root
    assert w.reader.data[ACC_KEY] == full_accumulator(iter(w.reader.data.items())).to_bytes(512, "little")
    # replaying the same blocks on a fresh state gives the same root
    again = World()
    for time, txs in w.log:
        again.time = time
        again.block(txs)
    assert again.root == w.root and again.reader.data == w.reader.data
    # leaving out one transaction gives another root
    other = World()
    first = True
    for time, txs in w.log:
        other.time = time
        if first and txs:
            txs, first = txs[1:], False
        other.block(txs)
    assert other.root != w.root
