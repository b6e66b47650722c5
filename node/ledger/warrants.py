"""Warrants: issue, accept / reject an offer, transfer (with split), split; offer return.

Life of a warrant (terminal states never change again)::

    issue ──> pending ──accept──> active ──transfer/split──> consumed (children carry the value)
                 │  ^                │  ──settle (whole)──> settled
                 │  └─transfer child │  ──maturity + grace─> overdue ──settle──> settled
                 └─reject / expiry──> rejected (an issuance; credit and documents released)
                                      active (a transfer child: back with its sender)

A pending warrant is held by its sender (``holder``) and offered to ``pending_to`` until
``offer_expires`` (exclusive); an offer the recipient neither accepts nor rejects in time is
returned at the start of the first block at or after that time (node.ledger.housekeeping).
"""

from __future__ import annotations

from node import fmt
from node.ledger import model, payloads
from node.ledger.context import Exec
from node.ledger.credit import restore_credit, use_credit
from node.ledger.documents import allocate, release
from node.ledger.codes import Code
from node.ledger.model import Warrant
from node.ledger.rules import (
    close_offer,
    fail,
    hold,
    load_warrant,
    open_offer,
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

__all__ = [
    "handle_accept",
    "handle_issue",
    "handle_reject",
    "handle_split",
    "handle_transfer",
    "return_offer",
]


def _check_offer_expiry(ex: Exec, expires: int, maturity: int) -> None:
    if not ex.time < expires <= maturity:
        raise fail(
            Code.OFFER_EXPIRY_INVALID,
            f"offer_expires {fmt.when(expires, ex.time)} must be after the block time {fmt.when(ex.time)} "
            f"and no later than maturity {fmt.when(maturity)}",
        )


def handle_issue(ex: Exec, p: payloads.Issue) -> None:
    state = ex.state
    require_sender(ex, "core")
    require_account(state, p.to, "supplier", what="payee")
    if p.maturity <= ex.time:
        raise fail(Code.MATURITY_IN_PAST, f"maturity {fmt.when(p.maturity, ex.time)} is not after the block time "
                   f"{fmt.when(ex.time)}")
    _check_offer_expiry(ex, p.offer_expires, p.maturity)
    backed = sum(part.amount for part in p.documents)
    if backed != p.amount:
        raise fail(
            Code.ALLOCATION_MISMATCH,
            f"document allocations add up to {fmt.amount(backed, p.currency)}; they must equal the warrant amount "
            f"{fmt.amount(p.amount, p.currency)}",
        )
    wid = model.warrant_id(ex.tx_id, 0)
    use_credit(ex, ex.sender, p.credit_line, p.currency, p.amount)
    documents = allocate(ex, wid, ex.sender, p.to, p.currency, p.documents)
    warrant = Warrant(
        id=wid, root=wid, parent=None, issuer=ex.sender, payee=p.to, credit_line=p.credit_line,
        holder=ex.sender, pending_to=None, amount=p.amount, paid=0, currency=p.currency, issued_at=ex.time,
        maturity=p.maturity, status=model.PENDING, documents=documents,
    )
    record(ex, warrant, "issue", ex.sender, p.to, p.amount)
    open_offer(ex, warrant, p.to, p.offer_expires)
    hold(state, warrant, new=True)
    state.put_new(model.key_due(p.maturity + ex.params.overdue_grace_ms, wid), b"")
    save_warrant(state, warrant, new=True)
    ex.emit("warrant_issued", accounts=[p.to], warrants=[wid], warrant=wid, issuer=ex.sender, to=p.to, amount=p.amount, currency=p.currency,
            maturity=p.maturity)


def _load_offer(ex: Exec, wid: str) -> Warrant:
    """A pending offer addressed to the sender, still open at the block time."""
    warrant = load_warrant(ex.state, wid)
    require_live(warrant)
    if warrant.status != model.PENDING:
        raise fail(Code.WARRANT_NOT_PENDING, f"warrant {wid} is {warrant.status}, not a pending offer")
    if warrant.pending_to != ex.sender:
        raise fail(Code.NOT_RECIPIENT, f"warrant {wid} is offered to {who(ex.state, warrant.pending_to)}, "
                   f"not to {who(ex.state, ex.sender)}")
    require_not_frozen(warrant, ex.state)
    if warrant.offer_expires is not None and ex.time >= warrant.offer_expires:
        raise fail(Code.OFFER_EXPIRED, f"the offer of warrant {wid} expired at {fmt.when(warrant.offer_expires, ex.time)}")
    return warrant


def handle_accept(ex: Exec, p: payloads.WarrantRef) -> None:
    warrant = _load_offer(ex, p.warrant)
    state = ex.state
    sender = warrant.holder
    unhold(state, warrant)
    close_offer(state, warrant)
    warrant.holder = ex.sender
    warrant.status = model.ACTIVE
    hold(state, warrant)
    record(ex, warrant, "accept", sender, ex.sender, warrant.amount)
    save_warrant(state, warrant)
    # The offerer (issuer or transferring holder) learns it was taken; an issuer, that its debt is.
    ex.emit("warrant_accepted", accounts=[sender, warrant.issuer], warrants=[warrant.id], warrant=warrant.id,
            holder=ex.sender, amount=warrant.amount)


def handle_reject(ex: Exec, p: payloads.WarrantRef) -> None:
    warrant = _load_offer(ex, p.warrant)
    return_offer(ex, warrant, "reject")


def return_offer(ex: Exec, warrant: Warrant, kind: str) -> None:
    """Send a pending offer back (``kind`` is "reject" or "expire").

    A refused issuance ends as ``rejected`` and releases its credit and document allocations; a
    refused transfer child becomes active again with its sender, who still holds it.
    """
    state = ex.state
    recipient = warrant.pending_to
    close_offer(state, warrant)
    record(ex, warrant, kind, recipient, warrant.holder, warrant.amount)
    if warrant.parent is None:
        warrant.status = model.REJECTED
        unhold(state, warrant)
        restore_credit(ex, warrant.issuer, warrant.credit_line, warrant.amount)
        release(ex, warrant.id, warrant.issued_at, warrant.documents)
        state.delete(model.key_due(warrant.maturity + ex.params.overdue_grace_ms, warrant.id))
    else:
        warrant.status = model.ACTIVE
    save_warrant(state, warrant)
    ex.emit("offer_" + ("rejected" if kind == "reject" else "expired"), accounts=[recipient, warrant.holder, warrant.issuer],
            warrants=[warrant.id], warrant=warrant.id, recipient=recipient, holder=warrant.holder, status=warrant.status)


def _child(ex: Exec, parent: Warrant, index: int, amount: int) -> Warrant:
    """A new warrant carved from ``parent``: issuer, currency, maturity and line are inherited."""
    return Warrant(
        id=model.warrant_id(ex.tx_id, index), root=parent.root, parent=parent.id, issuer=parent.issuer,
        payee=parent.payee, credit_line=parent.credit_line, holder=parent.holder, pending_to=None,
        amount=amount, paid=0, currency=parent.currency, issued_at=parent.issued_at, maturity=parent.maturity,
        status=model.ACTIVE,
    )


def _consume(ex: Exec, parent: Warrant, kind: str, to: str | None, amount: int, children: list[Warrant]) -> None:
    parent.status = model.CONSUMED
    parent.children = [child.id for child in children]
    unhold(ex.state, parent)
    record(ex, parent, kind, parent.holder, to, amount)
    save_warrant(ex.state, parent)


def handle_transfer(ex: Exec, p: payloads.Transfer) -> None:
    state = ex.state
    parent = load_warrant(state, p.warrant)
    require_movable(ex, parent)
    if p.to == ex.sender:
        raise fail(Code.SELF_TRANSFER, "a warrant can't be transferred to its own holder; use split instead")
    require_account(state, p.to, "core", "supplier", "financier", what="recipient")
    if p.amount > parent.amount:
        raise fail(Code.AMOUNT_EXCEEDS_WARRANT, f"warrant {parent.id} is worth {fmt.amount(parent.amount, parent.currency)}; "
                   f"{fmt.amount(p.amount, parent.currency)} asked")
    _check_offer_expiry(ex, p.offer_expires, parent.maturity)
    offered = _child(ex, parent, 0, p.amount)
    children = [offered]
    record(ex, offered, "transfer", ex.sender, p.to, p.amount)
    open_offer(ex, offered, p.to, p.offer_expires)
    remainder = parent.amount - p.amount
    if remainder:
        kept = _child(ex, parent, 1, remainder)
        record(ex, kept, "split", ex.sender, ex.sender, remainder)
        children.append(kept)
    _consume(ex, parent, "transfer", p.to, p.amount, children)
    for child in children:
        hold(state, child, new=True)
        save_warrant(state, child, new=True)
    ex.emit("warrant_transferred", accounts=[p.to], warrants=[parent.id, *(child.id for child in children)],
            warrant=parent.id, to=p.to, amount=p.amount, children=[child.id for child in children],
            offered=offered.id, kept=children[1].id if remainder else None)


def handle_split(ex: Exec, p: payloads.Split) -> None:
    state = ex.state
    parent = load_warrant(state, p.warrant)
    require_movable(ex, parent)
    total = sum(p.amounts)
    if total != parent.amount:
        raise fail(
            Code.SPLIT_SUM_MISMATCH, f"parts add up to {fmt.amount(total, parent.currency)}; they must add up to the "
            f"warrant's {fmt.amount(parent.amount, parent.currency)}"
        )
    children = [_child(ex, parent, index, amount) for index, amount in enumerate(p.amounts)]
    for child in children:
        record(ex, child, "split", ex.sender, ex.sender, child.amount)
    _consume(ex, parent, "split", ex.sender, parent.amount, children)
    for child in children:
        hold(state, child, new=True)
        save_warrant(state, child, new=True)
    ex.emit("warrant_split", accounts=(), warrants=[parent.id, *(child.id for child in children)], warrant=parent.id,
            children=[child.id for child in children], amounts=list(p.amounts))
