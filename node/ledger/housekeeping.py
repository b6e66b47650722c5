"""Block-start housekeeping: expire offers, mark issuances overdue, close expired governance
proposals (node.ledger.governance). Deterministic, no clock.

Both walk a time-ordered index (``exp/`` + time, ``due/`` + time) from its start and stop at the
first entry later than the block time, so the cost follows what expires, not the state's size.
They run on the committed state before the block's transactions (the overlay is still empty).

A frozen offer does not expire: freezing a pending offer takes it out of the ``exp/`` index and
unfreezing puts it back under its original expiry time, so an offer whose time passed while it was
frozen expires at the first block after the unfreeze (node.ledger.regulation).
"""

from __future__ import annotations

from typing import Any

from node.ledger import model
from node.ledger.context import BlockContext, Exec
from node.ledger.governance import expire_proposals, next_expiry
from node.ledger.settlement import mark_overdue
from node.ledger.state import Overlay, StateReaderLike
from node.ledger.warrants import return_offer

__all__ = ["next_due", "run_housekeeping"]

_EXP = b"exp/"
_DUE = b"due/"


def _due_entries(state: Overlay, prefix: bytes, now: int) -> list[tuple[bytes, str]]:
    out = []
    cut = len(prefix)
    for key, _ in state.base.scan(prefix):
        if int.from_bytes(key[cut:cut + 8], "big") > now:
            break
        out.append((key, key[cut + 8:].decode()))
    return out


def run_housekeeping(state: Overlay, ctx: BlockContext) -> list[dict[str, Any]]:
    """Expire offers with ``offer_expires <= time``; mark overdue what passed maturity + grace."""
    ex = Exec(state, b"", "", ctx)
    for key, wid in _due_entries(state, _EXP, ctx.time_ms):
        raw = state.get(model.key_warrant(wid))
        state.delete(key)
        if raw is None:
            continue
        warrant = model.load_warrant(state.get, raw)
        # A frozen offer has no entry (see above); one left by older state is dropped, not expired.
        if warrant.status == model.PENDING and warrant.offer_expires is not None and warrant.frozen is None:
            return_offer(ex, warrant, "expire")
    for key, root in _due_entries(state, _DUE, ctx.time_ms):
        state.delete(key)
        for warrant in model.walk(state.get, root):
            if warrant.status in (model.ACTIVE, model.PENDING) and warrant.paid < warrant.amount:
                mark_overdue(ex, warrant)
    return ex.events + expire_proposals(state, ctx)


def next_due(reader: StateReaderLike) -> int | None:
    """The earliest block time at which housekeeping has something to do (an offer to expire, an
    issuance to mark overdue, a governance proposal to close), or None: the first entry of each
    time-ordered index."""
    times = []
    for prefix in (_EXP, _DUE):
        for key, _ in reader.scan(prefix):
            times.append(int.from_bytes(key[len(prefix):len(prefix) + 8], "big"))
            break
    proposal = next_expiry(reader)
    if proposal is not None:
        times.append(proposal)
    return min(times, default=None)
