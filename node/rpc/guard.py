"""What the RPC server spends on strangers, bounded: connections, time, calls and open files.

No aiohttp here (node.rpc.server wires it in). Three parts:

- :class:`ConnectionTable` and :class:`GuardProtocol`: every TCP connection to the RPC port goes
  through a GuardProtocol wrapped around aiohttp's own protocol. The table admits it or refuses it
  at once (``503`` with a JSON-RPC error, then close) when the node has ``capacity`` connections
  or the address has ``per_address``; at capacity, the connection that has waited longest without
  a request in progress is closed to make room first, so silent or half-sent connections can't
  lock out a real client. A connection must send a whole request head within ``header_timeout``
  of opening (or of its first byte after an answer) and may sit idle ``idle_timeout`` between
  requests; otherwise it is closed. While a handler runs, the handler's own limits apply (the body
  timeout in node.rpc.server, WebSocket heartbeats).
- :class:`TokenBuckets`: a token bucket per client address (``rate`` calls per second, ``burst``
  at once), with a bounded table. Pure: the clock is passed in.
- :func:`client_address`: the address a request counts against, honouring ``X-Forwarded-For``
  only from trusted proxies; :func:`raise_open_file_limit` and :func:`open_files` for the
  open-file budget the capacity is cut to.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import ipaddress
import logging
import math
import os
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from node.logs import Throttle

__all__ = [
    "GuardLimits",
    "ConnectionTable",
    "GuardProtocol",
    "TokenBuckets",
    "TrustedProxies",
    "client_address",
    "raise_open_file_limit",
    "open_files",
]

log = logging.getLogger(__name__)
_BUSY = 1004  # node.rpc.methods.ErrorCode.BUSY


@dataclass(frozen=True)
class GuardLimits:
    max_connections: int = 1024
    per_address: int = 64
    header_timeout_s: float = 10.0
    idle_timeout_s: float = 60.0
    fd_headroom: int = 256


class _State(enum.Enum):
    WAITING = "waiting"  # connected or answered, nothing of the next request yet
    HEAD = "head"  # part of a request head has arrived
    BUSY = "busy"  # a handler is running (or a WebSocket is open)


def refusal_response(status: str, message: str, reason: str, limit: int) -> bytes:
    """A whole HTTP/1.1 response refusing a connection, for writing straight to the socket."""
    body = msgspec.json.encode({
        "jsonrpc": "2.0", "id": None,
        "error": {"code": _BUSY, "message": message, "data": {"reason": reason, "limit": limit}},
    })
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Retry-After: 1\r\nConnection: close\r\n\r\n")
    return head.encode() + body


class ConnectionTable:
    """The RPC's open connections, by address and by how long each has waited without a request."""

    def __init__(self, limits: GuardLimits, exempt: TrustedProxies | None = None) -> None:
        self.limits = limits
        self.capacity = limits.max_connections
        self.exempt = exempt or TrustedProxies(())
        self.by_address: collections.Counter[str] = collections.Counter()
        self.waiting: collections.OrderedDict[GuardProtocol, None] = collections.OrderedDict()
        self.guards: dict[object, GuardProtocol] = {}  # transport -> guard
        self.stats: collections.Counter[str] = collections.Counter()
        self._throttle = Throttle(log)

    def fit_open_files(self, soft_limit: int, in_use: int, burst: int) -> None:
        """Cut the capacity so that connections leave ``fd_headroom`` files free under the limit.

        ``burst``: files that can be open beyond the admitted connections: the event loop accepts
        up to a backlog's worth before the first is admitted or refused, and a refused or evicted
        connection's file is closed on the loop's next turn.
        """
        fits = soft_limit - in_use - self.limits.fd_headroom - burst
        if fits < self.capacity:
            self.capacity = max(1, fits)
            log.warning("rpc max_connections lowered to %d to fit the open-file limit %d (%d in use, %d kept free)",
                        self.capacity, soft_limit, in_use, self.limits.fd_headroom + burst)

    def __len__(self) -> int:
        return len(self.guards)

    def admit(self, guard: GuardProtocol) -> bytes | None:
        """Register ``guard``'s connection, or return the response that refuses it."""
        address = guard.address
        limited = not self.exempt.contains(address)
        if limited and self.by_address[address] >= self.limits.per_address:
            return self._refuse("429 Too Many Requests", "TOO_MANY_CONNECTIONS_FROM_ADDRESS", self.limits.per_address,
                                f"{address} already has {self.limits.per_address} connections open")
        if len(self.guards) >= self.capacity:
            if not self.waiting:
                return self._refuse("503 Service Unavailable", "TOO_MANY_CONNECTIONS", self.capacity,
                                    f"the node has {self.capacity} connections open, all in use")
            oldest = next(iter(self.waiting))
            self.stats["evicted"] += 1
            self._throttle.warning("rpc-evicted", "rpc at its connection limit (%d): closing the longest-waiting idle connection",
                                   self.capacity)
            oldest.close(b"")
        assert guard.transport is not None
        self.guards[guard.transport] = guard
        self.by_address[address] += 1
        self.stats["accepted"] += 1
        return None

    def _refuse(self, status: str, reason: str, limit: int, detail: str) -> bytes:
        self.stats[f"refused.{reason}"] += 1
        self._throttle.warning(reason, "rpc refused a connection: %s", detail)
        return refusal_response(status, f"{detail}; retry later", reason, limit)

    def release(self, guard: GuardProtocol) -> None:
        if guard.transport is not None and self.guards.pop(guard.transport, None) is guard:
            self.by_address[guard.address] -= 1
            if self.by_address[guard.address] <= 0:
                del self.by_address[guard.address]
        self.waiting.pop(guard, None)

    def guard_of(self, transport: object) -> GuardProtocol | None:
        return self.guards.get(transport)

    def close_all(self) -> None:
        for guard in list(self.guards.values()):
            guard.close(b"")


class GuardProtocol(asyncio.Protocol):
    """Wraps aiohttp's protocol for one connection: admission, head and idle deadlines."""

    def __init__(self, table: ConnectionTable, inner: asyncio.Protocol) -> None:
        self.table = table
        self.inner = inner
        self.transport: asyncio.Transport | None = None
        self.address = "?"
        self.state = _State.WAITING
        self.served = False
        self.refused = False
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.address = str(peer[0]) if isinstance(peer, tuple) and peer else "?"
        refusal = self.table.admit(self)
        if refusal is not None:
            self.refused = True
            self.close(refusal)
            return
        self.inner.connection_made(transport)
        self._wait(self.table.limits.header_timeout_s)

    def data_received(self, data: bytes) -> None:
        if self.refused:
            return
        if self.state is _State.WAITING:  # the first byte of a request: its head is due in time
            self.state = _State.HEAD
            self.table.waiting.move_to_end(self)
            self._arm(self.table.limits.header_timeout_s)
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.refused else self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        self.table.release(self)
        if not self.refused:
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self.refused:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if not self.refused:
            self.inner.resume_writing()

    # -- told by the handler --------------------------------------------------------------------

    def request_started(self) -> None:
        self.state = _State.BUSY
        self._cancel()
        self.table.waiting.pop(self, None)

    def request_finished(self) -> None:
        self.served = True
        self._wait(self.table.limits.idle_timeout_s)

    # -- internals ------------------------------------------------------------------------------

    def _wait(self, timeout: float) -> None:
        self.state = _State.WAITING
        self.table.waiting[self] = None
        self.table.waiting.move_to_end(self)
        self._arm(timeout)

    def _arm(self, timeout: float) -> None:
        self._cancel()
        self._timer = asyncio.get_running_loop().call_later(timeout, self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self.state is _State.HEAD:
            self.table.stats["header_timeouts"] += 1
            log.debug("rpc: closing %s: no whole request head within %.0fs", self.address, self.table.limits.header_timeout_s)
            self.close(refusal_response("408 Request Timeout", "request head not received in time", "HEADER_TIMEOUT",
                                        int(self.table.limits.header_timeout_s * 1000)))
        elif self.state is _State.WAITING:
            self.table.stats["idle_timeouts"] += 1
            self.close(b"")

    def close(self, last_words: bytes) -> None:
        """Write ``last_words`` (if any) and close; what the kernel can't take at once is dropped."""
        transport = self.transport
        self.table.release(self)  # its file goes on the loop's next turn; it no longer counts (nor is evicted twice)
        if transport is None or transport.is_closing():
            return
        if last_words:
            transport.write(last_words)
        # Bounded: the answer is small, and a peer that doesn't read it gets a reset, not a wait.
        if transport.get_write_buffer_size() > 0:
            transport.abort()
        else:
            transport.close()


class TrustedProxies:
    """Addresses (IPs or CIDRs) whose ``X-Forwarded-For`` header is believed."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(n, strict=False) for n in networks)

    def contains(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)


def client_address(peer: str, forwarded_for: Iterable[str], proxies: TrustedProxies) -> str:
    """The client a request counts against.

    ``peer`` is the TCP peer; if it is a trusted proxy, ``X-Forwarded-For`` (all its headers, in
    order) is read from the right, skipping trusted proxies: the first other entry is the
    client, as the last trusted proxy saw it. Entries further left are the client's own claims and
    are never believed.
    """
    if not proxies.contains(peer):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not proxies.contains(hop):
            return hop[:64]
    return hops[0][:64] if hops else peer


class TokenBuckets:
    """Per-key token buckets: ``rate`` tokens per second up to ``burst``; at most ``max_keys`` kept.

    A key not seen for ``burst / rate`` seconds has a full bucket again, so forgetting it loses
    nothing; when the table is full, the least recently used key is forgotten.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def take(self, key: str, cost: int, now: float) -> int:
        """Spend ``cost`` tokens of ``key``'s bucket; 0 if allowed, else milliseconds to wait."""
        tokens = self.tokens(key, now)
        cost_f = min(float(cost), self.burst)  # a call larger than the burst waits for a full bucket
        if tokens >= cost_f:
            tokens -= cost_f
            wait = 0
        else:
            wait = max(1, math.ceil((cost_f - tokens) / self.rate * 1000))
        self._keep(key, tokens, now)
        return wait

    def tokens(self, key: str, now: float) -> float:
        """The tokens ``key`` has now (negative while it owes work charged after the fact)."""
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def charge(self, key: str, cost: int, now: float) -> None:
        """Spend ``cost`` tokens after the fact (work a call turned out to do), into debt down to
        ``-burst``: the key's next calls wait until the bucket is positive again."""
        if cost > 0:
            self._keep(key, max(-self.burst, self.tokens(key, now) - cost), now)

    def _keep(self, key: str, tokens: float, now: float) -> None:
        """Store ``key``'s bucket as the most recently used, forgetting the least recent past max_keys."""
        self._buckets.pop(key, None)
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


# What a client's rate pays for queries: one call covers this many records read, and a query that
# reads more costs a call more per this many, so an address's query work is bounded by rate x this
# many records a second, not by rate x max_query_reads.
READS_PER_CALL = 10


class RateMeter:
    """node.rpc.api.QueryMeter over ``key``'s token bucket: a query may read what the bucket holds
    (READS_PER_CALL records a token, plus those its own call paid for) and is charged as it ends,
    so the next query of the same client, in the same batch or another connection, sees it."""

    __slots__ = ("buckets", "key")

    def __init__(self, buckets: TokenBuckets, key: str) -> None:
        self.buckets = buckets
        self.key = key

    def allowance(self) -> int:
        return READS_PER_CALL * (1 + max(0, math.floor(self.buckets.tokens(self.key, time.monotonic()))))

    def spend(self, reads: int) -> None:
        self.buckets.charge(self.key, reads // READS_PER_CALL, time.monotonic())

    def retry_after_ms(self) -> int:
        missing = self.buckets.burst - self.buckets.tokens(self.key, time.monotonic())
        return max(1, math.ceil(missing / self.buckets.rate * 1000))


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; returns (soft, hard) after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d to %d: %s", soft, target, exc)
    return soft, hard


def open_files() -> int:
    """How many files this process has open (Linux /proc; 64 as a guess elsewhere)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64
