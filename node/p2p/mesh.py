"""The mesh: authenticated websocket links between validators, and from observers to validators
(the only module importing websockets).

A thin asyncio shell around node.p2p.handshake. Peers are identified by their public key. Who may
link is the current :class:`~node.p2p.handshake.Members` (validators of the current and pending
epochs with their URLs, allowed observers), which the daemon replaces at run time with
:meth:`Mesh.set_members`: new validators are dialed, and links of keys that left are closed. Each
pair keeps exactly one link: between validators the lower key dials the higher and the higher only
accepts lower keys, so two validators never race to build duplicate links; an observer dials
every validator and is never dialed. A link is usable only after the mutual handshake; after that
every frame is a binary websocket message carrying the opaque bytes given to :meth:`Mesh.send` —
the daemon tags and parses them.

Policies (docs/P2P.md explains each):

- a validator serves at most ``max_observer_links`` observers at once; one more is refused
  (``observer-limit``, close 1013) after its handshake (a reconnecting observer replaces its own
  old link and is not counted twice). :meth:`Mesh.broadcast` reaches validators only;

- until the handshake completes a connection may send frames of at most ``PRE_HANDSHAKE_MAX_FRAME``
  bytes (4 KiB; a Hello or Proof is under 300): websockets refuses a larger one from its header,
  before buffering it (close 1009). Then the link's limit becomes ``max_frame``. The handshake
  (HTTP upgrade included) must finish within ``handshake_timeout``, and at most ``max_pending``
  connections (``max_pending_per_host`` from one host) may be unfinished at once;
- frames larger than ``max_frame`` are refused by websockets (close 1009); text frames close the
  link (1003); handshake failures close it (1008) with one log line naming the address and reason
  (the same reason and detail at most once per 10 s, with a count);
- each link has a bounded send queue (``queue_limit`` messages and ``queue_bytes`` bytes). When it
  is full, :meth:`Mesh.send` drops the *new* message, counts it and returns False: consensus
  retransmits and state transfer recover, and nothing the caller was told was queued is discarded
  later except when the link itself dies;
- a dialer that fails or loses its link retries with exponential backoff and jitter between
  ``reconnect_min`` and ``reconnect_max``; the backoff resets after a successful handshake;
- optional TLS: ``ssl_server`` for the listener, ``ssl_client`` for ``wss://`` peers. TLS adds
  confidentiality; identity always comes from the handshake.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import random
import re
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.connection import Connection
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import Frame, Opcode

from node.errors import WarrantChainError
from node.kernel.crypto import PublicKey, SigningKey
from node.logs import Throttle
from node.p2p.handshake import Handshake, HandshakeError, Members, PeerRole, Refusal, Role, dials, role_fits

__all__ = ["MAX_PENDING", "MAX_PENDING_PER_HOST", "PRE_HANDSHAKE_MAX_FRAME", "P2PError", "Mesh", "backoff_delay", "is_peer_url"]

# Close codes (RFC 6455 section 7.4.1).
_POLICY_VIOLATION = 1008
_UNSUPPORTED_DATA = 1003
_INTERNAL_ERROR = 1011
_TRY_AGAIN_LATER = 1013
# Unauthenticated connections cost memory (up to max_queue frames of PRE_HANDSHAKE_MAX_FRAME bytes
# each) and a file until they finish or time out; bounding them per host keeps one host from
# hoarding them or crowding out the others, and in all bounds the total. Validators open one link
# each, so a handful is plenty.
MAX_PENDING_PER_HOST = 8
MAX_PENDING = 64
PRE_HANDSHAKE_MAX_FRAME = 4096
_TOO_BIG = re.compile(r"with (\d+) bytes")


class P2PError(WarrantChainError):
    """The mesh is misconfigured (bad peer list, limits); raised by the constructor."""


class _Link:
    """One authenticated connection and its bounded send queue."""

    __slots__ = ("peer", "role", "ws", "queue", "queued_bytes", "wakeup")

    def __init__(self, peer: PublicKey, role: PeerRole, ws: Connection) -> None:
        self.peer = peer
        self.role = role
        self.ws = ws
        self.queue: collections.deque[bytes] = collections.deque()
        self.queued_bytes = 0
        self.wakeup = asyncio.Event()


class Mesh:
    """This node's links to the other members, by public key.

    Call :meth:`start` (binds, then keeps dialing the validators the connection rule says it
    dials), then :meth:`send` / :meth:`broadcast` at will; received frames arrive through
    ``on_message(peer, data)`` and link changes through ``on_peer_change(peer, up)``, both called
    in the event loop. ``up=True`` is reported for every new authenticated link (also one replacing
    an older link to the same peer), ``up=False`` when the peer's current link goes away. The
    peer's role is :meth:`role`. :meth:`set_members` changes who may link; :meth:`stop` closes all.
    This node is a validator while its key is one of ``members.validators``, else an observer.
    """

    def __init__(
        self,
        *,
        key: SigningKey,
        members: Members,
        chain_id: str,
        genesis_hash: bytes,
        listen_host: str,
        listen_port: int,
        on_message: Callable[[PublicKey, bytes], None],
        on_peer_change: Callable[[PublicKey, bool], None] | None = None,
        max_observer_links: int = 8,
        name: str | None = None,
        max_frame: int = 8 << 20,
        queue_limit: int = 1024,
        queue_bytes: int = 64 << 20,
        ssl_server: ssl.SSLContext | None = None,
        ssl_client: ssl.SSLContext | None = None,
        reconnect_min: float = 0.05,
        reconnect_max: float = 2.0,
        handshake_timeout: float = 5.0,
        max_pending: int = MAX_PENDING,
        max_pending_per_host: int = MAX_PENDING_PER_HOST,
        ping_interval: float | None = 20.0,
        log: logging.Logger | None = None,
    ) -> None:
        _check_members(members)
        if max_observer_links < 0:
            raise P2PError("max_observer_links must be >= 0")
        if queue_limit < 1 or queue_bytes < max_frame or max_frame < 1:
            raise P2PError("queue_limit must be >= 1 and queue_bytes >= max_frame (a full block must fit)")
        if not 0 < reconnect_min <= reconnect_max:
            raise P2PError("need 0 < reconnect_min <= reconnect_max")
        self.key = key.public_key
        self.name = name or self.key.hex()[:12]
        self._key = key
        self._members = members
        self.max_observer_links = max_observer_links
        self._chain_id = chain_id
        self._genesis_hash = genesis_hash
        self._host = listen_host
        self.port = listen_port  # the bound port once started (listen_port 0 picks one)
        self._on_message = on_message
        self._on_peer_change = on_peer_change
        self._max_frame = max_frame
        self._queue_limit = queue_limit
        self._queue_bytes = queue_bytes
        self._ssl_server = ssl_server
        self._ssl_client = ssl_client
        self._reconnect = (reconnect_min, reconnect_max)
        self._handshake_timeout = handshake_timeout
        self._max_pending = max_pending
        self._max_pending_per_host = max_pending_per_host
        self._ping_interval = ping_interval
        self._log = log or logging.getLogger("warrantchain.p2p")
        self._refusal_log = Throttle(self._log)
        self._links: dict[PublicKey, _Link] = {}
        self._dialers: dict[PublicKey, tuple[str, asyncio.Task[None]]] = {}  # peer -> (url, its dial loop)
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._pending: collections.Counter[str] = collections.Counter()  # unfinished inbound handshakes by host
        self._random = random.Random()
        self.stats: collections.Counter[str] = collections.Counter()
        # Per peer key, across reconnects (the node's metrics read both when scraped).
        self.bytes_sent: collections.Counter[PublicKey] = collections.Counter()
        self.bytes_received: collections.Counter[PublicKey] = collections.Counter()

    # -- membership --------------------------------------------------------------------------

    @property
    def members(self) -> Members:
        return self._members

    @property
    def own_role(self) -> PeerRole:
        """VALIDATOR while our key is one of the members' validators, else OBSERVER."""
        return self._members.role_of(self.key) or PeerRole.OBSERVER

    def set_members(self, members: Members) -> None:
        """Change who may link, at run time: dial validators that are new (or moved to a new URL)
        and that the connection rule says we dial, stop dialing those we no longer dial, and close
        the link of every peer whose key left (or changed role): ``removed``, close 1008.
        Raises P2PError for a bad URL (nothing changes then)."""
        _check_members(members)
        was = self.own_role
        self._members = members
        # Our own role changed (an observer admitted as a validator, a validator removed): every
        # link was made in the old role and the peers hold us in it; make them again.
        turned = self.own_role is not was
        for peer, link in list(self._links.items()):
            if turned or not role_fits(members.role_of(peer), link.role):
                self.stats["removed"] += 1
                self._log.info("p2p %s closes the link of %s: no longer a %s", self.name, _short(peer), link.role.value)
                self._spawn(link.ws.close(_POLICY_VIOLATION, Refusal.REMOVED.value), "close-removed")
        if self._server is not None:
            self._reconcile_dialers()

    def _reconcile_dialers(self) -> None:
        want = {
            peer: url for peer, url in self._members.validators.items()
            if url is not None and peer != self.key and dials(self.key, self.own_role, peer, PeerRole.VALIDATOR)
        }
        for peer, (url, task) in list(self._dialers.items()):
            if want.get(peer) != url:
                del self._dialers[peer]
                task.cancel()  # ends its link too, if it has one
        for peer, url in sorted(want.items(), key=lambda item: item[0].raw):
            if peer not in self._dialers and not self._closing:
                task = self._spawn(self._dial_loop(peer, url), f"dial-{self.name}->{_short(peer)}")
                self._dialers[peer] = (url, task)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listener and start dialing the validators the connection rule says we dial."""
        self._server = await serve(
            self._on_inbound,
            self._host,
            self.port,
            ssl=self._ssl_server,
            open_timeout=self._handshake_timeout,  # the HTTP upgrade, before our own handshake's clock
            **self._ws_options(),  # type: ignore[arg-type]
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._reconcile_dialers()

    async def stop(self) -> None:
        """Close the listener and every link, and wait until all tasks have finished."""
        self._closing = True
        if self._server is not None:
            self._server.close()  # also closes inbound links (1001 going away)
        for link in list(self._links.values()):
            self._spawn(link.ws.close(), "close")
        for _, task in self._dialers.values():
            task.cancel()
        self._dialers.clear()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- sending -----------------------------------------------------------------------------

    def send(self, peer: PublicKey, data: bytes) -> bool:
        """Queue ``data`` for ``peer`` without waiting; False (and counted) if not connected or full."""
        link = self._links.get(peer)
        if link is None:
            self.stats["dropped_not_connected"] += 1
            return False
        if len(data) > self._max_frame:
            self.stats["dropped_oversize"] += 1
            return False
        return self._enqueue(link, bytes(data))

    def broadcast(self, data: bytes) -> int:
        """Queue ``data`` for every linked validator (observers only get what is sent to them);
        returns how many accepted it."""
        if len(data) > self._max_frame:
            self.stats["dropped_oversize"] += 1
            return 0
        data = bytes(data)  # one immutable copy shared by all queues
        return sum(self._enqueue(link, data) for link in list(self._links.values()) if link.role is PeerRole.VALIDATOR)

    def connected(self, role: PeerRole | None = None) -> set[PublicKey]:
        """Keys of peers with an authenticated link right now (only those in ``role``, if given)."""
        return {peer for peer, link in self._links.items() if role is None or link.role is role}

    def role(self, peer: PublicKey) -> PeerRole | None:
        """The role of a linked peer, None if not linked."""
        link = self._links.get(peer)
        return None if link is None else link.role

    def queued(self, peer: PublicKey) -> tuple[int, int]:
        """(messages, bytes) waiting in ``peer``'s send queue; (0, 0) if not connected."""
        link = self._links.get(peer)
        return (0, 0) if link is None else (len(link.queue), link.queued_bytes)

    @property
    def pending_handshakes(self) -> int:
        """Inbound connections that have not finished (or failed) the handshake yet."""
        return sum(self._pending.values())

    def _enqueue(self, link: _Link, data: bytes) -> bool:
        # Tail drop: refusing the new message keeps the promise made by earlier True returns.
        if len(link.queue) >= self._queue_limit or link.queued_bytes + len(data) > self._queue_bytes:
            self.stats["dropped_queue_full"] += 1
            return False
        link.queue.append(data)
        link.queued_bytes += len(data)
        link.wakeup.set()
        return True

    # -- connections -------------------------------------------------------------------------

    def _ws_options(self) -> dict[str, object]:
        return {
            "max_size": PRE_HANDSHAKE_MAX_FRAME,  # raised to max_frame once the peer is authenticated
            "compression": None,  # no deflate: frames are mostly signatures and hashes, and no zip bombs
            "max_queue": 4,  # frames buffered unread per link; on_message never blocks, so few are needed
            "ping_interval": self._ping_interval,
            "ping_timeout": self._ping_interval,  # a peer that stops reading is dropped by keepalive
            "close_timeout": 2.0,
            "logger": self._log.getChild("ws"),
        }

    async def _on_inbound(self, ws: ServerConnection) -> None:
        # Handler of the websockets server: nothing may escape, or websockets logs a traceback.
        host = _remote(ws).rpartition(":")[0]
        busy = None
        if self._pending[host] >= self._max_pending_per_host:
            busy = HandshakeError(Refusal.BUSY, f"{self._max_pending_per_host} handshakes already pending from {host}")
        elif self.pending_handshakes >= self._max_pending:
            busy = HandshakeError(Refusal.BUSY, f"{self._max_pending} handshakes already pending")
        if busy is not None:
            self._count_refusal(busy, ws, Role.RESPONDER)
            await ws.close(_TRY_AGAIN_LATER, Refusal.BUSY.value)
            return
        self._pending[host] += 1
        try:
            try:
                done = await self._handshake(ws, Role.RESPONDER, None)
            finally:
                self._pending[host] -= 1
                if not self._pending[host]:
                    del self._pending[host]
            if done is not None and await self._admit_observer(ws, *done):
                await self._run_link(*done, ws)
        except Exception:
            self._log.exception("inbound link from %s failed", _remote(ws))

    async def _admit_observer(self, ws: Connection, peer: PublicKey, role: PeerRole) -> bool:
        """The observer-link cap: False (refused, closed 1013) if ``max_observer_links`` others are linked."""
        if role is not PeerRole.OBSERVER:
            return True
        others = sum(1 for key, link in self._links.items() if link.role is PeerRole.OBSERVER and key != peer)
        if others < self.max_observer_links:
            return True
        error = HandshakeError(Refusal.OBSERVER_LIMIT, f"{self.max_observer_links} observers already linked")
        self._count_refusal(error, ws, Role.RESPONDER)
        await ws.close(_TRY_AGAIN_LATER, Refusal.OBSERVER_LIMIT.value)
        return False

    async def _dial_loop(self, peer: PublicKey, url: str) -> None:
        """Keep one link to ``peer`` up until stop(), backing off after failures."""
        failures = 0
        while not self._closing:
            authenticated = False
            try:
                async with connect(
                    url,
                    ssl=self._ssl_client if url.startswith("wss://") else None,
                    open_timeout=self._handshake_timeout,
                    **self._ws_options(),  # type: ignore[arg-type]
                ) as ws:
                    done = await self._handshake(ws, Role.INITIATOR, peer)
                    if done is not None:
                        authenticated = True
                        await self._run_link(*done, ws)
            except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ConnectionClosed) as exc:
                self.stats["dial_failures"] += 1
                self._log.debug("dial %s -> %s (%s) failed: %s", self.name, _short(peer), url, exc)
            except Exception:
                self.stats["dial_failures"] += 1
                self._log.exception("dial %s -> %s (%s) failed", self.name, _short(peer), url)
            failures = 0 if authenticated else failures + 1
            if not self._closing:
                await asyncio.sleep(backoff_delay(failures, *self._reconnect, self._random))

    async def _handshake(self, ws: Connection, role: Role, expect: PublicKey | None) -> tuple[PublicKey, PeerRole] | None:
        """Run the handshake; the peer's key and role, or None after refusing and closing the link."""
        hs = Handshake(
            role=role,
            key=self._key,
            members=self._members,
            chain_id=self._chain_id,
            genesis_hash=self._genesis_hash,
            expect=expect,
            claim=self.own_role,
        )
        gate = _Gate(ws, hs, self._max_frame)
        try:
            async with asyncio.timeout(self._handshake_timeout):
                consumed = 0
                while True:
                    for frame in hs.data_to_send():
                        await ws.send(frame)
                    if gate.error is not None:
                        raise gate.error
                    if hs.done and consumed == gate.fed:
                        break
                    message = await ws.recv()  # normally fed to the handshake by the gate already
                    if consumed == gate.fed:  # parsed before the gate was in place (a Hello only)
                        gate.feed(message)
                    consumed += 1
        except HandshakeError as exc:
            error = exc
        except TimeoutError:
            error = HandshakeError(Refusal.TIMEOUT, f"no handshake within {self._handshake_timeout}s")
        except ConnectionClosed as exc:
            # 1009: websockets refused a frame over the handshake limit, so it was junk, not a goodbye.
            if exc.sent is not None and exc.sent.code == 1009:
                size = _TOO_BIG.search(exc.sent.reason)
                error = HandshakeError(Refusal.MALFORMED, f"{size[1] if size else 'a'}-byte frame is too large for a "
                                                         f"handshake (limit {PRE_HANDSHAKE_MAX_FRAME} until it completes)")
            else:
                error = HandshakeError(gate.error.reason if gate.error else Refusal.CLOSED, str(exc))
        else:
            self.stats["handshakes_ok"] += 1
            return hs.peer, hs.peer_role
        finally:
            gate.remove()
        self._count_refusal(error, ws, role)
        await ws.close(_POLICY_VIOLATION, error.reason.value)
        return None

    def _count_refusal(self, error: HandshakeError, ws: Connection, role: Role) -> None:
        self.stats["refused"] += 1
        self.stats[f"refused.{error.reason.value}"] += 1
        # The one log line a refused peer gets (not news while we are shutting down ourselves);
        # a flood of the same refusal is one line per interval with a count.
        if self._closing:
            self._log.debug("p2p %s refused %s (%s): %s", self.name, _remote(ws), role.value, error)
        else:
            self._refusal_log.warning(f"{error.reason.value}:{error.detail[:80]}", "p2p %s refused %s (%s): %s",
                                      self.name, _remote(ws), role.value, error)

    async def _run_link(self, peer: PublicKey, role: PeerRole, ws: Connection) -> None:
        """Serve an authenticated link until it closes: read frames, and write the queue in a task."""
        if not role_fits(self._members.role_of(peer), role):  # set_members removed it while it shook hands
            self.stats["removed"] += 1
            await ws.close(_POLICY_VIOLATION, Refusal.REMOVED.value)
            return
        link = _Link(peer, role, ws)
        old = self._links.get(peer)
        self._links[peer] = link
        if old is not None:  # the peer restarted and reconnected before we noticed the old link die
            self._spawn(old.ws.close(), "close-replaced")
        self._log.info("p2p %s linked to %s %s at %s", self.name, role.value, _short(peer), _remote(ws))
        self._notify(peer, True)
        writer = asyncio.create_task(self._write(link), name=f"write-{self.name}->{_short(peer)}")
        try:
            async for message in ws:
                if isinstance(message, str):
                    self.stats["dropped_text_frame"] += 1
                    await ws.close(_UNSUPPORTED_DATA, "binary frames only")
                    break
                self.stats["frames_in"] += 1
                self.bytes_received[peer] += len(message)
                try:
                    self._on_message(peer, message)
                except Exception:  # a daemon bug must not take the link down
                    self.stats["callback_errors"] += 1
                    self._log.exception("on_message(%s, %d bytes) raised", _short(peer), len(message))
        except ConnectionClosed:
            pass  # too-large frames (1009), keepalive timeouts and resets end here
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)
            if self._links.get(peer) is link:
                del self._links[peer]
                self.stats["disconnects"] += 1
                self._log.info("p2p %s lost %s: %s", self.name, _short(peer), _close_reason(ws))
                self._notify(peer, False)

    async def _write(self, link: _Link) -> None:
        try:
            while True:
                while not link.queue:
                    link.wakeup.clear()
                    await link.wakeup.wait()
                data = link.queue.popleft()
                link.queued_bytes -= len(data)
                await link.ws.send(data)  # waits while the peer's socket buffer is full
                self.stats["frames_out"] += 1
                self.bytes_sent[link.peer] += len(data)
        except ConnectionClosed:
            pass  # the reader sees the close too and cleans up
        except Exception:
            self._log.exception("writer to %s failed", _short(link.peer))
            await link.ws.close(_INTERNAL_ERROR, "writer failed")

    def _notify(self, peer: PublicKey, up: bool) -> None:
        if self._on_peer_change is None:
            return
        try:
            self._on_peer_change(peer, up)
        except Exception:
            self.stats["callback_errors"] += 1
            self._log.exception("on_peer_change(%s, %s) raised", _short(peer), up)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __repr__(self) -> str:
        return f"Mesh({self.name} {self.own_role.value} port={self.port} linked={sorted(_short(k) for k in self._links)})"


class _Gate:
    """Feeds a connection's frames to its handshake as websockets parses them, before anything else.

    websockets works out the size limit of the next frame as soon as it has parsed one. Raising
    the limit from the handshake coroutine would come too late for a frame that arrives right
    behind the peer's Proof: it would meet the pre-handshake limit and cut a good link. So the
    handshake is stepped here, inside the protocol's ``recv_frame``, and the limit is raised the
    moment the Proof verifies. The coroutine still takes the frames from ``recv()`` (to wait, and
    so that none is left for the link) and sends what the handshake has to send. A failure is kept
    in :attr:`error` for the coroutine: nothing may escape into websockets' parser.
    """

    def __init__(self, ws: Connection, hs: Handshake, max_frame: int) -> None:
        self.hs = hs
        self.max_frame = max_frame
        self.fed = 0
        self.error: HandshakeError | None = None
        self._protocol = ws.protocol
        self._original = ws.protocol.recv_frame
        setattr(self._protocol, "recv_frame", self._recv_frame)  # an instance attribute shadows the method

    def _recv_frame(self, frame: Frame) -> None:
        self._original(frame)
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
            single = frame.opcode is Opcode.BINARY and frame.fin
            self.feed(bytes(frame.data) if single else "a text or fragmented frame")

    def feed(self, data: bytes | str) -> None:
        """Step the handshake with one message (a str stands for anything but one binary frame)."""
        if self.hs.done or self.error is not None:
            return
        self.fed += 1
        try:
            if isinstance(data, str):
                raise HandshakeError(Refusal.MALFORMED, "handshake frames are single binary frames")
            self.hs.receive(data)
        except HandshakeError as exc:
            self.error = exc
        except Exception as exc:  # a bug in the handshake must not break websockets' parser
            self.error = HandshakeError(Refusal.MALFORMED, f"internal error: {exc!r}"[:200])
        if self.hs.done:
            self._protocol.max_message_size = self.max_frame  # authenticated: the link's own limit from the next frame

    def remove(self) -> None:
        if self._protocol.__dict__.get("recv_frame") == self._recv_frame:
            delattr(self._protocol, "recv_frame")


def backoff_delay(failures: int, low: float, high: float, rng: random.Random) -> float:
    """Seconds to wait before redialing after ``failures`` failed attempts in a row (0 after a drop).

    "Equal jitter": half of ``min(high, low * 2**failures)`` plus a random part of the other half,
    so peers that lost their links at the same moment don't redial in lock step, and the delay
    never falls below half the exponential base.
    """
    base = min(high, low * 2.0 ** min(failures, 32))
    return base / 2 + rng.uniform(0, base / 2)


def is_peer_url(url: str) -> bool:
    """Whether the mesh can dial ``url`` (ws:// or wss://)."""
    return url.startswith(("ws://", "wss://"))


def _check_members(members: Members) -> None:
    for peer, url in members.validators.items():
        if url is not None and not is_peer_url(url):
            raise P2PError(f"validator {_short(peer)}: {url!r} is not a ws:// or wss:// URL")


def _short(key: PublicKey) -> str:
    """A key in logs: the first 12 hex digits of its compressed form."""
    return key.hex()[:12]


def _remote(ws: Connection) -> str:
    try:
        host, port = ws.remote_address[:2]
    except Exception:  # the transport may already be gone
        return "?"
    return f"{host}:{port}"


def _close_reason(ws: Connection) -> str:
    code = ws.close_code
    return "connection lost" if code is None else f"close {code} {ws.close_reason or ''!r}"
