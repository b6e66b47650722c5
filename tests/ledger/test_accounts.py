"""register_account / set_role: alliance admins only; a role is required for later operations."""

from __future__ import annotations

import pytest

from node.ledger import queries
from tests.ledger.world import World, key_of


@pytest.fixture
def w() -> World:
    return World()


NEW = key_of("newcomer").address


def test_register(w: World) -> None:
    events = w.ok("admin", "register_account", address=NEW, role="supplier", name="Newco")
    assert events == [{"type": "account_registered", "address": NEW, "role": "supplier", "name": "Newco",
                       "accounts": sorted([NEW, w.addr("admin")]), "warrants": []}]
    assert queries.get_account(w.reader, NEW) == {
        "address": NEW, "name": "Newco", "role": "supplier", "registered_height": w.height,
        "registered_by": w.addr("admin"),
    }


def test_register_by_non_admin(w: World) -> None:
    w.fails("NOT_ADMIN", "core", "register_account", address=NEW, role="supplier", name="Newco")


def test_register_twice(w: World) -> None:
    w.fails("ACCOUNT_EXISTS", "admin", "register_account", address=w.addr("sup1"), role="core", name="again")


def test_register_admin_address(w: World) -> None:
    w.fails("ACCOUNT_EXISTS", "admin", "register_account", address=w.addr("admin"), role="core", name="again")


def test_register_unknown_role(w: World) -> None:
    w.fails("INVALID_PAYLOAD", "admin", "register_account", address=NEW, role="king", name="Newco")


def test_set_role(w: World) -> None:
    events = w.ok("admin", "set_role", address=w.addr("sup1"), role="core")
    assert events[0] == {"type": "role_changed", "address": w.addr("sup1"), "role": "core", "previous": "supplier",
                         "accounts": sorted([w.addr("sup1"), w.addr("admin")]), "warrants": []}
    assert queries.get_account(w.reader, w.addr("sup1"))["role"] == "core"  # type: ignore[index]


def test_set_role_by_non_admin(w: World) -> None:
    w.fails("NOT_ADMIN", "reg", "set_role", address=w.addr("sup1"), role="core")


def test_set_role_unknown_account(w: World) -> None:
    w.fails("UNKNOWN_ACCOUNT", "admin", "set_role", address=NEW, role="core")


def test_unregistered_sender_can_do_nothing(w: World) -> None:
    w.fails("UNKNOWN_SENDER", "stranger", "anchor_document", **w.anchor_payload(seller="stranger"))


def test_admin_is_not_an_account(w: World) -> None:
    w.fails("UNKNOWN_SENDER", "admin", "anchor_document", **w.anchor_payload(buyer="admin"))
    assert queries.get_account(w.reader, w.addr("admin"))["role"] == "admin"  # type: ignore[index]
    assert queries.get_account(w.reader, NEW) is None


def test_registered_account_can_act(w: World) -> None:
    w.ok("admin", "register_account", address=NEW, role="supplier", name="Newco")
    w.keys["newcomer"] = key_of("newcomer")
    w.ok("newcomer", "anchor_document", **w.anchor_payload(seller="newcomer"))


def test_an_admin_doing_a_members_operation_is_told_what_admins_do(w: World) -> None:
    wid = w.issue()
    message = w.fails("UNKNOWN_SENDER", "admin", "freeze", warrant=wid, reason="x")
    assert "alliance admin" in message and "regulator" in message and "must register it" not in message
