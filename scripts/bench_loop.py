#!/usr/bin/env python3
"""CPU per JSON-RPC request (aiohttp) and per mesh-sized websocket message, on asyncio's event
loop and on uvloop: what the node's choice of loop (node.service.event_loop_factory) is worth.

Server and client share one process and one loop, so the figure is the CPU of both ends.

    python -m scripts.bench_loop [--requests 3000] [--messages 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

import aiohttp
import websockets
from aiohttp import web

BODY = b'[' + b','.join([b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"tx":"' + b"a" * 600 + b'"}}'] * 50) + b']'


async def rpc(requests: int) -> float:
    async def handle(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=b'{"jsonrpc":"2.0","result":{"id":"00","status":"pending"},"id":1}',
                            content_type="application/json")

    app = web.Application()
    app.router.add_post("/rpc", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:
        started = time.process_time()
        for _ in range(requests):
            async with session.post(f"http://127.0.0.1:{port}/rpc", data=BODY) as response:
                await response.read()
        cpu = time.process_time() - started
    await runner.cleanup()
    return cpu / requests


async def mesh(messages: int) -> float:
    frame = b"t" + b"\x00\x00\x02\x58" + b"b" * 600
    done = asyncio.Event()

    async def sink(ws: websockets.ServerConnection) -> None:
        count = 0
        async for _ in ws:
            count += 1
            if count == messages:
                done.set()

    async with websockets.serve(sink, "127.0.0.1", 0, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            started = time.process_time()
            for _ in range(messages):
                await ws.send(frame)
            await done.wait()
            cpu = time.process_time() - started
    return cpu / messages


def run(factory: Callable[[], asyncio.AbstractEventLoop], args: argparse.Namespace) -> tuple[float, float]:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(rpc(args.requests)), runner.run(mesh(args.messages))


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_loop", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    loops: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}
    try:
        import uvloop
    except ImportError:
        print("uvloop is not installed: asyncio only", file=sys.stderr)
    else:
        loops["uvloop"] = uvloop.new_event_loop
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):  # interleaved; the least-disturbed round of each counts
        for name, factory in loops.items():
            r, m = run(factory, args)
            old = best.get(name, (r, m))
            best[name] = (min(old[0], r), min(old[1], m))
    for name, (r, m) in best.items():
        print(f"{name:<8} {r * 1e6:8.1f} µs CPU per JSON-RPC request of 50 calls (both ends)   "
              f"{m * 1e6:6.1f} µs per 600-byte websocket message (both ends)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
