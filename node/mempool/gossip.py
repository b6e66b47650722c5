"""Transaction gossip: relaying admitted transactions to the peers, and admitting theirs.

A relay frame is the mesh frame tagged :data:`TAG_TX`: transactions, each as a 4-byte big-endian
length and its bytes (:func:`node.mempool.relay.frame_txs`); what clients submit in one burst
travels in one frame. Relay converges (node.mempool.relay): a peer whose link comes up is sent
the whole mempool, a resubmitted transaction and the one the replica's request timer waits for
(``Forward``) are relayed again. Sending is scheduled on the event loop (one flush per burst); the
queues are the pure :class:`~node.mempool.relay.Relay`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from typing import Any

from node.kernel.chain import SignedTx
from node.logs import kv
from node.mempool.pool import Mempool, MempoolError
from node.mempool.relay import Relay, frame_txs

__all__ = ["TAG_TX", "Gossip"]

TAG_TX = b"t"
_RELAY_FRAME_BYTES = 1 << 20  # a relay frame goes out at this size even mid-burst
_RELAY_RETRY_S = 0.2  # a peer's send queue was full: try the rest of its relay queue again then
_RESUBMIT_RELAY_S = 1.0  # a resubmitted pending transaction is relayed again at most this often
log = logging.getLogger("warrantd")


class Gossip:
    """The node's transaction relay. ``send(peer, frame)`` is the mesh's (False: its queue is full); a
    peer is whatever the mesh names it by (its public key)."""

    def __init__(
        self, mempool: Mempool, *, send: Callable[[Any, bytes], bool], on_new: Callable[[], None], now_ms: Callable[[], int]
    ) -> None:
        self._mempool = mempool
        self._send = send
        self._on_new = on_new  # a relayed transaction was new here: a proposal may be due
        self._now_ms = now_ms
        self._limit = 2 * mempool.max_txs
        self.queues = Relay(limit=self._limit, frame_bytes=_RELAY_FRAME_BYTES, still_wanted=mempool.__contains__)
        self._flush: asyncio.Handle | None = None
        self._relayed_at: dict[bytes, float] = {}  # resubmitted tx id -> when it was relayed again

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None

    def relay(self, txs: list[SignedTx], peers: list[Hashable] | None = None) -> None:
        """Queue ``txs`` for ``peers`` (default: all linked); a burst goes out in one frame."""
        self.queues.queue(txs, peers)
        self._schedule(0.0)

    def relay_again(self, tx: SignedTx) -> None:
        """A client resubmitted a pending transaction: peers may lack it (rate-limited per tx)."""
        now = time.monotonic()
        if now - self._relayed_at.get(tx.id, -_RESUBMIT_RELAY_S) < _RESUBMIT_RELAY_S:
            return
        if len(self._relayed_at) >= self._limit:  # bound: forget what left
            self._relayed_at = {k: t for k, t in self._relayed_at.items() if k in self._mempool}
        self._relayed_at[tx.id] = now
        self.relay([tx])

    def link_up(self, peer: Hashable) -> None:
        """``peer`` is linked (again): it gets our whole mempool."""
        self.queues.link_up(peer, self._mempool.txs())
        self._schedule(0.0)

    def link_down(self, peer: Hashable) -> None:
        """Forget its queue (it gets everything again when it is back)."""
        self.queues.link_down(peer)

    def _schedule(self, delay: float) -> None:
        if self._flush is None:
            loop = asyncio.get_running_loop()
            self._flush = loop.call_soon(self._flush_relay) if delay == 0 else loop.call_later(delay, self._flush_relay)

    def _flush_relay(self) -> None:
        self._flush = None
        for peer in self.queues.linked():
            while batch := self.queues.next_frame(peer):
                if not self._send(peer, TAG_TX + frame_txs(batch)):
                    self._schedule(_RELAY_RETRY_S)  # its send queue is full: later
                    break
                self.queues.sent(peer, len(batch))

    def admit_frame(self, peer: Hashable, body: bytes) -> None:
        """Admit the transactions of a relay frame; a malformed frame is dropped from there on."""
        offset, now, end = 0, self._now_ms(), len(body)
        while offset < end:
            size = int.from_bytes(body[offset : offset + 4], "big")
            if offset + 4 + size > end or size == 0:
                log.info(kv("relay-malformed", peer=peer, offset=offset))
                return
            try:
                _, new = self._mempool.add(body[offset + 4 : offset + 4 + size], now, relayed=True)
            except MempoolError as exc:
                log.debug(kv("relay-refused", peer=peer, code=exc.code))
            else:
                if new:
                    self._on_new()
            offset += 4 + size
