"""One query's work is bounded: ``[rpc] max_query_reads`` records per call, and a lineage answer
at most MAX_TRACE_DEPTH splits deep (JSON encoders recurse once per level).

Over tests.protocol.deep_story: a warrant's remainder 200 splits below its issuance, 200 offers
waiting for one account, 50 of a proof's transactions in one block.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from node.bundles import build_proof, verify_bundle
from node.errors import QueryTooLarge
from node.ledger import queries
from node.ledger.budget import ReadBudget
from node.ledger.model import walk
from node.rpc.guard import READS_PER_CALL
from node.rpc.server import RpcLimits
from tests.explorer.served import serve
from tests.protocol.deep_story import DEPTH, DeepStory, build_deep


@pytest.fixture()
def story(tmp_path: Path) -> Iterator[DeepStory]:
    story = build_deep(tmp_path / "db")
    try:
        yield story
    finally:
        story.chain.store.close()


def test_the_budget_counts_every_record_read_and_stops_past_its_limit(story: DeepStory) -> None:
    state = story.chain.store.state
    budget = ReadBudget(state, 10**9)
    held = queries.holdings(budget, story.buyer.address, offset=0, limit=5)
    assert held["incoming_count"] == DEPTH and len(held["incoming"]) == 5
    needed = budget.used
    assert needed >= 2 * DEPTH  # every offer is scanned and read, to count and total them

    assert queries.holdings(ReadBudget(state, needed), story.buyer.address, offset=0, limit=5) == held
    refused = ReadBudget(state, needed - 1, f"account_holdings of {story.buyer.address}")
    with pytest.raises(QueryTooLarge) as caught:
        queries.holdings(refused, story.buyer.address, offset=0, limit=5)
    assert caught.value.reason == "QUERY_TOO_LARGE" and caught.value.limit == needed - 1
    assert f"account_holdings of {story.buyer.address} reads more than" in str(caught.value)


def test_a_trace_as_deep_as_allowed_encodes_and_one_split_deeper_is_refused(story: DeepStory) -> None:
    state = story.chain.store.state
    tree = queries.lineage(state, story.remainders[-1])
    assert tree is not None
    depth, node = 0, tree
    while node["children"]:
        node = next(child for child in node["children"] if child["children"] or child["id"] == story.remainders[-1])
        depth += 1
    assert depth == DEPTH and node["id"] == story.remainders[-1]
    # Both encoders the node and its clients use carry it (each stops near 500 nested levels).
    answer = {"jsonrpc": "2.0", "result": tree, "id": 1}
    assert msgspec.json.decode(msgspec.json.encode(answer)) == json.loads(json.dumps(answer))

    deeper = story.transfer_once_more()
    budget = ReadBudget(state, 10**9)
    with pytest.raises(QueryTooLarge) as caught:
        queries.lineage(budget, deeper)
    assert caught.value.reason == "TRACE_TOO_DEEP" and caught.value.limit == DEPTH
    assert "warrant_descendants" in str(caught.value)
    # It stops as soon as it is one level too deep, not after reading the whole tree.
    assert budget.used < 3 * (DEPTH + 2)
    assert queries.get_warrant(state, deeper) is not None  # the warrant itself still answers


def test_a_proof_of_many_transactions_of_one_block_verifies_and_is_bounded(story: DeepStory) -> None:
    store, genesis = story.chain.store, story.chain.genesis
    deepest = story.remainders[-1]
    bundle = build_proof(store, genesis, deepest)
    assert bundle is not None
    report = verify_bundle(bundle, genesis)
    assert report.ok, report.reason
    assert report.lineage[0] == story.issuance and report.lineage[-1] == deepest
    per_block: dict[int, int] = {}
    for entry in bundle["transactions"]:
        per_block[entry["height"]] = per_block.get(entry["height"], 0) + 1
    assert max(per_block.values()) >= 50  # paths of many leaves of one tree, from its levels built once

    budget = ReadBudget(store.state, 10**9)
    assert build_proof(store, genesis, deepest, budget) == bundle
    with pytest.raises(QueryTooLarge):
        build_proof(store, genesis, deepest, ReadBudget(store.state, budget.used - 1))


def _call(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": 1}).encode()
    request = urllib.request.Request(url + "/rpc", body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as refused:  # 429 and friends carry a JSON-RPC error too
        return json.loads(refused.read())  # type: ignore[no-any-return]


def test_the_rpc_refuses_a_query_past_its_budget_with_a_stable_code(story: DeepStory) -> None:
    with serve(story.chain, max_query_reads=100) as url:
        for method, params in [("account_holdings", {"address": story.buyer.address}),
                               ("warrant_proof", {"id": story.remainders[-1]})]:
            error = _call(url, method, params)["error"]
            assert error["code"] == 1006, error
            assert error["data"] == {"reason": "QUERY_TOO_LARGE", "limit": 100}, error
            assert f"{method} of " in error["message"] and "max_query_reads" in error["message"]
        # A small query still answers, and so does the same one on a node allowing more.
        assert _call(url, "warrant_get", {"id": story.issuance})["result"]["id"] == story.issuance
    with serve(story.chain, max_query_reads=10**6) as url:
        assert _call(url, "account_holdings", {"address": story.buyer.address})["result"]["incoming_count"] == DEPTH
        assert _call(url, "warrant_trace", {"id": story.remainders[-1]})["result"]["id"] == story.issuance
        deeper = story.transfer_once_more()
        error = _call(url, "warrant_trace", {"id": deeper})["error"]
        assert error["code"] == 1006 and error["data"] == {"reason": "TRACE_TOO_DEEP", "limit": DEPTH}, error


def _holdings_cost(story: DeepStory) -> int:
    """The calls one account_holdings of the buyer costs: its own, and one per READS_PER_CALL records."""
    reads = ReadBudget(story.chain.store.state, 10**9)
    queries.holdings(reads, story.buyer.address, offset=0, limit=1000)
    return 1 + reads.used // READS_PER_CALL


def test_what_a_query_reads_is_charged_to_the_clients_rate(story: DeepStory) -> None:
    """Small queries cost one call each; one reading ~400 records costs a call per READS_PER_CALL
    of them more. A query may read only what the client's rate has left: past it, it is cut short
    with RATE_LIMITED (what it read is charged), and the client's next calls wait."""
    cost = _holdings_cost(story)
    assert cost > 20
    burst = 2 * cost + 20
    holdings = ("account_holdings", {"address": story.buyer.address})
    small = ("warrant_get", {"id": story.issuance})
    with serve(story.chain, limits=RpcLimits(rate=1.0, rate_burst=burst)) as url:
        for _ in range(5):
            assert "result" in _call(url, *small)
        assert "result" in _call(url, *holdings)
        assert "result" in _call(url, *holdings)
        assert "result" in _call(url, *small)  # ten calls, far within the burst had it counted calls only
        cut = _call(url, *holdings)["error"]
        assert cut["code"] == 1007 and cut["data"]["reason"] == "RATE_LIMITED", cut
        assert "rate has left" in cut["message"] and cut["data"]["retry_after_ms"] > 1000 * burst
        refused = _call(url, *small)["error"]  # what the cut query read was charged as well
        assert refused["code"] == 1007 and refused["data"]["retry_after_ms"] >= 1, refused


def test_the_calls_of_one_batch_share_the_clients_rate(story: DeepStory) -> None:
    cost = _holdings_cost(story)
    holdings = {"jsonrpc": "2.0", "method": "account_holdings", "params": {"address": story.buyer.address}}
    with serve(story.chain, limits=RpcLimits(rate=1.0, rate_burst=2 * cost + 10)) as url:
        body = json.dumps([dict(holdings, id=i) for i in range(4)]).encode()
        request = urllib.request.Request(url + "/rpc", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answers = sorted(json.loads(response.read()), key=lambda a: a["id"])
    assert ["result" in a for a in answers[:2]] == [True, True], answers[:2]
    assert answers[2]["error"]["code"] == 1007, answers[2]  # cut short where the rate ran out
    assert answers[3]["error"]["code"] == 1007, answers[3]


def test_descendants_page_a_tree_too_deep_to_trace_at_a_cost_per_page(story: DeepStory) -> None:
    deeper = story.transfer_once_more()
    state = story.chain.store.state
    whole = [w.id for w in walk(state.get, story.issuance)]
    assert len(whole) == 2 * (DEPTH + 1) + 1 and whole[-1] == deeper
    seen: list[str] = []
    after = None
    costs = []
    while True:
        budget = ReadBudget(state, 10**9)
        page = queries.descendants(budget, story.issuance, after, 25)
        assert page is not None
        costs.append(budget.used)
        seen += [item["id"] for item in page["warrants"]]
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == whole
    # A page deep in the tree reads about what the first one does: its own warrants and the
    # climb from a leaf to the next branch, never the warrants before it. Only the last climbs
    # all the way back to where it started, to find there is nothing after it.
    assert max(costs[:-1]) < 2 * min(costs[:-1]) < 4 * 25
    assert costs[-1] < 25 + 2 * (DEPTH + 1) + 10

    with serve(story.chain) as url:
        first = _call(url, "warrant_descendants", {"id": story.issuance, "limit": 3})["result"]
        assert [item["id"] for item in first["warrants"]] == whole[:3] and first["next"] == whole[2]
        following = _call(url, "warrant_descendants", {"id": story.issuance, "after": first["next"], "limit": 3})
        assert [item["id"] for item in following["result"]["warrants"]] == whole[3:6]
        outside = _call(url, "warrant_descendants", {"id": whole[-3], "after": whole[1]})["error"]
        assert outside["code"] == -32602 and outside["data"] == {"field": "params.after"}, outside
        assert "not a descendant" in outside["message"]
        too_many = _call(url, "warrant_descendants", {"id": story.issuance, "limit": 1001})["error"]
        assert too_many["code"] == -32602 and too_many["data"]["field"] == "params.limit", too_many
        unknown = _call(url, "warrant_descendants", {"id": "00" * 32})["error"]
        assert unknown["code"] == 1001 and unknown["data"]["reason"] == "WARRANT_NOT_FOUND", unknown
