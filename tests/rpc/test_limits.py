"""The RPC's bounds in-process: token buckets, the client address behind a proxy, answer-size caps,
head/body/idle timeouts, connection caps with eviction, paging params, and logs that can't flood."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest

from node.logs import FloodFilter, Throttle
from node.metrics import Metrics
from node.rpc import jsonrpc
from node.rpc.guard import TokenBuckets, TrustedProxies, client_address
from node.rpc.server import RpcLimits, RpcServer
from tests.rpc.conftest import DOC_ID, FakeNode


def test_token_bucket_allows_a_burst_then_tells_how_long_to_wait() -> None:
    buckets = TokenBuckets(rate=10, burst=5)
    assert [buckets.take("a", 1, now=0.0) for _ in range(5)] == [0] * 5
    assert buckets.take("a", 1, now=0.0) == 100  # one token comes every 100 ms
    assert buckets.take("b", 1, now=0.0) == 0  # another key has its own bucket
    assert buckets.take("a", 1, now=0.25) == 0  # refilled
    assert buckets.take("a", 3, now=0.25) == 150  # 1.5 tokens left of the 2.5 refilled


def test_work_charged_after_a_call_puts_the_bucket_in_debt_down_to_one_burst() -> None:
    buckets = TokenBuckets(rate=10, burst=5)
    assert buckets.take("a", 1, now=0.0) == 0
    buckets.charge("a", 7, now=0.0)  # 4 left, 7 spent: 3 owed
    assert buckets.take("a", 1, now=0.0) == 400  # 4 tokens to come, one every 100 ms
    buckets.charge("a", 10**6, now=0.0)  # however much: at most one burst of debt
    assert buckets.take("a", 1, now=0.0) == 600
    buckets.charge("b", 0, now=0.0)  # nothing owed: nothing changes
    buckets.charge("b", -3, now=0.0)
    assert [buckets.take("b", 1, now=0.0) for _ in range(6)] == [0] * 5 + [100]


def test_token_bucket_table_is_bounded() -> None:
    buckets = TokenBuckets(rate=1, burst=1, max_keys=100)
    for i in range(1000):
        buckets.take(f"k{i}", 1, now=0.0)
    assert len(buckets) == 100


def test_forwarded_for_is_believed_only_from_trusted_proxies() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "192.0.2.1"])
    assert client_address("198.51.100.7", ["203.0.113.5"], proxies) == "198.51.100.7"
    assert client_address("10.1.2.3", ["203.0.113.5"], proxies) == "203.0.113.5"
    # A client's own claims are left of what the proxies appended: the rightmost untrusted wins.
    assert client_address("10.1.2.3", ["6.6.6.6, 203.0.113.5", "192.0.2.1"], proxies) == "203.0.113.5"
    assert client_address("10.1.2.3", [], proxies) == "10.1.2.3"
    assert client_address("10.1.2.3", ["10.9.9.9"], proxies) == "10.9.9.9"  # only proxies: the first


async def test_answers_over_the_limits_become_errors_naming_them() -> None:
    async def handler(request: jsonrpc.Request) -> object:
        return "x" * int(request.method[1:])

    limits = jsonrpc.Limits(max_response=1000, max_batch_response=2500)
    one = await jsonrpc.handle(b'{"jsonrpc":"2.0","id":1,"method":"m2000"}', handler, limits)
    error = jsonrpc._decoder.decode(one)["error"]
    assert error["code"] == 1006 and error["data"] == {"reason": "RESPONSE_TOO_LARGE", "limit": 1000}
    batch = b"[" + b",".join(b'{"jsonrpc":"2.0","id":%d,"method":"m900"}' % i for i in range(5)) + b"]"
    answers = jsonrpc._decoder.decode(await jsonrpc.handle(batch, handler, limits))
    whole = [a for a in answers if "result" in a]
    assert len(whole) == 2 and all(len(a["result"]) == 900 for a in whole)  # never a cut result
    assert [a["error"]["data"]["reason"] for a in answers if "error" in a] == ["BATCH_RESPONSE_TOO_LARGE"] * 3


@pytest.fixture
async def tight() -> AsyncIterator[RpcServer]:
    limits = RpcLimits(header_timeout_s=0.3, body_timeout_s=0.3, idle_timeout_s=0.3, max_connections=3,
                       max_connections_per_address=2, trusted_proxies=("127.0.0.9",))
    server = RpcServer(FakeNode(), Metrics(protocol_version="test"), "127.0.0.1", 0, limits)
    await server.start()
    yield server
    await server.stop()


async def _read_all(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(5):
        return await reader.read()


async def test_silent_and_half_sent_connections_are_closed_in_time(tight: RpcServer) -> None:
    silent = await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.2", 0))
    half = await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.3", 0))
    half[1].write(b"POST /rpc HTTP/1.1\r\nHost: x\r\n")
    assert await _read_all(silent[0]) == b""
    assert (await _read_all(half[0])).startswith(b"HTTP/1.1 408")
    body = await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.4", 0))
    body[1].write(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
    answer = await _read_all(body[0])
    assert answer.startswith(b"HTTP/1.1 408") and b"BODY_TIMEOUT" in answer
    assert tight.connections.stats["header_timeouts"] == 1 and tight.connections.stats["idle_timeouts"] >= 1
    for _, writer in (silent, half, body):
        writer.close()


async def test_per_address_cap_and_eviction_at_capacity(tight: RpcServer) -> None:
    mine = [await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.5", 0)) for _ in range(3)]
    answer = await _read_all(mine[2][0])  # the third from one address
    assert answer.startswith(b"HTTP/1.1 429") and b"TOO_MANY_CONNECTIONS_FROM_ADDRESS" in answer
    other = await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.6", 0))
    await asyncio.sleep(0.05)
    assert len(tight.connections) == 3
    # At capacity, a real request still gets in: the connection idle the longest makes room.
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{tight.port}/rpc",
                                json={"jsonrpc": "2.0", "id": 1, "method": "chain_status"}) as r:
            assert r.status == 200 and "result" in await r.json()
    assert await _read_all(mine[0][0]) == b""  # the oldest idle one was closed
    assert tight.connections.stats["evicted"] >= 1
    for _, writer in [*mine, other]:
        writer.close()


async def test_paging_params_reach_the_node_and_allocations_are_paged(tight: RpcServer) -> None:
    node = tight.api
    assert isinstance(node, FakeNode)
    node.documents[DOC_ID]["allocations"] = [{"ref": f"w{i}", "amount": 1} for i in range(25)]
    async with aiohttp.ClientSession() as session:
        async def call(method: str, params: dict) -> dict:
            async with session.post(f"http://127.0.0.1:{tight.port}/rpc",
                                    json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}) as r:
                return await r.json()  # type: ignore[no-any-return]

        await call("chain_getBlock", {"height": 3, "full": True, "offset": 5, "limit": 7})
        assert node.last_page == {"full": True, "offset": 5, "limit": 7}
        await call("chain_getBlock", {"height": 3})
        assert node.last_page == {"full": False, "offset": 0, "limit": 1000}
        doc = (await call("document_get", {"id": DOC_ID, "offset": 20, "limit": 10}))["result"]
        assert [a["ref"] for a in doc["allocations"]] == [f"w{i}" for i in range(20, 25)]
        assert doc["allocations_count"] == 25 and doc["next_offset"] is None
        doc = (await call("document_get", {"id": DOC_ID, "limit": 10}))["result"]
        assert doc["next_offset"] == 10 and len(doc["allocations"]) == 10
        error = (await call("chain_getBlock", {"height": 3, "limit": 10_001}))["error"]
        assert error["code"] == -32602 and error["data"]["field"] == "params.limit"


def test_a_repeated_line_is_logged_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    flood = FloodFilter(interval=10, clock=lambda: now[0])
    logger = logging.getLogger("test.flood")
    logger.addFilter(flood)
    try:
        with caplog.at_level(logging.INFO, logger="test.flood"):
            for _ in range(1000):
                logger.error("socket.accept() out of system resource\nsocket: fd=%d", 7)
            logger.info("committed height=1")
            logger.info("committed height=2")  # different lines pass
            now[0] = 11
            logger.error("socket.accept() out of system resource\nsocket: fd=%d", 8)
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 4
        assert lines[-1].endswith("(999 more like this in the last 10s)")
        throttle = Throttle(logger, interval=10, clock=lambda: now[0])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="test.flood"):
            for _ in range(50):
                throttle.warning("busy", "refused %s", "x")
        assert [r.getMessage() for r in caplog.records] == ["refused x"]
    finally:
        logger.removeFilter(flood)


async def test_a_client_leaving_mid_request_is_a_debug_line(tight: RpcServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        reader, writer = await asyncio.open_connection("127.0.0.1", tight.port, local_addr=("127.0.0.7", 0))
        writer.write(b"POST /rpc HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()
        await asyncio.sleep(0.2)
    assert any("disconnected mid-request" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info], caplog.records


async def test_health_and_metrics_count_against_the_rate_of_the_address() -> None:
    """An outsider can't make the node render /metrics (or answer /health) faster than its rate:
    a scrape costs two calls, /health one; over the limit, 429 with Retry-After and error 1007,
    while another address is still served."""
    limits = RpcLimits(rate=0.001, rate_burst=5)  # 5 calls, then nothing for a long time
    server = RpcServer(FakeNode(), Metrics(protocol_version="test"), "127.0.0.1", 0, limits)
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.7", 0))) as outsider:
            statuses = []
            for path in ("/metrics", "/metrics", "/health", "/metrics", "/health"):  # 2 + 2 + 1, then over
                async with outsider.get(base + path) as r:
                    statuses.append(r.status)
                    body = await r.read()
            assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429], statuses
            error = json.loads(body)["error"]
            assert error["code"] == 1007 and error["data"]["reason"] == "RATE_LIMITED", error
            assert int(r.headers["Retry-After"]) >= 1
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=("127.0.0.8", 0))) as other:
            async with other.get(base + "/metrics") as r:
                assert r.status == 200 and b"warrantchain_ws_dropped_total" in await r.read()
    finally:
        await server.stop()

