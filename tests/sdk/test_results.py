"""node.sdk.results are hand-written mirrors of what the queries return: every required key they
declare must be in a real answer, so a renamed or dropped field fails here, not in a user's code."""

from __future__ import annotations

from typing import Any

from node.ledger import queries
from node.rpc.api import NodeStatus
from node.sdk import results as sdk_types
from tests.ledger.world import World


def _missing(typed: Any, answer: dict[str, Any]) -> set[str]:
    return set(typed.__required_keys__) - set(answer)


def test_every_declared_key_is_in_a_real_answer() -> None:
    w = World()
    w.credit()
    root = w.issue()
    child = w.ok("sup1", "split", warrant=root, amounts=[400_000, 600_000])[0]["children"][0]
    w.ok("sup1", "request_financing", warrant=child, financier=w.addr("bank"), mode="pledge", discount_bps=100,
         advance=300_000, recourse=True)
    w.ok("reg", "freeze", warrant=child, reason="review")
    warrant = queries.get_warrant(w.reader, child)
    assert warrant is not None
    issuance = queries.get_warrant(w.reader, root)
    assert issuance is not None
    doc = queries.get_document(w.reader, issuance["documents"][0]["ref"])
    answers: list[tuple[Any, Any]] = [
        (sdk_types.Warrant, warrant),
        (sdk_types.Financing, warrant["financing"]),
        (sdk_types.Freeze, warrant["frozen"]),
        (sdk_types.HistoryEntry, warrant["history"][0]),
        (sdk_types.Account, queries.get_account(w.reader, w.addr("sup1"))),
        (sdk_types.Holdings, queries.holdings(w.reader, w.addr("sup1"))),
        (sdk_types.Document, doc),
        (sdk_types.CreditLine, queries.get_credit_line(w.reader, w.addr("core"), w.addr("bank"))),
    ]
    for typed, answer in answers:
        assert answer is not None, typed.__name__
        assert not _missing(typed, answer), (typed.__name__, _missing(typed, answer))


def test_chain_status_mirrors_the_rpc_struct() -> None:
    assert set(sdk_types.ChainStatus.__required_keys__) == set(NodeStatus.__struct_fields__)
