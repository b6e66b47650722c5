"""The validators page (#/validators) and the blocks of each epoch, in a real browser: over a chain
committed in-process whose validator set changed twice (v4 added, then v0 removed), with a third
change scheduled (v1's key rotated) and a fourth proposal still open; and on the live test
network, whose set is still the genesis one. Also the proof page verifying that node's version-2
bundle, as the node serves it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.kernel import crypto
from tests.protocol.epoch_story import Story, build_story, enact, propose

from .conftest import Network, Recorder, open_page, wait_route
from .served import serve

Json = dict[str, Any]


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Story, str, Json]]:
    """(story, explorer base URL, what was proposed): epochs 0-2 in force, epoch 3 scheduled, one proposal open."""
    story = build_story(tmp_path_factory.mktemp("governed") / "db", 3)  # heights 1-16
    c = story.chain
    rotated = crypto.generate_key()
    rotation = propose(c, 0, {"action": "rotate", "address": c.keys[1].address, "pubkey": rotated.public_key.hex()})  # 17
    assert enact(c, 1, rotation)["first_height"] == 21  # 18: pending until block 21
    joining = crypto.generate_key()
    opened = propose(c, 2, {"action": "add", "address": joining.address, "pubkey": joining.public_key.hex(),
                            "name": "v5 <b>bank</b>", "endpoint": "10.0.0.9:26656"})  # 19: 1 approval of 2
    try:
        with serve(c) as base:
            yield story, base, {"rotation": rotation, "rotated": rotated.address, "open": opened, "joining": joining.address}
    finally:
        c.store.close()


def cells(page: Any, selector: str) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        f"{selector} tbody tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))")
    return rows


def test_the_current_set_its_pending_change_open_proposals_and_history(page: Any, governed: tuple[Story, str, Json],
                                                                      shots: Path) -> None:
    story, base, made = governed
    keys = story.chain.keys
    open_page(page, f"{base}/explorer/#/validators")
    page.screenshot(path=str(shots / "validators.png"), full_page=True)
    assert page.inner_text("#epoch-now") == "epoch 2"
    assert (page.inner_text("#epoch-n"), page.inner_text("#epoch-f"), page.inner_text("#epoch-quorum")) == \
        ("4", "1", "3 signatures of 4")
    current = cells(page, "#current-validators")
    assert [row[1] for row in current] == ["v1", "v2", "v3", "v4"]
    assert [row[2] for row in current] == [k.address for k in keys[1:5]]
    assert [row[3] for row in current] == [k.public_key.hex() for k in keys[1:5]]
    assert current[3][4] == "127.0.0.1:26604" and "genesis" in current[0][4]
    pending = page.inner_text("#pending-change")
    assert pending.startswith("Epoch 3 takes effect at block #21 (4 validators, f = 1, quorum 3): it rotates the key of v1"), pending
    assert [row[2] for row in cells(page, "#pending-validators")] == [made["rotated"], *(k.address for k in keys[2:5])]
    [proposal] = cells(page, "#open-proposals")
    assert proposal[1].startswith("add v5 <b>bank</b>") and "10.0.0.9:26656" in proposal[1]
    assert proposal[3] == "1 of 2: admin2" and "block #19" in proposal[2]
    assert page.locator("#open-proposals b").count() == 0  # a proposed name made of markup stays text
    history = cells(page, "#epoch-history")
    assert [row[0] for row in history] == ["3", "2", "1", "0"]
    assert [row[1] for row in history] == ["pending", "active", "past", "past"]
    assert [row[2] for row in history] == ["#21", "#15", "#9", "#1"]
    assert history[2][3].startswith("adds v4") and history[1][3].startswith("removes v0")
    assert [row[5] for row in history] == ["#18", "#12", "#7", "—"]
    assert history[2][6] == "admin0, admin1" and history[1][6] == "admin1, admin2"
    assert [row[7] for row in history] == ["4 / 1 / 3", "4 / 1 / 3", "5 / 1 / 4", "4 / 1 / 3"]
    assert history[2][8] == "v0, v1, v2, v3, v4"
    assert [row[9] for row in history] == ["names epoch 2’s hash", "names epoch 1’s hash", "names epoch 0’s hash", "genesis"]
    # An admin's name is the genesis file's (account_get), so approvers can be told apart.
    assert story.chain.genesis.admins[2].name == "admin2"
    # The proposal links to its transaction, which says what it proposed.
    page.click(f"#epoch-history a[href='#/tx/{made['rotation']}']")
    wait_route(page, f"#/tx/{made['rotation']}")
    assert "proposes to rotate the key of validator" in page.inner_text("main")


def test_a_block_names_the_signers_of_its_epoch(page: Any, governed: tuple[Story, str, Json]) -> None:
    _, base, _ = governed
    expected = {5: ("epoch 0", 4, ["v1", "v2", "v3"]), 9: ("epoch 1", 5, ["v1", "v2", "v3", "v4"]),
                15: ("epoch 2", 4, ["v2", "v3", "v4"])}
    for height, (epoch, n, signers) in expected.items():
        open_page(page, f"{base}/explorer/#/block/{height}")
        assert page.inner_text("#block-epoch") == epoch
        assert f"of {n} validators signed this block’s hash" in page.inner_text("main")
        names = [row[0].split(" (#")[0] for row in cells(page, "section:has(h2:text('Commit certificate')) table")]
        assert names == signers, (height, names)
    open_page(page, f"{base}/explorer/#/validators")
    page.click("#epoch-history a[href='#/block/9']")
    wait_route(page, "#/block/9")
    assert "5 validators from block #9, quorum 4" in page.inner_text("main")


def test_the_proof_page_verifies_the_nodes_version_2_bundle(page: Any, governed: tuple[Story, str, Json],
                                                            tmp_path: Path) -> None:
    story, base, _ = governed
    genesis = tmp_path / "genesis.json"
    genesis.write_bytes(story.genesis)
    open_page(page, f"{base}/explorer/#/proof/{story.warrant}")
    page.set_input_files("#genesis-file", str(genesis))
    page.click("#use-node-bundle")
    page.wait_for_selector("#verdict.valid")
    assert "2 validator set changes since genesis" in page.inner_text("#proof-details")


def test_the_live_network_shows_its_genesis_set(page: Any, network: Network, recorder: Recorder) -> None:
    open_page(page, network.url("validators"))
    assert page.inner_text("#epoch-now") == "epoch 0"
    assert page.inner_text("#epoch-quorum") == "3 signatures of 4"
    assert [row[1] for row in cells(page, "#current-validators")] == ["v0", "v1", "v2", "v3"]
    assert page.inner_text("#pending-change").startswith("None")
    assert [row[:3] for row in cells(page, "#epoch-history")] == [["0", "active", "#1"]]
    open_page(page, network.url(""))
    assert page.inner_text("#chain-epoch") == "epoch 0: 4 validators, f = 1, quorum 3"
    assert recorder.errors == [], recorder.errors
