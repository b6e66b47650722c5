"""The node's metrics, exposed with prometheus_client at ``GET /metrics`` (the only module importing it).

Each :class:`Metrics` has its own ``CollectorRegistry`` (tests run several nodes in one process;
a process-wide registry would mix them), holding what a scraper of any Python service expects:

- prometheus_client's process, platform and GC collectors (``process_*``, ``python_info``,
  ``python_gc_*``) and ``warrantchain_build_info`` (package, protocol and Python versions);
- one collector that reads the node when scraped: a :class:`NodeSample` from the reader the
  service installs with :meth:`Metrics.watch`. Chain, consensus, p2p and mempool figures are read
  from the counters and state those layers keep anyway (``Replica.counters``, ``Mesh.stats``,
  ``Application.refused`` ...), so their hot paths do no metric work, and neither consensus nor
  p2p imports this module;
- what only the RPC layer and the commit path see (calls, rejections, WebSocket connections,
  commit latency): plain integers and ``collections.Counter`` entries on this object (a dict
  update, no lock: everything runs in one event loop), rendered by the same collector; the
  commit-latency histogram is prometheus_client's own, observed once per block.

Names follow Prometheus' conventions (base units, ``_total`` for counters, ``_seconds``,
``_bytes``); docs/OPERATIONS.md lists them all.
"""

from __future__ import annotations

import logging
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata

from prometheus_client import CollectorRegistry, GCCollector, Histogram, Info, PlatformCollector, ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["COMMIT_LATENCY_BUCKETS", "Metrics", "NodeSample", "PeerSample", "package_version"]

log = logging.getLogger(__name__)

COMMIT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def package_version() -> str:
    """The installed warrantchain distribution's version ("unknown" when run from a bare checkout)."""
    try:
        return metadata.version("warrantchain")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True, slots=True)
class PeerSample:
    """Another validator as this node's mesh sees it."""

    name: str
    up: bool
    sent_bytes: int
    received_bytes: int
    queued_bytes: int


@dataclass(frozen=True, slots=True)
class NodeSample:
    """The node's state at one scrape (built by node.service from the node's parts).

    The reason mappings of refused proposals, dropped frames and refused handshakes list their
    whole (fixed) label set, zeros included, so that a series exists before its first event
    (``rate()`` and alerts see the first increment)."""

    height: int
    view: int
    in_sync: bool
    mempool_txs: int
    peers: tuple[PeerSample, ...] = ()
    view_changes: int = 0
    new_views: int = 0
    state_transfer_blocks: int = 0
    proposals_refused: Mapping[str, int] = field(default_factory=dict)
    """Proposals this node refused to prepare, by stable reason code (node.app.ProposalRefusal)."""
    consensus_messages: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Consensus messages by (verdict, reason) of ``Replica.step``."""
    frames_dropped: Mapping[str, int] = field(default_factory=dict)
    """Frames the mesh refused to queue or read, by reason."""
    handshakes_refused: Mapping[str, int] = field(default_factory=dict)
    """Connections refused during the p2p handshake, by reason (node.p2p.handshake.Refusal)."""
    dial_failures: int = 0
    disconnects: int = 0
    feed_blocks_served: int = 0
    """Committed blocks this validator sent to observers (node.observer.server)."""
    feed_throttled: int = 0
    """Times an observer's feed waited for its blocks-per-second bucket."""
    feed_refused: int = 0
    """Feed frames this observer refused: a block whose certificate or digest did not verify, or junk."""


class Metrics:
    """The node's registry. The RPC server and the service count into the public attributes;
    :meth:`exposition` renders a scrape."""

    def __init__(self, *, protocol_version: str) -> None:
        registry = self.registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        Info("warrantchain_build", "The running node's versions.", registry=registry).info({
            "version": package_version(), "protocol_version": protocol_version,
            "python_version": platform.python_version(),
        })
        self.commit_latency = Histogram(
            "warrantchain_commit_latency_seconds", "Time from a block's proposal to its commit on this node.",
            buckets=COMMIT_LATENCY_BUCKETS, registry=registry,
        )
        self.txs_committed = 0
        self.txs_rejected: Counter[str] = Counter()
        """Transactions refused at admission or failed at execution, by code."""
        self.rpc_requests: Counter[tuple[str, str]] = Counter()
        """JSON-RPC calls by (method, result code)."""
        self.ws_connections = 0
        self.ws_dropped = 0
        self._read_node: Callable[[], NodeSample] | None = None
        registry.register(_Collector(self))

    def watch(self, read: Callable[[], NodeSample]) -> None:
        """Read the node with ``read`` at every scrape (called in the event loop, like everything)."""
        self._read_node = read

    def read_node(self) -> NodeSample | None:
        """The node's sample for this scrape; None without a node, or if reading it failed (logged:
        the rest of the scrape still renders)."""
        if self._read_node is None:
            return None
        try:
            return self._read_node()
        except Exception:
            log.exception("metrics: reading the node failed")
            return None

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """A scrape's body and content type for the request's Accept header: the Prometheus text
        format, or OpenMetrics when the scraper asks for it (prometheus_client chooses)."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def value(self, name: str, **labels: str) -> float | None:
        """One sample's value as a scrape would show it (None if absent); for tests and tools."""
        return self.registry.get_sample_value(name, labels)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _labelled(family: CounterMetricFamily | GaugeMetricFamily, rows: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    for labels, value in rows:
        family.add_metric(list(labels), value)
    return family


class _Collector:
    """Renders the counts kept on :class:`Metrics` and the node's sample."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterable[Metric]:
        return ()  # names are not reserved: what a scrape yields depends on the node being watched

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        yield _counter("warrantchain_txs_committed_total", "Transactions committed in blocks.", m.txs_committed)
        yield _labelled(
            CounterMetricFamily("warrantchain_txs_rejected_total", "Transactions refused or failed, by reason code.",
                                labels=["code"]),
            (((code,), n) for code, n in sorted(m.txs_rejected.items())),
        )
        yield _labelled(
            CounterMetricFamily("warrantchain_rpc_requests_total",
                                "JSON-RPC calls by method and result code (0 = success).", labels=["method", "code"]),
            sorted(m.rpc_requests.items()),
        )
        yield _gauge("warrantchain_ws_connections", "Open WebSocket connections.", m.ws_connections)
        yield _counter("warrantchain_ws_dropped_total", "WebSocket subscribers disconnected for reading too slowly.",
                       m.ws_dropped)
        sample = m.read_node()
        if sample is not None:
            yield from _node_families(sample)


# Per-peer families: (kind, name, help, value of a peer).
_PeerFamily = tuple[type[CounterMetricFamily | GaugeMetricFamily], str, str, Callable[[PeerSample], float]]
_PEER_FAMILIES: tuple[_PeerFamily, ...] = (
    (GaugeMetricFamily, "warrantchain_p2p_peer_up", "1 while the authenticated link to this validator is up.",
     lambda p: int(p.up)),
    (CounterMetricFamily, "warrantchain_p2p_sent_bytes_total", "Bytes of frames written to this validator.",
     lambda p: p.sent_bytes),
    (CounterMetricFamily, "warrantchain_p2p_received_bytes_total", "Bytes of frames read from this validator.",
     lambda p: p.received_bytes),
    (GaugeMetricFamily, "warrantchain_p2p_send_queue_bytes", "Bytes queued for this validator, not yet written.",
     lambda p: p.queued_bytes),
)


def _by_reason(name: str, doc: str, counts: Mapping[str, int]) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["reason"])
    return _labelled(family, (((reason,), n) for reason, n in sorted(counts.items())))


def _node_families(s: NodeSample) -> Iterable[Metric]:
    yield _gauge("warrantchain_height", "Height of the last committed block.", s.height)
    yield _gauge("warrantchain_view", "Current PBFT view.", s.view)
    yield _gauge("warrantchain_in_sync", "1 when the node follows the chain head, else 0.", int(s.in_sync))
    yield _gauge("warrantchain_mempool_transactions", "Transactions waiting in the mempool.", s.mempool_txs)
    yield _gauge("warrantchain_peers", "Connected validator peers.", sum(p.up for p in s.peers))
    for kind, name, doc, value in _PEER_FAMILIES:
        yield _labelled(kind(name, doc, labels=["peer"]), (((p.name,), value(p)) for p in s.peers))
    yield _by_reason("warrantchain_p2p_frames_dropped_total", "Frames the mesh did not queue or read, by reason.",
                     s.frames_dropped)
    yield _by_reason("warrantchain_p2p_handshakes_refused_total",
                     "Connections refused during the p2p handshake, by reason.", s.handshakes_refused)
    yield _counter("warrantchain_p2p_dial_failures_total", "Failed attempts to dial a validator.", s.dial_failures)
    yield _counter("warrantchain_p2p_disconnects_total", "Authenticated links that went down.", s.disconnects)
    yield _counter("warrantchain_feed_blocks_served_total", "Committed blocks sent to observers.", s.feed_blocks_served)
    yield _counter("warrantchain_feed_throttled_total", "Times an observer's feed waited for its rate bound.",
                   s.feed_throttled)
    yield _counter("warrantchain_feed_refused_total",
                   "Feed frames refused by this observer (certificate, digest, or malformed).", s.feed_refused)
    yield _counter("warrantchain_view_changes_total", "View changes this replica started.", s.view_changes)
    yield _counter("warrantchain_new_views_total", "New views this replica entered.", s.new_views)
    yield _counter("warrantchain_state_transfer_blocks_total", "Blocks fetched from peers by state transfer.",
                   s.state_transfer_blocks)
    yield _by_reason("warrantchain_proposals_refused_total", "Proposals this node refused to prepare, by reason code.",
                     s.proposals_refused)
    yield _labelled(
        CounterMetricFamily("warrantchain_consensus_messages_total",
                            "Consensus messages by what the replica did with them (verdict) and why (reason).",
                            labels=["verdict", "reason"]),
        sorted(s.consensus_messages.items()),
    )
