"""The explorer served over a chain committed in-process (tests.protocol.inprocess), so that its
pages can be looked at with validator set changes that the live test network does not make: the
node's own NodeService and RpcServer, over a stand-in node whose store is that chain's (as
tests/node/test_health.py stands one in), on a loop of its own in a thread (tests.rpc.threaded)."""

from __future__ import annotations

from collections import Counter
from contextlib import AbstractContextManager
from types import SimpleNamespace
from typing import Any

from node.config import MAX_QUERY_READS
from node.metrics import Metrics
from node.rpc.server import RpcLimits, RpcServer
from node.service import NodeService
from tests.protocol.inprocess import Chain
from tests.rpc.threaded import serving


class _Pool(list[Any]):
    """An empty mempool: its length, membership, and the expiry listeners NodeService registers."""

    def __init__(self) -> None:
        super().__init__()
        self.on_expired: list[Any] = []


def _stand_in(chain: Chain) -> Any:
    height = chain.store.meta.height
    replica = SimpleNamespace(view=0, last_delivered=height, peer_height=lambda: height, counters=Counter(),
                              stats=Counter())
    mesh = SimpleNamespace(connected=lambda: set(), bytes_sent=Counter(), bytes_received=Counter(),
                           queued=lambda peer: (0, 0), stats=Counter())
    return SimpleNamespace(
        on_commit=[], store=chain.store, genesis=chain.genesis, replica=replica, failure=None, index=0, mesh=mesh,
        validators=chain.genesis.validator_set(), mempool=_Pool(), readiness=lambda: None,
        app=SimpleNamespace(refused=Counter()), follower=None, feed=SimpleNamespace(stats=Counter()),
        in_sync=lambda: True, peer_height=lambda: height, linked_validators=lambda: set(),
    )


def serve(chain: Chain, max_query_reads: int = MAX_QUERY_READS, limits: RpcLimits | None = None) -> AbstractContextManager[str]:
    """Serve ``chain`` (committed already, or added to between calls): a context yielding the base URL."""
    metrics = Metrics(protocol_version="test")
    service = NodeService(_stand_in(chain), metrics, max_query_reads)
    return serving(RpcServer(service, metrics, "127.0.0.1", 0, limits or RpcLimits()))
