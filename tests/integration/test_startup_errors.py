"""`warrantd start` refuses bad setups with a clear message and exit status 2, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from node.cli.warrantd import write_localnet
from node.kernel import crypto
from node.sdk.localnet import ROOT, free_base_port


def _start(config: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "node.cli.warrantd", "start", "--config", str(config)],
        capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
    )


@pytest.fixture()
def network(tmp_path: Path) -> Path:
    write_localnet(tmp_path, 4, free_base_port(4))
    return tmp_path


def _assert_refused(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert fragment in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_missing_config(tmp_path: Path) -> None:
    _assert_refused(_start(tmp_path / "nope.toml"), "cannot read config file")


def test_config_with_a_wrong_field(network: Path) -> None:
    config = network / "v0.toml"
    config.write_text(config.read_text().replace("[consensus]", "[consensus]\nspeed = 11"))
    _assert_refused(_start(config), "consensus.speed: unknown field")


def test_missing_key_file(network: Path) -> None:
    (network / "v0.pem").unlink()
    _assert_refused(_start(network / "v0.toml"), "cannot read key file")


def test_key_that_is_not_a_validator(network: Path) -> None:
    (network / "v0.pem").unlink()
    crypto.save_key(network / "v0.pem", crypto.generate_key())
    _assert_refused(_start(network / "v0.toml"), "is not a validator in genesis")


def test_broken_genesis(network: Path) -> None:
    (network / "genesis.json").write_text('{"chain_id": "x"}')
    _assert_refused(_start(network / "v0.toml"), "genesis_time_ms: required field missing")


def test_data_directory_of_another_chain(network: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    other = tmp_path_factory.mktemp("other")
    write_localnet(other, 4, free_base_port(4), chain_id="another-chain")
    # Give v0 of the first network the data directory of a node of the other chain.
    from node.cli.warrantd import main  # noqa: F401  (the package must import cleanly)
    from node.kernel.genesis import load_genesis
    from node.ledger.initial import genesis_state
    from node.store.leveldb import Store

    genesis = load_genesis(other / "genesis.json")
    with Store(network / "data" / "v0") as store:
        writes, root = genesis_state(genesis)
        store.init_genesis(genesis.chain_id, genesis.hash(), writes, root, root)
    _assert_refused(_start(network / "v0.toml"), "belongs to chain 'another-chain'")


def test_listen_address_in_use(network: Path) -> None:
    config = network / "v0.toml"
    rpc_port = int(config.read_text().split("[rpc]")[1].split(":")[1].split('"')[0])
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", rpc_port))
        blocker.listen()
        _assert_refused(_start(config), "cannot listen")


def test_inspect_genesis_prints_the_hash_members_compare(network: Path) -> None:
    import json

    from node.kernel.genesis import load_genesis

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "node.cli.warrantd", "inspect-genesis", str(network / "genesis.json")],
        capture_output=True, text=True, timeout=30, env=env,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["genesis_hash"] == load_genesis(network / "genesis.json").hash().hex()
    assert shown["validators"] == ["v0", "v1", "v2", "v3"] and shown["tolerates_faulty"] == 1
    (network / "genesis.json").write_text("{}")
    broken = subprocess.run(
        [sys.executable, "-m", "node.cli.warrantd", "inspect-genesis", str(network / "genesis.json")],
        capture_output=True, text=True, timeout=30, env=env,
    )
    _assert_refused(broken, "chain_id: required field missing")


def test_a_refused_start_leaves_no_data_directory(network: Path) -> None:
    config = network / "v0.toml"
    config.write_text(config.read_text().replace("[p2p.peers]", '[p2p.peers]\nv9 = "ws://127.0.0.1:1"'))
    _assert_refused(_start(config), "'v9', which is not a validator in genesis")
    assert not (network / "data" / "v0").exists(), "a failed start left a LevelDB directory behind"


def test_a_second_copy_on_the_same_data_directory_is_told_so(network: Path) -> None:
    from node.store.leveldb import Store

    with Store(network / "data" / "v0"):  # the first copy holds LevelDB's lock
        result = _start(network / "v0.toml")
    _assert_refused(result, "is in use by another process")
    assert "b'" not in result.stderr and "LOCK" not in result.stderr
