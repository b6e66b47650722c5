"""Financing: the holder asks a financier; the financier approves or rejects; a pledge is released.

Mode ``transfer`` (factoring): on approval the financier becomes the holder of the whole warrant.
Mode ``pledge``: the holder keeps it, but it is locked (no transfer, split or new financing) until
the financier signs ``release_pledge``. The record keeps principal (the warrant's amount at the
request), discount rate in basis points, advance (<= amount) and recourse; paying the advance
happens off chain. To finance part of a warrant, split it first.
"""

from __future__ import annotations

from node import fmt
from node.ledger import payloads
from node.ledger.context import Exec
from node.ledger.codes import Code
from node.ledger.model import Financing, Warrant
from node.ledger.rules import (
    fail,
    hold,
    load_warrant,
    record,
    require_account,
    require_live,
    require_movable,
    require_not_frozen,
    require_sender,
    save_warrant,
    unhold,
    who,
)

__all__ = ["handle_approve_financing", "handle_reject_financing", "handle_release_pledge", "handle_request_financing"]


def handle_request_financing(ex: Exec, p: payloads.RequestFinancing) -> None:
    state = ex.state
    require_sender(ex)
    warrant = load_warrant(state, p.warrant)
    require_movable(ex, warrant)
    if p.financier == ex.sender:
        raise fail(Code.SELF_TRANSFER, "a holder can't ask itself for financing")
    require_account(state, p.financier, "financier", what="financier")
    if p.advance > warrant.amount:
        raise fail(Code.ADVANCE_EXCEEDS_AMOUNT, f"advance {fmt.amount(p.advance, warrant.currency)} exceeds the "
                   f"warrant's {fmt.amount(warrant.amount, warrant.currency)}")
    warrant.financing = Financing(
        request_tx=ex.tx_hex, financier=p.financier, mode=p.mode, principal=warrant.amount,
        discount_bps=p.discount_bps, advance=p.advance, recourse=p.recourse, status="requested",
        applicant=ex.sender,
    )
    record(ex, warrant, "financing_request", ex.sender, p.financier, warrant.amount)
    save_warrant(state, warrant)
    ex.emit("financing_requested", accounts=[p.financier], warrants=[warrant.id], warrant=warrant.id,
            financier=p.financier, mode=p.mode, advance=p.advance)


def _load_request(ex: Exec, wid: str, *statuses: str) -> Warrant:
    """A live warrant whose financing record is in ``statuses`` and names the sender."""
    warrant = load_warrant(ex.state, wid)
    require_live(warrant)
    financing = warrant.financing
    if financing is None or financing.status not in statuses:
        code = Code.NOT_PLEDGED if "pledged" in statuses else Code.NO_FINANCING_REQUEST
        raise fail(code, f"warrant {wid} has no financing {' or '.join(statuses)}")
    if financing.financier != ex.sender:
        raise fail(Code.NOT_FINANCIER, f"the financing of warrant {wid} is with {who(ex.state, financing.financier)}, "
                   f"not {who(ex.state, ex.sender)}")
    return warrant


def handle_approve_financing(ex: Exec, p: payloads.WarrantRef) -> None:
    require_sender(ex, "financier")
    warrant = _load_request(ex, p.warrant, "requested")
    require_not_frozen(warrant)
    if ex.time >= warrant.maturity:
        raise fail(Code.WARRANT_MATURED, f"warrant {warrant.id} matured at {fmt.when(warrant.maturity, ex.time)}; "
                   "it can't be financed")
    financing = warrant.financing
    assert financing is not None
    if financing.mode == "transfer":
        state = ex.state
        unhold(state, warrant)
        record(ex, warrant, "financing_transfer", warrant.holder, ex.sender, warrant.amount)
        warrant.holder = ex.sender
        hold(state, warrant)
        financing.status = "approved"
    else:
        record(ex, warrant, "pledge", warrant.holder, ex.sender, warrant.amount)
        financing.status = "pledged"
    save_warrant(ex.state, warrant)
    ex.emit("financing_approved", accounts=[financing.applicant, warrant.holder], warrants=[warrant.id],
            warrant=warrant.id, financier=ex.sender, mode=financing.mode,
            advance=financing.advance, holder=warrant.holder)


def _close_financing(ex: Exec, wid: str, current: str, new: str, history: str, event: str) -> None:
    """The financier ends a financing record in status ``current``: it becomes ``new``."""
    require_sender(ex, "financier")
    warrant = _load_request(ex, wid, current)
    financing = warrant.financing
    assert financing is not None
    financing.status = new
    record(ex, warrant, history, ex.sender, warrant.holder, 0)
    save_warrant(ex.state, warrant)
    ex.emit(event, accounts=[financing.applicant, warrant.holder], warrants=[warrant.id], warrant=warrant.id,
            financier=ex.sender)


def handle_reject_financing(ex: Exec, p: payloads.WarrantRef) -> None:
    _close_financing(ex, p.warrant, "requested", "rejected", "financing_reject", "financing_rejected")


def handle_release_pledge(ex: Exec, p: payloads.WarrantRef) -> None:
    _close_financing(ex, p.warrant, "pledged", "released", "pledge_release", "pledge_released")
