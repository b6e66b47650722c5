"""The node's TOML configuration file: where its data, key and genesis live, what it listens on,
who its peers are, and its timings and limits. Every field is checked with an error that says
which field and what to write instead (docs/OPERATIONS.md has an annotated example)."""

from __future__ import annotations

import ipaddress
import os
import ssl
import tomllib
from pathlib import Path
from typing import Annotated

import msgspec

from node.errors import EncodingError, WarrantChainError
from node.kernel import codec

__all__ = ["DEFAULT_MAX_FRAME", "ConfigError", "NodeConfig", "listen_problem", "load_config", "parse_listen", "read_config",
           "tls_contexts"]

_Positive = Annotated[int, msgspec.Meta(ge=1)]
DEFAULT_MAX_FRAME = 16 << 20
_Listen = str  # HOST:PORT, checked by listen_problem (so a check lists it with every other problem)


class ConfigError(WarrantChainError):
    """The configuration file is missing, unreadable or wrong."""


class NodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    data_dir: str
    key_file: str
    genesis: str
    key_passphrase_env: str = ""  # name of an environment variable holding the key's passphrase
    log_level: str = "warning"
    # Run as an observer although genesis lists this key neither as a validator nor as an observer
    # (one admitted later). A key genesis lists as an observer runs as one without this.
    observer: bool = False


class TlsSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cert: str  # this node's certificate chain (PEM), served to peers that dial it
    key: str
    ca: str  # CA bundle (PEM) that peers' certificates must chain to


class P2PSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: _Listen
    peers: dict[str, str] = {}  # validator name in genesis -> ws://host:port (or wss://)
    # Consensus messages carry whole blocks (raw, each once per message), and a NewView carries
    # the prepared ones of a view change: 16 MiB holds several blocks of genesis' max_block_bytes.
    max_frame: _Positive = DEFAULT_MAX_FRAME
    queue_limit: _Positive = 4096
    # Inbound connections that have not proved a validator key yet: each must finish within
    # handshake_timeout_ms, and until then its frames may be at most a few KiB (node.p2p.mesh).
    handshake_timeout_ms: _Positive = 5000
    max_pending_handshakes: _Positive = 64  # from all hosts together
    max_pending_per_host: _Positive = 8
    # A validator's links to observers (each is a follower it feeds blocks to); one more is refused
    # with observer-limit. 0: this validator serves no observers.
    max_observer_links: Annotated[int, msgspec.Meta(ge=0)] = 8
    # Committed blocks this validator sends one observer per second at most (its catch-up rate;
    # a chain makes far fewer per second, so a caught-up observer is fed each block at once).
    observer_blocks_per_s: _Positive = 200
    tls: TlsSection | None = None


# About 0.1-0.5 s of one core: every query runs on the event loop, between consensus messages.
MAX_QUERY_READS = 20_000


class RpcSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Limits of the RPC server; docs/OPERATIONS.md section 2.8 says how to size each."""

    listen: _Listen
    max_body: _Positive = 1 << 20
    max_batch: _Positive = 100
    max_response: _Positive = 4 << 20  # bytes of one call's answer
    max_batch_response: _Positive = 8 << 20  # bytes of all the answers to one batch
    max_query_reads: _Positive = MAX_QUERY_READS  # records one query may read (a trace, holdings, a proof)
    max_connections: _Positive = 1024  # HTTP and WebSocket together (lowered to fit the open-file limit)
    max_connections_per_address: _Positive = 64  # a trusted proxy counts against max_connections only
    header_timeout_ms: _Positive = 10_000  # a connection's request line and headers must arrive in this time
    body_timeout_ms: _Positive = 30_000  # then its body
    idle_timeout_ms: _Positive = 60_000  # keep-alive: an idle connection is closed after this
    rate: _Positive = 1000  # calls per second per client address (a batch of n is n calls)
    rate_burst: _Positive = 2000  # calls a client may make at once after being quiet
    trusted_proxies: list[str] = []  # IPs or CIDRs whose X-Forwarded-For names the client
    ws_max_connections: _Positive = 1000
    ws_max_per_address: _Positive = 16
    ws_max_subscriptions: _Positive = 64  # per connection
    ws_queue: _Positive = 256  # messages queued for one WebSocket client before it is disconnected
    ws_ping_ms: _Positive = 30_000
    fd_headroom: _Positive = 256  # open files kept free for the mesh and the store
    explorer: bool = True  # serve the web explorer (read-only) at / and /explorer/


class ConsensusSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tick_ms: _Positive = 100
    batch_delay_ms: int = 5  # how long the primary waits for more transactions before proposing
    view_change_timeout_ms: _Positive = 2000
    window: _Positive = 100
    # With no transaction waiting, the primary proposes an empty block this long after the last
    # commit, and only if a time rule (offer expiry, overdue) is due or the last block's results
    # await a successor to certify them (CometBFT's create_empty_blocks_interval).
    empty_block_interval_ms: _Positive = 1000


class MempoolSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_txs: _Positive = 10_000  # beyond this, clients get MEMPOOL_FULL (BUSY) and retry
    max_bytes: _Positive = 32 << 20
    # One account's share: beyond this many waiting transactions its next ones get BUSY
    # (SENDER_PENDING_LIMIT), so that no sender can fill the pool the others need.
    max_per_sender: _Positive = 1_000


class NodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    node: NodeSection
    p2p: P2PSection
    rpc: RpcSection
    consensus: ConsensusSection = ConsensusSection()
    mempool: MempoolSection = MempoolSection()
    base_dir: str = "."  # relative paths in the file are relative to the file's folder

    def path(self, value: str) -> Path:
        """Resolve a path from the file relative to the file's folder."""
        return (Path(self.base_dir) / value).resolve()


def tls_contexts(config: NodeConfig) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The p2p TLS (server, client) contexts from ``[p2p.tls]``: mutual TLS with the consortium CA."""
    tls = config.p2p.tls
    assert tls is not None
    try:
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=config.path(tls.ca))
        server.load_cert_chain(config.path(tls.cert), config.path(tls.key))
        server.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: dialers show a consortium certificate too
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=config.path(tls.ca))
        client.check_hostname = False  # identity comes from the genesis-key handshake
        client.load_cert_chain(config.path(tls.cert), config.path(tls.key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"p2p.tls: cannot load certificates: {exc}") from None
    return server, client


def listen_problem(value: str) -> str | None:
    """What is wrong with a HOST:PORT listen address, or None."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or any(c.isspace() for c in host) or ":" in host or not port.isdigit() or len(port) > 5:
        return f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:26600)"
    if int(port) > 65535:
        return f"port {port} in {value!r} is out of range (0-65535)"
    return None


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ConfigError(f"port {number} in {value!r} is out of range (0-65535)")
    return host, number


def load_config(path: str | os.PathLike[str]) -> NodeConfig:
    """Read and check the config file at ``path``."""
    config = read_config(path)
    for field, value in (("p2p.listen", config.p2p.listen), ("rpc.listen", config.rpc.listen)):
        problem = listen_problem(value)
        if problem is not None:
            raise ConfigError(f"config file {path}: {field}: {problem}")
    for proxy in config.rpc.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(f"config file {path}: rpc.trusted_proxies: {proxy!r} is not an IP address or CIDR") from None
    if config.node.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"config file {path}: node.log_level must be debug, info, warning or error")
    return config


def read_config(path: str | os.PathLike[str]) -> NodeConfig:
    """The config file's fields, checked for types but not yet for listen addresses and log level."""
    target = Path(path)
    try:
        data = tomllib.loads(target.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {target}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {target} is not valid TOML: {exc}") from None
    try:
        config = codec.convert({**data, "base_dir": str(target.resolve().parent)}, NodeConfig)
    except EncodingError as exc:
        raise ConfigError(f"config file {target}: {exc}") from None
    return config
