"""A warrant whose tree the node won't answer (1006 TRACE_TOO_DEEP, over tests.protocol.deep_story
made one split deeper): the explorer still shows the warrant's page, says why the tree is missing,
links the parent and children to follow it by hand, lists the backing documents, and does not ask
the node again (a limit that asking again won't change)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.protocol.deep_story import DeepStory, build_deep

from .conftest import Recorder, open_page
from .served import serve


@pytest.fixture(scope="module")
def deep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DeepStory, str]]:
    story = build_deep(tmp_path_factory.mktemp("deep") / "db")
    story.transfer_once_more()
    try:
        with serve(story.chain) as base:
            yield story, base
    finally:
        story.chain.store.close()


def test_a_tree_too_deep_for_the_node_leaves_the_warrant_page_and_is_asked_once(
        page: Any, recorder: Recorder, deep: tuple[DeepStory, str], shots: Path) -> None:
    story, base = deep
    wid, parent = story.remainders[-2], story.remainders[-3]
    recorder.rpc_methods.clear()
    errors = len(recorder.errors)
    open_page(page, f"{base}/explorer/#/warrant/{wid}")
    page.screenshot(path=str(shots / "warrant-deep-lineage.png"), full_page=True)
    note = page.inner_text("#lineage-refused")
    assert "nested more than 200 splits deep" in note and "warrant_descendants" in note, note
    assert page.query_selector("#lineage") is None  # no drawing of a tree it doesn't have
    links = page.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    assert f"#/warrant/{parent}" in links and f"#/warrant/{story.remainders[-1]}" in links
    assert f"#/document/{story.document}" in links  # the issuance's backing, read from the issuance itself
    assert recorder.rpc_methods.count("warrant_trace") == 1, recorder.rpc_methods
    assert len(recorder.errors) == errors, recorder.errors[errors:]


def test_the_risk_view_names_the_issuance_it_could_not_read(page: Any, deep: tuple[DeepStory, str]) -> None:
    story, base = deep
    open_page(page, f"{base}/explorer/#/risk")
    note = page.inner_text("#risk-unread")
    assert "Left out: 1 issuance(s)" in note and "do not count them" in note, note
    assert "TRACE_TOO_DEEP" not in note and "nested more than 200 splits deep" in note
    links = page.eval_on_selector_all("#risk-unread a", "as => as.map(a => a.getAttribute('href'))")
    assert links == [f"#/warrant/{story.issuance}"]
