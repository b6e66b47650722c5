"""A seeded network: random delay (hence reordering), duplication, loss and partitions."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field
from typing import Any

__all__ = ["NetworkConfig", "Network"]


@dataclass
class NetworkConfig:
    min_delay: int = 1
    max_delay: int = 1
    loss: float = 0.0
    duplicate: float = 0.0


@dataclass
class Network:
    """Messages in flight, ordered by delivery tick then by a random tie-break (reordering)."""

    rng: random.Random
    config: NetworkConfig = field(default_factory=NetworkConfig)
    groups: list[frozenset[int]] | None = None
    """A partition: messages only flow inside a group. None: fully connected."""
    queue: list[tuple[int, float, int, int, Any]] = field(default_factory=list)
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    _order: int = 0

    def blocked(self, src: int, dst: int) -> bool:
        if self.groups is None:
            return False
        return not any(src in g and dst in g for g in self.groups)

    def send(self, now: int, src: int, dst: int, payload: Any) -> None:
        """Queue ``payload`` (a message object or raw bytes) from ``src`` to ``dst``."""
        self.sent += 1
        cfg = self.config
        if self.blocked(src, dst) or (cfg.loss and self.rng.random() < cfg.loss):
            self.dropped += 1
            return
        copies = 1
        if cfg.duplicate and self.rng.random() < cfg.duplicate:
            copies = 2
            self.duplicated += 1
        for _ in range(copies):
            delay = self.rng.randint(cfg.min_delay, cfg.max_delay) if cfg.max_delay else 0
            tie = self.rng.random() if cfg.max_delay > cfg.min_delay else 0.0
            self._order += 1
            heapq.heappush(self.queue, (now + delay, tie, self._order, src, (dst, payload)))

    def pop_due(self, now: int) -> tuple[int, int, Any] | None:
        """The next (src, dst, payload) due at or before ``now``, or None."""
        if not self.queue or self.queue[0][0] > now:
            return None
        return self._pop()

    def pop_any(self) -> tuple[int, int, Any] | None:
        return self._pop() if self.queue else None

    def in_flight(self) -> list[tuple[int, int, int, Any]]:
        """Every message in flight as (number, src, dst, payload), oldest first. ``number``
        counts sends, so a caller driving delivery by hand can tell the new ones."""
        return [(order, src, dst, payload) for _, _, order, src, (dst, payload) in sorted(
            self.queue, key=lambda entry: entry[2]
        )]

    def take(self, numbers: set[int]) -> list[tuple[int, int, int, Any]]:
        """Remove the messages with these ``in_flight`` numbers; returns them, oldest first."""
        taken = [entry for entry in self.in_flight() if entry[0] in numbers]
        if taken:
            self.queue = [entry for entry in self.queue if entry[2] not in numbers]
            heapq.heapify(self.queue)
        return taken

    def _pop(self) -> tuple[int, int, Any]:
        _, _, _, src, (dst, payload) = heapq.heappop(self.queue)
        if self.blocked(src, dst):
            self.dropped += 1
            return (src, -1, payload)  # cut by a partition made while in flight
        return (src, dst, payload)
