"""A tiny metrics registry rendered in the Prometheus text exposition format (version 0.0.4).

Written here instead of depending on prometheus_client: the node needs counters, gauges and one
kind of histogram, all updated from a single event loop (so no locks), and the format is small
(https://prometheus.io/docs/instrumenting/exposition_formats/). The daemon updates the metrics
in :class:`Metrics`; node.rpc.server serves :meth:`Registry.render` at ``GET /metrics``.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence

__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "Registry", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
Labels = tuple[str, ...]


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape_label(v)}"' for n, v in zip(names, values)) + "}"


class _Metric:
    kind = ""

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labelnames:
            if not _LABEL.match(label) or label.startswith("__") or label == "le":
                raise ValueError(f"invalid label name {label!r} for {name}")
        self.name = name
        self.help = help
        self.labelnames = tuple(labelnames)

    def _key(self, labels: Sequence[str]) -> Labels:
        if len(labels) != len(self.labelnames):
            raise ValueError(f"{self.name} takes labels {self.labelnames}, got {tuple(labels)}")
        return tuple(str(v) for v in labels)

    def header(self) -> list[str]:
        help_text = self.help.replace("\\", "\\\\").replace("\n", "\\n")
        return [f"# HELP {self.name} {help_text}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> Iterable[str]:
        raise NotImplementedError


class Counter(_Metric):
    """A value that only goes up (per label set)."""

    kind = "counter"

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help, labelnames)
        self._values: dict[Labels, float] = {} if labelnames else {(): 0.0}

    def inc(self, *labels: str, by: float = 1.0) -> None:
        if by < 0:
            raise ValueError(f"{self.name}: a counter cannot decrease")
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + by

    def get(self, *labels: str) -> float:
        return self._values.get(self._key(labels), 0.0)

    def samples(self) -> Iterable[str]:
        for key, value in sorted(self._values.items()):
            yield f"{self.name}{_label_text(self.labelnames, key)} {_number(value)}"


class Gauge(Counter):
    """A value that is set (per label set)."""

    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self._values[self._key(labels)] = float(value)

    def inc(self, *labels: str, by: float = 1.0) -> None:
        key = self._key(labels)
        self._values[key] = self._values.get(key, 0.0) + by

    def dec(self, *labels: str, by: float = 1.0) -> None:
        self.inc(*labels, by=-by)


class Histogram(_Metric):
    """Observations counted in fixed cumulative buckets, with their sum and count (no labels)."""

    kind = "histogram"

    def __init__(self, name: str, help: str, buckets: Sequence[float]) -> None:
        super().__init__(name, help)
        bounds = sorted(float(b) for b in buckets if not math.isinf(b))
        if not bounds or len(set(bounds)) != len(bounds):
            raise ValueError(f"{name}: buckets must be distinct and finite")
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        # bisect_left: a value equal to a bound belongs to that bucket ("le" is inclusive).
        self._counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def samples(self) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip((*self.bounds, math.inf), self._counts):
            cumulative += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}'
        yield f"{self.name}_sum {_number(self.sum)}"
        yield f"{self.name}_count {self.count}"


class Registry:
    """Named metrics, rendered in registration order."""

    def __init__(self) -> None:
        self._metrics: dict[str, _Metric] = {}

    def register(self, metric: _Metric) -> None:
        if metric.name in self._metrics:
            raise ValueError(f"metric {metric.name} registered twice")
        self._metrics[metric.name] = metric

    def counter(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help, labelnames)
        self.register(metric)
        return metric

    def gauge(self, name: str, help: str, labelnames: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help, labelnames)
        self.register(metric)
        return metric

    def histogram(self, name: str, help: str, buckets: Sequence[float]) -> Histogram:
        metric = Histogram(name, help, buckets)
        self.register(metric)
        return metric

    def render(self) -> str:
        lines: list[str] = []
        for metric in self._metrics.values():
            lines.extend(metric.header())
            lines.extend(metric.samples())
        return "\n".join(lines) + "\n"


class Metrics:
    """The node's metrics. The daemon sets the chain ones; node.rpc.server counts its own requests."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.height = r.gauge("warrantchain_height", "Height of the last committed block.")
        self.view = r.gauge("warrantchain_view", "Current PBFT view.")
        self.peers = r.gauge("warrantchain_peers", "Connected validator peers.")
        self.mempool_size = r.gauge("warrantchain_mempool_size", "Transactions waiting in the mempool.")
        self.in_sync = r.gauge("warrantchain_in_sync", "1 when the node follows the chain head, else 0.")
        self.commit_latency = r.histogram(
            "warrantchain_commit_latency_seconds",
            "Time from a block's proposal to its commit on this node.",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.txs_committed = r.counter("warrantchain_txs_committed_total", "Transactions committed in blocks.")
        self.txs_rejected = r.counter(
            "warrantchain_txs_rejected_total", "Transactions refused or failed, by reason code.", ("code",)
        )
        self.rpc_requests = r.counter(
            "warrantchain_rpc_requests_total", "JSON-RPC calls by method and result code (0 = success).", ("method", "code")
        )
        self.ws_connections = r.gauge("warrantchain_ws_connections", "Open WebSocket connections.")
        self.ws_dropped = r.counter(
            "warrantchain_ws_dropped_total", "WebSocket subscribers disconnected for reading too slowly."
        )

    def render(self) -> str:
        return self.registry.render()
