"""A fake NodeAPI and a real RpcServer on 127.0.0.1, port 0, for the RPC tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from node.kernel import chain, crypto
from node.kernel.chain import SignedTx
from node.ledger.keys import document_id
from node.metrics import Metrics
from node.rpc.api import ApiError, ErrorCode, NodeAPI, NodeStatus
from node.rpc.server import RpcLimits, RpcServer

CHAIN_ID = "wc-test"
ALICE = "wc" + "a1" * 20
BANK = "wc" + "b2" * 20
CORE = "wc" + "c3" * 20
REG_ID = "91310000MA1FL2026R"
DOC_ID = document_id("invoice", "INV-1", REG_ID, "uscc")


class FakeNode:
    """Answers from dicts; commits a submitted transaction when the test says so."""

    def __init__(self) -> None:
        self.node_status = NodeStatus(
            chain_id=CHAIN_ID, height=5, block_hash="ab" * 32, state_root="cd" * 32, view=0,
            validators=4, peers=3, mempool_size=0, in_sync=True,
        )
        self.txs: dict[str, dict[str, Any]] = {}
        self.committed: dict[str, asyncio.Event] = {}
        self.submitted: list[SignedTx] = []
        self.reject: Exception | None = None
        self.crash = False
        self.blocks = {h: {"hash": f"{h:064x}", "header": {"height": h}, "txs": []} for h in range(6)}
        self.warrants = {"w1": {"id": "w1", "amount": 100, "holder": ALICE, "status": "active"}}
        self.accounts = {ALICE: {"address": ALICE, "role": "supplier"}}
        self.documents = {DOC_ID: {"id": DOC_ID, "doc_type": "invoice", "number": "inv-1", "issuer_reg_id": REG_ID, "total": 500}}
        self.allocations = {DOC_ID: {"document": DOC_ID, "total": 500, "allocations": [{"warrant": "w1", "amount": 100}]}}
        self.credits = {(BANK, CORE): {"financier": BANK, "core": CORE, "limit": 10_000, "used": 100}}

    def commit(self, tx_id: str, height: int = 6) -> None:
        self.txs[tx_id] = {"id": tx_id, "status": "committed", "height": height, "index": 0, "result": {"ok": True}}
        self.committed.setdefault(tx_id, asyncio.Event()).set()

    async def status(self) -> NodeStatus:
        if self.crash:
            raise RuntimeError("secret internal detail")
        return self.node_status

    async def submit_tx(self, tx: SignedTx) -> None:
        if self.crash:
            raise RuntimeError("secret internal detail")
        if self.reject is not None:
            raise self.reject
        self.submitted.append(tx)
        self.txs.setdefault(tx.id_hex, {"id": tx.id_hex, "status": "pending"})

    async def wait_tx(self, tx_id: str) -> dict[str, Any]:
        await self.committed.setdefault(tx_id, asyncio.Event()).wait()
        return self.txs[tx_id]

    async def get_tx(self, tx_id: str) -> dict[str, Any] | None:
        return self.txs.get(tx_id)

    async def get_block(self, *, height: int | None = None, block_hash: str | None = None, **page: Any) -> dict[str, Any] | None:
        self.last_page = page
        if height is not None:
            return self.blocks.get(height)
        return next((b for b in self.blocks.values() if b["hash"] == block_hash), None)

    async def validators(self) -> list[dict[str, Any]]:
        return [{"index": i, "name": f"v{i}"} for i in range(4)]

    async def warrant(self, warrant_id: str) -> dict[str, Any] | None:
        if warrant_id == "frozen":
            raise ApiError(ErrorCode.NOT_READY, "ledger busy", reason="LEDGER_BUSY", data={"retry_ms": 10})
        return self.warrants.get(warrant_id)

    async def warrant_trace(self, warrant_id: str) -> dict[str, Any] | None:
        w = self.warrants.get(warrant_id)
        return None if w is None else {"warrant": w, "ancestors": [], "history": []}

    async def warrant_proof(self, warrant_id: str) -> dict[str, Any] | None:
        return None if warrant_id not in self.warrants else {"warrant": warrant_id, "blocks": []}

    async def account(self, address: str) -> dict[str, Any] | None:
        return self.accounts.get(address)

    async def holdings(self, address: str, **page: Any) -> dict[str, Any] | None:
        self.last_page = page
        if address not in self.accounts:
            return None
        return {"address": address, "warrants": [w for w in self.warrants.values() if w["holder"] == address]}

    async def document(self, *, doc_id: str) -> dict[str, Any] | None:
        return self.documents.get(doc_id)

    async def document_allocations(self, doc_id: str) -> dict[str, Any] | None:
        return self.allocations.get(doc_id)

    async def account_documents(self, address: str, limit: int, after: str | None) -> dict[str, Any] | None:
        if address not in self.accounts:
            return None
        docs = sorted(self.documents.values(), key=lambda d: d["id"])
        return {"address": address, "documents": docs[:limit], "next": None, "asked": [limit, after]}

    async def credit(self, *, financier: str, core: str) -> dict[str, Any] | None:
        return self.credits.get((financier, core))

    async def validator_set(self, height: int | None) -> dict[str, Any]:
        return {"height": 6 if height is None else height, "final": height is None, "epoch": {"epoch": 0}, "pending": None}

    async def validator_history(self) -> dict[str, Any]:
        return {"epochs": [{"epoch": 0, "status": "active"}]}

    async def governance_proposals(self, status: str | None, limit: int) -> dict[str, Any]:
        return {"required": 2, "proposals": [], "asked": [status, limit]}


def signed_tx(key: crypto.SigningKey | None = None, **overrides: Any) -> SignedTx:
    key = key or crypto.generate_key()
    body: dict[str, Any] = {
        "chain_id": CHAIN_ID, "type": "transfer", "sender": key.address, "nonce": 1,
        "expires": 1_900_000_000_000, "payload": {"warrant": "w1", "to": ALICE, "amount": 40},
    }
    body.update(overrides)
    return chain.sign_tx(key, body)


def tx_json(tx: SignedTx) -> Any:
    return msgspec.json.decode(tx.raw)


class Client:
    """Posts JSON-RPC calls to a running server."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def post(self, body: bytes | str | Any) -> tuple[int, Any]:
        data = body if isinstance(body, (bytes, str)) else msgspec.json.encode(body)
        async with self.session.post(self.base + "/rpc", data=data, headers={"Content-Type": "application/json"}) as r:
            raw = await r.read()
            return r.status, (msgspec.json.decode(raw) if raw else None)

    async def call(self, method: str, params: Any = None, id: Any = 1) -> Any:
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id}
        if params is not None:
            request["params"] = params
        status, answer = await self.post(request)
        assert status == 200
        assert answer["jsonrpc"] == "2.0" and answer["id"] == id
        return answer

    async def result(self, method: str, params: Any = None) -> Any:
        answer = await self.call(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    async def error(self, method: str, params: Any = None) -> dict[str, Any]:
        answer = await self.call(method, params)
        assert "result" not in answer, answer
        return answer["error"]  # type: ignore[no-any-return]


SMALL = RpcLimits(max_body_bytes=64 * 1024, max_batch=10, max_depth=40, ws_queue=8, ws_max_subscriptions=3)


@pytest.fixture
def node() -> FakeNode:
    return FakeNode()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(protocol_version="test")


@pytest.fixture
async def server(node: FakeNode, metrics: Metrics) -> AsyncIterator[RpcServer]:
    srv = RpcServer(node, metrics, "127.0.0.1", 0, SMALL)
    await srv.start()
    yield srv
    await srv.stop()


@pytest.fixture
async def client(server: RpcServer) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, f"http://127.0.0.1:{server.port}")


def _fake_node_implements_the_protocol() -> NodeAPI:
    return FakeNode()  # mypy checks FakeNode against NodeAPI here
