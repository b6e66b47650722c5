"""Freeze and unfreeze by a regulator; the reason is recorded on the warrant and in its history.

Frozen means frozen: a frozen pending offer is also out of the expiry index (``exp/``), so time
cannot return it while the regulator holds it; the unfreeze puts it back under its original
expiry, and an offer whose time passed meanwhile expires at the next block's housekeeping.
"""

from __future__ import annotations

from node.ledger import model, payloads
from node.ledger.codes import Code
from node.ledger.context import Exec
from node.ledger.model import Freeze
from node.ledger.rules import fail, load_warrant, record, require_live, require_sender, save_warrant

__all__ = ["handle_freeze", "handle_unfreeze"]


def handle_freeze(ex: Exec, p: payloads.Freeze) -> None:
    require_sender(ex, "regulator")
    warrant = load_warrant(ex.state, p.warrant)
    require_live(warrant)
    if warrant.frozen is not None:
        raise fail(Code.WARRANT_FROZEN, f"warrant {warrant.id} is already frozen ({warrant.frozen.reason})")
    warrant.frozen = Freeze(by=ex.sender, reason=p.reason, tx=ex.tx_hex, height=ex.height)
    if warrant.status == model.PENDING and warrant.offer_expires is not None:
        ex.state.delete(model.key_expiry(warrant.offer_expires, warrant.id))
    record(ex, warrant, "freeze", ex.sender, warrant.holder, 0)
    save_warrant(ex.state, warrant)
    ex.emit("warrant_frozen", accounts=[warrant.holder, warrant.pending_to], warrants=[warrant.id],
            warrant=warrant.id, reason=p.reason)


def handle_unfreeze(ex: Exec, p: payloads.Freeze) -> None:
    require_sender(ex, "regulator")
    warrant = load_warrant(ex.state, p.warrant)
    require_live(warrant)
    if warrant.frozen is None:
        raise fail(Code.WARRANT_NOT_FROZEN, f"warrant {warrant.id} is not frozen")
    warrant.frozen = None
    if warrant.status == model.PENDING and warrant.offer_expires is not None:
        ex.state.put(model.key_expiry(warrant.offer_expires, warrant.id), b"")
    record(ex, warrant, "unfreeze", ex.sender, warrant.holder, 0)
    save_warrant(ex.state, warrant)
    ex.emit("warrant_unfrozen", accounts=[warrant.holder, warrant.pending_to], warrants=[warrant.id],
            warrant=warrant.id, reason=p.reason)
