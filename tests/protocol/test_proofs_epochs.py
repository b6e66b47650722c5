"""Proof bundles across a validator set change: a warrant issued in epoch 0 and transferred in
epoch 1 (a validator added by two of three admins), verified offline from the genesis file alone;
any altered signature or epoch-change record is caught."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from node.bundles import EPOCHS_VERSION, build_proof, verify_bundle
from node.errors import EncodingError
from node.kernel import codec, crypto
from node.kernel.genesis import ChainParams, Genesis, parse_genesis
from node.ledger.epochs import EpochRecord, epoch_history, record_hash
from node.sdk.client import Wallet
from tests.protocol.inprocess import Chain

CHAIN_ID = "proof-epochs"
DAY = 86_400_000
K = 2  # checkpoint interval: approved at height 7, the new set certifies from height 9


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, Any, bytes]]:
    """(chain, bundle of the transferred warrant, genesis file bytes)."""
    c = Chain(tmp_path_factory.mktemp("epochs") / "db", CHAIN_ID,
              params=ChainParams(checkpoint_interval=K, governance_quorum=2), admins=3, spare_keys=1)
    try:
        core, supplier, other, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(4))
        c.commit(*(c.admin.register_account(w.address, role, role) for w, role in
                   [(core, "core"), (supplier, "supplier"), (other, "supplier"), (bank, "financier")]))  # 1
        c.commit(bank.set_credit_line(core.address, 10**9))  # 2
        doc = c.commit(core.anchor_document("invoice", "E-1", "R-1", "ef" * 32, 10**6, seller=supplier.address,
                                            buyer=core.address, issuer_reg_kind="other"))[0]["events"][0]["document"]
        now = int(time.time() * 1000)
        warrant = c.commit(core.issue(supplier.address, 10**6, now + 10 * DAY, bank.address,
                                      [{"doc": doc, "amount": 10**6}], now + DAY))[0]["events"][0]["warrant"]  # 4
        c.commit(supplier.accept(warrant))  # 5
        new = c.keys[4]
        proposal = c.admins[0].build("propose_validator_change", {
            "action": "add", "address": new.address, "pubkey": new.public_key.hex(), "name": "v4",
            "endpoint": "127.0.0.1:26604", "expires": now + DAY})
        c.commit(proposal)  # 6: one approval of two
        enacted = c.commit(c.admins[1].build("approve_validator_change", {"proposal": proposal.id_hex}))  # 7
        assert enacted[0]["events"][-1]["epoch"]["first_height"] == 9
        c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", "filler"))  # 8
        child = c.commit(supplier.transfer(warrant, other.address, 400_000, now + DAY))[0]["events"][0]["children"][0]
        c.commit(other.accept(child))  # 10, epoch 1: signed by validators 2, 3 and 4 (the new one)
        c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", "filler2"))  # 11
        bundle = build_proof(c.store, c.genesis, child)
        assert bundle is not None
        yield c, bundle, c.genesis.encode()
    finally:
        c.store.close()


def genesis_of(data: bytes) -> Genesis:
    return parse_genesis(data, "genesis.json")  # the file alone: nothing read from any node


def reason(bundle: Any, genesis: bytes) -> str:
    report = verify_bundle(bundle, genesis_of(genesis))
    assert not report.ok, "an altered bundle verified"
    return report.reason


def test_a_bundle_spanning_two_epochs_verifies_offline_from_genesis_alone(story: tuple[Chain, Any, bytes]) -> None:
    c, bundle, genesis = story
    report = verify_bundle(bundle, genesis_of(genesis))
    assert report.ok and report.complete, report.reason
    assert report.epochs == 1 and bundle["version"] == EPOCHS_VERSION
    assert [t.type for t in report.transactions] == ["anchor_document", "issue", "accept", "transfer", "accept"]
    assert [e["height"] for e in bundle["epochs"]] == [7]
    heights = {h["header"]["height"]: h for h in bundle["headers"]}
    assert sorted(heights) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    # Heights 9-11 are certified by a set that includes the new validator (index 4)...
    assert all(4 in [i for i, _ in heights[h]["certificate"]["signatures"]] for h in (9, 10, 11))
    # ...so without the epoch change the genesis set can't verify them.
    without = {k: v for k, v in bundle.items() if k != "epochs"} | {"version": 1}
    assert "unknown or repeated validator 4" in reason(without, genesis)
    assert epoch_history(c.store.state)[1].first_height == 9


def _signature_paths(bundle: Any) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    for i, header in enumerate(bundle["headers"]):
        for j in range(len(header["certificate"]["signatures"])):
            paths.append(("headers", i, "certificate", "signatures", j, 1))
    for section in ("transactions", "epochs"):
        for i in range(len(bundle[section])):
            paths.append((section, i, "tx", "sig"))
    return paths


def _altered(bundle: Any, path: tuple[Any, ...], change: Any) -> Any:
    out = copy.deepcopy(bundle)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = change(target[path[-1]])
    return out


def _flip(hex_text: str) -> str:
    return hex_text[:10] + ("0" if hex_text[10] != "0" else "1") + hex_text[11:]


def test_altering_any_signature_is_caught(story: tuple[Chain, Any, bytes]) -> None:
    _, bundle, genesis = story
    paths = _signature_paths(bundle)
    assert len(paths) == 6 * 3 + 3 * 4 + 5 + 1  # epoch 0: 3 of 4 sign; epoch 1: 4 of 5
    for path in paths:
        reason(_altered(bundle, path, _flip), genesis)


def _record_paths(record: dict[str, Any]) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = [(key,) for key in record if key != "validators"]
    paths += [("validators", i, key) for i, member in enumerate(record["validators"]) for key in member]
    return paths


def _change(value: Any) -> Any:
    if isinstance(value, int):
        return value + 1
    if len(value) == 64 or value.startswith(("02", "03", "wc")):
        return _flip(value)
    return value + "x"


def test_altering_any_field_of_an_epoch_change_record_is_caught(story: tuple[Chain, Any, bytes]) -> None:
    _, bundle, genesis = story
    base = ("epochs", 0, "result", "events", -1)
    record = bundle["epochs"][0]["result"]["events"][-1]["epoch"]
    paths = _record_paths(record)
    assert len(paths) == 5 + 5 * 4
    for path in paths:
        # Altered alone (the event's hash then disagrees) and with the hash recomputed (the
        # result's Merkle proof then fails): both refused.
        altered = _altered(bundle, (*base, "epoch", *path), _change)
        reason(altered, genesis)
        event = altered["epochs"][0]["result"]["events"][-1]
        event["hash"] = _rehash(event["epoch"])
        if event["hash"] is not None:
            assert reason(altered, genesis)
    reason(_altered(bundle, (*base, "hash"), _flip), genesis)


def _rehash(record: dict[str, Any]) -> str | None:
    try:
        return record_hash(codec.convert(record, EpochRecord)).hex()
    except EncodingError:  # an alteration that no longer fits the schema is refused by shape already
        return None


def test_an_epoch_change_without_its_proof_or_repeated_is_refused(story: tuple[Chain, Any, bytes]) -> None:
    _, bundle, genesis = story
    # The header whose results_root proves the enacting result (certified by the old set) dropped.
    cut = copy.deepcopy(bundle)
    cut["headers"] = [h for h in cut["headers"] if h["header"]["height"] != 8]
    assert "header 8" in reason(cut, genesis)
    # The enacting transaction's result dropped: its inclusion alone proves no outcome.
    unproven = copy.deepcopy(bundle)
    del unproven["epochs"][0]["result"], unproven["epochs"][0]["result_proof"]
    assert "no proven result" in reason(unproven, genesis)
    # The same change twice: the second does not follow the first.
    twice = copy.deepcopy(bundle)
    twice["epochs"] = twice["epochs"] * 2
    assert "appears twice" in reason(twice, genesis) or "does not follow" in reason(twice, genesis)
    # Any admin-signed transaction other than the one that enacted it: refused.
    other = copy.deepcopy(bundle)
    other["epochs"][0] = next(t for t in bundle["transactions"] if t["tx"]["body"]["type"] == "accept")
    assert "not a governance transaction" in reason(other, genesis)


def test_every_byte_of_the_epoch_section_is_covered(story: tuple[Chain, Any, bytes]) -> None:
    """A sample of single-byte alterations of the canonical epochs section (every 13th byte)."""
    _, bundle, genesis = story
    genesis_struct = genesis_of(genesis)
    encoded = codec.encode(bundle)
    section = codec.encode(bundle["epochs"])
    start = encoded.index(b'"epochs":' + section) + len(b'"epochs":')
    tried = 0
    for offset in range(start, start + len(section), 13):
        data = bytearray(encoded)
        data[offset] = ord("0") if data[offset] != ord("0") else ord("1")
        try:
            altered = msgspec.json.decode(bytes(data))
        except msgspec.DecodeError:
            continue  # no longer JSON: refused before any verifier sees it
        if altered == bundle:
            continue
        tried += 1
        assert not verify_bundle(altered, genesis_struct).ok, f"byte {offset - start} of the epochs section"
    assert tried > 100
