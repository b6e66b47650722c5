"""Accounts: an alliance admin registers an enterprise under a role, or changes its role."""

from __future__ import annotations

from node.ledger import model, payloads
from node.ledger.codes import Code
from node.ledger.context import Exec
from node.ledger.model import Account
from node.ledger.rules import fail, get_account, require_admin

__all__ = ["handle_register_account", "handle_set_role"]


def handle_register_account(ex: Exec, p: payloads.RegisterAccount) -> None:
    require_admin(ex)
    state = ex.state
    if get_account(state, p.address) is not None or state.get(model.key_admin(p.address)) is not None:
        raise fail(Code.ACCOUNT_EXISTS, f"address {p.address} is already registered; use set_role to change its role")
    account = Account(address=p.address, name=p.name, role=p.role, registered_height=ex.height, registered_by=ex.sender)
    state.put(model.key_account(p.address), model.dump(account))
    ex.emit("account_registered", accounts=[p.address], warrants=(), address=p.address, role=p.role, name=p.name)


def handle_set_role(ex: Exec, p: payloads.SetRole) -> None:
    require_admin(ex)
    account = get_account(ex.state, p.address)
    if account is None:
        raise fail(Code.UNKNOWN_ACCOUNT, f"address {p.address} is not registered; use register_account first")
    previous, account.role = account.role, p.role
    ex.state.put(model.key_account(p.address), model.dump(account))
    ex.emit("role_changed", accounts=[p.address], warrants=(), address=p.address, role=p.role, previous=previous)
