"""WebSocket subscriptions: subscribe, notifications by topic, unsubscribe, limits, slow subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import msgspec

from node.metrics import Metrics
from node.rpc.server import RpcServer
from tests.rpc.conftest import ALICE, BANK, Client

BLOCK = {"height": 6, "hash": "ef" * 32, "tx_count": 2}
EVENTS = [
    {"type": "transfer", "tx": "01" * 32, "accounts": [ALICE, BANK], "warrants": ["w1", "w2"]},
    {"type": "issue", "tx": "02" * 32, "accounts": [BANK], "warrants": ["w3"]},
]


class WsClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.next_id = 0

    async def call(self, method: str, params: Any = None) -> Any:
        self.next_id += 1
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": self.next_id}
        if params is not None:
            request["params"] = params
        await self.ws.send_str(msgspec.json.encode(request).decode())
        answer = await self.receive()
        assert answer["id"] == self.next_id, answer
        return answer

    async def receive(self, timeout: float = 2.0) -> Any:
        message = await self.ws.receive(timeout=timeout)
        assert message.type == aiohttp.WSMsgType.TEXT, message
        return msgspec.json.decode(message.data)

    async def subscribe(self, **params: Any) -> str:
        answer = await self.call("subscribe", params)
        sub_id: str = answer["result"]
        return sub_id


async def connect(client: Client) -> WsClient:
    return WsClient(await client.session.ws_connect(client.base.replace("http", "ws") + "/ws"))


async def test_subscribe_notify_unsubscribe(client: Client, server: RpcServer) -> None:
    ws = await connect(client)
    blocks = await ws.subscribe(topic="blocks")
    alice = await ws.subscribe(topic="account", address=ALICE)
    w3 = await ws.subscribe(topic="warrant", id="w3")
    assert len({blocks, alice, w3}) == 3

    server.publish_block(BLOCK, EVENTS)
    got = [await ws.receive() for _ in range(3)]
    assert all(n["jsonrpc"] == "2.0" and n["method"] == "subscription" and "id" not in n for n in got)
    by_sub = {n["params"]["subscription"]: n["params"]["result"] for n in got}
    assert by_sub == {blocks: BLOCK, alice: EVENTS[0], w3: EVENTS[1]}

    assert (await ws.call("unsubscribe", {"subscription": alice}))["result"] is True
    assert (await ws.call("unsubscribe", {"subscription": alice}))["result"] is False
    assert (await ws.call("unsubscribe", [blocks]))["result"] is True
    server.publish_block(BLOCK, EVENTS)
    only = await ws.receive()
    assert only["params"] == {"subscription": w3, "result": EVENTS[1]}
    await ws.ws.close()


async def test_regular_methods_and_errors_over_ws(client: Client) -> None:
    ws = await connect(client)
    assert (await ws.call("chain_status"))["result"]["height"] == 5
    error = (await ws.call("subscribe", {"topic": "account"}))["error"]
    assert (error["code"], error["message"]) == (-32602, 'params: topic "account" takes address only')
    error = (await ws.call("subscribe", {"topic": "mempool"}))["error"]
    assert error["code"] == -32602 and error["message"] == "params.topic: 'mempool' is not an allowed value"
    await ws.ws.send_str("{not json")
    assert (await ws.receive())["error"]["code"] == -32700
    await ws.ws.send_bytes(b'{"jsonrpc":"2.0","method":"chain_status","id":"b"}')
    assert (await ws.receive())["id"] == "b"
    await ws.ws.send_str('{"jsonrpc":"2.0","method":"subscribe","params":{"topic":"blocks"}}')  # notification
    assert (await ws.call("chain_validators"))["result"][0]["index"] == 0
    await ws.ws.close()


async def test_subscription_limit(client: Client) -> None:
    ws = await connect(client)
    for _ in range(3):
        await ws.subscribe(topic="blocks")
    error = (await ws.call("subscribe", {"topic": "blocks"}))["error"]
    assert error["code"] == 1006 and error["data"] == {"reason": "TOO_MANY_SUBSCRIPTIONS"}
    await ws.ws.close()


async def test_slow_subscriber_is_dropped_others_keep_going(client: Client, server: RpcServer, metrics: Metrics) -> None:
    slow = await connect(client)
    fast = await connect(client)
    await slow.subscribe(topic="blocks")
    sub = await fast.subscribe(topic="blocks")
    # The slow client never reads: once the socket buffers are full its sender blocks, its queue
    # (8 messages, SMALL limits) fills up, and the next block drops it. The fast one reads everything.
    padding = "x" * 60_000
    height = 0
    while metrics.ws_dropped.get() == 0:
        assert height < 2000, "the slow subscriber was never dropped"
        for _ in range(4):
            server.publish_block({"height": height, "padding": padding}, [])
            height += 1
        for expected in range(height - 4, height):
            notification = await fast.receive()
            assert notification["params"]["subscription"] == sub
            assert notification["params"]["result"]["height"] == expected
    while True:
        message = await slow.ws.receive(timeout=2)
        if message.type != aiohttp.WSMsgType.TEXT:
            break
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert slow.ws.close_code == 1008
    assert metrics.ws_dropped.get() == 1
    server.publish_block({"height": 99}, [])  # the dropped connection is gone; no error
    assert (await fast.receive())["params"]["result"] == {"height": 99}
    await fast.ws.close()


async def test_connections_gauge_and_stop_closes_websockets(client: Client, server: RpcServer, metrics: Metrics) -> None:
    ws = await connect(client)
    await ws.subscribe(topic="blocks")
    assert metrics.ws_connections.get() == 1
    await server.stop()
    message = await ws.ws.receive(timeout=2)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    await asyncio.sleep(0)
    assert metrics.ws_connections.get() == 0


async def test_client_not_reading_its_answers_is_dropped(client: Client, metrics: Metrics) -> None:
    ws = await connect(client)
    request = '{"jsonrpc":"2.0","method":"rpc_discover","id":1}'  # a large answer fills buffers fast
    for _ in range(3000):
        if ws.ws.closed or metrics.ws_dropped.get():
            break
        await ws.ws.send_str(request)
        await asyncio.sleep(0)
    else:
        raise AssertionError("never dropped")
    while (await ws.ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
        pass
    assert ws.ws.close_code == 1008


async def test_oversized_ws_message_closes_with_1009(client: Client) -> None:
    ws = await connect(client)
    await ws.ws.send_str('{"jsonrpc":"2.0","method":"chain_status","id":1,"params":{"x":"' + "a" * 70_000 + '"}}')
    while (await ws.ws.receive(timeout=5)).type == aiohttp.WSMsgType.TEXT:
        pass
    assert ws.ws.close_code == 1009
