"""The overlay (savepoints, net writes) and the additive state root; the ledger on the LevelDB store."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from node.kernel import chain, crypto
from node.kernel.chain import Certificate
from node.ledger import BlockContext, DictReader, Overlay, execute_block, genesis_state, queries
from node.ledger.state import ACC_KEY, element, full_accumulator, root_of
from node.store.leveldb import Store
from tests.ledger.world import CHAIN_ID, World

keys = st.binary(min_size=1, max_size=8).filter(lambda k: k != ACC_KEY)  # the accumulator's own key is reserved
values = st.binary(max_size=16)


def test_empty_state_root() -> None:
    writes, root = Overlay(DictReader()).finish()
    assert root == root_of(0) == crypto.sha256(bytes(512))
    assert writes == {ACC_KEY: bytes(512)}


def test_element_binds_key_and_value_boundary() -> None:
    assert element(b"ab", b"c") != element(b"a", b"bc")


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.dictionaries(keys, values, max_size=8), st.lists(st.tuples(keys, st.none() | values), max_size=12))
def test_incremental_root_equals_recomputed_root(start: dict[bytes, bytes], ops: list[tuple[bytes, bytes | None]]) -> None:
    base = DictReader()
    overlay = Overlay(base)
    for key, value in start.items():
        overlay.put(key, value)
    writes, _ = overlay.finish()
    base.commit(writes)
    overlay = Overlay(base)
    for key, value in ops:
        overlay.put(key, value)
    writes, root = overlay.finish()
    base.commit(writes)
    assert root == root_of(full_accumulator(iter(base.data.items())))
    # and the same pairs written in another order give the same root
    again = DictReader()
    other = Overlay(again)
    for key in sorted(base.data, reverse=True):
        if key != ACC_KEY:
            other.put(key, base.data[key])
    assert other.finish()[1] == root


def test_rollback_undoes_only_since_the_savepoint() -> None:
    base = DictReader({b"a": b"1"})
    state = Overlay(base)
    state.put(b"b", b"2")
    state.savepoint()
    state.put(b"a", b"9")
    state.put(b"b", b"3")
    state.delete(b"c")
    state.rollback()
    assert (state.get(b"a"), state.get(b"b"), state.get(b"c")) == (b"1", b"2", None)
    writes, _ = state.finish()
    assert writes == {b"b": b"2", ACC_KEY: writes[ACC_KEY]}


def test_writes_that_restore_the_committed_value_are_dropped() -> None:
    base = DictReader()
    first = Overlay(base)
    first.put(b"a", b"1")
    writes, before = first.finish()
    base.commit(writes)
    state = Overlay(base)
    state.put(b"a", b"2")
    state.put(b"a", b"1")
    state.put(b"new", b"x")
    state.delete(b"new")
    writes, root = state.finish()
    assert set(writes) == {ACC_KEY}
    assert root == before == root_of(element(b"a", b"1"))


def test_any_change_changes_the_root() -> None:
    w1, w2 = World(), World()
    assert w1.root == w2.root
    w1.credit(limit=5)
    w2.credit(limit=6)
    assert w1.root != w2.root


def test_genesis_state() -> None:
    w = World()
    writes, root = genesis_state(w.genesis)
    assert root == World().root
    assert writes[b"admin/" + w.addr("admin").encode()] == b"1"
    assert queries.get_account(DictReader(dict(writes)), w.addr("core"))["role"] == "core"  # type: ignore[index]
    assert genesis_state(w.genesis) == (writes, root)
    assert root == root_of(full_accumulator(iter(writes.items())))


def test_ledger_on_the_leveldb_store(tmp_path: Path) -> None:
    """Same blocks on the store (with a restart in between) and in memory give the same roots."""
    w = World()
    wid = w.issue(amount=1_000)
    w.transfer("sup1", wid, "sup2", 400)
    blocks = list(w.log)
    expected = w.root

    writes, root = genesis_state(w.genesis)
    empty = crypto.sha256(b"")
    path = tmp_path / "db"
    parent_root, parent_results = root, empty
    for index, (time, txs) in enumerate(blocks):
        with Store(path) as store:
            store.init_genesis(CHAIN_ID, w.genesis.hash(), writes, root, empty)
            meta = store.meta
            block = chain.make_block(chain_id=CHAIN_ID, height=meta.height + 1, time_ms=time,
                                     parent=bytes.fromhex(meta.block_hash), proposer=0, txs=txs,
                                     state_root=parent_root, results_root=parent_results)
            ctx = BlockContext(height=block.height, time_ms=time, chain_id=CHAIN_ID, params=w.params)
            outcome = execute_block(store.state, txs, ctx)
            store.commit_block(block, Certificate(height=block.height, view=0, block_hash=block.hash.hex(),
                                                  signatures=[]), outcome.results, outcome.writes,
                               outcome.state_root, outcome.results_root)
            parent_root, parent_results = outcome.state_root, outcome.results_root
            assert index + 1 == store.meta.height
    assert parent_root == expected
    with Store(path) as store:
        assert store.meta.state_root == expected.hex()
        assert store.state.get(ACC_KEY) == w.reader.data[ACC_KEY]
        held = queries.holdings(store.state, w.addr("sup1"))
        assert [x["amount"] for x in held["held"]] == [600]
        assert queries.lineage(store.state, wid) == queries.lineage(w.reader, wid)
        assert root_of(full_accumulator(store.state.scan(b""))) == expected


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.dictionaries(keys, values, max_size=8), st.lists(st.tuples(keys, st.none() | values), max_size=12),
       st.binary(max_size=1))
def test_an_overlays_scan_is_the_committed_scan_of_its_writes_applied(
    start: dict[bytes, bytes], ops: list[tuple[bytes, bytes | None]], prefix: bytes
) -> None:
    base = DictReader(dict(start))
    overlay = Overlay(base)
    for key, value in ops:
        overlay.put(key, value)
    writes, _ = overlay.finish()
    after = DictReader(dict(start))
    after.commit({k: v for k, v in writes.items() if k != ACC_KEY})
    assert list(overlay.scan(prefix)) == list(after.scan(prefix))
