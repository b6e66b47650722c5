"""/health says "syncing" until the node is within a block of what its peers report, and the
warrantchain_in_sync gauge of /metrics says the same; a scrape reads the node's parts as they are
(NodeService over a stand-in node)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from collections import Counter
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from node.app import ProposalRefusal
from node.metrics import Metrics
from node.node import replica_in_sync
from node.rpc.server import RpcLimits, RpcServer
from node.service import NodeService
from tests.scrape import scrape


class _Replica:
    def __init__(self) -> None:
        self.view = 0
        self.last_delivered = 0
        self.reported: int | None = None
        self.counters: Counter[str] = Counter()
        self.stats: Counter[tuple[str, str]] = Counter()

    def peer_height(self) -> int | None:
        return self.reported


class _Validators(list[Any]):
    @property
    def validators(self) -> list[Any]:
        return self

    @property
    def keys(self) -> tuple[int, ...]:  # the mesh names peers by key; ints stand in for them here
        return tuple(range(len(self)))


class _Pool(list[Any]):
    """An empty mempool: its length, and the expiry listeners NodeService registers."""

    def __init__(self) -> None:
        super().__init__()
        self.on_expired: list[Any] = []


def _node(replica: _Replica) -> Any:
    meta = SimpleNamespace(chain_id="wc-test", height=0, block_hash="00" * 32, state_root="11" * 32)
    linked = {1, 2, 3}
    mesh = SimpleNamespace(connected=lambda role=None: set(linked), linked=linked, bytes_sent=Counter(), bytes_received=Counter(),
                           queued=lambda peer: (0, 0), stats=Counter())
    node = SimpleNamespace(
        on_commit=[], store=SimpleNamespace(meta=meta), replica=replica, failure=None, index=0, mesh=mesh,
        validators=_Validators(SimpleNamespace(name=f"v{i}") for i in range(4)), mempool=_Pool(), readiness=lambda: None,
        app=SimpleNamespace(refused=Counter()), follower=None, feed=SimpleNamespace(stats=Counter()),
    )
    node.in_sync = lambda: replica_in_sync(replica, node.failure is not None)  # type: ignore[arg-type]
    return node


@pytest.fixture
async def served() -> AsyncIterator[tuple[_Replica, Any, str]]:
    replica = _Replica()
    node = _node(replica)
    metrics = Metrics(protocol_version="test")
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
    gauge = (await scrape(base)).value("warrantchain_in_sync")
    return status, body, str(int(gauge or 0))


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


async def test_a_scrape_reads_links_bytes_view_changes_and_refusals_as_they_are_now(
    served: tuple[_Replica, Any, str]
) -> None:
    replica, node, base = served
    before = await scrape(base)
    assert before.labelled("warrantchain_p2p_peer_up", "peer") == {"v1": 1, "v2": 1, "v3": 1}
    refused = before.labelled("warrantchain_proposals_refused_total", "reason")
    assert refused == {code.value: 0 for code in ProposalRefusal}
    assert before.value("warrantchain_view_changes_total") == 0
    node.mesh.linked.discard(2)
    node.mesh.bytes_sent[1] += 300
    node.mesh.bytes_received[3] += 700
    node.mesh.stats["refused.bad-signature"] += 1
    replica.counters["view_changes"] += 1
    replica.view = 1
    replica.stats[("discard", "rejected by the application")] += 1
    node.app.refused[ProposalRefusal.COMMITTED_TX] += 1
    s = await scrape(base)
    assert s.labelled("warrantchain_p2p_peer_up", "peer") == {"v1": 1, "v2": 0, "v3": 1}
    assert s.value("warrantchain_peers") == 2
    assert s.value("warrantchain_p2p_sent_bytes_total", peer="v1") == 300
    assert s.value("warrantchain_p2p_received_bytes_total", peer="v3") == 700
    assert s.value("warrantchain_p2p_handshakes_refused_total", reason="bad-signature") == 1
    assert s.value("warrantchain_view_changes_total") == 1 and s.value("warrantchain_view") == 1
    assert s.value("warrantchain_consensus_messages_total", verdict="discard", reason="rejected") == 1
    assert s.value("warrantchain_proposals_refused_total", reason="COMMITTED_TX") == 1
