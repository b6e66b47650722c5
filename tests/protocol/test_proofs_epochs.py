"""Proof bundles across a validator set change: a warrant issued in epoch 0 and transferred in
epoch 1 (a validator added by two of three admins), verified offline from the genesis file alone;
any altered signature or epoch-change record is caught."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from node.bundles import EPOCHS_VERSION, verify_bundle
from node.errors import EncodingError
from node.kernel import codec
from node.kernel.genesis import Genesis, parse_genesis
from node.ledger.epochs import EpochRecord, epoch_history, record_hash
from tests.protocol.epoch_story import altered, build_story, change, flip, record_paths, signature_paths
from tests.protocol.inprocess import Chain


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Chain, Any, bytes]]:
    """(chain, bundle of the transferred warrant, genesis file bytes)."""
    built = build_story(tmp_path_factory.mktemp("epochs") / "db", 2)
    try:
        yield built.chain, built.bundle, built.genesis
    finally:
        built.chain.store.close()


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


def test_altering_any_signature_is_caught(story: tuple[Chain, Any, bytes]) -> None:
    _, bundle, genesis = story
    paths = signature_paths(bundle)
    assert len(paths) == 6 * 3 + 3 * 4 + 5 + 1  # epoch 0: 3 of 4 sign; epoch 1: 4 of 5
    for path in paths:
        reason(altered(bundle, path, flip), genesis)


def test_altering_any_field_of_an_epoch_change_record_is_caught(story: tuple[Chain, Any, bytes]) -> None:
    _, bundle, genesis = story
    base = ("epochs", 0, "result", "events", -1)
    record = bundle["epochs"][0]["result"]["events"][-1]["epoch"]
    paths = record_paths(record)
    assert len(paths) == 5 + 5 * 4
    for path in paths:
        # Altered alone (the event's hash then disagrees) and with the hash recomputed (the
        # result's Merkle proof then fails): both refused.
        bad = altered(bundle, (*base, "epoch", *path), change)
        reason(bad, genesis)
        event = bad["epochs"][0]["result"]["events"][-1]
        event["hash"] = _rehash(event["epoch"])
        if event["hash"] is not None:
            assert reason(bad, genesis)
    reason(altered(bundle, (*base, "hash"), flip), genesis)


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
