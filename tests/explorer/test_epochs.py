"""The browser's verifier (node/explorer/verify.js, epochs.js) on version-2 proof bundles: bundles
whose history spans two and three validator sets, built in-process as the Python bundle tests
build them (tests.protocol.epoch_story), verify from the genesis file alone; every forgery, every
altered signature and every altered field of an epoch record is refused, for the same reason as
node.bundles.verify_bundle gives; and the epoch test vectors of docs/PROTOCOL.md hold in it too."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.bundles import verify_bundle
from node.kernel import codec
from node.kernel.genesis import parse_genesis
from tests.protocol.epoch_story import Story, altered, build_story, change, flip, forgeries, record_paths, signature_paths
from tests.protocol.test_vectors import VECTORS

from .conftest import VERIFY_ALL, Network, open_page

Json = dict[str, Any]


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Story]]:
    """The two-epoch and the three-epoch story, by number of validator sets."""
    folder = tmp_path_factory.mktemp("epoch-stories")
    built = {n: build_story(folder / f"db{n}", n) for n in (2, 3)}
    try:
        yield built
    finally:
        for story in built.values():
            story.chain.store.close()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def in_browser(page: Any, bundles: list[Json], genesis: bytes) -> list[Json]:
    """verify.js's verdict on each bundle (encoded as canonical JSON, as `warrant proof export` writes)."""
    verdicts: list[Json] = page.evaluate(VERIFY_ALL, [[[b64(codec.encode(b)), [(-1, 0)]] for b in bundles], b64(genesis)])
    return verdicts


def test_bundles_across_two_and_three_epochs_verify_in_the_browser(page: Any, network: Network,
                                                                   stories: dict[int, Story]) -> None:
    open_page(page, network.url("proof"))
    for sets, story in stories.items():
        python = verify_bundle(story.bundle, parse_genesis(story.genesis))
        assert python.ok and python.epochs == sets - 1, python.reason
        [got] = in_browser(page, [story.bundle], story.genesis)
        assert got["ok"], got["reason"]
        assert (got["epochs"], got["amount"], got["lineage"], got["unproven"]) == \
            (sets - 1, str(python.amount), python.lineage, 0)


def _alterations(story: Story) -> list[tuple[str, Json]]:
    """Every altered signature; every field of every epoch record changed, alone and with the
    event's hash recomputed; and the forgeries of a holder of the old set's keys."""
    b = story.bundle
    out = [(f"signature {path}", altered(b, path, flip)) for path in signature_paths(b)]
    for index, entry in enumerate(b["epochs"]):
        base = ("epochs", index, "result", "events", -1)
        for path in record_paths(entry["result"]["events"][-1]["epoch"]):
            out.append((f"epoch change {index}: {path}", altered(b, (*base, "epoch", *path), change)))
        out.append((f"epoch change {index}: its hash", altered(b, (*base, "hash"), flip)))
    return out


def test_the_browser_refuses_what_python_refuses_for_the_same_reason(page: Any, network: Network,
                                                                      stories: dict[int, Story]) -> None:
    open_page(page, network.url("proof"))
    checked = 0
    for sets, story in stories.items():
        cases = _alterations(story)
        if sets == 3:  # the forgeries are made for the three-epoch story
            cases += [(what, bundle) for what, bundle, _ in forgeries(story)]
        genesis = parse_genesis(story.genesis)
        verdicts = in_browser(page, [bundle for _, bundle in cases], story.genesis)
        wrong = []
        for (what, bundle), got in zip(cases, verdicts, strict=True):
            expected = verify_bundle(bundle, genesis)
            assert not expected.ok, what
            if got["ok"] or got["reason"] != expected.reason:
                wrong.append((what, expected.reason, got["reason"]))
        assert not wrong, wrong[:5]
        checked += len(cases)
    print(f"\n{checked} altered or forged version-2 bundles: each refused by both verifiers for the same reason")
    assert checked == (36 + 26) + (52 + 26 + 22 + 25)  # signatures, epoch record fields, forgeries


def test_single_byte_alterations_of_the_epochs_section_agree(page: Any, network: Network,
                                                             stories: dict[int, Story]) -> None:
    """Every 5th byte of the canonical epochs section of the three-epoch bundle, changed."""
    story = stories[3]
    data = codec.encode(story.bundle)
    section = codec.encode(story.bundle["epochs"])
    start = data.index(b'"epochs":' + section) + len(b'"epochs":')
    changes = [(at, ord("0") if data[at] != ord("0") else ord("1")) for at in range(start, start + len(section), 5)]
    open_page(page, network.url("proof"))
    verdicts = page.evaluate(VERIFY_ALL, [[[b64(data), changes]], b64(story.genesis)])
    genesis = parse_genesis(story.genesis)
    disagree = []
    for (at, byte), got in zip(changes, verdicts, strict=True):
        copy = bytearray(data)
        copy[at] = byte
        try:
            expected = verify_bundle(json.loads(bytes(copy)), genesis).ok
        except (UnicodeDecodeError, json.JSONDecodeError):
            expected = False
        if got["ok"] != expected:
            disagree.append((at - start, expected, got["reason"]))
        assert not got["ok"], f"byte {at - start} of the epochs section altered, and the browser accepted it"
    assert not disagree, disagree[:5]
    assert len(changes) > 400


_VECTORS_JS = """async ([genesis, epoch1, boundary]) => {
  const v = await import('/explorer/verify.js');
  const e = await import('/explorer/epochs.js');
  const c = await import('/explorer/canon.js');
  const g = await v.loadGenesis(new TextEncoder().encode(genesis));
  const epoch0 = e.genesisEpoch(g.validators);
  const text = (x) => new TextDecoder().decode(c.canonical(x));
  const record = c.convert(c.parseJson(new TextEncoder().encode(epoch1)), e.EPOCH_RECORD);
  let succession = 'ok';
  try { await e.checkSuccession(epoch0, record, BigInt(boundary.interval)); } catch (err) { succession = err.message; }
  const firsts = boundary.cases.map(([a, k, prev]) => e.nextFirstHeight({first_height: BigInt(prev)}, BigInt(a), BigInt(k)).toString());
  return {genesis_hash: g.hash, epoch_0: text(epoch0), epoch_0_hash: await e.recordHash(epoch0), epoch_1: text(record),
          epoch_1_hash: await e.recordHash(record), succession, firsts};
}"""


def test_the_epoch_vectors_of_the_protocol_hold_in_the_browser(page: Any, network: Network) -> None:
    records = VECTORS["epoch-records"]
    genesis = VECTORS[records["genesis_vector"]]
    open_page(page, network.url("proof"))
    got = page.evaluate(_VECTORS_JS, [json.dumps(genesis["file"]), records["epoch_1"],
                                      {"interval": records["checkpoint_interval"],
                                       "cases": [case[:3] for case in VECTORS["epoch-boundary"]]}])
    assert got["genesis_hash"] == genesis["hash"]
    assert (got["epoch_0"], got["epoch_0_hash"]) == (records["epoch_0"], records["epoch_0_hash"])
    assert (got["epoch_1"], got["epoch_1_hash"]) == (records["epoch_1"], records["epoch_1_hash"])
    assert got["succession"] == "ok"
    assert got["firsts"] == [str(case[3]) for case in VECTORS["epoch-boundary"]]


def test_the_proof_page_shows_a_three_epoch_bundle_valid(page: Any, network: Network, stories: dict[int, Story],
                                                         shots: Path, tmp_path: Path) -> None:
    story = stories[3]
    bundle, genesis = tmp_path / "proof.json", tmp_path / "genesis.json"
    bundle.write_bytes(codec.encode(story.bundle) + b"\n")
    genesis.write_bytes(story.genesis)
    open_page(page, network.url("proof"))
    page.set_input_files("#genesis-file", str(genesis))
    page.set_input_files("#bundle-file", str(bundle))
    page.wait_for_selector("#verdict.valid")
    assert page.inner_text("#verdict").startswith(f"VALID: warrant {story.warrant}")
    steps = page.inner_text("#steps")
    assert "epoch 1 (5 validators) from block 9; epoch 2 (4 validators) from block 15" in steps, steps
    assert "2 validator set changes since genesis" in page.inner_text("#proof-details")
    page.screenshot(path=str(shots / "proof-three-epochs.png"), full_page=True)
    forged = next(b for what, b, _ in forgeries(story) if what == "an epoch record that skips an epoch")
    skipped = tmp_path / "skipped.json"
    skipped.write_bytes(codec.encode(forged))
    page.set_input_files("#bundle-file", str(skipped))
    page.wait_for_selector("#verdict.invalid")
    assert "epoch 2 does not follow epoch 0" in page.inner_text("#verdict")
