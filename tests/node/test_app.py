"""node.app: blocks that fit (checked by the backups' own function), no re-inclusion of a
committed transaction and no overwrite of its location, the two-sided block-time rule, and when
an idle primary owes an empty block. In-process: real ledger, store and certificates, no network."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import commit_signing_bytes
from node.app import Application, ProposalRefusal
from node.errors import StoreError
from node.kernel import chain, crypto
from node.kernel.genesis import ChainParams
from node.mempool.pool import Mempool
from node.sdk.client import Wallet
from tests.protocol.inprocess import Chain
from tests.protocol.test_proofs_null_blocks import CHAIN_ID

SENDERS = [crypto.generate_key() for _ in range(3)]


@pytest.fixture()
def c(tmp_path: Path) -> Iterator[Chain]:
    chain_ = Chain(tmp_path / "db", CHAIN_ID)
    try:
        yield chain_
    finally:
        chain_.store.close()


def _pool(max_txs: int = 100_000) -> Mempool:
    return Mempool(chain_id=CHAIN_ID, max_txs=max_txs, max_bytes=1 << 30, max_ttl_ms=24 * 3600_000,
                   is_committed=lambda tx_id: False, check_payload=lambda kind, payload: None,
                   is_registered=lambda address: True, max_per_sender=max_txs)


def _padded(key: crypto.SigningKey, nonce: int, pad: int) -> chain.SignedTx:
    return chain.sign_tx(key, {
        "chain_id": CHAIN_ID, "type": "split", "sender": key.address, "nonce": nonce,
        "expires": int(time.time() * 1000) + 3600_000, "payload": {"pad": "x" * pad},
    })


@pytest.fixture(scope="module")
def proposer_chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    chain_ = Chain(tmp_path_factory.mktemp("fit") / "db", CHAIN_ID)
    try:
        yield chain_
    finally:
        chain_.store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=3_500), min_size=0, max_size=120),
    senders=st.integers(min_value=1, max_value=3),
    max_bytes=st.integers(min_value=2_000, max_value=120_000),
    max_txs=st.integers(min_value=1, max_value=150),
)
def test_proposed_blocks_never_exceed_the_limits_the_backups_check(
    proposer_chain: Chain, sizes: list[int], senders: int, max_bytes: int, max_txs: int
) -> None:
    """Finding 1 of issue 11: the proposer reserved 1,024 bytes for the header and forgot the
    separators, so 1,342 transactions of ~1.5 kB made a block ~1.7 kB over max_block_bytes."""
    c = proposer_chain
    c.app.params = ChainParams(max_block_bytes=max_bytes, max_block_txs=max_txs)
    pool = c.app.mempool = _pool()
    txs = [_padded(SENDERS[i % senders], i, size) for i, size in enumerate(sizes)]
    for tx in txs:
        pool.add(tx, int(time.time() * 1000))
    now = int(time.time() * 1000)
    block = c.app.propose(0, now)
    assert len(block.raw) <= max_bytes and len(block.txs) <= max_txs
    assert c.app.limits_error(len(block.raw), len(block.txs)) is None
    assert c.app.check_proposal(block.height, block.hash, block.raw, now) is None
    if senders == 1 and len(block.txs) < min(max_txs, len(txs)):  # a full block: the next one did not fit
        assert [t.id for t in block.txs] == [t.id for t in txs[: len(block.txs)]]
        assert len(block.raw) + len(txs[len(block.txs)].raw) + 1 > max_bytes


def test_the_issue_s_flood_fits(proposer_chain: Chain) -> None:
    """The reproduction: 1,342 split transactions of ~1.5 kB against the default 2 MiB limit."""
    c = proposer_chain
    c.app.params = ChainParams()
    pool = c.app.mempool = _pool()
    key = crypto.generate_key()
    for nonce in range(1_400):
        pool.add(_padded(key, nonce, 1_150), int(time.time() * 1000))
    now = int(time.time() * 1000)
    block = c.app.propose(0, now)
    limit = c.app.params.max_block_bytes
    assert len(block.txs) > 1_300 and limit - len(block.txs[0].raw) - 1 < len(block.raw) <= limit
    assert c.app.check_proposal(block.height, block.hash, block.raw, now) is None


def _block(c: Chain, txs: list[chain.SignedTx], time_ms: int) -> chain.Block:
    meta = c.store.meta
    return chain.make_block(
        chain_id=CHAIN_ID, height=meta.height + 1, time_ms=time_ms, parent=bytes.fromhex(meta.block_hash),
        proposer=0, txs=txs, state_root=bytes.fromhex(meta.state_root), results_root=bytes.fromhex(meta.results_root))


def test_backups_refuse_a_block_that_re_includes_a_committed_transaction(c: Chain) -> None:
    """Finding 2 of issue 11: backups refused duplicates only within one block."""
    first = c.admin.register_account(crypto.generate_key().address, "supplier", "first")
    c.commit(first)
    fresh = c.admin.register_account(crypto.generate_key().address, "supplier", "fresh")
    now = int(time.time() * 1000)
    block = _block(c, [fresh, first], max(now, c.app.last_time_ms() + 1))
    reason = c.app.check_proposal(block.height, block.hash, block.raw, now)
    assert reason is not None and f"transaction {first.id_hex} is already committed at height 1" in reason
    assert c.app.check_proposal(*(lambda b: (b.height, b.hash, b.raw))(_block(c, [fresh], block.header.time_ms)),
                                now) is None
    assert c.app.refused == {ProposalRefusal.COMMITTED_TX: 1}  # what warrantchain_proposals_refused_total shows
    twice = _block(c, [fresh, fresh], block.header.time_ms)
    assert c.app.check_proposal(twice.height, twice.hash, twice.raw, now) is not None
    assert c.app.check_proposal(twice.height, b"\0" * 32, twice.raw, now) is not None
    assert c.app.check_proposal(twice.height, twice.hash, b"junk", now) is not None
    assert c.app.refused == {ProposalRefusal.COMMITTED_TX: 1, ProposalRefusal.DUPLICATE_TX: 1, ProposalRefusal.DIGEST_MISMATCH: 1,
                             ProposalRefusal.MALFORMED_BLOCK: 1}


def test_the_store_never_overwrites_a_committed_transaction_s_location(c: Chain) -> None:
    """Should a quorum ever certify a re-inclusion, the node halts instead of rewriting t<txid>."""
    first = c.admin.register_account(crypto.generate_key().address, "supplier", "first")
    c.commit(first)
    before = c.store.tx_location(first.id)
    height = c.store.meta.height
    with pytest.raises(StoreError, match="refusing to overwrite"):
        c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", "other"), first)
    assert c.store.meta.height == height and c.store.tx_location(first.id) == before
    twice = c.admin.register_account(crypto.generate_key().address, "supplier", "twice")
    with pytest.raises(StoreError, match="same block"):
        c.commit(twice, twice)
    assert not c.store.has_tx(twice.id)


def _certify(c: Chain, block: chain.Block) -> ConsensusCertificate:
    message = commit_signing_bytes(CHAIN_ID.encode(), 0, block.height, block.hash)
    return ConsensusCertificate(0, block.height, block.hash,
                                tuple((i, key.sign(message)) for i, key in c.signers(block.height)))


def test_a_backup_looks_up_only_the_ids_its_mempool_does_not_hold_and_still_refuses_a_replay(
    c: Chain, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A byzantine primary re-proposes a transaction this backup held and saw committed: committing
    removed it from the mempool, so the backup looks it up and refuses the block."""
    now = int(time.time() * 1000)
    held = c.admin.register_account(crypto.generate_key().address, "supplier", "held")
    c.app.mempool.add(held, now)
    lookups: list[bytes] = []
    real = c.store.tx_location
    monkeypatch.setattr(c.store, "tx_location", lambda tx_id: lookups.append(tx_id) or real(tx_id))
    unheld = c.admin.register_account(crypto.generate_key().address, "supplier", "unheld")
    block = _block(c, [held, unheld], max(now, c.app.last_time_ms() + 1))
    assert c.app.check_proposal(block.height, block.hash, block.raw, now) is None
    assert lookups == [unheld.id]  # the held one is known not to be committed
    c.app.deliver(block.height, block.hash, block.raw, _certify(c, block))
    assert held.id not in c.app.mempool and c.store.tx_location(held.id) is not None
    replay = _block(c, [held], max(now, c.app.last_time_ms() + 1))
    reason = c.app.check_proposal(replay.height, replay.hash, replay.raw, now)
    assert reason is not None and f"transaction {held.id_hex} is already committed at height 1" in reason
    with pytest.raises(StoreError, match="refusing to overwrite"):  # should a faulty quorum certify it
        c.app.deliver(replay.height, replay.hash, replay.raw, _certify(c, replay))


def test_the_store_skips_its_overwrite_check_only_for_the_block_the_backup_checked(c: Chain) -> None:
    """The check of a clean proposal stands for that block at that height only: another block
    certified at the same height (a faulty quorum) repeating a committed id is still refused."""
    first = c.admin.register_account(crypto.generate_key().address, "supplier", "first")
    c.commit(first)
    now = int(time.time() * 1000)
    time_ms = max(now, c.app.last_time_ms() + 1)
    clean = _block(c, [c.admin.register_account(crypto.generate_key().address, "supplier", "clean")], time_ms)
    assert c.app.check_proposal(clean.height, clean.hash, clean.raw, now) is None
    evil = _block(c, [first], time_ms)
    with pytest.raises(StoreError, match="refusing to overwrite"):
        c.app.deliver(evil.height, evil.hash, evil.raw, _certify(c, evil))
    assert c.store.meta.height == 1
    c.app.deliver(clean.height, clean.hash, clean.raw, _certify(c, clean))
    assert c.store.meta.height == 2 and c.store.tx_location(clean.txs[0].id) is not None


def test_block_time_must_be_timely_against_the_backup_s_clock_at_arrival(c: Chain) -> None:
    """Finding 3 of issue 11: backups only checked parent < time <= now + 30 s, so a byzantine
    primary could stamp any time in the past."""
    c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", "x"))
    params = c.app.params
    arrived = c.app.last_time_ms() + 60_000
    ahead, behind = params.max_clock_drift_ms, params.max_clock_drift_ms + params.max_block_delay_ms
    assert c.app.time_error(arrived + ahead, arrived) is None
    assert c.app.time_error(arrived - behind, arrived) is None
    assert "ahead" in (c.app.time_error(arrived + ahead + 1, arrived) or "")
    assert "behind" in (c.app.time_error(arrived - behind - 1, arrived) or "")
    assert "advance" in (c.app.time_error(c.app.last_time_ms(), arrived + 10 ** 6) or "")
    late = _block(c, [], arrived - 60_000 + 1)  # a minute behind: what a -60 s primary would stamp
    assert "behind" in (c.app.check_proposal(late.height, late.hash, late.raw, arrived) or "")
    # A proposal checked late (held until its parent executed) is judged by its arrival time.
    timely = _block(c, [], arrived)
    assert c.app.check_proposal(timely.height, timely.hash, timely.raw, arrived) is None
    assert c.app.check_proposal(timely.height, timely.hash, timely.raw, arrived + behind + 1) is not None
    assert c.app.refused == {ProposalRefusal.BAD_TIME: 2}


def test_an_idle_primary_owes_a_block_only_for_uncertified_results_or_a_due_time_rule(c: Chain) -> None:
    app: Application = c.app
    now = int(time.time() * 1000)
    assert not app.wants_empty_block(now)  # genesis: nothing to certify, nothing due
    core, supplier, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(3))
    c.commit(*(c.admin.register_account(w.address, role, role) for w, role in
               [(core, "core"), (supplier, "supplier"), (bank, "financier")]))
    assert app.tip_uncertified() and app.wants_empty_block(now)
    c.commit()  # an empty block certifies the results before it
    assert not app.tip_uncertified() and not app.wants_empty_block(now)
    c.commit(null=True)  # a null block certifies no header of its own
    assert app.tip_uncertified()
    c.commit()
    c.commit(bank.set_credit_line(core.address, 10**9))
    doc = c.commit(core.anchor_document("invoice", "N-1", "91310000MA1FL2026R", "cd" * 32, 10**6,
                                                 seller=supplier.address, buyer=core.address))[0]["events"][0]["document"]
    expires = app.last_time_ms() + 5_000
    c.commit(core.issue(supplier.address, 10**6, expires + 10**8, bank.address, [{"doc": doc, "amount": 10**6}],
                        expires))
    c.commit()
    assert app.next_due_ms() == expires
    assert not app.wants_empty_block(expires - 1) and app.wants_empty_block(expires)
