"""Small helpers shared by the consensus scenario tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from consensus.params import Config
from consensus.messages import signing_bytes
from consensus.sim.cluster import DOMAIN, Cluster


def small_config(n: int = 4, **overrides: Any) -> Config:
    values: dict[str, Any] = dict(n=n, checkpoint_interval=5, window=10, view_change_timeout_ticks=20)
    values.update(overrides)
    return Config(**values)


def signed_by(cluster: Cluster, replica: int, msg: Any) -> Any:
    """``msg`` signed with ``replica``'s key (what a byzantine replica can do as itself)."""
    return replace(msg, sig=cluster.signers[replica].sign(signing_bytes(DOMAIN, msg)))


def all_at_least(cluster: Cluster, height: int, replicas: list[int] | None = None):
    ids = range(cluster.n) if replicas is None else replicas
    return lambda: all(cluster.nodes[i].height >= height for i in ids)


def same_chain(cluster: Cluster, replicas: list[int], upto: int) -> bool:
    first = [cluster.block(replicas[0], s).digest for s in range(1, upto + 1)]
    return all(
        [cluster.block(r, s).digest for s in range(1, upto + 1)] == first for r in replicas[1:]
    )
