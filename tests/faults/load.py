"""Steady background load for fault tests, and the checks that follow a fault."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from node.kernel import crypto
from node.sdk.client import RpcCallError, Wallet
from node.sdk.localnet import LocalNet

NOT_READY = 1005


@dataclass
class Committed:
    id: str
    height: int
    index: int
    latency: float  # seconds from submission until the node reported it committed
    at: float = 0.0  # time.monotonic() when it was reported committed


@dataclass
class Load:
    """``workers`` clients registering accounts, each waiting for its commit, against the nodes
    ``targets()`` returns (default: the running ones), chosen with a seeded generator.

    Only what a node *reported committed* goes into ``committed``; a submission that fails (the
    node was killed mid-call, or the wait timed out) is counted in ``failed`` and not retried. A
    node that answers NOT_READY (1005: not linked to a quorum, or catching up) took nothing: the
    client tries another node, as documented, and it is counted in ``not_ready``.
    """

    net: LocalNet
    admin: Wallet
    rng: random.Random
    workers: int = 2
    targets: Callable[[], list[int]] | None = None
    wait_ms: int = 15_000
    committed: list[Committed] = field(default_factory=list)
    failed: int = 0
    not_ready: int = 0
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    in_flight: collections.Counter[int] = field(default_factory=collections.Counter)  # calls waiting, per node
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._worker(i)) for i in range(self.workers)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def _worker(self, number: int) -> None:
        while not self._stop.is_set():
            nodes = self.targets() if self.targets else self.net.running()
            if not nodes:
                await asyncio.sleep(0.05)
                continue
            index = self.rng.choice(sorted(nodes))
            key = crypto.generate_key()
            tx = self.admin.register_account(key.address, "supplier", f"load-{number}-{key.address[2:10]}")
            started = time.monotonic()
            self.in_flight[index] += 1
            async with self.net.client(index) as client:
                try:
                    answer = await client.submit(tx, timeout_ms=self.wait_ms)
                except RpcCallError as exc:
                    if exc.code == NOT_READY:
                        self.not_ready += 1
                        await asyncio.sleep(0.05)
                        continue
                    self.failed += 1
                    self.errors[exc.reason or ("unreachable" if exc.code == -1 else str(exc.code))] += 1
                    await asyncio.sleep(0.05)
                    continue
                finally:
                    self.in_flight[index] -= 1
            assert answer["result"]["ok"], answer
            self.committed.append(Committed(answer["id"], answer["height"], answer["index"], time.monotonic() - started, time.monotonic()))

    async def drain(self, index: int, timeout: float) -> None:
        """Wait until no worker has a call waiting on node ``index`` (which ``targets`` no longer
        returns): a node about to be paused must not hold the load's clients hostage, or the
        network would look stalled for want of submissions."""

        async def drained() -> bool:
            return self.in_flight[index] == 0

        await self.net.wait_for(drained, timeout, f"the load's calls to v{index} to finish", interval=0.02)

    async def wait_commits(self, more: int, timeout: float, what: str) -> None:
        """Wait until ``more`` further transactions were reported committed."""
        target = len(self.committed) + more

        async def enough() -> bool:
            return len(self.committed) >= target

        await self.net.wait_for(enough, timeout, f"{more} more commits {what}")


async def wait_converged(net: LocalNet, indices: list[int], timeout: float) -> int:
    """Wait until ``indices`` report the same height and block hash; returns the height."""

    async def same() -> int | None:
        statuses = await net.heights(indices)
        if len(statuses) == len(indices) and len({(s["height"], s["block_hash"]) for s in statuses.values()}) == 1:
            return next(iter(statuses.values()))["height"] or None
        return None

    return await net.wait_for(same, timeout, f"validators {indices} to converge")  # type: ignore[no-any-return]


async def assert_all_found(net: LocalNet, indices: list[int], committed: list[Committed]) -> None:
    """Every transaction reported committed is on every node, at the same place."""
    for index in indices:
        async with net.client(index) as client:
            for tx in committed:
                found = await client.call("tx_get", id=tx.id)
                assert found["status"] == "committed", f"v{index} lost tx {tx.id} (reported committed at {tx.height})"
                assert (found["height"], found["index"]) == (tx.height, tx.index), f"v{index} moved tx {tx.id}"
