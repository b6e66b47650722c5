"""Warrant records as stored: a descendant's leaves out what it inherits from its issuance, and no
record carries fields at their defaults; the queries show every field all the same."""

from __future__ import annotations

import pytest

from node.errors import StoreError
from node.kernel import codec
from node.ledger import model
from tests.ledger.world import World


@pytest.fixture
def w() -> World:
    return World()


def stored(w: World, wid: str) -> dict[str, object]:
    return codec.decode(w.reader.data[model.key_warrant(wid)])  # type: ignore[no-any-return]


def test_a_descendant_stores_only_what_is_its_own(w: World) -> None:
    root = w.issue()
    offered, kept = w.transfer("sup1", root, "sup2", 10, accept=False)
    assert kept is not None
    issuance = stored(w, root)
    assert all(name in issuance for name in model.INHERITED) and "children" in issuance
    for wid in (offered, kept):
        record = stored(w, wid)
        assert not any(name in record for name in model.INHERITED)
        assert "children" not in record and "financing" not in record and "documents" not in record
        shown = w.warrant(wid)
        for name in model.INHERITED:
            assert shown[name] == issuance[name]
        assert shown["children"] == [] and shown["financing"] is None and shown["frozen"] is None
    assert w.warrant(offered)["pending_to"] == w.addr("sup2")
    assert set(w.warrant(offered)) == set(w.warrant(root))  # the same shape for every warrant


def test_dump_and_load_are_inverse(w: World) -> None:
    root = w.issue()
    offered, _ = w.transfer("sup1", root, "sup2", 10)
    for wid in (root, offered):
        raw = w.reader.data[model.key_warrant(wid)]
        warrant = model.load_warrant(w.reader.get, raw)
        assert model.dump_warrant(warrant) == raw
        assert warrant.maturity > 0 and warrant.issuer == w.addr("core")


def test_a_descendant_without_its_issuance_is_refused_as_broken_state(w: World) -> None:
    root = w.issue()
    offered, _ = w.transfer("sup1", root, "sup2", 10)
    record = codec.decode(w.reader.data[model.key_warrant(offered)])
    record["root"] = "00" * 32  # an issuance that does not exist
    with pytest.raises(StoreError, match="not in state"):
        model.load_warrant(w.reader.get, codec.encode(record))
