"""Must-show 5 from the adversary's side: a bundle whose warrant history spans three validator sets
(v4 added, then v0 removed) verifies from the genesis file alone, with `warrant proof verify` too;
and every forgery of tests.protocol.epoch_story is refused: records that skip an epoch, name the
wrong predecessor, start at the wrong height or carry a forged set (even re-signed by a quorum of
the old set), epoch changes dropped, repeated or out of order, one validator's signature counted
twice, too few for the set's quorum, and a removed validator signing after its removal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.bundles import verify_bundle
from node.cli.warrant import main
from node.kernel.genesis import parse_genesis
from tests.protocol.epoch_story import Story, altered, build_story, flip, forgeries, signature_paths


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    built = build_story(tmp_path_factory.mktemp("three-epochs") / "db", 3)
    try:
        yield built
    finally:
        built.chain.store.close()


def test_a_bundle_spanning_three_epochs_verifies_from_genesis_alone(story: Story) -> None:
    report = verify_bundle(story.bundle, parse_genesis(story.genesis))
    assert report.ok and report.complete, report.reason
    assert report.epochs == 2 and [e["height"] for e in story.bundle["epochs"]] == [7, 12]
    assert [t.type for t in report.transactions] == ["anchor_document", "issue", "accept", "transfer", "accept", "split"]
    heights = {h["header"]["height"]: h["certificate"]["signatures"] for h in story.bundle["headers"]}
    assert [len(heights[h]) for h in (5, 9, 15)] == [3, 4, 3]  # quorums of 4, 5 and 4 validators


def test_warrant_proof_verify_takes_it_from_files_and_refuses_an_altered_signature(
        story: Story, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    genesis = tmp_path / "genesis.json"
    genesis.write_bytes(story.genesis)
    bundle = tmp_path / "proof.json"
    bundle.write_text(json.dumps(story.bundle))
    assert main(["proof", "verify", str(bundle), "--genesis", str(genesis)]) == 0
    assert capsys.readouterr().out.startswith("VALID")
    for path in signature_paths(story.bundle)[::7]:
        bundle.write_text(json.dumps(altered(story.bundle, path, flip)))
        assert main(["proof", "verify", str(bundle), "--genesis", str(genesis)]) == 1
        assert capsys.readouterr().out.startswith("INVALID: ")


def test_every_signature_of_the_three_epochs_is_checked(story: Story) -> None:
    genesis = parse_genesis(story.genesis)
    paths = signature_paths(story.bundle)
    assert len(paths) == 6 * 3 + 5 * 4 + 2 * 3 + 6 + 2  # headers of epochs 0, 1, 2; transactions; changes
    for path in paths:
        assert not verify_bundle(altered(story.bundle, path, flip), genesis).ok, path


def test_every_forgery_is_refused_for_its_reason(story: Story) -> None:
    genesis = parse_genesis(story.genesis)
    cases = forgeries(story)
    assert len(cases) == 25
    wrong = []
    for what, bundle, words in cases:
        report = verify_bundle(bundle, genesis)
        if report.ok or words not in report.reason:
            wrong.append((what, report.ok, report.reason))
    assert not wrong, wrong
