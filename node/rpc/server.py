"""The node's HTTP face: JSON-RPC at ``POST /rpc``, subscriptions at ``/ws``, ``/health``, ``/metrics``,
and the explorer's static files at ``GET /`` and ``/explorer/`` (node/explorer; off with ``explorer=False``).

The only module that imports aiohttp. It is a thin shell: envelopes are handled by node.rpc.jsonrpc,
methods by node.rpc.methods against the daemon's NodeAPI, metrics rendered by node.metrics. What
lives here is what only the I/O layer can do: size limits on bodies, WebSocket connections and
their bounded outgoing queues, and the fan-out of committed blocks to subscribers. Connection
caps, head and idle timeouts, rate limits and the client's address (node.rpc.guard) are wired in
here: every TCP connection goes through a guard before aiohttp sees it.

A subscriber that does not read its notifications fast enough is disconnected (close code 1008)
when its queue is full, rather than letting the node's memory grow: it can reconnect, subscribe
again and catch up with ``chain_getBlock``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
import secrets
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from node.rpc import jsonrpc
from node.logs import Throttle
from node.metrics import Metrics
from node.rpc.guard import (
    ConnectionTable,
    GuardLimits,
    GuardProtocol,
    RateMeter,
    TokenBuckets,
    TrustedProxies,
    client_address,
    open_files,
    raise_open_file_limit,
)
from node.rpc.api import ApiError, ErrorCode, NodeAPI, metered, reset_meter
from node.rpc.methods import Dispatcher, event_matches
from node.rpc.schemas import SubscribeParams, UnsubscribeParams

__all__ = ["RpcLimits", "RpcServer"]

log = logging.getLogger(__name__)
_encode = msgspec.json.Encoder().encode
# A scrape renders every family: about twice the work of a chain_status call (measured: 2.9 ms
# against 1.5 ms, curl included), so it costs the client two calls of its rate.
_SCRAPE_COST = 2
_BACKLOG = 64  # connections the kernel queues for accept(); also how many one accept burst may open
EXPLORER_DIR = Path(__file__).resolve().parents[1] / "explorer"
# The explorer is read-only and loads nothing from elsewhere: scripts and styles only from this
# node, no inline script, no plugins, and no framing (so a page can't be overlaid to trick a click).
_EXPLORER_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class RpcLimits:
    """Every bound of the RPC server; node.config's [rpc] section sets them (docs/OPERATIONS.md 2.8)."""

    max_body_bytes: int = 1 << 20  # HTTP bodies and WebSocket messages
    max_batch: int = 100
    max_depth: int = 64
    max_response_bytes: int = 4 << 20
    max_batch_response_bytes: int = 8 << 20
    max_connections: int = 1024
    max_connections_per_address: int = 64
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 60.0
    rate: float = 1000.0  # calls per second per client address
    rate_burst: int = 2000
    trusted_proxies: tuple[str, ...] = ()
    ws_queue: int = 256  # outgoing messages buffered per connection before it is dropped
    ws_max_connections: int = 1000
    ws_max_per_address: int = 16
    ws_max_subscriptions: int = 64  # per connection
    ws_heartbeat_s: float = 30.0
    ws_close_timeout_s: float = 10.0  # a dropped client that does not take the close frame in time is reset
    fd_headroom: int = 256
    health_timeout_s: float = 2.0


class _Connection:
    """One WebSocket client: its subscriptions and the queue its sender task drains."""

    def __init__(self, ws: web.WebSocketResponse, queue_size: int, address: str, transport: Any) -> None:
        self.ws = ws
        self.address = address
        self.transport = transport
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(queue_size)
        self.subs: dict[str, SubscribeParams] = {}
        # Created by a call but not yet live: a subscription starts after its id has been queued,
        # so the client never sees a notification for an id it has not been told.
        self.pending: dict[str, SubscribeParams] = {}
        self.sender: asyncio.Task[None] | None = None
        self.closing: asyncio.Task[None] | None = None  # closing a dropped client (its handler waits for it)
        self.dropped = False


class RpcServer:
    """Serves the RPC on ``host:port`` (port 0: any free port, see :attr:`port` after start)."""

    def __init__(
        self,
        api: NodeAPI,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RpcLimits = RpcLimits(),
        explorer: bool = True,
    ) -> None:
        self.api = api
        self.explorer = explorer
        self.metrics = metrics
        self.host = host
        self.limits = limits
        self._port = port
        self._dispatcher = Dispatcher(api, metrics)
        self._jlimits = jsonrpc.Limits(
            max_batch=limits.max_batch, max_depth=limits.max_depth,
            max_response=limits.max_response_bytes, max_batch_response=limits.max_batch_response_bytes,
        )
        self._proxies = TrustedProxies(limits.trusted_proxies)
        self.connections = ConnectionTable(
            GuardLimits(
                max_connections=limits.max_connections, per_address=limits.max_connections_per_address,
                header_timeout_s=limits.header_timeout_s, idle_timeout_s=limits.idle_timeout_s,
                fd_headroom=limits.fd_headroom,
            ),
            exempt=self._proxies,
        )
        self._buckets = TokenBuckets(limits.rate, limits.rate_burst)
        self._throttle = Throttle(log)
        self._ws_by_address: collections.Counter[str] = collections.Counter()
        self._conns: set[_Connection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self.app = self._make_app()

    def _make_app(self) -> web.Application:
        # client_max_size makes request.read() refuse a larger body, chunked or not.
        app = web.Application(client_max_size=self.limits.max_body_bytes, middlewares=[self._track])
        app.router.add_post("/rpc", self._handle_rpc)
        app.router.add_get("/ws", self._handle_ws)
        app.router.add_get("/health", self._handle_health)
        app.router.add_get("/metrics", self._handle_metrics)
        if self.explorer:
            app.router.add_get("/", self._handle_explorer_index)
            app.router.add_get("/explorer/", self._handle_explorer_index)
            app.router.add_static("/explorer/", EXPLORER_DIR, append_version=False)
            app.on_response_prepare.append(self._explorer_headers)
        app.on_shutdown.append(self._close_websockets)
        return app

    @property
    def port(self) -> int:
        return self._port

    async def start(self) -> None:
        soft, _ = raise_open_file_limit()
        self.connections.fit_open_files(soft, open_files(), 2 * _BACKLOG)
        # keepalive_timeout: aiohttp's own idle close, kept above ours so the guard decides.
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                                     keepalive_timeout=self.limits.idle_timeout_s + 5)
        await self._runner.setup()
        factory = self._runner.server
        assert factory is not None
        table = self.connections
        self._server = await asyncio.get_running_loop().create_server(
            lambda: GuardProtocol(table, factory()), self.host, self._port, reuse_address=True, backlog=_BACKLOG
        )
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("rpc listening on http://%s:%d (at most %d connections)", self.host, self._port, table.capacity)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()  # runs on_shutdown: closes websockets first
            self._runner = None
        self.connections.close_all()
        for task in list(self._tasks):
            task.cancel()

    # ---- HTTP -----------------------------------------------------------------------------------

    @web.middleware
    async def _track(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Tell the connection's guard that a request is in progress (its deadlines pause)."""
        guard = self.connections.guard_of(request.transport)
        if guard is not None:
            guard.request_started()
        try:
            return await handler(request)  # type: ignore[no-any-return]
        finally:
            if guard is not None:
                guard.request_finished()

    def client_of(self, request: web.Request) -> str:
        """The address ``request`` counts against (X-Forwarded-For only from a trusted proxy)."""
        peer = request.remote or "?"
        return client_address(peer, request.headers.getall("X-Forwarded-For", ()), self._proxies)

    def _rate_error(self, address: str, cost: int) -> jsonrpc.RpcError | None:
        wait = self._buckets.take(address, cost, time.monotonic())
        if not wait:
            return None
        self.metrics.rpc_requests[("rate_limited", str(int(ErrorCode.RATE_LIMITED)))] += 1
        self._throttle.warning("rate:" + address[:64], "rpc rate limit: refusing calls from %s", address)
        return jsonrpc.RpcError(
            int(ErrorCode.RATE_LIMITED),
            f"too many calls from {address}: the limit is {self.limits.rate:g} per second "
            f"(bursts of {self.limits.rate_burst}); retry in {wait} ms",
            {"reason": "RATE_LIMITED", "retry_after_ms": wait},
        )

    async def _answer(self, address: str, body: bytes, call: jsonrpc.Handler, admit: jsonrpc.Admit) -> bytes | None:
        """Answer one HTTP body or WebSocket message, its queries metered against ``address``'s
        rate (node.rpc.guard.RateMeter: what they read costs calls too)."""
        token = metered(RateMeter(self._buckets, address))
        try:
            return await jsonrpc.handle(body, call, self._jlimits, admit)
        finally:
            reset_meter(token)

    async def _handle_rpc(self, request: web.Request) -> web.Response:
        address = self.client_of(request)
        refused: list[jsonrpc.RpcError] = []

        def admit(calls: int) -> jsonrpc.RpcError | None:  # a batch of n is n calls; the body paid 1
            error = self._rate_error(address, calls - 1) if calls > 1 else None
            if error is not None:
                refused.append(error)
            return error

        error = self._rate_error(address, 1)
        if error is not None:
            return self._limited(error)
        length = request.content_length
        try:
            if length is not None and length > self.limits.max_body_bytes:
                raise web.HTTPRequestEntityTooLarge(max_size=self.limits.max_body_bytes, actual_size=length)
            async with asyncio.timeout(self.limits.body_timeout_s):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            error = jsonrpc.RpcError(
                jsonrpc.INVALID_REQUEST, f"request body too large: the limit is {self.limits.max_body_bytes} bytes"
            )
            return web.Response(status=413, body=jsonrpc.error_response(error), content_type="application/json")
        except TimeoutError:
            error = jsonrpc.RpcError(
                jsonrpc.INVALID_REQUEST, f"request body not received within {self.limits.body_timeout_s:g} s",
                {"reason": "BODY_TIMEOUT"},
            )
            response = web.Response(status=408, body=jsonrpc.error_response(error), content_type="application/json")
            response.force_close()
            return response
        except ConnectionError as exc:  # the client went away mid-body: nobody to answer, nothing to log
            log.debug("rpc client %s disconnected mid-request: %s", address, exc)
            return web.Response(status=400)
        answer = await self._answer(address, body, self._dispatcher.call, admit)
        if refused:
            return self._limited(refused[0], answer)
        if answer is None:  # notifications only
            return web.Response(status=204)
        return web.Response(body=answer, content_type="application/json")

    @staticmethod
    def _limited(error: jsonrpc.RpcError, body: bytes | None = None) -> web.Response:
        seconds = max(1, math.ceil(error.data["retry_after_ms"] / 1000))
        return web.Response(status=429, body=body or jsonrpc.error_response(error), content_type="application/json",
                            headers={"Retry-After": str(seconds)})

    async def _handle_health(self, request: web.Request) -> web.Response:
        error = self._rate_error(self.client_of(request), 1)
        if error is not None:
            return self._limited(error)
        try:
            status = await asyncio.wait_for(self.api.status(), self.limits.health_timeout_s)
        except Exception:
            log.exception("health check: status() failed")
            return web.json_response({"status": "error"}, status=503)
        healthy = status.ready and status.in_sync
        word = "ok" if healthy else ("starting" if not status.ready else "syncing")
        body = {"status": word, "height": status.height, "in_sync": status.in_sync}
        return web.json_response(body, status=200 if healthy else 503)

    async def _handle_metrics(self, request: web.Request) -> web.Response:
        # Rendered by prometheus_client (node.metrics), reading the node as it is now: the same
        # state /health reads, so a scrape and /health agree.
        error = self._rate_error(self.client_of(request), _SCRAPE_COST)
        if error is not None:
            return self._limited(error)
        body, content_type = self.metrics.exposition(",".join(request.headers.getall("Accept", ())))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _handle_explorer_index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(EXPLORER_DIR / "index.html")

    @staticmethod
    async def _explorer_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path == "/" or request.path.startswith("/explorer/"):
            response.headers.update(_EXPLORER_HEADERS)

    # ---- WebSocket ------------------------------------------------------------------------------

    def _ws_refusal(self, address: str) -> web.Response | None:
        if len(self._conns) >= self.limits.ws_max_connections:
            status, reason, limit = 503, "TOO_MANY_WEBSOCKETS", self.limits.ws_max_connections
            message = f"the node has {limit} WebSocket connections open; retry later"
        elif self._ws_by_address[address] >= self.limits.ws_max_per_address:
            status, reason, limit = 429, "TOO_MANY_WEBSOCKETS_FROM_ADDRESS", self.limits.ws_max_per_address
            message = f"{address} already has {limit} WebSocket connections open; close one first"
        else:
            return None
        self._throttle.warning(reason, "rpc refused a WebSocket: %s", message)
        error = jsonrpc.RpcError(int(ErrorCode.LIMIT_EXCEEDED), message, {"reason": reason, "limit": limit})
        return web.Response(status=status, body=jsonrpc.error_response(error), content_type="application/json")

    async def _handle_ws(self, request: web.Request) -> web.StreamResponse:
        address = self.client_of(request)
        refusal = self._ws_refusal(address)
        if refusal is not None:
            return refusal
        ws = web.WebSocketResponse(max_msg_size=self.limits.max_body_bytes, heartbeat=self.limits.ws_heartbeat_s)
        await ws.prepare(request)
        conn = _Connection(ws, self.limits.ws_queue, address, request.transport)
        conn.sender = asyncio.create_task(self._send_loop(conn))
        self._conns.add(conn)
        self._ws_by_address[address] += 1
        self.metrics.ws_connections += 1
        overrides = {
            "subscribe": lambda p: self._subscribe(conn, p),
            "unsubscribe": lambda p: self._unsubscribe(conn, p),
        }

        async def call(req: jsonrpc.Request) -> Any:
            return await self._dispatcher.call(req, overrides)

        def admit(calls: int) -> jsonrpc.RpcError | None:
            return self._rate_error(address, calls)

        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    body = message.data.encode("utf-8")
                elif message.type == WSMsgType.BINARY:
                    body = message.data
                else:  # ERROR; CLOSE and friends end the iteration themselves
                    break
                # One message at a time per connection: a tx_submit with wait holds this
                # connection's later calls (not its notifications) until it returns.
                answer = await self._answer(address, body, call, admit)
                if conn.dropped:
                    break
                if answer is not None and not self._enqueue(conn, answer, close=False):
                    break  # a client that doesn't read its answers is as slow as one that doesn't read events
                conn.subs.update(conn.pending)
                conn.pending.clear()
        finally:
            self._conns.discard(conn)
            self._ws_by_address[address] -= 1
            if self._ws_by_address[address] <= 0:
                del self._ws_by_address[address]
            self.metrics.ws_connections -= 1
            conn.subs.clear()
            await self._finish_sender(conn)
            if conn.dropped:  # close here: once this returns, aiohttp closes the transport
                await (conn.closing or self._close_slow(conn))
        return ws

    async def _send_loop(self, conn: _Connection) -> None:
        try:
            while True:
                data = await conn.queue.get()
                await conn.ws.send_str(data.decode("utf-8"))
        except (ConnectionError, RuntimeError) as exc:  # the client went away mid-send
            log.debug("WebSocket send failed: %s", exc)
            conn.dropped = True
            conn.subs.clear()
            await conn.ws.close()

    async def _finish_sender(self, conn: _Connection) -> None:
        if conn.sender is None:
            return
        # Let queued answers go out unless the client is gone or being dropped.
        if not conn.dropped and not conn.ws.closed:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained(conn), 1.0)
        conn.sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
            await conn.sender

    @staticmethod
    async def _drained(conn: _Connection) -> None:
        while not conn.queue.empty():
            await asyncio.sleep(0.01)

    async def _subscribe(self, conn: _Connection, params: SubscribeParams) -> str:
        if len(conn.subs) + len(conn.pending) >= self.limits.ws_max_subscriptions:
            raise ApiError(
                ErrorCode.LIMIT_EXCEEDED,
                f"a connection may hold {self.limits.ws_max_subscriptions} subscriptions; unsubscribe first",
                reason="TOO_MANY_SUBSCRIPTIONS",
            )
        sub_id = secrets.token_hex(8)
        conn.pending[sub_id] = params
        return sub_id

    async def _unsubscribe(self, conn: _Connection, params: UnsubscribeParams) -> bool:
        found = conn.subs.pop(params.subscription, None) or conn.pending.pop(params.subscription, None)
        return found is not None

    async def _close_websockets(self, app: web.Application) -> None:
        for conn in list(self._conns):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    # ---- events ---------------------------------------------------------------------------------

    @property
    def wants_events(self) -> bool:
        """Whether any connection subscribes to an account or a warrant (events cost work to route)."""
        return any(sub.topic != "blocks" for conn in self._conns for sub in conn.subs.values())

    def publish_block(self, block: Mapping[str, Any], events: Sequence[Mapping[str, Any]] = ()) -> None:
        """Notify subscribers of a committed block and its ledger events. Never blocks.

        Call from the event loop after the block is durably stored. ``block`` goes to "blocks"
        subscribers as is; each event goes to subscribers of the accounts listed in its
        ``"accounts"`` and of the warrants listed in its ``"warrants"``.
        """
        if not self._conns:
            return
        block_json = _encode(block)
        event_json: dict[int, bytes] = {}
        for conn in list(self._conns):
            for sub_id, sub in list(conn.subs.items()):
                if conn.dropped:
                    break
                if sub.topic == "blocks":
                    self._offer(conn, sub_id, block_json)
                    continue
                for index, event in enumerate(events):
                    if event_matches(sub, event):
                        if index not in event_json:
                            event_json[index] = _encode(event)
                        if not self._offer(conn, sub_id, event_json[index]):
                            break

    def _offer(self, conn: _Connection, sub_id: str, result: bytes) -> bool:
        # Splice the result, encoded once per block, into each subscription's notification.
        frame = (
            b'{"jsonrpc":"2.0","method":"subscription","params":{"subscription":'
            + _encode(sub_id)
            + b',"result":'
            + result
            + b"}}"
        )
        return self._enqueue(conn, frame)

    def _enqueue(self, conn: _Connection, data: bytes, close: bool = True) -> bool:
        try:
            conn.queue.put_nowait(data)
            return True
        except asyncio.QueueFull:
            self._drop(conn, close)
            return False

    def _drop(self, conn: _Connection, close: bool = True) -> None:
        """Disconnect a client that doesn't read; ``close=False``: its handler closes it itself."""
        if conn.dropped:
            return
        conn.dropped = True
        conn.subs.clear()
        conn.pending.clear()
        self.metrics.ws_dropped += 1
        self._throttle.warning("ws-slow", "dropping a WebSocket subscriber whose queue is full (%d messages)",
                               self.limits.ws_queue)
        if conn.sender is not None:
            conn.sender.cancel()
        if close:
            conn.closing = asyncio.get_running_loop().create_task(self._close_slow(conn))

    async def _close_slow(self, conn: _Connection) -> None:
        # The close frame waits behind what the client has not read; if it can't go out in
        # time the connection is reset, so a client that never reads holds nothing for long.
        try:
            async with asyncio.timeout(self.limits.ws_close_timeout_s):
                await conn.ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"subscriber too slow")
        except (TimeoutError, ConnectionError, RuntimeError):
            if conn.transport is not None:
                conn.transport.abort()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
