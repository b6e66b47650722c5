"""A warrant's or document's history: the first HISTORY_INLINE entries in its record, the rest under
keys of their own, so no sequence of transactions can make a record (and each rewrite of it) grow
without end."""

from __future__ import annotations

import pytest

from node.kernel import codec
from node.ledger import model, queries
from tests.ledger.world import World

INLINE = model.HISTORY_INLINE


@pytest.fixture
def w() -> World:
    return World()


def spilled(w: World, wid: str) -> list[bytes]:
    return sorted(k for k in w.reader.data if k.startswith(model.history_prefix(wid)))


def cycle(w: World, wid: str, times: int) -> None:
    """``times`` freeze + unfreeze pairs by the regulator: two history entries each."""
    for _ in range(times):
        w.ok("reg", "freeze", warrant=wid, reason="check")
        w.ok("reg", "unfreeze", warrant=wid, reason="done")


def test_a_short_history_stays_in_the_record(w: World) -> None:
    wid = w.issue()
    offered, _ = w.transfer("sup1", wid, "sup2", 10)
    record = codec.decode(w.reader.data[model.key_warrant(wid)])
    assert [h["type"] for h in record["history"]] == ["issue", "accept", "transfer"]
    assert spilled(w, wid) == [] and spilled(w, offered) == []
    assert w.warrant(wid)["history"] == record["history"]


def test_a_long_history_spills_and_the_record_stops_growing(w: World) -> None:
    wid = w.issue()  # issue, accept: 2 entries
    cycle(w, wid, (INLINE - 2) // 2)
    full = len(w.reader.data[model.key_warrant(wid)])
    assert spilled(w, wid) == []
    cycle(w, wid, 5)
    record = codec.decode(w.reader.data[model.key_warrant(wid)])
    assert len(record["history"]) == INLINE and len(w.reader.data[model.key_warrant(wid)]) == full
    keys = spilled(w, wid)
    assert len(keys) == 10 and keys == sorted(keys)
    # the query shows all of them, in the order they happened
    history = w.warrant(wid)["history"]
    assert [h["type"] for h in history] == ["issue", "accept"] + ["freeze", "unfreeze"] * ((INLINE - 2) // 2 + 5)
    assert [h["height"] for h in history] == sorted(h["height"] for h in history)
    assert "history_truncated" not in w.warrant(wid)


def test_entries_of_one_block_keep_their_order_beyond_the_record(w: World) -> None:
    wid = w.issue()
    cycle(w, wid, INLINE)
    txs = [w.tx("reg", kind, {"warrant": wid, "reason": "r"}) for kind in ("freeze", "unfreeze", "freeze")]
    assert all(r["ok"] for r in w.block(txs))
    assert [h["type"] for h in w.warrant(wid)["history"]][-3:] == ["freeze", "unfreeze", "freeze"]


def test_a_failed_transaction_leaves_no_entry(w: World) -> None:
    wid = w.issue()
    cycle(w, wid, INLINE)
    before = spilled(w, wid)
    w.fails("WARRANT_NOT_FROZEN", "reg", "unfreeze", warrant=wid, reason="x")
    w.fails("AMOUNT_EXCEEDS_WARRANT", "sup1", "transfer", warrant=wid, to=w.addr("sup2"), amount=10**9,
            offer_expires=w.time + 3_600_000)
    assert spilled(w, wid) == before


def test_answers_are_bounded(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    wid = w.issue()
    cycle(w, wid, INLINE)
    everything = w.warrant(wid)["history"]
    inline = model.load(w.reader.data[model.key_warrant(wid)], model.Warrant).history
    entries, more = model.history_of(w.reader, inline, model.history_prefix(wid), model.HistoryEntry, 3)
    assert [codec.decode(codec.encode(e)) for e in entries] == everything[:3] and more
    for limit in (INLINE - 1, INLINE + 1):
        monkeypatch.setattr(queries, "MAX_HISTORY", limit)
        found = w.warrant(wid)
        assert found["history"] == everything[:limit] and found["history_truncated"] is True
        assert queries.lineage(w.reader, wid)["history_truncated"] is True  # type: ignore[index]


def test_a_document_history_spills_too(w: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """A buyer may dispute a document it has not confirmed and lift its own dispute, again and again."""
    doc = w.anchor(who="sup1", number="INV-LOOP", buyer="core", confirm=False)
    for _ in range(INLINE):
        w.ok("core", "dispute_document", doc=doc, reason="checking")
        w.ok("core", "undispute_document", doc=doc, reason="checked")
    record = codec.decode(w.reader.data[model.key_document(doc)])
    assert len(record["history"]) == INLINE
    keys = sorted(k for k in w.reader.data if k.startswith(model.doc_history_prefix(doc)))
    assert len(keys) == 2 * INLINE + 1 - INLINE
    found = queries.get_document(w.reader, doc)
    assert found is not None
    assert [h["type"] for h in found["history"]] == ["anchor"] + ["dispute", "undispute"] * INLINE
    assert "history_truncated" not in found
    monkeypatch.setattr(queries, "MAX_HISTORY", 3)
    found = queries.get_document(w.reader, doc)
    assert found is not None and len(found["history"]) == 3 and found["history_truncated"] is True
