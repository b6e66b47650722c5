"""An RpcServer on an event loop of its own in a thread, for tests whose own thread is busy (the
CLI's blocking calls, Playwright's sync API)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from node.rpc.server import RpcServer


@contextmanager
def serving(server: RpcServer) -> Iterator[str]:
    """Start ``server`` (port 0: any free one) and yield its base URL, http://127.0.0.1:PORT; stop it after."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(30), "the RPC server did not start"
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
