"""Observers in genesis: listed with `warrantd genesis --observer`, checked, hash-neutral when absent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.cli.warrantd import build_genesis, main
from node.errors import ChainError
from node.kernel import crypto
from node.kernel.genesis import load_genesis, parse_genesis

KEYS = [crypto.generate_key() for _ in range(4)]
V, A, O1, O2 = (f"{name}={k.public_key.hex()}" for name, k in zip(("v0", "admin", "o1", "o2"), KEYS))


def test_observers_are_listed_and_checked() -> None:
    genesis = parse_genesis(build_genesis("wc-test", [V], [A], [], 1, observers=[O1, O2]))
    assert [o.name for o in genesis.observer_list()] == ["o1", "o2"]
    assert genesis.observer_keys() == [KEYS[2].public_key, KEYS[3].public_key]
    with pytest.raises(ChainError, match="listed twice"):
        build_genesis("wc-test", [V], [A], [], 1, observers=[O1, f"again={KEYS[2].public_key.hex()}"])
    with pytest.raises(ChainError, match="listed twice"):
        build_genesis("wc-test", [V], [A], [], 1, observers=[f"o={KEYS[0].public_key.hex()}"])  # a validator's key
    document = json.loads(build_genesis("wc-test", [V], [A], [], 1, observers=[O1]))
    document["observers"][0]["address"] = KEYS[3].address
    with pytest.raises(ChainError, match="observer o1: address does not match"):
        parse_genesis(json.dumps(document))


def test_no_observers_leaves_the_field_and_the_hash_as_before() -> None:
    data = build_genesis("wc-test", [V], [A], [], 1)
    assert "observers" not in json.loads(data)
    with_none = json.loads(data)
    with_none["observers"] = []
    assert parse_genesis(data).hash() != parse_genesis(json.dumps(with_none)).hash()  # [] is a value, unset is not
    assert parse_genesis(data).observer_list() == []


def test_warrantd_genesis_takes_observers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "genesis.json"
    assert main(["genesis", "--chain-id", "wc-test", "--validator", V, "--admin", A, "--observer", O1, "--out", str(out)]) == 0
    assert [o.name for o in load_genesis(out).observer_list()] == ["o1"]
    assert main(["inspect-genesis", str(out)]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["observers"] == ["o1"]
