"""Transaction relay that converges: what each linked peer still lacks, queued per peer.

A transaction admitted from a client goes to every peer linked now; a peer whose link comes up
later gets the whole mempool at link-up (the daemon calls :meth:`Relay.link_up`), so a node
restarted, or cut off, and given transactions before its links were back no longer strands them.
A peer's queue advances only when the mesh accepted the frame (a full send queue keeps the rest
for the next flush), and what left the mempool meanwhile (committed, expired) is skipped, not
sent. Each queue is bounded: past ``limit`` entries the oldest are dropped, and the request
timer's ``Forward`` (and a client's resubmission) re-relays what still waits. CometBFT's mempool
reactor keeps a per-peer cursor over its mempool for the same reason.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable, Iterable

from node.kernel.chain import SignedTx

__all__ = ["Relay", "frame_txs"]


def frame_txs(txs: Iterable[SignedTx]) -> bytes:
    """A relay frame body: each transaction as a 4-byte big-endian length and its bytes."""
    return b"".join(len(tx.raw).to_bytes(4, "big") + tx.raw for tx in txs)


class Relay:
    """Per-peer queues of transactions to send. Pure bookkeeping: the daemon does the sending."""

    def __init__(self, *, limit: int, frame_bytes: int, still_wanted: Callable[[bytes], bool]) -> None:
        self._limit = limit
        self._frame_bytes = frame_bytes
        self._wanted = still_wanted  # is this tx id still in the mempool?
        self._queues: dict[Hashable, collections.deque[SignedTx]] = {}
        self.dropped = 0
        """Entries dropped because a queue was full."""

    def link_up(self, peer: Hashable, mempool: Iterable[SignedTx]) -> None:
        """``peer`` is linked (again): it may lack anything we hold, so queue all of it."""
        self._queues[peer] = collections.deque()
        self._push(peer, mempool)

    def link_down(self, peer: Hashable) -> None:
        self._queues.pop(peer, None)

    def linked(self) -> list[Hashable]:
        return list(self._queues)  # in link-up order

    def queue(self, txs: Iterable[SignedTx], peers: Iterable[Hashable] | None = None) -> None:
        """Queue ``txs`` for ``peers`` (default: every linked peer)."""
        batch = list(txs)
        for peer in self.linked() if peers is None else peers:
            if peer in self._queues:
                self._push(peer, batch)

    def _push(self, peer: Hashable, txs: Iterable[SignedTx]) -> None:
        queue = self._queues[peer]
        queue.extend(txs)
        while len(queue) > self._limit:
            queue.popleft()
            self.dropped += 1

    def pending(self, peer: Hashable) -> int:
        return len(self._queues.get(peer, ()))

    def next_frame(self, peer: Hashable) -> list[SignedTx]:
        """The next batch for ``peer`` (up to ``frame_bytes``), still queued until :meth:`sent`."""
        queue = self._queues.get(peer)
        batch: list[SignedTx] = []
        size = 0
        while queue:
            tx = queue[0]
            if not self._wanted(tx.id):
                queue.popleft()  # committed or expired meanwhile: nobody needs it any more
                continue
            if batch and size + len(tx.raw) + 4 > self._frame_bytes:
                break
            batch.append(queue.popleft())
            size += len(tx.raw) + 4
        if queue is not None and batch:
            queue.extendleft(reversed(batch))
        return batch

    def sent(self, peer: Hashable, count: int) -> None:
        """The mesh accepted the frame built from the first ``count`` queued entries."""
        queue = self._queues.get(peer)
        for _ in range(min(count, len(queue or ()))):
            assert queue is not None
            queue.popleft()
