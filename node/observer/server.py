"""A validator's side of the block feed: committed blocks with their certificates, pushed to each
linked peer that asks (observers, and a validator admitted by governance that follows the chain
until its epoch), within a rate (pure bookkeeping; the node calls it from its event loop).

Each such peer ("observer" below) has a cursor, the next height it wants. It sets the cursor with a
:class:`~node.observer.feed.FeedRequest` (when its link comes up, after a gap, or when it has heard
nothing for a while), and the server moves it as it sends. :meth:`FeedServer.pump` (after every
commit and on every tick) sends each observer what it lacks, bounded three ways, so that an
observer can make a validator spend only so much:

- ``blocks_per_s`` per observer, a token bucket that holds at most one second's worth;
- ``frame_bytes`` of blocks per frame (at least one block);
- no new frame while the observer's mesh send queue holds ``_QUEUED`` frames or more: a slow
  observer slows its own feed, and the queue never fills with feed frames the observer can't take.

The number of peers is bounded by the mesh (the validators, and ``p2p.max_observer_links``
observers), and so is the state kept here (one cursor and one bucket each).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass

from node.kernel.chain import Certificate
from node.kernel.crypto import PublicKey
from node.observer.feed import MAX_FEED_ENTRIES, FeedEntry, FeedError, FeedRequest, decode_feed, encode_blocks

__all__ = ["FeedServer"]

_QUEUED = 2  # feed frames waiting in an observer's send queue before the server holds back
_TIP_INTERVAL_S = 0.1  # "nothing new, my height is T" at most this often per observer, however often it asks

Entry = Callable[[int], "tuple[bytes, bytes, Certificate] | None"]
"""(payload, digest, certificate) of committed block h, or None (Application.committed_entry)."""


@dataclass
class _Observer:
    cursor: int | None  # None until it asks
    tokens: float
    refilled: float
    told: float = float("-inf")  # when it was last sent an empty frame (just the tip)


class FeedServer:
    """Serves linked observers. ``send(observer, frame)`` and ``queued(observer)`` are the mesh's."""

    def __init__(
        self,
        *,
        entry: Entry,
        height: Callable[[], int],
        send: Callable[[PublicKey, bytes], bool],
        queued: Callable[[PublicKey], int],
        blocks_per_s: int,
        frame_bytes: int,
        clock: Callable[[], float],
    ) -> None:
        self._entry = entry
        self._height = height
        self._send = send
        self._queued = queued
        self._rate = float(blocks_per_s)
        self._frame_bytes = frame_bytes
        self._clock = clock
        self._observers: dict[PublicKey, _Observer] = {}
        self.stats: collections.Counter[str] = collections.Counter()
        """blocks_served, frames_served, requests, malformed, throttled (a pump that found an observer's bucket empty)."""

    def link_up(self, observer: PublicKey) -> None:
        # A full bucket: an observer that (re)links may take a second's worth at once.
        self._observers[observer] = _Observer(None, self._rate, self._clock())

    def link_down(self, observer: PublicKey) -> None:
        self._observers.pop(observer, None)

    def on_frame(self, observer: PublicKey, body: bytes) -> None:
        """A feed frame (after the tag) from a linked observer: only requests are expected."""
        try:
            frame = decode_feed(body)
        except FeedError:
            self.stats["malformed"] += 1
            return
        if isinstance(frame, FeedRequest):
            self.request(observer, frame)

    def request(self, observer: PublicKey, request: FeedRequest) -> None:
        """The observer wants blocks from ``request.from_height`` on (also to go back after a gap)."""
        state = self._observers.get(observer)
        if state is None:  # not linked as an observer
            return
        self.stats["requests"] += 1
        height = self._height()
        state.cursor = min(request.from_height, height + 1)
        if state.cursor > height:
            # Nothing to send: say how far we are, so that it knows it is in sync (one small frame,
            # at most every _TIP_INTERVAL_S, and none while its queue is backed up).
            now = self._clock()
            if now - state.told >= _TIP_INTERVAL_S and self._queued(observer) < _QUEUED:
                state.told = now
                self._send(observer, encode_blocks(height, ()))
            return
        self.pump()

    def pump(self) -> None:
        """Send every observer what it lacks, within its bounds."""
        height = self._height()
        now = self._clock()
        for observer, state in self._observers.items():
            if state.cursor is None or state.cursor > height:
                continue
            state.tokens = min(self._rate, state.tokens + (now - state.refilled) * self._rate)
            state.refilled = now
            if state.tokens < 1:
                self.stats["throttled"] += 1
                continue
            if self._queued(observer) >= _QUEUED:
                continue
            self._serve(observer, state, height)

    def _serve(self, observer: PublicKey, state: _Observer, height: int) -> None:
        assert state.cursor is not None
        entries: list[FeedEntry] = []
        budget = self._frame_bytes
        most = min(int(state.tokens), MAX_FEED_ENTRIES)
        while state.cursor + len(entries) <= height and len(entries) < most:
            found = self._entry(state.cursor + len(entries))
            if found is None:
                break
            payload, _, cert = found
            if entries and budget < len(payload) + 1024:
                break
            budget -= len(payload) + 1024
            entries.append(FeedEntry(payload, cert))
        if not entries or not self._send(observer, encode_blocks(height, entries)):
            return  # nothing stored (pruned?) or its queue is full: tried again at the next pump
        state.cursor += len(entries)
        state.tokens -= len(entries)
        self.stats["blocks_served"] += len(entries)
        self.stats["frames_served"] += 1
