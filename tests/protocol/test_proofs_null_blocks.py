"""Proof bundles across PBFT null blocks, on a chain committed in-process (tests.protocol.inprocess)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.app import NULL_DIGEST
from node.bundles import build_proof, verify_bundle
from node.kernel import crypto
from node.sdk.client import Wallet
from tests.protocol.inprocess import Chain

CHAIN_ID = "proof-null"


@pytest.fixture()
def net(tmp_path: Path) -> Iterator[tuple[Chain, str]]:
    """A warrant issued just before a null block and accepted just before two more."""
    c = Chain(tmp_path / "db", CHAIN_ID)
    core, supplier, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(3))
    c.commit(*(c.admin.register_account(w.address, role, role) for w, role in
               [(core, "core"), (supplier, "supplier"), (bank, "financier")]))
    c.commit(bank.set_credit_line(core.address, 10**9))
    doc = c.commit(core.anchor_document("invoice", "N-1", "R-1", "cd" * 32, 10**6, seller=supplier.address, buyer=core.address,
                                        issuer_reg_kind="other"))[0]["events"][0]["document"]
    now = int(time.time() * 1000)
    issued = c.commit(core.issue(supplier.address, 10**6, now + 10**8, bank.address, [{"doc": doc, "amount": 10**6}],
                                 now + 10**7))
    c.commit(null=True)
    c.commit(supplier.accept(issued[0]["events"][0]["warrant"]))
    c.commit(null=True)
    c.commit(null=True)
    try:
        yield c, issued[0]["events"][0]["warrant"]
    finally:
        c.store.close()


def test_outcomes_behind_null_blocks_stay_unproven_until_a_certified_block_follows(net: tuple[Chain, str]) -> None:
    c, warrant = net
    bundle = build_proof(c.store, c.genesis, warrant)
    assert bundle is not None
    report = verify_bundle(bundle, c.genesis)
    assert report.ok, report.reason
    assert [t.type for t in report.transactions if t.ok is None] == ["accept"]  # only nulls after it
    assert not report.complete


def test_null_blocks_are_authenticated_by_the_next_headers_parent_link(net: tuple[Chain, str]) -> None:
    c, warrant = net
    c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", "late"))
    bundle = build_proof(c.store, c.genesis, warrant)
    assert bundle is not None
    report = verify_bundle(bundle, c.genesis)
    assert report.ok and report.complete, report.reason
    nulls = [h for h in bundle["headers"] if h["certificate"]["block_hash"] == NULL_DIGEST.hex()]
    assert len(nulls) == 3
    # Without the certified block after them, or with an altered null header, nothing verifies.
    last = max(h["header"]["height"] for h in bundle["headers"])
    cut = {**bundle, "headers": [h for h in bundle["headers"] if h["header"]["height"] != last]}
    assert "null block" in verify_bundle(cut, c.genesis).reason
    altered = dict(nulls[0], header={**nulls[0]["header"], "time_ms": nulls[0]["header"]["time_ms"] + 1})
    forged = {**bundle, "headers": [altered if h is nulls[0] else h for h in bundle["headers"]]}
    assert not verify_bundle(forged, c.genesis).ok
