"""/health says "syncing" until the node is within a block of what its peers report, and the
warrantchain_in_sync gauge of /metrics says the same (NodeService over a stand-in node)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from node.metrics import Metrics
from node.rpc.server import RpcLimits, RpcServer
from node.service import NodeService


class _Replica:
    def __init__(self) -> None:
        self.view = 0
        self.last_delivered = 0
        self.reported: int | None = None

    def peer_height(self) -> int | None:
        return self.reported


def _node(replica: _Replica) -> Any:
    meta = SimpleNamespace(chain_id="wc-test", height=0, block_hash="00" * 32, state_root="11" * 32)
    return SimpleNamespace(
        on_commit=[], store=SimpleNamespace(meta=meta), replica=replica, failure=None, validators=[1, 2, 3, 4],
        mesh=SimpleNamespace(connected=lambda: {1, 2, 3}), mempool=[], readiness=lambda: None,
    )


@pytest.fixture
async def served() -> AsyncIterator[tuple[_Replica, Any, str]]:
    replica = _Replica()
    node = _node(replica)
    metrics = Metrics()
    server = RpcServer(NodeService(node, metrics), metrics, "127.0.0.1", 0, RpcLimits())
    await server.start()
    try:
        yield replica, node, f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def _look(base: str) -> tuple[int, dict[str, Any], str]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/health") as r:
            status, body = r.status, await r.json()
        async with session.get(base + "/metrics") as r:
            gauge = next(line for line in (await r.text()).splitlines() if line.startswith("warrantchain_in_sync "))
    return status, body, gauge.split()[1]


async def test_health_and_metrics_agree_on_syncing_until_within_a_block(served: tuple[_Replica, Any, str]) -> None:
    replica, node, base = served
    # An empty data directory: its peers' heartbeats say 24.
    replica.reported = 24
    assert await _look(base) == (503, {"status": "syncing", "height": 0, "in_sync": False}, "0")
    replica.last_delivered = node.store.meta.height = 22
    assert (await _look(base))[::2] == (503, "0")
    replica.last_delivered = node.store.meta.height = 23  # within a block (24 may be committing)
    assert await _look(base) == (200, {"status": "ok", "height": 23, "in_sync": True}, "1")
    replica.reported = None  # peers not heard from (yet): not known to be in sync
    assert (await _look(base))[::2] == (503, "0")
    replica.reported, node.failure = 23, "diverged"
    assert (await _look(base))[0] == 503
