"""Settlement by the issuer at or after maturity, and overdue marking.

``settle`` names a warrant. A live warrant is paid itself; a consumed one (typically the issuance)
pays the current holders of its live descendants in lineage order (depth first, children in
creation order), each in full until the amount runs out, the last one possibly in part. Frozen
descendants are skipped (a frozen warrant named directly is refused). Paid value returns to the
issuer's credit line. A warrant whose paid amount reaches its amount is ``settled``.
"""

from __future__ import annotations

from typing import Any

from node import fmt
from node.ledger import model, payloads
from node.ledger.context import Exec
from node.ledger.credit import restore_credit
from node.ledger.codes import Code
from node.ledger.model import Warrant
from node.ledger.rules import (
    close_offer,
    fail,
    load_warrant,
    record,
    require_live,
    require_not_frozen,
    require_sender,
    save_warrant,
    unhold,
    who,
)

__all__ = ["handle_mark_overdue", "handle_settle", "mark_overdue"]


def handle_settle(ex: Exec, p: payloads.Settle) -> None:
    require_sender(ex, "core")
    warrant = load_warrant(ex.state, p.warrant)
    if warrant.issuer != ex.sender:
        raise fail(Code.NOT_ISSUER, f"warrant {warrant.id} was issued by {who(ex.state, warrant.issuer)}; "
                   "only its issuer settles it")
    if ex.time < warrant.maturity:
        raise fail(Code.NOT_MATURED, f"warrant {warrant.id} matures at {fmt.when(warrant.maturity, ex.time)}; "
                   f"the block time is {fmt.when(ex.time)}")
    if warrant.status in model.LIVE:
        require_not_frozen(warrant)
        targets = [warrant]
    elif warrant.status == model.CONSUMED:
        targets = [
            w for w in model.walk(ex.state.get, warrant.id)
            if w.status in model.LIVE and w.frozen is None and w.paid < w.amount
        ]
    else:
        raise fail(Code.WARRANT_TERMINAL, f"warrant {warrant.id} is {warrant.status}; nothing is left to settle")
    outstanding = sum(w.amount - w.paid for w in targets)
    if outstanding == 0:
        raise fail(Code.NOTHING_TO_SETTLE, f"warrant {warrant.id} has no unfrozen live value left to settle")
    amount = outstanding if p.amount is None else p.amount
    if amount > outstanding:
        raise fail(Code.AMOUNT_EXCEEDS_OUTSTANDING, f"{fmt.amount(outstanding, warrant.currency)} is outstanding; "
                   f"{fmt.amount(amount, warrant.currency)} asked")
    left = amount
    payments: list[dict[str, Any]] = []
    for target in targets:
        if left == 0:
            break
        pay = min(left, target.amount - target.paid)
        left -= pay
        _pay(ex, target, pay)
        payment = {"warrant": target.id, "holder": target.holder, "amount": pay, "status": target.status}
        if target.financing is not None and target.financing.status == "pledged":
            payment["pledgee"] = target.financing.financier
        payments.append(payment)
    restore_credit(ex, warrant.issuer, warrant.credit_line, amount)
    ex.emit("warrant_settled", accounts=[payee for pay in payments for payee in (pay["holder"], pay.get("pledgee"))],
            warrants=[warrant.id, *(pay["warrant"] for pay in payments)], warrant=warrant.id, amount=amount,
            payments=payments)


def _pay(ex: Exec, warrant: Warrant, pay: int) -> None:
    if warrant.status == model.PENDING:
        close_offer(ex.state, warrant)  # a stale offer: the value goes to its sender, who holds it
    warrant.paid += pay
    record(ex, warrant, "settle", warrant.issuer, warrant.holder, pay)
    if warrant.paid == warrant.amount:
        warrant.status = model.SETTLED
        unhold(ex.state, warrant)
    elif warrant.status == model.PENDING:
        warrant.status = model.ACTIVE
    save_warrant(ex.state, warrant)


def handle_mark_overdue(ex: Exec, p: payloads.WarrantRef) -> None:
    require_sender(ex)
    warrant = load_warrant(ex.state, p.warrant)
    require_live(warrant)
    if warrant.status == model.OVERDUE:
        raise fail(Code.WARRANT_NOT_ACTIVE, f"warrant {warrant.id} is already overdue")
    due = warrant.maturity + ex.params.overdue_grace_ms
    if ex.time < due:
        raise fail(Code.NOT_YET_OVERDUE, f"warrant {warrant.id} becomes overdue at {fmt.when(due, ex.time)} "
                   "(maturity plus grace)")
    mark_overdue(ex, warrant)


def mark_overdue(ex: Exec, warrant: Warrant) -> None:
    """Make a live warrant overdue (a stale pending offer goes back to its sender first)."""
    if warrant.status == model.PENDING:
        close_offer(ex.state, warrant)
    warrant.status = model.OVERDUE
    record(ex, warrant, "overdue", warrant.issuer, warrant.holder, warrant.amount - warrant.paid)
    save_warrant(ex.state, warrant)
    pledgee = warrant.financing.financier if warrant.financing and warrant.financing.status == "pledged" else None
    ex.emit("warrant_overdue", accounts=[warrant.issuer, warrant.holder, pledgee], warrants=[warrant.id],
            warrant=warrant.id, issuer=warrant.issuer, holder=warrant.holder,
            outstanding=warrant.amount - warrant.paid)
