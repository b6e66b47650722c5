"""Scraping a node's ``/metrics`` as Prometheus would: parsed by prometheus_client's own parser.

Used by the RPC, limits and fault tests, so that every assertion on a metric also checks that the
scrape parses."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["Scrape", "parse", "scrape"]


@dataclass(frozen=True)
class Scrape:
    """A parsed scrape: families by name (a counter's name without ``_total``, as the parser gives)."""

    families: dict[str, Metric]

    def value(self, sample: str, **labels: str) -> float | None:
        """The value of the sample named ``sample`` (``_total`` included) with exactly ``labels``."""
        for family in self.families.values():
            for s in family.samples:
                if s.name == sample and s.labels == labels:
                    return float(s.value)
        return None

    def labelled(self, sample: str, label: str) -> dict[str, float]:
        """``{value of label: sample value}`` over the samples named ``sample``."""
        return {s.labels[label]: float(s.value) for family in self.families.values()
                for s in family.samples if s.name == sample and label in s.labels}


def parse(text: str) -> Scrape:
    return Scrape({family.name: family for family in text_string_to_metric_families(text)})


async def scrape(base_url: str) -> Scrape:
    """GET ``base_url``/metrics (``base_url`` may be a node's RPC URL ending in /rpc) and parse it."""
    url = base_url.removesuffix("/rpc") + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200, answer.status
        return parse(await answer.text())
