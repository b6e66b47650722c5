"""Must-show 4: one address opening WebSocket connections and subscriptions past the limits gets
refusals (HTTP 429; LIMIT_EXCEEDED 1006), a consumer that stops reading is disconnected (close
1008, or a reset if it doesn't even take the close frame), and the other subscribers keep
receiving. v2 allows 3 connections per address, 4 subscriptions each, 16 queued messages."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import commit_one, metric


def _ws_url(net: LocalNet, index: int) -> str:
    return net.rpc_url(index).replace("http://", "ws://").removesuffix("/rpc") + "/ws"


async def _call(ws: ClientConnection, method: str, params: dict, call_id: int) -> dict:
    await ws.send(json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}))
    while True:
        answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if answer.get("id") == call_id:
            return answer  # type: ignore[no-any-return]


def _slow_socket(source: str, port: int) -> socket.socket:
    """A connected socket with a tiny receive buffer: a client that reads nothing fills up fast."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def test_websocket_limits_per_address_and_a_slow_consumer(net: LocalNet, admin: Wallet) -> None:
    url = _ws_url(net, 2)
    async with contextlib.AsyncExitStack() as stack:
        mine = [await stack.enter_async_context(connect(url, local_addr=("127.0.0.2", 0))) for _ in range(3)]
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, local_addr=("127.0.0.2", 0)):
                pass
        assert refused.value.response.status_code == 429
        body = json.loads(refused.value.response.body)
        assert body["error"]["code"] == 1006 and body["error"]["data"] == {
            "reason": "TOO_MANY_WEBSOCKETS_FROM_ADDRESS", "limit": 3}
        # Another address still gets in.
        other = await stack.enter_async_context(connect(url, local_addr=("127.0.0.3", 0)))

        answers = [await _call(mine[0], "subscribe", {"topic": "blocks"}, i) for i in range(5)]
        assert all("result" in a for a in answers[:4])
        assert answers[4]["error"]["code"] == 1006 and answers[4]["error"]["data"]["reason"] == "TOO_MANY_SUBSCRIPTIONS"
        assert "result" in await _call(other, "subscribe", {"topic": "blocks"}, 1)

        # A consumer that never reads: it asks for big answers (the OpenRPC document) and takes none.
        # Without compression: with permessage-deflate, the same answer over and over compresses
        # to a few bytes, and 3,000 of them can sit in the kernel's socket buffers, so that the
        # queue never fills and only the heartbeat (30 s) ends the connection.
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        slow = await stack.enter_async_context(
            connect(url, sock=_slow_socket("127.0.0.5", port), max_queue=1, write_limit=1 << 20, ping_interval=None,
                    compression=None)
        )
        request = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "rpc_discover"})
        dropped_before = await metric(net, 2, "warrantchain_ws_dropped_total")
        sent = 0
        with contextlib.suppress(ConnectionClosed):
            for sent in range(1, 3001):
                await slow.send(request)
                if sent % 50 == 0 and await metric(net, 2, "warrantchain_ws_dropped_total") > dropped_before:
                    break

        async def dropped() -> bool:  # the node may still be working through the requests it was sent
            return await metric(net, 2, "warrantchain_ws_dropped_total") > dropped_before

        await net.wait_for(dropped, 60, "the node to drop the consumer that reads nothing")
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(30):  # the server ends the connection: drain what it sent first
                while True:
                    await slow.recv()
        code = slow.close_code
        print(f"\nslow consumer dropped after {sent} unread requests; close code {code}")
        assert code in (1008, 1006), code  # 1006: reset, when it didn't read the close frame in time

        # The other subscribers keep receiving: a block committed after the drop reaches them.
        height = await commit_one(net, admin)
        for ws in (mine[0], other):
            while True:
                note = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if note.get("method") == "subscription" and note["params"]["result"]["height"] >= height:
                    break
