"""Proof bundles across PBFT null blocks, on a chain committed in-process through node.app
(real ledger, store and certificates signed by the validators' keys; no network)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import commit_signing_bytes
from node.app import NULL_DIGEST, Application
from node.bundles import build_proof, verify_bundle
from node.cli.warrantd import build_genesis
from node.kernel import chain, codec, crypto
from node.kernel.genesis import ChainParams, Genesis, parse_genesis
from node.ledger.initial import genesis_state
from node.ledger.payloads import check_payload
from node.mempool.pool import Mempool
from node.sdk.client import Wallet
from node.store.leveldb import Store

CHAIN_ID = "proof-null"


class Chain:
    """Commits blocks (or null blocks) with 3 of 4 validators' signatures, as consensus would."""

    def __init__(self, path: Path, params: ChainParams | None = None) -> None:
        self.keys = [crypto.generate_key() for _ in range(4)]
        admin = crypto.generate_key()
        self.genesis: Genesis = parse_genesis(build_genesis(
            CHAIN_ID, [f"v{i}={k.public_key.hex()}" for i, k in enumerate(self.keys)],
            [f"admin={admin.public_key.hex()}"], [], int(time.time() * 1000)))
        if params is not None:
            self.genesis = msgspec.structs.replace(self.genesis, params=params)
        self.store = Store(path)
        writes, root = genesis_state(self.genesis)
        self.store.init_genesis(CHAIN_ID, self.genesis.hash(), writes, root, root)
        mempool = Mempool(chain_id=CHAIN_ID, max_txs=100, max_bytes=1 << 20,
                          max_ttl_ms=self.genesis.params.max_tx_ttl_ms, is_committed=self.store.has_tx,
                          check_payload=check_payload, is_registered=lambda address: True,
                          max_per_sender=100)
        self.app = Application(self.store, self.genesis, mempool)
        self.admin = Wallet(admin, CHAIN_ID)

    def commit(self, *txs: chain.SignedTx, null: bool = False) -> list[dict[str, Any]]:
        seq = self.app.next_height()
        if null:
            payload, digest = b"", NULL_DIGEST
        else:
            meta = self.store.meta
            block = chain.make_block(
                chain_id=CHAIN_ID, height=seq, time_ms=self.app.last_time_ms() + 1, parent=bytes.fromhex(meta.block_hash),
                proposer=0, txs=list(txs), state_root=bytes.fromhex(meta.state_root),
                results_root=bytes.fromhex(meta.results_root))
            payload, digest = block.raw, block.hash
        message = commit_signing_bytes(CHAIN_ID.encode(), 0, seq, digest)
        signatures = tuple((i, self.keys[i].sign(message)) for i in range(3))
        committed = self.app.deliver(seq, digest, payload, ConsensusCertificate(0, seq, digest, signatures))
        results = [codec.decode(raw) for raw in committed.outcome.results]
        assert all(r["ok"] for r in results), results
        return results


@pytest.fixture()
def net(tmp_path: Path) -> Iterator[tuple[Chain, str]]:
    """A warrant issued just before a null block and accepted just before two more."""
    c = Chain(tmp_path / "db")
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
