"""warrantd's tools for operators: check-config (every problem, nothing written), pubkey,
passphrases from the environment or a prompt only, genesis with every chain parameter."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from node.cli.warrantd import main, write_localnet
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.sdk.localnet import free_base_port


@pytest.fixture()
def network(tmp_path: Path) -> Path:
    write_localnet(tmp_path, 4, free_base_port(4))
    return tmp_path


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def _check(config: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    status = main(["check-config", "--config", str(config), *extra])
    return status, capsys.readouterr().out


def _rpc_port(config: Path) -> int:
    return int(config.read_text().split("[rpc]")[1].split(":")[1].split('"')[0])


def test_check_config_passes_a_good_config_and_writes_nothing(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _files(network)
    status, out = _check(network / "v0.toml", capsys)
    assert status == 0, out
    assert "ready to start" in out and "PROBLEM" not in out
    assert _files(network) == before and not (network / "data").exists()


PROBLEMS = {
    "missing key": ("node.key_file: cannot read key file", lambda n: (n / "v0.pem").unlink()),
    "wrong genesis": ("node.genesis:", lambda n: (n / "genesis.json").write_text('{"chain_id": "x"}')),
    "key not a validator": ("is not a validator in genesis", lambda n: ((n / "v0.pem").unlink(),
                                                                        crypto.save_key(n / "v0.pem", crypto.generate_key()))),
    "unknown peer": ("p2p.peers: 'v9' is not a validator in genesis",
                     lambda n: _edit(n, "[p2p.peers]", '[p2p.peers]\nv9 = "ws://127.0.0.1:1"')),
    "bad listen address": ("p2p.listen: 'nowhere' is not HOST:PORT",
                           lambda n: _edit(n, 'listen = "127.0.0.1:', 'listen = "nowhere"\n#', count=1)),
    "unreadable TLS file": ("p2p.tls: cannot load certificates",
                            lambda n: _edit(n, "[p2p.peers]", '[p2p.tls]\ncert = "no.crt"\nkey = "no.key"\nca = "ca.crt"\n\n[p2p.peers]')),
}


def _edit(network: Path, old: str, new: str, count: int = -1) -> None:
    config = network / "v0.toml"
    config.write_text(config.read_text().replace(old, new, count))


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_check_config_reports_each_problem(kind: str, network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fragment, spoil = PROBLEMS[kind]
    spoil(network)
    before = _files(network)
    status, out = _check(network / "v0.toml", capsys)
    assert status == 2, out
    assert any(fragment in line for line in out.splitlines() if line.startswith("PROBLEM")), out
    assert _files(network) == before and not (network / "data").exists()


def test_check_config_reports_a_port_in_use_and_a_genesis_other_than_agreed(
        network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = network / "v0.toml"
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", _rpc_port(config)))
        blocker.listen()
        status, out = _check(config, capsys, "--genesis-hash", "ab" * 32)
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert status == 2 and len(problems) == 2, out
    assert "rpc.listen: cannot listen on" in problems[1] and "not the agreed" in problems[0]


def test_check_config_lists_every_problem_at_once(network: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in ("missing key", "unknown peer", "bad listen address", "unreadable TLS file"):
        PROBLEMS[kind][1](network)
    status, out = _check(network / "v0.toml", capsys)
    assert status == 2 and sum(line.startswith("PROBLEM") for line in out.splitlines()) == 4, out


def test_pubkey_reprints_what_keygen_printed(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARRANT_PASSPHRASE", "correct horse")
    assert main(["keygen", "--out", str(tmp_path / "k.pem")]) == 0
    made = json.loads(capsys.readouterr().out)
    assert b"ENCRYPTED" in (tmp_path / "k.pem").read_bytes()
    assert main(["pubkey", "--key", str(tmp_path / "k.pem")]) == 0
    assert json.loads(capsys.readouterr().out) == made
    monkeypatch.setenv("WARRANT_PASSPHRASE", "wrong")
    assert main(["pubkey", "--key", str(tmp_path / "k.pem")]) == 2
    assert "wrong passphrase" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["warrantd", "keygen"], ["warrantd", "pubkey"], ["warrant", "keygen"]])
def test_a_passphrase_on_the_command_line_is_refused(argv: list[str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from node.cli import warrant as cli_client

    run = main if argv[0] == "warrantd" else cli_client.main
    option = "--key" if argv[1] == "pubkey" else "--out"
    with pytest.raises(SystemExit) as refused:
        run([argv[1], option, str(tmp_path / "k.pem"), "--passphrase", "hunter2"])
    assert refused.value.code == 2 and "visible to every user" in capsys.readouterr().err
    assert not (tmp_path / "k.pem").exists()


def test_genesis_takes_every_chain_parameter_and_writes_pretty_canonical_json(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    v, admin = crypto.generate_key(), crypto.generate_key()
    out = tmp_path / "genesis.json"
    flags = {"--max-block-txs": 500, "--max-block-bytes": 1 << 20, "--max-tx-ttl-ms": 3_600_000,
             "--max-clock-drift-ms": 5_000, "--max-block-delay-ms": 20_000, "--overdue-grace-ms": 0,
             "--checkpoint-interval": 20}
    argv = ["genesis", "--chain-id", "wc-params", "--validator", f"v0={v.public_key.hex()}",
            "--admin", f"boss={admin.public_key.hex()}", "--time-ms", "1767225600000", "--out", str(out)]
    for flag, value in flags.items():
        argv += [flag, str(value)]
    assert main(argv) == 0, capsys.readouterr().err
    text = out.read_text()
    assert text.endswith("}\n") and text.count("\n") > 10  # pretty-printed, final newline
    document = json.loads(text)
    assert json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n" == text  # canonical order
    params = load_genesis(out).params
    assert {f"--{k.replace('_', '-')}": getattr(params, k) for k in document["params"]} == flags
    assert load_genesis(out).hash().hex() in capsys.readouterr().out
    with pytest.raises(SystemExit):  # every parameter has its flag, and nothing else does
        main([*argv[:-2], "--max-frobs", "1", "--out", str(tmp_path / "x.json")])
    capsys.readouterr()
    assert main([*argv[:9], "--checkpoint-interval", "0", "--out", str(tmp_path / "bad.json")]) == 2
    assert "checkpoint_interval: expected a whole number at least 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.json").exists()


def test_an_encrypted_key_without_its_passphrase_says_how_to_give_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from node.cli import warrant as cli_client

    crypto.save_key(tmp_path / "k.pem", crypto.generate_key(), b"secret")
    monkeypatch.delenv("WARRANT_PASSPHRASE", raising=False)
    assert cli_client.main(["address", "--key", str(tmp_path / "k.pem")]) == 2
    assert "set $WARRANT_PASSPHRASE or pass --passphrase-prompt" in capsys.readouterr().err
    monkeypatch.setenv("WARRANT_PASSPHRASE", "secret")
    assert cli_client.main(["address", "--key", str(tmp_path / "k.pem")]) == 0
