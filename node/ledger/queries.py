"""Read-only queries for the RPC, over committed state (a StateReader). All return plain dicts.

Shapes (docs/LEDGER.md has them with examples):

- ``get_account``   → Account fields ``{address, name, role, registered_height, registered_by}``;
- ``get_warrant``   → Warrant fields (see node.ledger.model.Warrant), plus ``history`` (the
  entries in the record, then those under its ``wh/`` keys: at most :data:`MAX_HISTORY`, oldest
  first; ``history_truncated`` is true when there are more) and ``outstanding`` (amount - paid);
- ``lineage``       → the tree from the warrant's root issuance: each node is a warrant dict
  with ``children`` replaced by a list of child nodes; ``documents`` of the root list the backing;
- ``descendants``   → ``{warrant, warrants: [warrant dict without history], next}``: a page of the
  subtree in ``lineage``'s order, ``children`` as ids, resumable ``after`` any warrant of it;
- ``holdings``      → ``{address, held: [warrant dict without history], incoming: [...],
  held_outstanding, incoming_outstanding, held_count, incoming_count, next_offset}`` (totals in
  fen; ``held_outstanding`` leaves out offers the account made that are still pending; both lists
  hold the page ``offset`` .. ``offset + limit``, totals and counts are over all of them);
- ``get_warrant`` and ``lineage`` also carry ``document_disputes``: the disputes on the documents
  backing the warrant's issuance ``[{document, by, reason, tx, height}]`` (empty if none);
- ``get_document``  → Document fields with ``allocations`` ``[{ref: warrant id, amount}]``,
  ``dispute`` and ``history`` (whole, bounded as a warrant's; the RPC pages the allocations);
- ``account_documents`` → ``{address, documents: [document dict without history], next}``:
  documents naming the address as seller or buyer, in id order, at most ``limit`` from ``after``;
- ``document_allocations`` → ``{document, total, allocated, free, allocations: [{warrant, amount,
  status, outstanding}]}``: the issuances it backs, how much each, and what is left of them;
- ``get_credit_line`` → CreditLine fields plus ``available`` (limit - used).

Unknown ids return None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from node.errors import QueryCursorError, QueryTooLarge
from node.ledger import model
from node.ledger.model import Account, CreditLine, DocEntry, Document, HistoryEntry, Warrant
from node.ledger.state import StateReaderLike

__all__ = [
    "account_documents",
    "descendants",
    "document_allocations",
    "document_disputes",
    "get_account",
    "get_credit_line",
    "get_document",
    "get_warrant",
    "holdings",
    "lineage",
]

MAX_HISTORY = 1_000  # entries per warrant in an answer: a holder and a financier can make more
# Levels of splits a lineage answer may nest: JSON encoders recurse once per level (msgspec and
# Python's json stop near 500 nested objects and lists, two per level here).
MAX_TRACE_DEPTH = 200


def _plain(record: Any) -> dict[str, Any]:
    return msgspec.to_builtins(record)  # type: ignore[no-any-return]


def outstanding(status: str, amount: int, paid: int) -> int:
    """What the warrant itself is still owed: amount - paid while live; 0 once terminal (a
    consumed warrant's value lives on in its children, so its own figure would count it twice)."""
    return amount - paid if status in model.LIVE else 0


def _with_history(reader: StateReaderLike, out: dict[str, Any], inline: list[Any], prefix: bytes, kind: type) -> None:
    """Give ``out`` (a record as a dict) its whole history, at most MAX_HISTORY entries."""
    if len(inline) >= model.HISTORY_INLINE or len(inline) > MAX_HISTORY:
        entries, truncated = model.history_of(reader, inline, prefix, kind, MAX_HISTORY)
        out["history"] = _plain(entries)
        if truncated:
            out["history_truncated"] = True


def _warrant(reader: StateReaderLike, warrant: Warrant) -> dict[str, Any]:
    """A warrant as the queries show it: its fields, its whole (bounded) history, ``outstanding``."""
    out = model.warrant_fields(warrant)
    _with_history(reader, out, warrant.history, model.history_prefix(warrant.id), HistoryEntry)
    out["outstanding"] = outstanding(warrant.status, warrant.amount, warrant.paid)
    return out


def get_account(reader: StateReaderLike, address: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_account(address))
    if raw is None:
        admin = reader.get(model.key_admin(address))
        return None if admin is None else {"address": address, "role": "admin", "name": "", "registered_height": 0,
                                           "registered_by": "genesis"}
    return _plain(model.load(raw, Account))


def get_warrant(reader: StateReaderLike, wid: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_warrant(wid))
    if raw is None:
        return None
    out = _warrant(reader, model.load_warrant(reader.get, raw))
    out["document_disputes"] = document_disputes(reader, out["root"])
    return out


def document_disputes(reader: StateReaderLike, root: str) -> list[dict[str, Any]]:
    """Disputes on the documents backing issuance ``root``: a warrant shows what its paper is worth."""
    raw = reader.get(model.key_warrant(root))
    if raw is None:
        return []
    out = []
    for allocation in model.load_warrant(reader.get, raw).documents:
        doc_raw = reader.get(model.key_document(allocation.ref))
        if doc_raw is None:
            continue
        dispute = model.load(doc_raw, Document).dispute
        if dispute is not None:
            out.append({"document": allocation.ref, **_plain(dispute)})
    return out


def lineage(reader: StateReaderLike, wid: str) -> dict[str, Any] | None:
    """The whole tree of ``wid``'s issuance, from the root down: every split, transfer,
    financing and settlement appears in some node's ``history`` with its tx id and height.

    Each split nests the tree one level deeper; past :data:`MAX_TRACE_DEPTH` levels the answer
    could not be encoded as JSON (nor drawn), so the query refuses it (``TRACE_TOO_DEEP``).
    """
    raw = reader.get(model.key_warrant(wid))
    if raw is None:
        return None
    root = model.load_warrant(reader.get, raw).root
    depth: dict[str, int] = {}
    nodes = {}
    for w in model.iter_walk(reader.get, root):  # parents before their children
        depth[w.id] = level = depth[w.parent] + 1 if w.parent in depth else 0
        if level > MAX_TRACE_DEPTH:
            raise QueryTooLarge(
                f"the tree of issuance {root} is nested more than {MAX_TRACE_DEPTH} splits deep, too deep for "
                "warrant_trace; page through it with warrant_descendants, or prove one warrant with warrant_proof",
                MAX_TRACE_DEPTH, "TRACE_TOO_DEEP")
        nodes[w.id] = _warrant(reader, w)
    for node in nodes.values():
        node["children"] = [nodes[child] for child in node["children"]]
    tree = nodes[root]
    tree["document_disputes"] = document_disputes(reader, root)
    return tree


def descendants(reader: StateReaderLike, wid: str, after: str | None = None, limit: int = 100) -> dict[str, Any] | None:
    """A page of ``wid``'s subtree, flat, in the depth-first order of :func:`lineage` (``wid``
    first): ``{warrant, warrants: [warrant dict without history, children as ids], next}``; ``next``
    is the id to pass as ``after`` for the page that follows, or None after the last.

    However large the tree, a page costs its warrants and the climbs from a leaf to the next
    branch, not the warrants before it; the last page climbs back to ``wid`` to find nothing
    follows, and a cursor under a warrant that is not an issuance is checked by climbing from it.
    Raises QueryCursorError if ``after`` is not in the subtree.
    """
    raw = reader.get(model.key_warrant(wid))
    if raw is None:
        return None
    loaded = {wid: model.load_warrant(reader.get, raw)}

    def load(ident: str) -> Warrant | None:
        if ident not in loaded:
            found = reader.get(model.key_warrant(ident))
            if found is None:
                return None
            loaded[ident] = model.load_warrant(reader.get, found)
        return loaded[ident]

    def successor(warrant: Warrant) -> Warrant | None:
        """The next warrant of the subtree in depth-first order (records are never deleted)."""
        if warrant.children:
            return load(warrant.children[0])
        while warrant.id != wid:
            assert warrant.parent is not None  # below wid, so not an issuance
            parent = load(warrant.parent)
            assert parent is not None  # warrant records are never deleted
            siblings = parent.children
            index = siblings.index(warrant.id)
            if index + 1 < len(siblings):
                return load(siblings[index + 1])
            warrant = parent
        return None

    if after is None:
        current: Warrant | None = loaded[wid]
    else:
        start = load(after)
        if start is None:
            raise QueryCursorError(f"warrant {after} does not exist, so it can't be a cursor into the tree of {wid}")
        if not _under(load, start, loaded[wid]):
            raise QueryCursorError(f"warrant {after} is not a descendant of {wid}")
        current = successor(start)
    page: list[dict[str, Any]] = []
    while current is not None and len(page) < limit:
        page.append(_brief(current, outstanding(current.status, current.amount, current.paid)))
        current = successor(current)
    return {"warrant": wid, "warrants": page, "next": page[-1]["id"] if current is not None and page else None}


def _under(load: Callable[[str], Warrant | None], warrant: Warrant, top: Warrant) -> bool:
    """Whether ``warrant`` is ``top`` or below it: for an issuance its root says so, else climb."""
    if top.parent is None:
        return warrant.root == top.id
    at: Warrant | None = warrant
    while at is not None and at.id != top.id:
        at = None if at.parent is None else load(at.parent)
    return at is not None


def _brief(warrant: Warrant, owed: int) -> dict[str, Any]:
    """A warrant as the lists show it: its fields without its history, and ``outstanding``."""
    item = model.warrant_fields(warrant)
    item["outstanding"] = owed
    del item["history"]
    return item


def _listed(reader: StateReaderLike, prefix: bytes, offset: int, limit: int | None) -> tuple[list[dict[str, Any]], int, int]:
    """(the page of warrants under ``prefix``, how many there are, their total outstanding)."""
    out: list[dict[str, Any]] = []
    count = outstanding = 0
    cut = len(prefix)
    for key, _ in reader.scan(prefix):
        raw = reader.get(model.key_warrant(key[cut:].decode()))
        if raw is None:
            continue
        warrant = model.load_warrant(reader.get, raw)
        if prefix.startswith(b"in/") or warrant.status != "pending":
            outstanding += warrant.amount - warrant.paid
        if count >= offset and (limit is None or len(out) < limit):
            out.append(_brief(warrant, warrant.amount - warrant.paid))
        count += 1
    return out, count, outstanding


def holdings(reader: StateReaderLike, address: str, *, offset: int = 0, limit: int | None = None) -> dict[str, Any]:
    """Live warrants the account holds (including offers it made that are still pending) and
    offers made to it; a page of each when ``limit`` is given. Only the page is kept in memory."""
    held, held_count, held_outstanding = _listed(reader, b"hold/" + address.encode() + b"/", offset, limit)
    incoming, incoming_count, incoming_outstanding = _listed(reader, b"in/" + address.encode() + b"/", offset, limit)
    end = None if limit is None else offset + limit
    more = end is not None and end < max(held_count, incoming_count)
    return {
        "address": address,
        "held": held,
        "incoming": incoming,
        "held_outstanding": held_outstanding,
        "incoming_outstanding": incoming_outstanding,
        "held_count": held_count,
        "incoming_count": incoming_count,
        "next_offset": end if more else None,
    }


def get_document(reader: StateReaderLike, doc_id: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_document(doc_id))
    if raw is None:
        return None
    doc: Document = model.load(raw, Document)
    out = _document(reader, doc)
    _with_history(reader, out, doc.history, model.doc_history_prefix(doc.id), DocEntry)
    return out


def _document(reader: StateReaderLike, doc: Document) -> dict[str, Any]:
    """A document's record with its ``allocations`` (kept under keys of their own)."""
    out = _plain(doc)
    out["allocations"] = _plain(model.allocations_of(reader, doc.id))
    return out


MAX_PAGE = 500


def account_documents(reader: StateReaderLike, address: str, limit: int = 100, after: str | None = None) -> dict[str, Any]:
    """Documents naming ``address`` as a party, ``limit`` (at most MAX_PAGE) of them after id ``after``."""
    limit = max(1, min(limit, MAX_PAGE))
    prefix = b"pdoc/" + address.encode() + b"/"
    cut = len(prefix)
    out: list[dict[str, Any]] = []
    next_after = None
    for key, _ in reader.scan(prefix):
        doc_id = key[cut:].decode()
        if after is not None and doc_id <= after:
            continue
        if len(out) == limit:
            next_after = out[-1]["id"]
            break
        raw = reader.get(model.key_document(doc_id))
        if raw is not None:
            item = _document(reader, model.load(raw, Document))
            del item["history"]
            out.append(item)
    return {"address": address, "documents": out, "next": next_after}


def document_allocations(reader: StateReaderLike, doc_id: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_document(doc_id))
    if raw is None:
        return None
    doc: Document = model.load(raw, Document)
    allocations = []
    for allocation in model.allocations_of(reader, doc.id):
        warrant_raw = reader.get(model.key_warrant(allocation.ref))
        issuance = None if warrant_raw is None else model.load_warrant(reader.get, warrant_raw)
        live = 0 if issuance is None else sum(
            w.amount - w.paid for w in model.iter_walk(reader.get, issuance.id) if w.status in model.LIVE
        )
        allocations.append({"warrant": allocation.ref, "amount": allocation.amount,
                            "status": None if issuance is None else issuance.status, "outstanding": live})
    return {"document": doc.id, "total": doc.total, "allocated": doc.allocated, "free": doc.total - doc.allocated,
            "currency": doc.currency, "status": doc.status, "dispute": _plain(doc.dispute) if doc.dispute else None,
            "allocations": allocations}


def get_credit_line(reader: StateReaderLike, core: str, financier: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_credit(core, financier))
    if raw is None:
        return None
    line: CreditLine = model.load(raw, CreditLine)
    out = _plain(line)
    out["available"] = line.limit - line.used
    return out
