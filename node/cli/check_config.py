"""``warrantd check-config``: everything ``warrantd start`` would refuse, found without starting.

Each check reads; none writes (no data directory, no key, no log): listen addresses are probed by
binding a socket for an instant and closing it. Every problem is listed, not only the first, so
an operator fixes a new node's setup in one pass. ``check(path)`` returns (passed, problems).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from node.cli import passphrase
from node.config import ConfigError, NodeConfig, listen_problem, read_config, tls_contexts
from node.errors import ChainError, CryptoError
from node.kernel import crypto
from node.kernel.genesis import Genesis, load_genesis

__all__ = ["check"]


def _port_problem(field: str, value: str) -> str | None:
    host, _, port = value.rpartition(":")
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), int(port)))
    except socket.gaierror:
        return f"{field}: host {host!r} does not resolve"
    except OSError as exc:
        return f"{field}: cannot listen on {value} ({exc.strerror or exc}); is another process using the port?"
    return None


def _check_listen(config: NodeConfig, passed: list[str], problems: list[str]) -> None:
    for field, value in (("p2p.listen", config.p2p.listen), ("rpc.listen", config.rpc.listen)):
        problem = listen_problem(value)
        if problem is None:
            problem = _port_problem(field, value)
        if problem is None:
            passed.append(f"{field} {value} is free")
        else:
            problems.append(problem if problem.startswith(field) else f"{field}: {problem}")


def _check_genesis(config: NodeConfig, expect_hash: str | None, problems: list[str]) -> Genesis | None:
    try:
        genesis = load_genesis(config.path(config.node.genesis))
    except ChainError as exc:
        problems.append(f"node.genesis: {exc}")
        return None
    if expect_hash is not None and genesis.hash().hex() != expect_hash.lower():
        problems.append(f"node.genesis: {config.node.genesis} has hash {genesis.hash().hex()}, not the agreed "
                        f"{expect_hash}; it is another consortium's genesis or an altered copy")
        return None
    return genesis


def check(path: str | os.PathLike[str], expect_genesis_hash: str | None = None) -> tuple[list[str], list[str]]:
    """Check the node config at ``path``; returns (what passed, every problem found)."""
    passed: list[str] = []
    problems: list[str] = []
    try:
        config = read_config(path)
    except ConfigError as exc:
        return passed, [str(exc)]
    passed.append(f"config file {path} parses")
    if config.node.log_level.lower() not in ("debug", "info", "warning", "error"):
        problems.append("node.log_level: must be debug, info, warning or error")

    key = None
    key_path = config.path(config.node.key_file)
    try:
        key = crypto.load_key(key_path, passphrase.from_env(config.node.key_passphrase_env))  # as warrantd start
        passed.append(f"key file {config.node.key_file} is readable (address {key.address})")
    except CryptoError as exc:
        problems.append(f"node.key_file: {exc}")

    genesis = _check_genesis(config, expect_genesis_hash, problems)
    if genesis is not None:
        passed.append(f"genesis {config.node.genesis} is valid (chain {genesis.chain_id}, hash {genesis.hash().hex()})")
        names = {v.name: v for v in genesis.validators}
        if key is not None:
            mine = next((v for v in genesis.validators if v.address == key.address), None)
            observer = next((o for o in genesis.observer_list() if o.address == key.address), None)
            if mine is None and observer is not None:
                passed.append(f"this key is observer {observer.name}")
            elif mine is None and config.node.observer:
                passed.append("this key runs as an observer (node.observer); the validators refuse it until it is admitted")
            elif mine is None:
                problems.append(f"node.key_file: key {key.address} is not a validator in genesis "
                                f"(validators: {', '.join(names)}), nor an observer")
            elif mine.name != config.node.name:
                problems.append(f"node.name: {config.node.name!r}, but genesis names this key {mine.name!r}")
            else:
                passed.append(f"this key is validator {mine.name}")
        for name, url in config.p2p.peers.items():
            if name not in names:
                problems.append(f"p2p.peers: {name!r} is not a validator in genesis (validators: {', '.join(names)})")
            parsed = urlparse(url)
            if parsed.scheme not in ("ws", "wss") or not parsed.hostname or parsed.port is None:
                problems.append(f"p2p.peers.{name}: {url!r} is not ws://HOST:PORT or wss://HOST:PORT")
        if not any(p.startswith("p2p.peers") for p in problems):
            passed.append(f"{len(config.p2p.peers)} peers, all validators in genesis")

    _check_listen(config, passed, problems)

    if config.p2p.tls is not None:
        try:
            tls_contexts(config)
            passed.append("p2p.tls certificate, key and CA load")
        except ConfigError as exc:
            problems.append(str(exc))

    data_dir = Path(config.path(config.node.data_dir))
    parent = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
    if parent is None or not os.access(parent, os.W_OK):
        problems.append(f"node.data_dir: {data_dir} can't be created or written (no write access to {parent})")
    else:
        passed.append(f"data directory {data_dir} {'exists' if data_dir.exists() else 'can be created'}")
    return passed, problems
