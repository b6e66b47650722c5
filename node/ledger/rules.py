"""Checks and record plumbing shared by every handler: one function per rule, never copies.

Authorization is always one of three things: the signer holds a role (:func:`require_sender`,
:func:`require_admin`), owns the warrant (:func:`require_movable`), or is the named counterparty
(the handlers compare ``pending_to`` / ``financing.financier`` / ``issuer``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from node import fmt
from node.ledger import model
from node.ledger.codes import Code, LedgerError
from node.ledger.context import Exec
from node.ledger.model import Account, HistoryEntry, Warrant
from node.ledger.state import Overlay

__all__ = [
    "append_entry",
    "close_offer",
    "fail",
    "get_account",
    "hold",
    "load_warrant",
    "open_offer",
    "record",
    "require_account",
    "require_admin",
    "require_live",
    "require_movable",
    "require_not_frozen",
    "require_sender",
    "require_unlocked",
    "save_warrant",
    "unhold",
    "who",
]


def fail(code: Code, message: str) -> LedgerError:
    return LedgerError(code, message)


def get_account(state: Overlay, address: str) -> Account | None:
    raw = state.get(model.key_account(address))
    return None if raw is None else model.load(raw, Account)


def who(state: Overlay | None, address: str | None) -> str:
    """``"Delta Seats Co. (wc…40 hex)"`` for a registered account, else the address: for messages."""
    if not address:
        return "nobody"
    account = None if state is None else get_account(state, address)
    return f"{account.name} ({address})" if account is not None and account.name else address


def require_admin(ex: Exec) -> None:
    if ex.state.get(model.key_admin(ex.sender)) is None:
        raise fail(Code.NOT_ADMIN, f"{ex.sender} is not an alliance admin named in genesis; ask an admin to sign")


def require_sender(ex: Exec, *roles: str) -> Account:
    """The sender's account; it must be registered and hold one of ``roles`` (any role if none)."""
    account = get_account(ex.state, ex.sender)
    needs = " or ".join(roles) if roles else "a registered account"
    if account is None:
        if ex.state.get(model.key_admin(ex.sender)) is not None:
            raise fail(Code.UNKNOWN_SENDER, f"sender {ex.sender} is an alliance admin, which only registers accounts "
                       f"and sets roles; this needs {needs}: sign with such an account's key")
        raise fail(Code.UNKNOWN_SENDER, f"sender {ex.sender} is not a registered account; an alliance admin must register it")
    if roles and account.role not in roles:
        raise fail(Code.WRONG_ROLE, f"sender {ex.sender} has role {account.role}; this needs {needs}")
    return account


def require_account(state: Overlay, address: str, *roles: str, what: str = "account") -> Account:
    account = get_account(state, address)
    if account is None:
        raise fail(Code.UNKNOWN_ACCOUNT, f"{what} {address} is not a registered account")
    if roles and account.role not in roles:
        raise fail(Code.WRONG_ROLE, f"{what} {address} has role {account.role!r}; it must be {' or '.join(roles)}")
    return account


def load_warrant(state: Overlay, wid: str) -> Warrant:
    raw = state.get(model.key_warrant(wid))
    if raw is None:
        raise fail(Code.UNKNOWN_WARRANT, f"no warrant with id {wid}")
    return model.load_warrant(state.get, raw)


def save_warrant(state: Overlay, warrant: Warrant, new: bool = False) -> None:
    """Store ``warrant``; ``new`` for one this transaction created (its keys can't exist yet)."""
    (state.put_new if new else state.put)(model.key_warrant(warrant.id), model.dump_warrant(warrant))


def require_live(warrant: Warrant) -> None:
    if warrant.status in model.TERMINAL:
        raise fail(Code.WARRANT_TERMINAL, f"warrant {warrant.id} is {warrant.status}; it can no longer change")


def require_not_frozen(warrant: Warrant, state: Overlay | None = None) -> None:
    if warrant.frozen is not None:
        raise fail(
            Code.WARRANT_FROZEN,
            f"warrant {warrant.id} is frozen by regulator {who(state, warrant.frozen.by)} ({warrant.frozen.reason}); "
            "it can't move until unfrozen",
        )


def require_unlocked(warrant: Warrant, state: Overlay | None = None) -> None:
    financing = warrant.financing
    if financing is None:
        return
    if financing.status == "pledged":
        raise fail(Code.WARRANT_PLEDGED, f"warrant {warrant.id} is pledged to {who(state, financing.financier)}; "
                   "it must release the pledge first")
    if financing.status == "requested":
        raise fail(
            Code.FINANCING_PENDING,
            f"warrant {warrant.id} has a financing request pending with {who(state, financing.financier)}; "
            "wait for its answer",
        )


def require_movable(ex: Exec, warrant: Warrant) -> None:
    """The sender holds an active, unfrozen, unlocked warrant before its maturity."""
    require_live(warrant)
    if warrant.holder != ex.sender:
        raise fail(Code.NOT_HOLDER, f"warrant {warrant.id} is held by {who(ex.state, warrant.holder)}, "
                   f"not by the sender {who(ex.state, ex.sender)}")
    require_not_frozen(warrant, ex.state)
    require_unlocked(warrant, ex.state)
    if warrant.status != model.ACTIVE:
        raise fail(Code.WARRANT_NOT_ACTIVE, f"warrant {warrant.id} is {warrant.status}; only an active warrant can move")
    if ex.time >= warrant.maturity:
        raise fail(Code.WARRANT_MATURED, f"warrant {warrant.id} matured at {fmt.when(warrant.maturity, ex.time)}; "
                   "it can only be settled now")


def append_entry(
    state: Overlay, height: int, inline: list[Any], prefix_of: Callable[[str], bytes], owner: str, entry: Any
) -> None:
    """Append ``entry`` to a record's history: to ``inline`` (the record's list; the caller saves
    the record) while it holds fewer than ``HISTORY_INLINE``, else under ``prefix_of(owner)`` with
    a key of its own, so the record stops growing. Rolled back with the transaction's other writes.
    (The prefix is built only when needed: three entries per transfer, nearly always inline.)"""
    if len(inline) < model.HISTORY_INLINE:
        inline.append(entry)
    else:
        state.put_new(model.key_history(prefix_of(owner), height, state.serial()), model.dump(entry))


def record(ex: Exec, warrant: Warrant, kind: str, frm: str | None, to: str | None, amount: int) -> None:
    """Append a history entry for this transaction to ``warrant`` (caller saves it)."""
    entry = HistoryEntry(tx=ex.tx_hex, height=ex.height, time=ex.time, type=kind, frm=frm, to=to, amount=amount)
    append_entry(ex.state, ex.height, warrant.history, model.history_prefix, warrant.id, entry)


def hold(state: Overlay, warrant: Warrant, new: bool = False) -> None:
    """Index ``warrant`` under its holder's holdings."""
    (state.put_new if new else state.put)(model.key_hold(warrant.holder, warrant.id), b"")


def unhold(state: Overlay, warrant: Warrant) -> None:
    """Remove ``warrant`` from its holder's holdings (it is consumed, settled, rejected or moves)."""
    state.delete(model.key_hold(warrant.holder, warrant.id))


def open_offer(ex: Exec, warrant: Warrant, to: str, expires: int) -> None:
    """Make a new ``warrant`` a pending offer to ``to`` until ``expires`` (exclusive)."""
    warrant.status = model.PENDING
    warrant.pending_to = to
    warrant.offer_expires = expires
    ex.state.put_new(model.key_incoming(to, warrant.id), b"")
    ex.state.put_new(model.key_expiry(expires, warrant.id), b"")


def close_offer(state: Overlay, warrant: Warrant) -> None:
    """Remove a pending offer's index entries (the caller sets the new status)."""
    if warrant.pending_to is not None:
        state.delete(model.key_incoming(warrant.pending_to, warrant.id))
    if warrant.offer_expires is not None:
        state.delete(model.key_expiry(warrant.offer_expires, warrant.id))
    warrant.pending_to = None
    warrant.offer_expires = None
