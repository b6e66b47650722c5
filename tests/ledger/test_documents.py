"""Documents: one canonical business key and one file are one document; only a party anchors;
the debtor confirms (确权); the regulator disputes; only a confirmed, undisputed document whose
debtor is the issuer and creditor the payee backs an issuance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.ledger import Code, LedgerError, check_payload, model, queries
from node.ledger.keys import canonical_reg_id, canonical_text, document_id, lei_valid, uscc_check_char, uscc_valid
from node.ledger.state import Overlay
from tests.ledger.world import CNY, REG_ID, World


@pytest.fixture
def w() -> World:
    return World()


def anchor(w: World, who: str = "sup1", number: str = "INV-7", **extra: object) -> dict:
    return w.do(who, "anchor_document", **w.anchor_payload(number, total=500, **extra))


def doc_of(w: World, doc_id: str) -> dict:
    found = queries.get_document(w.reader, doc_id)
    assert found is not None
    return found


# -- canonical business keys (must show 1) -----------------------------------------------------

DASHES = ["\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d"]
FORMAT = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e"]
SPACES = [" ", "  ", "\u00a0", "\u3000", "\u2003"]
KEY_CHARS = st.sampled_from("ABCDEFGHJKMNPQRTWXYZabcdefghijkmnpqrtwxyz0123456789")


@st.composite
def business_numbers(draw: st.DrawFn) -> str:
    """Invoice numbers like ``INV-2026 0042``: words of letters and digits joined by '-', '/' or ' '."""
    words = draw(st.lists(st.text(KEY_CHARS, min_size=1, max_size=6), min_size=1, max_size=4))
    seps = [draw(st.sampled_from(["-", "/", " "])) for _ in words[1:]]
    return words[0] + "".join(sep + word for sep, word in zip(seps, words[1:], strict=True))


@st.composite
def variant_of(draw: st.DrawFn, number: str) -> str:
    """The same number as a careless or dishonest clerk might type it."""
    out = []
    for ch in number:
        if ch.isalpha() and draw(st.booleans()):
            ch = ch.swapcase()
        if ch == "-":
            ch = draw(st.sampled_from(["-", *DASHES]))
        elif ch == " ":
            ch = draw(st.sampled_from(SPACES))
        elif "!" <= ch <= "~" and draw(st.integers(0, 3)) == 0:
            ch = chr(ord(ch) + 0xFEE0)  # the full-width form
        if draw(st.integers(0, 4)) == 0:
            ch += draw(st.sampled_from(FORMAT))
        out.append(ch)
    lead = draw(st.sampled_from(["", *SPACES, *FORMAT]))
    tail = draw(st.sampled_from(["", *SPACES, *FORMAT]))
    return lead + "".join(out) + tail


@st.composite
def number_and_variant(draw: st.DrawFn) -> tuple[str, str]:
    number = draw(business_numbers())
    return number, draw(variant_of(number))


@settings(max_examples=400, deadline=None, derandomize=True)
@given(number_and_variant())
def test_every_variant_of_a_key_has_the_same_id(pair: tuple[str, str]) -> None:
    number, variant = pair
    assert document_id("invoice", variant, REG_ID, "uscc") == document_id("invoice", number, REG_ID, "uscc")
    canonical = canonical_text(variant, "number")
    assert canonical_text(canonical, "number") == canonical  # idempotent


@settings(max_examples=500, deadline=None, derandomize=True)
@given(st.text(max_size=40))
def test_canonical_forms_are_fixed_points_for_any_text(text: str) -> None:
    """Whatever the input, its canonical form canonicalises to itself (so a stored key, looked up
    again, finds itself) and holds no control, format, dash look-alike or doubled-space character."""
    try:
        canonical = canonical_text(text, "number")
    except LedgerError as exc:
        assert exc.code is Code.INVALID_BUSINESS_KEY
        return
    assert canonical_text(canonical, "number") == canonical
    assert canonical == canonical.strip() and "  " not in canonical
    assert not any(ch in canonical for ch in [*DASHES, *FORMAT, "\u00a0", "\u3000"])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(business_numbers(), business_numbers())
def test_distinct_keys_stay_distinct(a: str, b: str) -> None:
    if " ".join(a.split()).casefold() != " ".join(b.split()).casefold():
        assert document_id("invoice", a, REG_ID, "uscc") != document_id("invoice", b, REG_ID, "uscc")
    assert document_id("invoice", a, REG_ID, "uscc") != document_id("contract", a, REG_ID, "uscc")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(number_and_variant(), st.sampled_from([" ", "-", "", "\u3000"]))
def test_a_second_anchoring_of_any_variant_is_refused(pair: tuple[str, str], reg_sep: str) -> None:
    number, variant = pair
    w = World()
    first = w.ok("sup1", "anchor_document", **w.anchor_payload(number, hash="ab" * 32))[0]["document"]
    reg_variant = reg_sep.join([REG_ID[:8].lower(), REG_ID[8:]])  # the same USCC, spaced and in lower case
    message = w.fails("DOCUMENT_EXISTS", "sup1", "anchor_document",
                      **w.anchor_payload(variant, issuer_reg_id=reg_variant, hash="cd" * 32))
    assert first in message


def test_the_seven_variants_of_the_finding_are_one_document(w: World) -> None:
    variants = ["INV-001", "INV-001 ", "inv-001", " INV-001", "INV\u2011001", "INV-001\u200b"]
    first = w.ok("sup1", "anchor_document", **w.anchor_payload(variants[0]))[0]["document"]
    for number in variants[1:]:
        w.fails("DOCUMENT_EXISTS", "sup1", "anchor_document", **w.anchor_payload(number, hash="cd" * 32))
    w.fails("DOCUMENT_EXISTS", "sup1", "anchor_document",
            **w.anchor_payload("INV-001", issuer_reg_id=REG_ID.lower(), hash="cd" * 32))
    assert doc_of(w, first)["number"] == "inv-001"
    assert doc_of(w, first)["issuer_reg_id"] == REG_ID


def test_control_characters_are_refused_with_the_canonical_form() -> None:
    with pytest.raises(LedgerError) as caught:
        canonical_text("INV-\x00001", "number")
    assert caught.value.code is Code.INVALID_BUSINESS_KEY
    assert "U+0000" in caught.value.message and "'inv-001'" in caught.value.message


def test_a_key_that_cannot_be_canonicalised_is_refused_before_the_mempool(w: World) -> None:
    for number, code in (("INV\n1", "INVALID_BUSINESS_KEY"), ("\u200b \u200b", "INVALID_BUSINESS_KEY")):
        with pytest.raises(LedgerError) as caught:
            check_payload("anchor_document", w.anchor_payload(number))
        assert caught.value.code.value == code
        w.fails(code, "sup1", "anchor_document", **w.anchor_payload(number))


def test_unknown_document_types_are_refused(w: World) -> None:
    w.fails("INVALID_PAYLOAD", "sup1", "anchor_document", **w.anchor_payload(doc_type="receipt"))


# -- registration ids (must show 4) ------------------------------------------------------------

# Published codes (e.g. the example in GB 32100-2015 commentaries) and codes built with the
# standard's algorithm: check = 31 - (sum of value * 3^i mod 31 over the first 17) mod 31.
USCC_VALID = ["91350100M000100Y43", "91110000600037341L", REG_ID, "91310115MA1K3YJ01C", "12100000400000624D"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@pytest.mark.parametrize("code", USCC_VALID)
def test_valid_uscc_codes_are_accepted(code: str) -> None:
    assert uscc_valid(code) and uscc_check_char(code[:17]) == code[17]
    assert canonical_reg_id(code.lower(), "uscc") == code
    assert canonical_reg_id(f" {code[:6]}-{code[6:]} ", "uscc") == code


@pytest.mark.parametrize("code", USCC_VALID)
def test_any_one_altered_character_of_a_uscc_is_refused(code: str) -> None:
    refused = 0
    for position in range(18):
        for ch in USCC_CHARS:
            if ch == code[position]:
                continue
            altered = code[:position] + ch + code[position + 1:]
            with pytest.raises(LedgerError) as caught:
                canonical_reg_id(altered, "uscc")
            assert caught.value.code is Code.INVALID_REG_ID
            refused += 1
    assert refused == 18 * 30


def test_uscc_shape_errors_and_the_ledger_refusal(w: World) -> None:
    for bad in ("9131000MA1FL2026R", "91310000MA1FL2O26R", "91310000MA1FL2026S"):  # 17 chars; letter O; S
        with pytest.raises(LedgerError):
            canonical_reg_id(bad, "uscc")
    message = w.fails("INVALID_REG_ID", "sup1", "anchor_document", **w.anchor_payload(issuer_reg_id=REG_ID[:17] + "Q"))
    assert "should be 'R'" in message


def test_other_kinds() -> None:
    assert lei_valid("5493001KJTIIGC8Y1R12") and not lei_valid("5493001KJTIIGC8Y1R13")
    assert canonical_reg_id("5493 001k jtii gc8y 1r12", "lei") == "5493001KJTIIGC8Y1R12"
    with pytest.raises(LedgerError):
        canonical_reg_id("5493001KJTIIGC8Y1R13", "lei")
    assert canonical_reg_id("  DE\u2011HRB 12345 ", "other") == "de-hrb 12345"
    # a USCC or LEI can't dodge its check, or become a second key, by being declared "other"
    for code in (REG_ID, REG_ID.lower(), "5493001KJTIIGC8Y1R12"):
        with pytest.raises(LedgerError) as caught:
            canonical_reg_id(code, "other")
        assert caught.value.code is Code.INVALID_REG_ID


# -- one file, one document (must show 2) ------------------------------------------------------

def test_the_same_file_under_another_key_is_refused(w: World) -> None:
    first = anchor(w, hash="ab" * 32)["events"][0]["document"]
    message = w.fails("DOCUMENT_HASH_EXISTS", "sup1", "anchor_document", **w.anchor_payload("INV-8", hash="ab" * 32))
    assert first in message
    w.fails("DOCUMENT_HASH_EXISTS", "sup2", "anchor_document",
            **w.anchor_payload("X-1", seller="sup2", buyer="core2", issuer_reg_id="91310115MA1K3YJ01C", hash="ab" * 32))
    assert anchor(w, number="INV-8", hash="cd" * 32)["ok"]


# -- anchoring -----------------------------------------------------------------------------------

def test_anchor_by_the_seller_is_unconfirmed(w: World) -> None:
    result = anchor(w)
    doc_id = document_id("invoice", "INV-7", REG_ID, "uscc")
    assert result["events"] == [{"type": "document_anchored", "document": doc_id, "total": 500, "currency": CNY,
                                 "seller": w.addr("sup1"), "buyer": w.addr("core"), "status": "unconfirmed",
                                 "accounts": sorted([w.addr("sup1"), w.addr("core")]), "warrants": []}]
    doc = doc_of(w, doc_id)
    assert doc["total"] == 500 and doc["allocated"] == 0 and doc["allocations"] == []
    assert doc["anchored_by"] == w.addr("sup1") and doc["hash"] == "ab" * 32 and doc["status"] == "unconfirmed"
    assert doc["dispute"] is None and [h["type"] for h in doc["history"]] == ["anchor"]


def test_anchor_by_the_buyer_is_its_confirmation(w: World) -> None:
    assert anchor(w, who="core")["events"][0]["status"] == "confirmed"


@pytest.mark.parametrize("stranger", ["core2", "sup2", "bank", "reg"])
def test_a_stranger_of_any_role_cannot_anchor_another_companys_invoice(w: World, stranger: str) -> None:
    w.fails("NOT_DOCUMENT_PARTY", stranger, "anchor_document", **w.anchor_payload())
    anchor(w)  # the rightful seller is not locked out


@pytest.mark.parametrize(("seller", "buyer", "code"), [
    ("reg", "core", "WRONG_ROLE"), ("sup1", "reg", "WRONG_ROLE"), ("sup1", "sup2", "WRONG_ROLE"),
    ("bank", "core", "WRONG_ROLE"), ("sup1", "sup1", "INVALID_PAYLOAD"),
])
def test_parties_must_be_a_supplier_and_a_core_enterprise(w: World, seller: str, buyer: str, code: str) -> None:
    w.fails(code, seller, "anchor_document", **w.anchor_payload(seller=seller, buyer=buyer))


def test_unregistered_sender(w: World) -> None:
    w.fails("UNKNOWN_SENDER", "stranger", "anchor_document", **w.anchor_payload(seller="stranger"))


def test_total_zero_and_bad_hash(w: World) -> None:
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "anchor_document", **w.anchor_payload(total=0))
    w.fails("INVALID_PAYLOAD", "sup1", "anchor_document", **w.anchor_payload(hash="AB" * 32))


# -- confirmation, disputes and allocation (must show 3) ---------------------------------------

def test_only_a_confirmed_document_backs_an_issuance(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000, confirm=False)
    w.fails("DOCUMENT_UNCONFIRMED", "core", "issue", **w.issue_payload(amount=600, doc=doc))
    for other in ("sup1", "core2", "reg", "bank"):
        w.fails("NOT_DOCUMENT_PARTY", other, "confirm_document", doc=doc)
    events = w.ok("core", "confirm_document", doc=doc)
    assert events == [{"type": "document_confirmed", "document": doc, "buyer": w.addr("core"), "seller": w.addr("sup1"),
                       "accounts": sorted([w.addr("core"), w.addr("sup1")]), "warrants": []}]
    w.fails("DOCUMENT_CONFIRMED", "core", "confirm_document", doc=doc)
    w.issue(amount=600, doc=doc)
    assert [h["type"] for h in doc_of(w, doc)["history"]] == ["anchor", "confirm"]


def test_an_issuance_allocates_only_from_its_own_debt_to_its_payee(w: World) -> None:
    w.credit()
    w.credit(core="core2")
    doc = w.anchor(total=1_000)  # sup1's invoice, owed by core
    message = w.fails("DOCUMENT_PARTY_MISMATCH", "core2", "issue", **w.issue_payload(amount=500, doc=doc))
    assert "debtor" in message
    w.fails("DOCUMENT_PARTY_MISMATCH", "core", "issue", **w.issue_payload(to="sup2", amount=500, doc=doc))
    wid = w.issue(amount=1_000, doc=doc)  # the rightful core is not locked out
    assert w.warrant(wid)["documents"] == [{"ref": doc, "amount": 1_000}]


def test_a_disputed_document_backs_nothing_new_and_its_warrants_show_the_dispute(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000)
    wid = w.issue(amount=400, doc=doc)
    child, _ = w.transfer("sup1", wid, "sup2", 100)
    for who in ("core", "sup1", "bank", "core2"):  # the buyer confirmed it: only a regulator disputes now
        w.fails("DOCUMENT_CONFIRMED" if who == "core" else "NOT_DOCUMENT_PARTY", who, "dispute_document",
                doc=doc, reason="forged")
    events = w.ok("reg", "dispute_document", doc=doc, reason="tax bureau: invoice void")
    assert events[0]["type"] == "document_disputed" and events[0]["backing"] == [wid]
    w.fails("DOCUMENT_DISPUTED", "reg", "dispute_document", doc=doc, reason="again")
    w.fails("DOCUMENT_DISPUTED", "core", "issue", **w.issue_payload(amount=100, doc=doc))
    for warrant in (wid, child):
        disputes = w.warrant(warrant)["document_disputes"]
        assert [(d["document"], d["reason"], d["by"]) for d in disputes] == [(doc, "tax bureau: invoice void", w.addr("reg"))]
    tree = queries.lineage(w.reader, child)
    assert tree is not None and tree["document_disputes"][0]["document"] == doc
    for who in ("core", "sup1"):
        w.fails("NOT_DOCUMENT_PARTY", who, "undispute_document", doc=doc, reason="mine")
    w.ok("reg", "undispute_document", doc=doc, reason="bureau withdrew its notice")
    w.fails("DOCUMENT_NOT_DISPUTED", "reg", "undispute_document", doc=doc, reason="again")
    assert w.warrant(child)["document_disputes"] == []
    assert [(h["type"], h["reason"]) for h in doc_of(w, doc)["history"]] == [
        ("anchor", None), ("confirm", None), ("dispute", "tax bureau: invoice void"),
        ("undispute", "bureau withdrew its notice")]
    w.issue(amount=100, doc=doc)  # backs issuances again


def test_the_debtor_disputes_instead_of_confirming_and_may_withdraw(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000, confirm=False)
    w.ok("core", "dispute_document", doc=doc, reason="goods not received")
    w.fails("DOCUMENT_DISPUTED", "core", "confirm_document", doc=doc)
    w.fails("NOT_DOCUMENT_PARTY", "core2", "undispute_document", doc=doc, reason="x")
    w.ok("core", "undispute_document", doc=doc, reason="goods arrived")
    w.ok("core", "confirm_document", doc=doc)
    w.issue(amount=1_000, doc=doc)


def test_a_regulators_dispute_is_lifted_only_by_a_regulator(w: World) -> None:
    doc = w.anchor(total=1_000, confirm=False)
    w.ok("reg", "dispute_document", doc=doc, reason="under review")
    w.fails("NOT_DOCUMENT_PARTY", "core", "undispute_document", doc=doc, reason="x")
    w.fails("UNKNOWN_DOCUMENT", "reg", "dispute_document", doc="ee" * 32, reason="x")


def test_allocation_recorded_and_limited(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000)
    wid = w.issue(amount=600, doc=doc)
    found = doc_of(w, doc)
    assert found["allocated"] == 600 and found["allocations"] == [{"ref": wid, "amount": 600}]
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **w.issue_payload(amount=401, doc=doc))
    w.issue(amount=400, doc=doc)
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **w.issue_payload(amount=1, doc=doc))
    allocations = queries.document_allocations(w.reader, doc)
    assert allocations is not None and allocations["free"] == 0
    assert [(a["warrant"], a["amount"], a["status"], a["outstanding"]) for a in allocations["allocations"]] == [
        (wid, 600, "active", 600), (allocations["allocations"][1]["warrant"], 400, "active", 400)]


def test_an_accounts_documents(w: World) -> None:
    mine = sorted(w.anchor(number=f"N-{i}", total=10, confirm=False) for i in range(5))
    other = w.anchor(number="O-1", seller="sup2", buyer="core2", total=10, confirm=False)
    page = queries.account_documents(w.reader, w.addr("sup1"), limit=3)
    assert [d["id"] for d in page["documents"]] == mine[:3] and page["next"] == mine[2]
    rest = queries.account_documents(w.reader, w.addr("sup1"), limit=3, after=page["next"])
    assert [d["id"] for d in rest["documents"]] == mine[3:] and rest["next"] is None
    assert [d["id"] for d in queries.account_documents(w.reader, w.addr("core2"))["documents"]] == [other]
    assert len(queries.account_documents(w.reader, w.addr("core"))["documents"]) == 5


# -- allocations under keys of their own (issue 16: a document's record stays bounded) --------


def test_a_documents_record_stays_the_same_size_however_many_issuances_it_backs(w: World) -> None:
    """A core enterprise issuing many small warrants against one large invoice: each issue used to
    rewrite the whole allocation list (and hash it twice into the state root) on every node."""
    w.credit(limit=10**12)
    doc = w.anchor(total=10**9)
    sizes, wids = [], []
    for _ in range(40):
        wids.append(w.issue(amount=1_000, doc=doc, accept=False))
        sizes.append(len(w.reader.data[model.key_document(doc)]))
        w.advance(1)
    assert max(sizes) - min(sizes) <= 2, sizes  # only the digits of "allocated" change
    found = doc_of(w, doc)
    assert found["allocated"] == 40_000
    assert found["allocations"] == [{"ref": wid, "amount": 1_000} for wid in wids]  # in order of issue
    listed = queries.document_allocations(w.reader, doc)
    assert listed is not None and [a["warrant"] for a in listed["allocations"]] == wids


def test_a_rejected_issuance_gives_its_allocation_back_and_leaves_no_key(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000)
    kept = w.issue(amount=300, doc=doc)
    w.advance(5)
    refused = w.issue(amount=700, doc=doc, accept=False)
    w.ok("sup1", "reject", warrant=refused)
    found = doc_of(w, doc)
    assert found["allocated"] == 300 and found["allocations"] == [{"ref": kept, "amount": 300}]
    assert [k for k in w.reader.data if k.startswith(model.allocation_prefix(doc))] == [
        model.key_allocation(doc, w.warrant(kept)["issued_at"], kept)]
    w.issue(amount=700, doc=doc)  # the freed 700 backs a new issuance


def test_an_issue_that_fails_on_its_second_document_leaves_no_allocation_on_the_first(w: World) -> None:
    w.credit()
    first = w.anchor(number="INV-A", total=1_000)
    second = w.anchor(number="INV-B", total=10)
    payload = w.issue_payload(amount=1_500, doc=first)
    payload["documents"] = [{"doc": first, "amount": 1_000}, {"doc": second, "amount": 500}]
    w.fails("DOCUMENT_OVER_ALLOCATED", "core", "issue", **payload)  # also checks nothing else was written
    assert doc_of(w, first)["allocations"] == [] and doc_of(w, first)["allocated"] == 0


def test_a_dispute_names_the_issuances_allocated_earlier_in_the_same_block(w: World) -> None:
    w.credit()
    doc = w.anchor(total=1_000)
    before = w.issue(amount=100, doc=doc)
    issue = w.tx("core", "issue", w.issue_payload(amount=200, doc=doc))
    dispute = w.tx("reg", "dispute_document", {"doc": doc, "reason": "forged stamp"})
    results = w.block([issue, dispute])
    assert results[0]["ok"] and results[1]["ok"], results
    same_block = results[0]["events"][0]["warrant"]
    event = results[1]["events"][0]
    assert sorted(event["backing"]) == sorted([before, same_block]) and event["warrants"] == event["backing"]


def test_disputing_a_document_that_backs_nothing_does_not_scan_the_blocks_writes(w: World, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A buyer may dispute and undispute its own unconfirmed document as often as it likes; each
    scan would be a pass over the whole block's writes on every validator."""
    doc = w.anchor(total=1_000, confirm=False)
    scans: list[bytes] = []
    real = Overlay.scan
    monkeypatch.setattr(Overlay, "scan", lambda self, prefix: scans.append(prefix) or real(self, prefix))
    events = w.ok("core", "dispute_document", doc=doc, reason="goods not received")
    assert events[0]["backing"] == [] and scans == []
    w.ok("core", "undispute_document", doc=doc, reason="goods arrived")
    assert scans == []
    w.ok("core", "confirm_document", doc=doc)
    wid = w.issue(amount=100, doc=doc)
    events = w.ok("reg", "dispute_document", doc=doc, reason="under review")
    assert events[0]["backing"] == [wid] and scans == [model.allocation_prefix(doc)]
