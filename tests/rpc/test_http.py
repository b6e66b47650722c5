"""The HTTP shell: body limits, status codes, /health, /metrics, and random garbage against a live server."""

from __future__ import annotations

import asyncio
import http.client
import re
import threading
from collections.abc import Iterator
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.metrics import Metrics
from node.rpc.server import RpcServer
from tests.rpc.conftest import SMALL, Client, FakeNode, signed_tx, tx_json


async def test_oversized_body_is_413_with_jsonrpc_error(client: Client) -> None:
    body = b'{"jsonrpc":"2.0","method":"chain_status","id":1,"params":{"x":"' + b"a" * SMALL.max_body_bytes + b'"}}'
    status, answer = await client.post(body)
    assert status == 413
    assert answer["error"]["code"] == -32600 and "limit is 65536 bytes" in answer["error"]["message"]
    assert answer["id"] is None


async def test_oversized_chunked_body_is_413(client: Client) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b"[" + b" " * 8192

    async with client.session.post(client.base + "/rpc", data=chunks()) as r:
        assert r.status == 413
        assert (await r.json())["error"]["code"] == -32600
    assert (await client.result("chain_status"))["height"] == 5  # still serving


async def test_batch_over_http(client: Client) -> None:
    status, answer = await client.post([
        {"jsonrpc": "2.0", "method": "chain_status", "id": 1},
        {"jsonrpc": "2.0", "method": "warrant_get", "params": {"id": 7}, "id": 2},
        {"jsonrpc": "2.0", "method": "no_such", "id": 3},
        {"jsonrpc": "2.0", "method": "chain_status"},
        {"jsonrpc": "2.0", "id": 4},
    ])
    assert status == 200
    assert [a["id"] for a in answer] == [1, 2, 3, 4]
    assert answer[0]["result"]["height"] == 5
    assert answer[1]["error"] == {"code": -32602, "message": "params.id: expected text, got a whole number", "data": {"field": "params.id"}}
    assert answer[2]["error"]["code"] == -32601
    assert answer[3]["error"]["code"] == -32600


async def test_batch_too_long_over_http(client: Client) -> None:
    status, answer = await client.post([{"jsonrpc": "2.0", "method": "chain_status", "id": i} for i in range(11)])
    assert status == 200 and answer["error"]["code"] == -32600 and "limit is 10" in answer["error"]["message"]


async def test_notifications_only_is_204(client: Client, node: FakeNode) -> None:
    tx = signed_tx()
    status, answer = await client.post([{"jsonrpc": "2.0", "method": "tx_submit", "params": {"tx": tx_json(tx)}}])
    assert (status, answer) == (204, None)
    assert [t.id_hex for t in node.submitted] == [tx.id_hex]  # a notification still runs
    status, answer = await client.post({"jsonrpc": "2.0", "method": "chain_status"})
    assert (status, answer) == (204, None)


async def test_deep_nesting_and_invalid_utf8_over_http(client: Client) -> None:
    for body in (b"[" * 41 + b"]" * 41, b"[" * 50_000, b'{"jsonrpc":"2.0","method":"chain_status","id":"\xff"}'):
        status, answer = await client.post(body)
        assert status == 200 and answer["error"]["code"] == -32700 and answer["id"] is None


async def test_get_on_rpc_is_refused(client: Client) -> None:
    async with client.session.get(client.base + "/rpc") as r:
        assert r.status == 405


async def test_health(client: Client, node: FakeNode) -> None:
    async with client.session.get(client.base + "/health") as r:
        assert (r.status, await r.json()) == (200, {"status": "ok", "height": 5, "in_sync": True})
    node.node_status = msgspec.structs.replace(node.node_status, in_sync=False)
    async with client.session.get(client.base + "/health") as r:
        assert (r.status, await r.json()) == (503, {"status": "syncing", "height": 5, "in_sync": False})
    node.node_status = msgspec.structs.replace(node.node_status, ready=False)
    async with client.session.get(client.base + "/health") as r:
        assert r.status == 503 and (await r.json())["status"] == "starting"
    node.crash = True
    async with client.session.get(client.base + "/health") as r:
        assert (r.status, await r.json()) == (503, {"status": "error"})


_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (-?[0-9.e+-]+|[+-]Inf|NaN)$')


async def test_metrics_exposition(client: Client, metrics: Metrics) -> None:
    metrics.height.set(5)
    metrics.commit_latency.observe(0.02)
    metrics.txs_rejected.inc("BAD_SIGNATURE")
    await client.result("chain_status")
    await client.error("warrant_get", {"id": "nope"})
    await client.error("no_such_method")
    async with client.session.get(client.base + "/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await r.text()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or _SAMPLE.match(line), line
    assert "warrantchain_height 5\n" in text
    assert 'warrantchain_rpc_requests_total{method="chain_status",code="0"} 1\n' in text
    assert 'warrantchain_rpc_requests_total{method="warrant_get",code="1001"} 1\n' in text
    assert 'warrantchain_rpc_requests_total{method="unknown",code="-32601"} 1\n' in text
    assert 'warrantchain_txs_rejected_total{code="BAD_SIGNATURE"} 1\n' in text
    assert 'warrantchain_commit_latency_seconds_bucket{le="0.025"} 1\n' in text
    assert 'warrantchain_commit_latency_seconds_count 1\n' in text


async def test_stop_and_restart_frees_the_port(node: FakeNode) -> None:
    server = RpcServer(node, Metrics())
    await server.start()
    port = server.port
    assert port > 0
    await server.stop()
    again = RpcServer(node, Metrics(), port=port)
    await again.start()
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/health") as r:
        assert r.status == 200
    await again.stop()


# ---- random input against a live server ------------------------------------------------------------


@pytest.fixture(scope="module")
def live_port() -> Iterator[int]:
    """A server on its own loop in a thread, so a synchronous hypothesis test can hit it many times."""
    loop = asyncio.new_event_loop()
    server = RpcServer(FakeNode(), Metrics(), limits=SMALL)
    loop.run_until_complete(server.start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield server.port
    asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _post(port: int, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/rpc", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _is_answer(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value) and all(_is_answer(v) for v in value)
    if not (isinstance(value, dict) and value.get("jsonrpc") == "2.0" and "id" in value):
        return False
    if "error" in value:
        error = value["error"]
        # -32603 would mean bad input reached a code path that crashed: the fake node never fails
        return "result" not in value and type(error["code"]) is int and error["code"] != -32603 and isinstance(error["message"], str)
    return "result" in value


_methods = st.sampled_from(
    ["tx_submit", "tx_get", "chain_status", "chain_getBlock", "warrant_get", "account_get", "document_get",
     "credit_get", "rpc_discover", "subscribe", "nope"]
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["id", "tx", "height", "hash", "address", "x"]) | st.text(max_size=5), c, max_size=3),
    max_leaves=15,
)
_calls = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": _methods},
    optional={"params": _values, "id": st.integers() | st.text(max_size=4) | _values},
)
_bodies = st.one_of(
    _calls.map(msgspec.json.encode),
    st.lists(_calls | _values, min_size=0, max_size=12).map(msgspec.json.encode),
    st.binary(max_size=200),
    _calls.map(msgspec.json.encode).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n] + b"\xff" + b[n:])),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies)
def test_random_bodies_always_get_a_jsonrpc_answer(live_port: int, body: bytes) -> None:
    status, raw = _post(live_port, body)
    if status == 204:
        assert raw == b""
    else:
        assert status == 200, (status, raw)
        assert _is_answer(msgspec.json.decode(raw)), raw
    # and it keeps serving
    status, raw = _post(live_port, b'{"jsonrpc":"2.0","method":"chain_status","id":1}')
    assert status == 200 and msgspec.json.decode(raw)["result"]["height"] == 5
