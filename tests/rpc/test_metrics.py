"""The node's metrics (node.metrics over prometheus_client): every family a scrape must carry,
parsed with prometheus_client's parser, from a stand-in node's sample; content negotiation; one
registry per node. The same families on real clusters: tests/faults/test_view_change_noticed.py
(a view change, a peer down) and tests/faults/test_byzantine_proposer.py (refused proposals).
Also the rules around it: prometheus_client is imported by node/metrics.py alone, and consensus
and p2p never import the metrics (the collector reads their plain counters)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from node.metrics import Metrics, NodeSample, PeerSample
from tests.scrape import parse

SAMPLE = NodeSample(
    height=7, view=2, in_sync=True, mempool_txs=3,
    peers=(PeerSample("v1", True, 1200, 3400, 0), PeerSample("v2", False, 10, 20, 0),
           PeerSample("v3", True, 500, 600, 64)),
    view_changes=2, new_views=1, state_transfer_blocks=4,
    proposals_refused={"COMMITTED_TX": 1, "BAD_TIME": 0},
    consensus_messages={("process", "none"): 40, ("discard", "bad_signature"): 2},
    frames_dropped={"queue_full": 5, "oversize": 0}, handshakes_refused={"wrong chain": 1},
    dial_failures=6, disconnects=1,
)


def _metrics(sample: NodeSample | None = SAMPLE) -> Metrics:
    metrics = Metrics(protocol_version="9.9.9")
    if sample is not None:
        metrics.watch(lambda: sample)
    return metrics


def test_a_scrape_parses_and_carries_process_runtime_build_and_node_families() -> None:
    metrics = _metrics()
    metrics.rpc_requests[("chain_status", "0")] += 2
    metrics.txs_rejected["BAD_SIGNATURE"] += 1
    metrics.txs_committed += 9
    metrics.commit_latency.observe(0.02)
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    s = parse(body.decode())
    for family in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                   "process_start_time_seconds", "python_info", "python_gc_collections"):
        assert family in s.families, family
    assert s.value("process_resident_memory_bytes")
    build = next(x.labels for x in s.families["warrantchain_build_info"].samples)
    assert build["protocol_version"] == "9.9.9" and build["python_version"].startswith("3.") and build["version"]
    assert s.value("warrantchain_height") == 7 and s.value("warrantchain_view") == 2
    assert s.value("warrantchain_in_sync") == 1 and s.value("warrantchain_mempool_transactions") == 3
    assert s.value("warrantchain_peers") == 2
    assert s.labelled("warrantchain_p2p_peer_up", "peer") == {"v1": 1, "v2": 0, "v3": 1}
    assert s.labelled("warrantchain_p2p_sent_bytes_total", "peer") == {"v1": 1200, "v2": 10, "v3": 500}
    assert s.labelled("warrantchain_p2p_received_bytes_total", "peer") == {"v1": 3400, "v2": 20, "v3": 600}
    assert s.value("warrantchain_p2p_send_queue_bytes", peer="v3") == 64
    assert s.labelled("warrantchain_p2p_frames_dropped_total", "reason") == {"queue_full": 5, "oversize": 0}
    assert s.value("warrantchain_p2p_handshakes_refused_total", reason="wrong chain") == 1
    assert s.value("warrantchain_p2p_dial_failures_total") == 6 and s.value("warrantchain_p2p_disconnects_total") == 1
    assert s.value("warrantchain_view_changes_total") == 2 and s.value("warrantchain_new_views_total") == 1
    assert s.value("warrantchain_state_transfer_blocks_total") == 4
    assert s.labelled("warrantchain_proposals_refused_total", "reason") == {"COMMITTED_TX": 1, "BAD_TIME": 0}
    assert s.value("warrantchain_consensus_messages_total", verdict="discard", reason="bad_signature") == 2
    assert s.value("warrantchain_rpc_requests_total", method="chain_status", code="0") == 2
    assert s.value("warrantchain_txs_rejected_total", code="BAD_SIGNATURE") == 1
    assert s.value("warrantchain_txs_committed_total") == 9
    assert s.value("warrantchain_commit_latency_seconds_bucket", le="0.025") == 1
    assert s.value("warrantchain_commit_latency_seconds_count") == 1
    assert s.families["warrantchain_commit_latency_seconds"].type == "histogram"
    assert s.families["warrantchain_p2p_sent_bytes"].type == "counter"
    assert s.families["warrantchain_p2p_peer_up"].type == "gauge"


def test_openmetrics_for_a_scraper_that_asks_for_it() -> None:
    body, content_type = _metrics().exposition("application/openmetrics-text; version=1.0.0, text/plain;q=0.5")
    assert content_type.startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_openmetrics(body.decode())}
    assert families["warrantchain_view_changes"].type == "counter"
    assert body.endswith(b"# EOF\n")


def test_without_a_node_or_with_a_failing_reader_the_rest_still_renders(caplog: pytest.LogCaptureFixture) -> None:
    bare = parse(_metrics(None).exposition()[0].decode())
    assert "warrantchain_rpc_requests" in bare.families and "warrantchain_height" not in bare.families

    def broken() -> NodeSample:
        raise RuntimeError("a bug in the reader")

    metrics = _metrics(None)
    metrics.watch(broken)
    s = parse(metrics.exposition()[0].decode())
    assert "process_cpu_seconds" in s.families and "warrantchain_height" not in s.families
    assert "a bug in the reader" in caplog.text


def test_each_node_has_its_own_registry() -> None:
    one, two = _metrics(), _metrics(NodeSample(height=1, view=0, in_sync=False, mempool_txs=0))
    one.ws_dropped += 1
    assert one.value("warrantchain_ws_dropped_total") == 1 and two.value("warrantchain_ws_dropped_total") == 0
    assert one.value("warrantchain_height") == 7 and two.value("warrantchain_height") == 1


ROOT = Path(__file__).resolve().parents[2]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_prometheus_client_has_one_importer_and_consensus_and_p2p_never_import_the_metrics() -> None:
    sources = sorted((ROOT / "node").rglob("*.py")) + sorted((ROOT / "consensus").rglob("*.py"))
    importers = [p.relative_to(ROOT).as_posix() for p in sources
                 if any(n.split(".")[0] == "prometheus_client" for n in _imports(p))]
    assert importers == ["node/metrics.py"]
    layered = sorted((ROOT / "node" / "p2p").rglob("*.py")) + sorted((ROOT / "consensus").rglob("*.py"))
    assert len(layered) > 5
    offenders = [p.relative_to(ROOT).as_posix() for p in layered if "node.metrics" in _imports(p)]
    assert offenders == []
