"""The node's TOML configuration file: where its data, key and genesis live, what it listens on,
who its peers are, and its timings and limits. Every field is checked with an error that says
which field and what to write instead (docs/OPERATIONS.md has an annotated example)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated

import msgspec

from node import codec
from node.errors import EncodingError, WarrantChainError

__all__ = ["DEFAULT_MAX_FRAME", "ConfigError", "NodeConfig", "load_config", "parse_listen"]

_Positive = Annotated[int, msgspec.Meta(ge=1)]
DEFAULT_MAX_FRAME = 16 << 20
_Listen = Annotated[str, msgspec.Meta(pattern=r"^[^:\s]+:\d{1,5}$")]


class ConfigError(WarrantChainError):
    """The configuration file is missing, unreadable or wrong."""


class NodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    data_dir: str
    key_file: str
    genesis: str
    key_passphrase_env: str = ""  # name of an environment variable holding the key's passphrase
    log_level: str = "warning"


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
    tls: TlsSection | None = None


class RpcSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    listen: _Listen
    max_body: _Positive = 1 << 20
    max_batch: _Positive = 100
    explorer: bool = True  # serve the web explorer (read-only) at / and /explorer/


class ConsensusSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tick_ms: _Positive = 100
    batch_delay_ms: int = 5  # how long the primary waits for more transactions before proposing
    view_change_timeout_ms: _Positive = 2000
    window: _Positive = 100


class MempoolSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_txs: _Positive = 10_000  # beyond this, clients get MEMPOOL_FULL (BUSY) and retry
    max_bytes: _Positive = 32 << 20


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


def parse_listen(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    number = int(port)
    if not 0 <= number <= 65535:
        raise ConfigError(f"port {number} in {value!r} is out of range (0-65535)")
    return host, number


def load_config(path: str | os.PathLike[str]) -> NodeConfig:
    """Read and check the config file at ``path``."""
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
    for field in (config.p2p.listen, config.rpc.listen):
        parse_listen(field)
    if config.node.log_level.lower() not in ("debug", "info", "warning", "error"):
        raise ConfigError(f"config file {target}: node.log_level must be debug, info, warning or error")
    return config
