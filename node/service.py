"""The running service: a Node with its RPC server, and the NodeAPI the RPC calls into.

``run_node(config)`` is what ``warrantd start`` runs: it starts both, stops them cleanly on SIGINT
or SIGTERM, and returns the process exit code (0 after a clean stop, 3 when the node halted on
purpose, e.g. on divergent state).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from consensus.actions import Reason as ConsensusReason
from node.app import Committed, ProposalRefusal
from node.config import MAX_QUERY_READS, NodeConfig, parse_listen
from node.errors import QueryTooLarge, StoreError
from node.kernel import codec
from node.kernel.chain import SignedTx
from node.ledger import epochs, governance, queries
from node.ledger.budget import ReadBudget
from node.logs import kv
from node.factory import build_node
from node.mempool.pool import ALREADY_COMMITTED, RETRY_CODES, MempoolError
from node.metrics import Metrics, NodeSample, PeerSample
from node.node import Node
from node.p2p.handshake import Refusal as HandshakeRefusal
from node.rpc.api import DEFAULT_PAGE, VERSION, ApiError, ErrorCode, NodeStatus, current_meter
from node.rpc.methods import page
from node.rpc.guard import READS_PER_CALL
from node.rpc.server import RpcLimits, RpcServer
from node.waiters import CommitWaiters, TxExpired

__all__ = ["NodeService", "run_node", "rpc_limits"]

log = logging.getLogger("warrantd")
Json = dict[str, Any]
_T = TypeVar("_T")
# Label values: the enums' names (the consensus reasons' values are phrases for logs).
_CONSENSUS_REASONS = {r.value: r.name.lower() for r in ConsensusReason} | {"": "none"}
_FRAMES_DROPPED = ("queue_full", "not_connected", "oversize", "text_frame")  # the mesh's dropped_* counts


class NodeService:
    """Implements node.rpc.methods.NodeAPI over a running Node."""

    def __init__(self, node: Node, metrics: Metrics, max_query_reads: int = MAX_QUERY_READS) -> None:
        self.node = node
        self.metrics = metrics
        self.max_query_reads = max_query_reads
        self.rpc: RpcServer | None = None
        self.waiters = CommitWaiters()
        node.on_commit.append(self._on_commit)
        metrics.watch(self.metrics_sample)
        node.mempool.on_expired.append(self.waiters.expired)

    # -- events and metrics ---------------------------------------------------------------------

    def metrics_sample(self) -> NodeSample:
        """The node's state for one scrape, read from what its parts count anyway."""
        node = self.node
        mesh, replica, follower = node.mesh, node.replica, node.follower
        linked = mesh.connected()
        peers = tuple(
            PeerSample(name=v.name, up=key in linked, sent_bytes=mesh.bytes_sent[key],
                       received_bytes=mesh.bytes_received[key], queued_bytes=mesh.queued(key)[1])
            for i, (v, key) in enumerate(zip(node.validators.validators, node.validators.keys)) if i != node.index
        )
        # An observer has no replica: no view, no votes; its blocks all come by the feed.
        counters = replica.counters if replica is not None else collections.Counter(
            {"state_transfer_blocks": 0 if follower is None else follower.stats["blocks"]})
        votes = {} if replica is None else replica.stats
        return NodeSample(
            height=node.store.meta.height, view=0 if replica is None else replica.view, in_sync=self.in_sync(),
            mempool_txs=len(node.mempool),
            peers=peers, view_changes=counters["view_changes"], new_views=counters["new_views"],
            state_transfer_blocks=counters["state_transfer_blocks"],
            proposals_refused={code.value: node.app.refused[code] for code in ProposalRefusal},
            consensus_messages={(verdict, _CONSENSUS_REASONS.get(reason, reason)): n
                                for (verdict, reason), n in votes.items()},
            frames_dropped={reason: mesh.stats[f"dropped_{reason}"] for reason in _FRAMES_DROPPED},
            handshakes_refused={r.value: mesh.stats[f"refused.{r.value}"] for r in HandshakeRefusal},
            dial_failures=mesh.stats["dial_failures"], disconnects=mesh.stats["disconnects"],
            feed_blocks_served=node.feed.stats["blocks_served"], feed_throttled=node.feed.stats["throttled"],
            feed_refused=0 if follower is None else follower.stats["refused"] + follower.stats["malformed"],
        )

    def _on_commit(self, committed: Committed) -> None:
        self.waiters.committed(committed)
        block = committed.block
        metrics = self.metrics
        metrics.txs_committed += len(block.txs)
        if block.txs:  # a block's time is when its primary proposed it
            metrics.commit_latency.observe(max(0.0, time.time() - block.header.time_ms / 1000))
        routed = self.rpc is not None and self.rpc.wants_events
        # Each ledger event declares the "accounts" and "warrants" it concerns (Exec.emit);
        # subscriptions are routed by those lists alone (node.rpc.methods.event_matches).
        events: list[dict[str, Any]] = (
            [{**e, "height": block.height} for e in committed.outcome.housekeeping] if routed else []
        )
        for tx, result in zip(block.txs, committed.outcome.tx_results):
            if not result.ok:
                metrics.txs_rejected[result.code] += 1
            elif routed:
                for event in result.events:
                    events.append({**event, "tx": tx.id_hex, "height": block.height})
        if self.rpc is not None:
            summary = {
                "height": block.height,
                "hash": block.hash.hex(),
                "time_ms": block.header.time_ms,
                "txs": len(block.txs),
                "state_root": committed.outcome.state_root.hex(),
            }
            self.rpc.publish_block(summary, events)

    def in_sync(self) -> bool:
        return self.node.in_sync()

    # -- NodeAPI --------------------------------------------------------------------------------

    async def status(self) -> NodeStatus:
        node = self.node
        meta = node.store.meta
        return NodeStatus(
            chain_id=meta.chain_id, height=meta.height, block_hash=meta.block_hash, state_root=meta.state_root,
            view=0 if node.replica is None else node.replica.view, validators=len(node.validators),
            peers=len(node.mesh.connected()), mempool_size=len(node.mempool), in_sync=self.in_sync(),
            ready=node.readiness() is None, role="observer" if node.replica is None else "validator",
        )

    def _refuse_if_not_ready(self, what: str = "") -> None:
        problem = self.node.readiness()
        if problem is not None:
            reason, message = problem
            raise ApiError(ErrorCode.NOT_READY, f"{what}{message}", reason=reason)

    async def submit_tx(self, tx: SignedTx) -> None:
        try:
            self.node.submit(tx, ready=self._refuse_if_not_ready)
        except MempoolError as exc:
            if exc.code == ALREADY_COMMITTED:
                return  # a retry by a client that missed the answer
            self.metrics.txs_rejected[exc.code] += 1
            code = ErrorCode.BUSY if exc.code in RETRY_CODES else ErrorCode.TX_REJECTED
            raise ApiError(code, exc.message, reason=exc.code) from None

    async def wait_tx(self, tx_id: str) -> Json:
        found = self._lookup_tx(tx_id)
        try:
            if found is None:  # submitted, but neither pending nor committed by now: it expired
                raise TxExpired(tx_id, None)
            if found["status"] == "committed":
                return found
            await self.waiters.wait(bytes.fromhex(tx_id))
        except TxExpired as exc:
            raise ApiError(ErrorCode.TX_REJECTED, str(exc), reason="TX_EXPIRED",
                           data={"id": tx_id, "status": "expired"}) from None
        result = self._lookup_tx(tx_id)
        assert result is not None
        return result

    async def get_tx(self, tx_id: str) -> Json | None:
        found = self._lookup_tx(tx_id)
        if found is None or found["status"] != "committed":
            # Not committed here: a node that is catching up, or cut off, can't tell "pending" or
            # "unknown" from "committed long ago on the others".
            self._refuse_if_not_ready(f"transaction {tx_id} is not known here yet: ")
        return found

    def _lookup_tx(self, tx_id: str) -> Json | None:
        tx_bytes = bytes.fromhex(tx_id)
        location = self.node.store.tx_location(tx_bytes)
        if location is None:
            return {"id": tx_id, "status": "pending"} if tx_bytes in self.node.mempool else None
        block = self.node.store.block(location.height)
        assert block is not None
        tx = block.txs[location.index]
        return {
            "id": tx_id, "status": "committed", "height": location.height, "index": location.index,
            "result": codec.decode(bytes(location.result)), "tx": codec.decode(tx.raw),
        }

    async def get_block(
        self, *, height: int | None = None, block_hash: str | None = None, full: bool = False,
        offset: int = 0, limit: int = DEFAULT_PAGE,
    ) -> Json | None:
        store = self.node.store
        if block_hash is not None:
            height = store.height_of(bytes.fromhex(block_hash))
            if height is None:
                return None
        assert height is not None
        block = store.block(height)
        if block is None:
            return None
        cert = store.certificate(height)
        txs, next_offset = page(list(block.txs), offset, limit)  # decode only the page asked for
        return {
            "hash": block.hash.hex(),
            "header": codec.decode(codec.encode(block.header)),
            "txs": [codec.decode(tx.raw) for tx in txs] if full else [tx.id_hex for tx in txs],
            "tx_count": len(block.txs),
            "next_offset": next_offset,
            "certificate": None if cert is None else codec.decode(cert.encode()),
        }

    async def validators(self) -> list[Json]:
        connected = self.node.linked_validators()
        return [
            {"index": i, "name": v.name, "address": v.address, "pubkey": v.pubkey,
             "connected": i in connected, "self": i == self.node.index}
            for i, v in enumerate(self.node.validators.validators)
        ]

    def _bounded(self, what: str, query: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``query(reader, *args)`` over committed state, reading at most max_query_reads records and
        at most what the client's rate has left (node.rpc.guard.RateMeter), which pays for them."""
        meter = current_meter()
        limit = self.max_query_reads if meter is None else min(self.max_query_reads, meter.allowance())
        budget = ReadBudget(self.node.store.state, limit, what)
        try:
            return query(budget, *args, **kwargs)
        except QueryTooLarge as exc:
            refusal = exc
        finally:
            if meter is not None:
                meter.spend(budget.used)
        if refusal.reason == "QUERY_TOO_LARGE" and meter is not None and limit < self.max_query_reads:
            wait = meter.retry_after_ms()  # the client's rate ran out, not the node's limit
            raise ApiError(ErrorCode.RATE_LIMITED,
                           f"{what} reads more than the {limit:,} records this client's rate has left "
                           f"(queries cost a call per {READS_PER_CALL} records read); retry in {wait} ms",
                           reason="RATE_LIMITED", data={"retry_after_ms": wait})
        raise ApiError(ErrorCode.LIMIT_EXCEEDED, str(refusal), reason=refusal.reason, data={"limit": refusal.limit})

    async def warrant(self, warrant_id: str) -> Json | None:
        return self._bounded(f"warrant_get of {warrant_id}", queries.get_warrant, warrant_id)

    async def warrant_trace(self, warrant_id: str) -> Json | None:
        return self._bounded(f"warrant_trace of {warrant_id}", queries.lineage, warrant_id)

    async def warrant_descendants(self, warrant_id: str, after: str | None, limit: int) -> Json | None:
        return self._bounded(f"warrant_descendants of {warrant_id}", queries.descendants, warrant_id, after, limit)

    async def warrant_proof(self, warrant_id: str) -> Json | None:
        from node.bundles import build_proof

        store, genesis = self.node.store, self.node.genesis
        return self._bounded(f"warrant_proof of {warrant_id}",
                             lambda reader: build_proof(store, genesis, warrant_id, reader))

    async def account(self, address: str) -> Json | None:
        found = self._bounded(f"account_get of {address}", queries.get_account, address)
        if found is not None and found["role"] == "admin":  # state marks admins; their names are the genesis file's
            found["name"] = next((a.name for a in self.node.genesis.admins if a.address == address), "")
        return found

    async def holdings(self, address: str, *, offset: int = 0, limit: int = DEFAULT_PAGE) -> Json | None:
        if queries.get_account(self.node.store.state, address) is None:
            return None
        return self._bounded(f"account_holdings of {address}", queries.holdings, address, offset=offset, limit=limit)

    async def document(self, *, doc_id: str) -> Json | None:
        return self._bounded(f"document_get of {doc_id}", queries.get_document, doc_id)

    async def document_allocations(self, doc_id: str) -> Json | None:
        return self._bounded(f"document_allocations of {doc_id}", queries.document_allocations, doc_id)

    async def account_documents(self, address: str, limit: int, after: str | None) -> Json | None:
        if queries.get_account(self.node.store.state, address) is None:
            return None
        return self._bounded(f"account_documents of {address}", queries.account_documents, address, limit, after)

    async def credit(self, financier: str, core: str) -> Json | None:
        return self._bounded("credit_get", queries.get_credit_line, core, financier)

    async def validator_set(self, height: int | None) -> Json:
        executed = self.node.store.meta.height
        return self._bounded("validator_set", epochs.validator_set_query, executed + 1 if height is None else height,
                             executed, self.node.genesis.params.checkpoint_interval)

    async def validator_history(self) -> Json:
        return self._bounded("validator_history", epochs.validator_history_query, self.node.store.meta.height)

    async def governance_proposals(self, status: str | None, limit: int) -> Json:
        return {"required": self.node.genesis.params.approvals_required,
                "proposals": self._bounded("governance_proposals", governance.list_proposals, status, limit)}


def rpc_limits(config: NodeConfig) -> RpcLimits:
    """The RPC server's limits from the [rpc] section (times there are in ms)."""
    c = config.rpc
    return RpcLimits(
        max_body_bytes=c.max_body, max_batch=c.max_batch, max_response_bytes=c.max_response,
        max_batch_response_bytes=c.max_batch_response, max_connections=c.max_connections,
        max_connections_per_address=c.max_connections_per_address, header_timeout_s=c.header_timeout_ms / 1000,
        body_timeout_s=c.body_timeout_ms / 1000, idle_timeout_s=c.idle_timeout_ms / 1000, rate=float(c.rate),
        rate_burst=c.rate_burst, trusted_proxies=tuple(c.trusted_proxies), ws_queue=c.ws_queue,
        ws_max_connections=c.ws_max_connections, ws_max_per_address=c.ws_max_per_address,
        ws_max_subscriptions=c.ws_max_subscriptions, ws_heartbeat_s=c.ws_ping_ms / 1000, fd_headroom=c.fd_headroom,
    )


async def run_node(config: NodeConfig) -> int:
    """Run a node and its RPC until SIGINT/SIGTERM (exit 0) or a halt (exit 3)."""
    try:
        node = build_node(config)
    except StoreError as exc:
        log.error(kv("startup-failed", error=exc))
        print(f"warrantd: {exc}", file=sys.stderr)
        return 2
    metrics = Metrics(protocol_version=VERSION)
    service = NodeService(node, metrics, config.rpc.max_query_reads)
    host, port = parse_listen(config.rpc.listen)
    rpc = RpcServer(service, metrics, host, port, rpc_limits(config), explorer=config.rpc.explorer)
    service.rpc = rpc
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await node.start()
        await rpc.start()
    except OSError as exc:  # typically a listen address already in use
        print(f"warrantd: cannot listen ({exc.strerror or exc}); check p2p.listen and rpc.listen", file=sys.stderr)
        await rpc.stop()
        await node.stop()
        return 2
    print(f"{config.node.name} rpc=http://{host}:{rpc.port}/rpc height={node.store.meta.height}", flush=True)
    waiter = asyncio.create_task(node.stopped())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    service.waiters.cancel_all()  # no commit will answer them here any more
    await rpc.stop()
    if node.failure is None:
        await node.stop()
    stopper.cancel()
    waiter.cancel()
    log.warning(kv("stopped", failure=node.failure or "none"))
    return 3 if node.failure is not None else 0
