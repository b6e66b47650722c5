"""``warrantd``: make a node key, build a consortium's genesis, check a config, run a node.

Key-file passphrases come from ``$WARRANT_PASSPHRASE`` or ``--passphrase-prompt`` (node.cli.passphrase),
as for ``warrant``; a node started from its config reads the variable named by
``node.key_passphrase_env``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import msgspec

from node.cli import passphrase
from node.config import ConfigError, load_config
from node.errors import WarrantChainError
from node.kernel import codec, crypto
from node.kernel.genesis import ROLES, ChainParams, parse_genesis
from node.logs import setup_logging

__all__ = ["localnet_name", "main", "write_localnet"]


def _fail(message: str, code: int = 2) -> int:
    print(f"warrantd: {message}", file=sys.stderr)
    return code


def _key_json(key: crypto.SigningKey, path: Path) -> str:
    return json.dumps({"address": key.address, "pubkey": key.public_key.hex(), "key_file": str(path)}, indent=2)


def cmd_keygen(args: argparse.Namespace) -> int:
    key = crypto.generate_key()
    crypto.save_key(args.out, key, passphrase.for_new_key(args.passphrase_prompt))
    print(_key_json(key, args.out))
    return 0


def cmd_pubkey(args: argparse.Namespace) -> int:
    """Print a key file's address and public key again (what goes into the genesis)."""
    print(_key_json(passphrase.load_key(args.key, args.passphrase_prompt), args.key))
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from node.cli.check_config import check

    passed, problems = check(args.config, args.genesis_hash)
    for line in passed:
        print(f"ok       {line}")
    for line in problems:
        print(f"PROBLEM  {line}")
    print(f"{args.config}: {len(problems)} problem(s)" if problems else f"{args.config}: ready to start")
    return 2 if problems else 0


def _member(text: str, what: str, with_role: bool = False) -> dict[str, str]:
    """Parse ``name=PUBKEY`` (or ``name:role=PUBKEY``) from the command line."""
    name, sep, pubkey = text.partition("=")
    if not sep:
        raise WarrantChainError(f"--{what} {text!r}: write NAME=PUBKEY_HEX" + (" or NAME:ROLE=PUBKEY_HEX" if with_role else ""))
    role = "supplier"
    if with_role and ":" in name:
        name, role = name.split(":", 1)
        if role not in ROLES:
            raise WarrantChainError(f"--{what} {text!r}: role must be one of {', '.join(ROLES)}")
    key = crypto.PublicKey.from_hex(pubkey)
    entry = {"name": name, "pubkey": key.hex(), "address": key.address}
    if with_role:
        entry["role"] = role
    return entry


def build_genesis(chain_id: str, validators: list[str], admins: list[str], accounts: list[str], time_ms: int,
                  params: ChainParams | None = None, observers: list[str] | None = None) -> bytes:
    """The genesis document from members' public keys, checked like a loaded one: canonical JSON
    (keys sorted, integers only) pretty-printed with a final newline, every parameter written out.
    The genesis hash is of the canonical encoding, so the file's white space does not change it."""
    document = {
        "chain_id": chain_id,
        "genesis_time_ms": time_ms,
        "validators": [_member(v, "validator") for v in validators],
        "admins": [_member(a, "admin") for a in admins],
        "accounts": [_member(a, "account", with_role=True) for a in accounts],
        "params": msgspec.to_builtins(params or ChainParams()),  # an unset field stays out of the file
    }
    if observers:  # none: the field stays out (and the hash is what it was before observers existed)
        document["observers"] = [_member(o, "observer") for o in observers]
    codec.check_value(document)
    data = (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
    parse_genesis(data, "genesis")
    return data


_PARAM_HELP = {
    "max_block_txs": "transactions per block at most",
    "max_block_bytes": "bytes of transactions per block at most",
    "max_tx_ttl_ms": "how far ahead a transaction's expiry may lie, ms",
    "max_clock_drift_ms": "how far a proposed block time may lead a backup's clock, ms",
    "overdue_grace_ms": "time after maturity before an unsettled warrant is overdue, ms",
    "checkpoint_interval": "blocks between checkpoints",
    "governance_quorum": "alliance admins whose approvals enact a validator set change, at most the number of --admin",
}


def _params(args: argparse.Namespace) -> ChainParams:
    given = {f.name: getattr(args, f.name) for f in msgspec.structs.fields(ChainParams) if getattr(args, f.name) is not None}
    try:
        return codec.convert({**msgspec.to_builtins(ChainParams()), **given}, ChainParams)
    except WarrantChainError as exc:
        raise WarrantChainError(f"chain parameters: {exc}") from None


def cmd_genesis(args: argparse.Namespace) -> int:
    data = build_genesis(args.chain_id, args.validator, args.admin, args.account, args.time_ms or int(time.time() * 1000),
                         _params(args), args.observer)
    Path(args.out).write_bytes(data)
    print(f"wrote {args.out} (genesis hash {parse_genesis(data).hash().hex()})")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    """Check a genesis file and print what every member must compare out of band."""
    from node.kernel.genesis import load_genesis

    genesis = load_genesis(args.genesis)
    validators = genesis.validator_set()
    print(json.dumps({
        "chain_id": genesis.chain_id,
        "genesis_hash": genesis.hash().hex(),
        "validators": [v.name for v in genesis.validators],
        "tolerates_faulty": validators.f,
        "admins": [a.name for a in genesis.admins],
        "accounts": len(genesis.accounts),
        "observers": [o.name for o in genesis.observer_list()],
    }, indent=2))
    return 0


def localnet_name(index: int, count: int) -> str:
    """Node ``index`` of a local network of ``count`` validators: ``v{index}``, then observers ``o0``, ``o1``, …"""
    return f"v{index}" if index < count else f"o{index - count}"


def write_localnet(directory: Path, count: int, base_port: int, chain_id: str = "warrant-local",
                   observers: int = 0) -> list[Path]:
    """Keys, genesis and configs for ``count`` validators (and ``observers`` observers, listed in
    genesis) on 127.0.0.1; returns the config paths.

    Node ``i`` (validators first, then observers; files named by :func:`localnet_name`): p2p
    ``base_port + i``, RPC ``base_port + 100 + i``. An admin key (admin.pem) is made too.
    """
    directory.mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(count + observers):
        key = crypto.generate_key()
        crypto.save_key(directory / f"{localnet_name(i, count)}.pem", key)
        keys.append(key)
    admin = crypto.generate_key()
    crypto.save_key(directory / "admin.pem", admin)
    data = build_genesis(
        chain_id,
        [f"v{i}={k.public_key.hex()}" for i, k in enumerate(keys[:count])],
        [f"alliance-admin={admin.public_key.hex()}"],
        [],
        int(time.time() * 1000),
        observers=[f"{localnet_name(i, count)}={keys[i].public_key.hex()}" for i in range(count, count + observers)],
    )
    (directory / "genesis.json").write_bytes(data)
    configs = []
    peers = "\n".join(f'v{j} = "ws://127.0.0.1:{base_port + j}"' for j in range(count))
    for i in range(count + observers):
        name = localnet_name(i, count)
        path = directory / f"{name}.toml"
        path.write_text(
            f"""[node]
name = "{name}"
data_dir = "data/{name}"
key_file = "{name}.pem"
genesis = "genesis.json"
log_level = "warning"

[p2p]
listen = "127.0.0.1:{base_port + i}"

[p2p.peers]
{peers}

[rpc]
listen = "127.0.0.1:{base_port + 100 + i}"

[consensus]
tick_ms = 100
batch_delay_ms = 5
view_change_timeout_ms = 2000
"""
        )
        configs.append(path)
    return configs


def cmd_localnet(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if (directory / "genesis.json").exists():
        return _fail(f"{directory} already holds a network (genesis.json); choose another --dir or remove it")
    for path in write_localnet(directory, args.validators, args.base_port, args.chain_id, args.observers):
        print(path)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    setup_logging(config.node.name, args.log_level or config.node.log_level)
    from node.service import run_node  # the daemon's imports are heavy; keep keygen/genesis fast

    return asyncio.run(run_node(config))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="warrantd", description="WarrantChain validator node")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("keygen", help="create a node or account key file (PEM, mode 0600; encrypted if "
                                       "$WARRANT_PASSPHRASE is set or --passphrase-prompt is given)")
    p.add_argument("--out", required=True, type=Path)
    passphrase.add_arguments(p)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("pubkey", help="print a key file's address and public key")
    p.add_argument("--key", required=True, type=Path)
    passphrase.add_arguments(p)
    p.set_defaults(func=cmd_pubkey)

    p = sub.add_parser("check-config", help="check a node config without starting (exit 0 ready, 2 problems)")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--genesis-hash", help="the genesis hash the members agreed on (warrantd inspect-genesis)")
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("genesis", help="build a genesis file from the members' public keys")
    p.add_argument("--chain-id", required=True)
    p.add_argument("--validator", action="append", default=[], metavar="NAME=PUBKEY", required=True)
    p.add_argument("--admin", action="append", default=[], metavar="NAME=PUBKEY", required=True)
    p.add_argument("--account", action="append", default=[], metavar="NAME:ROLE=PUBKEY")
    p.add_argument("--observer", action="append", default=[], metavar="NAME=PUBKEY",
                   help="a node allowed to follow the chain without voting (repeatable)")
    p.add_argument("--time-ms", type=int, default=0, help="genesis time (default: now)")
    for param in msgspec.structs.fields(ChainParams):
        shown = 1 if param.default is msgspec.UNSET else param.default  # governance_quorum: unset is 1
        p.add_argument(f"--{param.name.replace('_', '-')}", dest=param.name, type=int, metavar="N",
                       help=f"{_PARAM_HELP.get(param.name, param.name)} (default {shown})")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_genesis)

    p = sub.add_parser("inspect-genesis", help="check a genesis file and print its hash, chain id and members")
    p.add_argument("genesis", type=Path)
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("localnet", help="write keys, genesis and configs for a local test network")
    p.add_argument("--dir", required=True)
    p.add_argument("--validators", type=int, default=4)
    p.add_argument("--observers", type=int, default=0, help="observer nodes, listed in genesis (o0, o1, …)")
    p.add_argument("--base-port", type=int, default=26600)
    p.add_argument("--chain-id", default="warrant-local")
    p.set_defaults(func=cmd_localnet)

    p = sub.add_parser("start", help="run a node from its config file")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.set_defaults(func=cmd_start)

    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except WarrantChainError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
