"""The metrics registry and its Prometheus text rendering."""

from __future__ import annotations

import pytest

from node.metrics import Counter, Histogram, Registry


def test_counter_gauge_and_labels_render() -> None:
    r = Registry()
    c = r.counter("x_total", "Things.\nCounted \\ here.", ("kind",))
    g = r.gauge("y", "A level.")
    c.inc("a")
    c.inc('q"u\\o\nte', by=2)
    g.set(1.5)
    g.dec(by=3)
    assert r.render() == (
        "# HELP x_total Things.\\nCounted \\\\ here.\n"
        "# TYPE x_total counter\n"
        'x_total{kind="a"} 1\n'
        'x_total{kind="q\\"u\\\\o\\nte"} 2\n'
        "# HELP y A level.\n"
        "# TYPE y gauge\n"
        "y -1.5\n"
    )


def test_unlabelled_counter_starts_at_zero() -> None:
    r = Registry()
    r.counter("z_total", "Z.")
    assert "z_total 0\n" in r.render()


def test_histogram_buckets_are_cumulative_and_inclusive() -> None:
    h = Histogram("lat_seconds", "Latency.", (0.1, 1, 0.5))
    for value in (0.05, 0.1, 0.3, 2.0):
        h.observe(value)
    assert list(h.samples()) == [
        'lat_seconds_bucket{le="0.1"} 2',
        'lat_seconds_bucket{le="0.5"} 3',
        'lat_seconds_bucket{le="1"} 3',
        'lat_seconds_bucket{le="+Inf"} 4',
        "lat_seconds_sum 2.45",
        "lat_seconds_count 4",
    ]


def test_misuse_is_refused() -> None:
    r = Registry()
    c = r.counter("a_total", "A.", ("m",))
    with pytest.raises(ValueError):
        c.inc()  # missing label
    with pytest.raises(ValueError):
        c.inc("x", by=-1)
    with pytest.raises(ValueError):
        r.counter("a_total", "again")
    with pytest.raises(ValueError):
        Counter("bad-name", "x")
    with pytest.raises(ValueError):
        Counter("ok", "x", ("le",))
    with pytest.raises(ValueError):
        Histogram("h", "x", ())
