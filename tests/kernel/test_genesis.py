"""node.kernel.genesis: the genesis file is checked and hashed canonically."""

from __future__ import annotations

import pytest

from node.errors import ChainError
from node.kernel import codec, crypto
from node.kernel.genesis import load_genesis, parse_genesis


def _account(key: crypto.SigningKey, name: str, role: str = "supplier") -> dict:
    return {"name": name, "address": key.address, "pubkey": key.public_key.hex(), "role": role}


def _document(validator_keys) -> dict:
    admin = crypto.generate_key()
    return {
        "chain_id": "wc-test",
        "genesis_time_ms": 1_700_000_000_000,
        "validators": [
            {"name": f"v{i}", "pubkey": k.public_key.hex(), "address": k.address} for i, k in enumerate(validator_keys)
        ],
        "admins": [{"name": "alliance", "address": admin.address, "pubkey": admin.public_key.hex()}],
        "accounts": [_account(crypto.generate_key(), "core-1", "core")],
    }


def test_load_and_hash(tmp_path, validator_keys) -> None:
    doc = _document(validator_keys)
    path = tmp_path / "genesis.json"
    path.write_bytes(codec.canonical(doc))
    genesis = load_genesis(path)
    assert genesis.validator_set().quorum == 3
    assert genesis.params.checkpoint_interval == 10
    # The hash is of the canonical form, so key order and white space in the file do not matter.
    import json

    path.write_text(json.dumps(dict(reversed(list(doc.items()))), indent=2))
    assert load_genesis(path).hash() == genesis.hash()


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d.update(chain_id="Bad Id"), "chain id"),
        (lambda d: d.update(admins=[]), "admin"),
        (lambda d: d["accounts"].append(d["accounts"][0]), "twice"),
        (lambda d: d["accounts"][0].update(role="king"), "role"),
        (lambda d: d["accounts"][0].update(address=d["admins"][0]["address"]), "does not match"),
        (lambda d: d["validators"].append(d["validators"][0]), "twice"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d.pop("validators"), "validators"),
        (lambda d: d.update(genesis_time_ms=1.5), "genesis_time_ms: expected a whole number, got a number with a fraction"),
        (lambda d: d.update(params={"max_block_txs": 0}), "params.max_block_txs: expected a whole number at least 1"),
    ],
)
def test_bad_genesis_is_refused_with_a_reason(validator_keys, mutate, fragment: str) -> None:
    doc = _document(validator_keys)
    mutate(doc)
    import json

    with pytest.raises(ChainError, match=fragment):
        parse_genesis(json.dumps(doc).encode())


def test_unreadable_genesis(tmp_path) -> None:
    with pytest.raises(ChainError, match="cannot read genesis"):
        load_genesis(tmp_path / "nope.json")
    (tmp_path / "g.json").write_text("{not json")
    with pytest.raises(ChainError, match="malformed JSON"):
        load_genesis(tmp_path / "g.json")


def test_warrantd_genesis_gives_admins_no_role(tmp_path) -> None:
    from node.cli.warrantd import main

    admin, validator = crypto.generate_key(), crypto.generate_key()
    out = tmp_path / "genesis.json"
    assert main(["genesis", "--chain-id", "wc-test", "--validator", f"v0={validator.public_key.hex()}",
                 "--admin", f"boss={admin.public_key.hex()}", "--out", str(out)]) == 0
    import json

    document = json.loads(out.read_text())
    assert document["admins"] == [{"address": admin.address, "name": "boss", "pubkey": admin.public_key.hex()}]


def test_an_admin_with_a_role_is_refused_with_a_reason(validator_keys) -> None:
    doc = _document(validator_keys)
    doc["admins"][0]["role"] = "regulator"
    with pytest.raises(ChainError, match="alliance admin has no role"):
        parse_genesis(codec.canonical(doc))


def test_warrantd_genesis_sets_the_governance_quorum_and_leaves_it_out_by_default(tmp_path, capsys) -> None:
    from node.cli.warrantd import main

    validator = crypto.generate_key()
    admins = [crypto.generate_key() for _ in range(3)]
    flags = ["genesis", "--chain-id", "wc-test", "--time-ms", "1767225600000",
             "--validator", f"v0={validator.public_key.hex()}"]
    for i, admin in enumerate(admins):
        flags += ["--admin", f"admin{i}={admin.public_key.hex()}"]
    assert main([*flags, "--governance-quorum", "2", "--out", str(tmp_path / "two.json")]) == 0
    two = load_genesis(tmp_path / "two.json")
    assert two.params.governance_quorum == 2 and two.params.approvals_required == 2
    assert main([*flags, "--out", str(tmp_path / "one.json")]) == 0
    one = load_genesis(tmp_path / "one.json")
    assert "governance_quorum" not in (tmp_path / "one.json").read_text()  # so old files keep their hash
    assert one.params.approvals_required == 1 and one.hash() != two.hash()
    assert main([*flags, "--governance-quorum", "4", "--out", str(tmp_path / "four.json")]) != 0
    assert "more than the 3 alliance admins" in capsys.readouterr().err
