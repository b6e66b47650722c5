"""Each RPC method against the fake node: results, not-found, bad params, application errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from node.ledger.codes import Code, LedgerError
from node.rpc.api import ApiError, ErrorCode
from tests.rpc.conftest import ALICE, BANK, CORE, DOC_ID, REG_ID, Client, FakeNode, signed_tx, tx_json


async def test_tx_submit_returns_pending_id(client: Client, node: FakeNode) -> None:
    tx = signed_tx()
    assert await client.result("tx_submit", {"tx": tx_json(tx)}) == {"id": tx.id_hex, "status": "pending"}
    assert [t.id_hex for t in node.submitted] == [tx.id_hex]
    assert await client.result("tx_get", {"id": tx.id_hex}) == {"id": tx.id_hex, "status": "pending"}


async def test_tx_submit_wait_returns_commit(client: Client, node: FakeNode) -> None:
    tx = signed_tx()
    asyncio.get_running_loop().call_later(0.05, node.commit, tx.id_hex)
    result = await client.result("tx_submit", {"tx": tx_json(tx), "wait": True, "timeout_ms": 5000})
    assert result == {"id": tx.id_hex, "status": "committed", "height": 6, "index": 0, "result": {"ok": True}}


async def test_tx_submit_wait_times_out_with_own_code(client: Client) -> None:
    tx = signed_tx()
    error = await client.error("tx_submit", {"tx": tx_json(tx), "wait": True, "timeout_ms": 50})
    assert error["code"] == ErrorCode.TX_TIMEOUT == 1003
    assert error["data"] == {"id": tx.id_hex, "status": "pending", "reason": "TIMEOUT"}


async def test_tx_submit_rejection_passes_code_and_reason(client: Client, node: FakeNode) -> None:
    node.reject = ApiError(ErrorCode.TX_REJECTED, "warrant w1 is frozen", reason="WARRANT_FROZEN", data={"warrant": "w1"})
    error = await client.error("tx_submit", {"tx": tx_json(signed_tx())})
    assert error == {"code": 1002, "message": "warrant w1 is frozen", "data": {"warrant": "w1", "reason": "WARRANT_FROZEN"}}


async def test_tx_submit_ledger_error_passes_its_number_and_code(client: Client, node: FakeNode) -> None:
    refusal = LedgerError(Code.NOT_MATURED, "warrant w1 matures at 1900000000000")
    node.reject = refusal
    error = await client.error("tx_submit", {"tx": tx_json(signed_tx())})
    assert error == {"code": refusal.number, "message": refusal.message, "data": {"reason": "NOT_MATURED"}}
    assert 4000 <= error["code"] <= 4999


def test_api_error_codes_are_checked() -> None:
    assert ApiError(4500, "x", reason="NOT_MATURED").to_rpc().code == 4500
    with pytest.raises(ValueError):
        ApiError(77, "not a documented code")


async def test_tx_submit_bad_envelope_names_field(client: Client) -> None:
    tx: Any = tx_json(signed_tx())
    tx["body"]["nonce"] = "1"
    error = await client.error("tx_submit", {"tx": tx})
    assert error["code"] == -32602
    assert error["message"] == "params.tx.body.nonce: expected a whole number, got text"
    assert error["data"] == {"field": "params.tx.body.nonce"}
    tx["body"]["nonce"] = 1
    tx["sig"] = "zz"
    error = await client.error("tx_submit", {"tx": tx})
    assert error["message"] == "params.tx.sig: expected a signature: 128 lowercase hex digits (r and s, 32 bytes each)"


async def test_tx_submit_float_in_payload_is_invalid_params(client: Client) -> None:
    tx: Any = tx_json(signed_tx())
    tx["body"]["payload"]["amount"] = 1.5
    error = await client.error("tx_submit", {"tx": tx})
    assert error["code"] == -32602 and "floating-point" in error["message"]


async def test_tx_submit_unknown_and_missing_fields(client: Client) -> None:
    tx = tx_json(signed_tx())
    error = await client.error("tx_submit", {"tx": tx, "speed": "fast"})
    assert (error["code"], error["message"]) == (-32602, "params.speed: unknown field")
    error = await client.error("tx_submit", {})
    assert (error["code"], error["message"]) == (-32602, "params.tx: required field missing")
    error = await client.error("tx_submit", {"tx": tx, "timeout_ms": 0})
    assert error["message"] == "params.timeout_ms: expected a whole number at least 1"


async def test_tx_get_unknown_is_not_found(client: Client) -> None:
    error = await client.error("tx_get", {"id": "00" * 32})
    assert error["code"] == ErrorCode.NOT_FOUND and error["data"] == {"reason": "TX_NOT_FOUND"}
    assert error["message"] == f"transaction {'00' * 32} not found"


async def test_chain_status(client: Client) -> None:
    status = await client.result("chain_status")
    assert status == {
        "chain_id": "wc-test", "height": 5, "block_hash": "ab" * 32, "state_root": "cd" * 32, "view": 0,
        "validators": 4, "peers": 3, "mempool_size": 0, "in_sync": True, "ready": True, "role": "validator",
    }
    assert await client.result("chain_status", {}) == status
    assert await client.result("chain_status", []) == status


async def test_chain_get_block_by_height_and_hash(client: Client) -> None:
    block = await client.result("chain_getBlock", {"height": 3})
    assert block["header"] == {"height": 3}
    assert await client.result("chain_getBlock", {"hash": block["hash"]}) == block
    assert await client.result("chain_getBlock", [3]) == block  # positional: fields in documented order
    error = await client.error("chain_getBlock", {"height": 99})
    assert (error["code"], error["message"]) == (1001, "block at height 99 not found")


async def test_chain_get_block_needs_exactly_one_key(client: Client) -> None:
    for params in ({}, {"height": 1, "hash": "00" * 32}):
        error = await client.error("chain_getBlock", params)
        assert (error["code"], error["message"]) == (-32602, "params: give exactly one of height or hash")
    error = await client.error("chain_getBlock", {"height": -1})
    assert error["message"] == "params.height: expected a whole number at least 0"


async def test_chain_validators(client: Client) -> None:
    assert [v["index"] for v in await client.result("chain_validators")] == [0, 1, 2, 3]


async def test_warrant_methods(client: Client) -> None:
    assert (await client.result("warrant_get", {"id": "w1"}))["amount"] == 100
    assert (await client.result("warrant_trace", {"id": "w1"}))["warrant"]["id"] == "w1"
    assert (await client.result("warrant_proof", {"id": "w1"}))["warrant"] == "w1"
    for method in ("warrant_get", "warrant_trace", "warrant_proof"):
        error = await client.error(method, {"id": "nope"})
        assert error == {"code": 1001, "message": "warrant nope not found", "data": {"reason": "WARRANT_NOT_FOUND"}}
    error = await client.error("warrant_get", {"id": ""})
    assert error["message"] == "params.id: expected text of at least 1 character"


async def test_application_error_passes_through(client: Client) -> None:
    error = await client.error("warrant_get", {"id": "frozen"})
    assert error == {"code": 1005, "message": "ledger busy", "data": {"retry_ms": 10, "reason": "LEDGER_BUSY"}}


async def test_account_methods(client: Client) -> None:
    assert (await client.result("account_get", {"address": ALICE}))["role"] == "supplier"
    holdings = await client.result("account_holdings", {"address": ALICE})
    assert [w["id"] for w in holdings["warrants"]] == ["w1"]
    error = await client.error("account_get", {"address": BANK})
    assert (error["code"], error["data"]["reason"]) == (1001, "ACCOUNT_NOT_FOUND")
    error = await client.error("account_holdings", {"address": "alice"})
    assert error["code"] == -32602 and error["message"] == "params.address: expected an account address (wc and 40 lowercase hex digits)"


async def test_document_get_by_id_and_business_key(client: Client) -> None:
    by_id = await client.result("document_get", {"id": DOC_ID})
    by_key = await client.result("document_get", {"doc_type": "invoice", "number": "INV-1", "issuer_reg_id": REG_ID})
    assert by_id == by_key and by_id["total"] == 500
    # any spelling of the key finds the same document, as the ledger anchored it
    variant = {"doc_type": "invoice", "number": " inv\u20111\u200b", "issuer_reg_id": REG_ID.lower(), "issuer_reg_kind": "uscc"}
    assert await client.result("document_get", variant) == by_id
    error = await client.error("document_get", {"doc_type": "invoice", "number": "INV-2", "issuer_reg_id": REG_ID})
    assert error["message"].startswith(f"document invoice 'inv-2' of uscc '{REG_ID}' (id ")
    assert error["data"] == {"reason": "DOCUMENT_NOT_FOUND"}
    for params in ({"doc_type": "invoice"}, {"id": DOC_ID, "number": "INV-1"}, {}, {"id": "d1"},
                   {"id": DOC_ID, "issuer_reg_kind": "uscc"}):
        assert (await client.error("document_get", params))["code"] == -32602
    # a key that can't be canonicalised, or a USCC failing its check, is a params error naming why
    for number, reg, reason in (("INV\n1", REG_ID, "INVALID_BUSINESS_KEY"), ("INV-1", REG_ID[:17] + "Q", "INVALID_REG_ID")):
        error = await client.error("document_get", {"doc_type": "invoice", "number": number, "issuer_reg_id": reg,
                                                    "issuer_reg_kind": "uscc"})
        assert error["code"] == -32602 and error["data"]["reason"] == reason


async def test_document_allocations_and_account_documents(client: Client) -> None:
    assert (await client.result("document_allocations", {"id": DOC_ID}))["allocations"] == [{"warrant": "w1", "amount": 100}]
    error = await client.error("document_allocations", {"id": "ee" * 32})
    assert (error["code"], error["data"]["reason"]) == (1001, "DOCUMENT_NOT_FOUND")
    page = await client.result("account_documents", {"address": ALICE, "limit": 5})
    assert [d["id"] for d in page["documents"]] == [DOC_ID] and page["asked"] == [5, None]
    error = await client.error("account_documents", {"address": BANK})
    assert (error["code"], error["data"]["reason"]) == (1001, "ACCOUNT_NOT_FOUND")
    for params in ({"address": ALICE, "limit": 0}, {"address": ALICE, "limit": 501}, {"address": ALICE, "after": "x"}):
        assert (await client.error("account_documents", params))["code"] == -32602


async def test_credit_get(client: Client) -> None:
    assert (await client.result("credit_get", {"financier": BANK, "core": CORE}))["limit"] == 10_000
    error = await client.error("credit_get", {"financier": CORE, "core": BANK})
    assert (error["code"], error["data"]["reason"]) == (1001, "CREDIT_NOT_FOUND")
    error = await client.error("credit_get", {"financier": BANK})
    assert error["message"] == "params.core: required field missing"


async def test_internal_error_hides_cause(client: Client, node: FakeNode, caplog: Any) -> None:
    node.crash = True
    error = await client.error("chain_status")
    assert error["code"] == -32603
    assert "secret" not in str(error) and "Traceback" not in str(error)
    assert error["message"] == f"internal error (ref {error['data']['ref']}); the node operator can find it in the log"
    assert "secret internal detail" in caplog.text  # the traceback is in the log


async def test_method_not_found(client: Client) -> None:
    error = await client.error("warrant_steal", {"id": "w1"})
    assert error["code"] == -32601 and "warrant_steal" in error["message"]
    # subscriptions exist only on the WebSocket
    assert (await client.error("subscribe", {"topic": "blocks"}))["code"] == -32601


async def test_validator_and_governance_queries_check_their_params(client: Client) -> None:
    assert (await client.result("validator_set"))["height"] == 6  # the next block's by default
    assert (await client.result("validator_set", {"height": 40}))["final"] is False
    for bad in ({"height": 0}, {"height": "7"}, {"epoch": 1}):
        assert (await client.error("validator_set", bad))["code"] == -32602, bad
    assert (await client.result("validator_history"))["epochs"][0]["status"] == "active"
    assert (await client.result("governance_proposals", {"status": "open", "limit": 5}))["asked"] == ["open", 5]
    assert (await client.result("governance_proposals"))["asked"] == [None, 100]
    for bad in ({"status": "approved"}, {"limit": 101}, {"limit": 0}):
        assert (await client.error("governance_proposals", bad))["code"] == -32602, bad


async def test_rpc_discover_lists_every_method(client: Client) -> None:
    doc = await client.result("rpc_discover")
    assert doc["openrpc"].startswith("1.2")
    names = {m["name"] for m in doc["methods"]}
    assert names == {
        "tx_submit", "tx_get", "chain_status", "chain_getBlock", "chain_validators", "warrant_get",
        "warrant_trace", "warrant_descendants", "warrant_proof", "account_get", "account_holdings", "document_get", "credit_get",
        "document_allocations", "account_documents", "rpc_discover", "subscribe", "unsubscribe",
        "validator_set", "validator_history", "governance_proposals",
    }
    submit = next(m for m in doc["methods"] if m["name"] == "tx_submit")
    assert [(p["name"], p["required"]) for p in submit["params"]] == [("tx", True), ("wait", False), ("timeout_ms", False)]
    assert submit["params"][0]["schema"] == {"$ref": "#/components/schemas/TxEnvelope"}
    assert {"TxEnvelope", "TxBody", "NodeStatus"} <= doc["components"]["schemas"].keys()
    assert {e["code"] for e in submit["errors"]} >= {1002, 1003}
    for method in doc["methods"]:  # the server's answer-size and rate limits apply to every call
        assert {e["code"] for e in method["errors"]} >= {1006, 1007}, method["name"]
    by_name = {m["name"]: m for m in doc["methods"]}
    for name in ("warrant_get", "warrant_trace", "warrant_proof"):  # methods sharing a params type
        assert [p["name"] for p in by_name[name]["params"]] == ["id"]
    assert by_name["chain_status"]["params"] == []
    assert [p["name"] for p in by_name["document_get"]["params"]] == ["id", "doc_type", "number", "issuer_reg_id",
                                                                      "issuer_reg_kind", "offset", "limit"]
    assert not any(name.endswith("Params") for name in doc["components"]["schemas"])
    assert await client.result("rpc.discover") == doc


async def test_a_bad_value_deep_in_the_tx_names_its_own_path(client: Client) -> None:
    tx = tx_json(signed_tx())
    tx["body"]["payload"]["amount"] = 1.5
    error = await client.error("tx_submit", {"tx": tx})
    assert error["code"] == -32602 and error["data"] == {"field": "params.tx.body.payload.amount"}
    assert error["message"].startswith("params.tx.body.payload.amount: ")
