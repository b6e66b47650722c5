"""Read-only queries for the RPC, over committed state (a StateReader). All return plain dicts.

Shapes (docs/LEDGER.md has them with examples):

- ``get_account``   → Account fields ``{address, name, role, registered_height, registered_by}``;
- ``get_warrant``   → Warrant fields (see node.ledger.model.Warrant), ``history`` included, plus
  ``outstanding`` (amount - paid);
- ``lineage``       → the tree from the warrant's root issuance: each node is a warrant dict
  with ``children`` replaced by a list of child nodes; ``documents`` of the root list the backing;
- ``holdings``      → ``{address, held: [warrant dict without history], incoming: [...],
  held_outstanding, incoming_outstanding, held_count, incoming_count, next_offset}`` (totals in
  fen; ``held_outstanding`` leaves out offers the account made that are still pending; both lists
  hold the page ``offset`` .. ``offset + limit``, totals and counts are over all of them);
- ``get_document``  → Document fields with ``allocations`` ``[{ref: warrant id, amount}]``;
- ``get_credit_line`` → CreditLine fields plus ``available`` (limit - used).

Unknown ids return None.
"""

from __future__ import annotations

from typing import Any

import msgspec

from node.ledger import model
from node.ledger.model import Account, CreditLine, Document, Warrant
from node.ledger.state import StateReaderLike

__all__ = ["get_account", "get_credit_line", "get_document", "get_warrant", "holdings", "lineage"]


def _plain(record: Any) -> dict[str, Any]:
    return msgspec.to_builtins(record)  # type: ignore[no-any-return]


def _warrant(raw: bytes) -> dict[str, Any]:
    warrant: Warrant = model.load(raw, Warrant)
    out = _plain(warrant)
    out["outstanding"] = warrant.amount - warrant.paid
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
    return None if raw is None else _warrant(raw)


def lineage(reader: StateReaderLike, wid: str) -> dict[str, Any] | None:
    """The whole tree of ``wid``'s issuance, from the root down: every split, transfer,
    financing and settlement appears in some node's ``history`` with its tx id and height."""
    raw = reader.get(model.key_warrant(wid))
    if raw is None:
        return None
    root = model.load(raw, Warrant).root
    nodes = {w.id: _plain(w) for w in model.walk(reader.get, root)}
    for node in nodes.values():
        node["outstanding"] = node["amount"] - node["paid"]
        node["children"] = [nodes[child] for child in node["children"]]
    return nodes[root]


def _listed(reader: StateReaderLike, prefix: bytes, offset: int, limit: int | None) -> tuple[list[dict[str, Any]], int, int]:
    """(the page of warrants under ``prefix``, how many there are, their total outstanding)."""
    out: list[dict[str, Any]] = []
    count = outstanding = 0
    cut = len(prefix)
    for key, _ in reader.scan(prefix):
        raw = reader.get(model.key_warrant(key[cut:].decode()))
        if raw is None:
            continue
        warrant: Warrant = model.load(raw, Warrant)
        if prefix.startswith(b"in/") or warrant.status != "pending":
            outstanding += warrant.amount - warrant.paid
        if count >= offset and (limit is None or len(out) < limit):
            item = _plain(warrant)
            item["outstanding"] = warrant.amount - warrant.paid
            del item["history"]
            out.append(item)
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
    return None if raw is None else _plain(model.load(raw, Document))


def get_credit_line(reader: StateReaderLike, core: str, financier: str) -> dict[str, Any] | None:
    raw = reader.get(model.key_credit(core, financier))
    if raw is None:
        return None
    line: CreditLine = model.load(raw, CreditLine)
    out = _plain(line)
    out["available"] = line.limit - line.used
    return out
