"""node.store.leveldb: blocks, certificates, tx index, state and metadata, written atomically."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.errors import StoreError
from node.kernel import chain, crypto
from node.store.leveldb import STORE_FORMAT, Store

from tests.kernel.conftest import CHAIN_ID, tx_body
from .store_writer import GENESIS, fake_certificate

ROOT = Path(__file__).resolve().parents[2]


def _next_block(store: Store, key: crypto.SigningKey, count: int = 2) -> chain.Block:
    meta = store.meta
    height = meta.height + 1
    txs = [chain.sign_tx(key, tx_body(key, nonce=height * 100 + i)) for i in range(count)]
    return chain.make_block(
        chain_id=CHAIN_ID, height=height, time_ms=height, parent=bytes.fromhex(meta.block_hash), proposer=0,
        txs=txs, state_root=bytes.fromhex(meta.state_root), results_root=bytes.fromhex(meta.results_root),
    )


@pytest.fixture()
def store(tmp_path):
    with Store(tmp_path / "db") as opened:
        opened.init_genesis(CHAIN_ID, GENESIS, {b"acct/a": b"1", b"acct/b": b"2"}, b"\x01" * 32, b"\x02" * 32)
        yield opened


def test_genesis_metadata(store: Store) -> None:
    meta = store.meta
    assert (meta.height, meta.block_hash, meta.state_root) == (0, GENESIS.hex(), "01" * 32)
    assert store.state.get(b"acct/a") == b"1"
    assert list(store.state.scan(b"acct/")) == [(b"acct/a", b"1"), (b"acct/b", b"2")]
    assert store.block(0) is None and store.block(1) is None


def test_commit_and_read_back(store: Store, key: crypto.SigningKey) -> None:
    block = _next_block(store, key, 3)
    cert = fake_certificate(block)
    results = [b'{"ok":true,"i":%d}' % i for i in range(3)]
    meta = store.commit_block(block, cert, results, {b"acct/a": None, b"acct/c": b"3"}, b"\x05" * 32, b"\x06" * 32)
    assert (meta.height, meta.block_hash, meta.state_root, meta.results_root) == (1, block.hash.hex(), "05" * 32, "06" * 32)
    assert store.block(1).hash == block.hash
    assert store.block_bytes(1) == block.raw
    assert store.height_of(block.hash) == 1 and store.height_of(b"\x00" * 32) is None
    assert store.certificate(1) == cert
    location = store.tx_location(block.txs[2].id)
    assert (location.height, location.index, bytes(location.result)) == (1, 2, results[2])
    assert store.has_tx(block.txs[0].id) and not store.has_tx(b"\x00" * 32)
    assert dict(store.state.scan(b"acct/")) == {b"acct/b": b"2", b"acct/c": b"3"}


def test_metadata_survives_reopen(tmp_path, key: crypto.SigningKey) -> None:
    with Store(tmp_path / "db") as store:
        store.init_genesis(CHAIN_ID, GENESIS, {}, b"\x01" * 32, b"\x02" * 32)
        for _ in range(3):
            block = _next_block(store, key)
            store.commit_block(block, fake_certificate(block), [b"{}"] * 2, {}, b"\x01" * 32, b"\x02" * 32)
    with Store(tmp_path / "db") as store:
        assert store.meta.height == 3
        store.check_chain(CHAIN_ID, GENESIS)


def test_refuses_blocks_that_do_not_extend_the_chain(store: Store, key: crypto.SigningKey) -> None:
    block = _next_block(store, key)
    store.commit_block(block, fake_certificate(block), [b"{}"] * 2, {}, b"\x01" * 32, b"\x02" * 32)
    with pytest.raises(StoreError, match="store is at height 1"):
        store.commit_block(block, fake_certificate(block), [b"{}"] * 2, {}, b"\x01" * 32, b"\x02" * 32)
    other = chain.make_block(
        chain_id=CHAIN_ID, height=2, time_ms=2, parent=b"\x99" * 32, proposer=0, txs=[],
        state_root=b"\x00" * 32, results_root=b"\x00" * 32,
    )
    with pytest.raises(StoreError, match="parent"):
        store.commit_block(other, fake_certificate(other), [], {}, b"\x01" * 32, b"\x02" * 32)
    good = _next_block(store, key)
    with pytest.raises(StoreError, match="results"):
        store.commit_block(good, fake_certificate(good), [b"{}"], {}, b"\x01" * 32, b"\x02" * 32)
    assert store.meta.height == 1


def test_data_directory_of_another_chain_is_refused(tmp_path) -> None:
    with Store(tmp_path / "db") as store:
        store.init_genesis(CHAIN_ID, GENESIS, {}, b"\x01" * 32, b"\x02" * 32)
    with Store(tmp_path / "db") as store:
        with pytest.raises(StoreError, match="belongs to chain 'wc-test'"):
            store.check_chain("other-chain", GENESIS)
        with pytest.raises(StoreError, match="belongs to chain"):
            store.init_genesis(CHAIN_ID, b"\x48" * 32, {}, b"\x01" * 32, b"\x02" * 32)


def test_uninitialised_store_and_bad_paths(tmp_path) -> None:
    with Store(tmp_path / "empty") as store:
        assert not store.initialized
        with pytest.raises(StoreError, match="no chain yet"):
            store.meta
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError, match="cannot open"):
        Store(blocker)
    with Store(tmp_path / "locked") as store:  # LevelDB holds a lock: a second opener is refused
        with pytest.raises(StoreError, match="cannot open"):
            Store(tmp_path / "locked")


def test_corrupt_metadata_is_reported(tmp_path) -> None:
    import plyvel

    Store(tmp_path / "db").close()
    db = plyvel.DB(str(tmp_path / "db" / "state"))
    db.put(b"m", b"{garbage")
    db.close()
    with pytest.raises(StoreError, match="unreadable metadata"):
        Store(tmp_path / "db")
    with pytest.raises(StoreError, match="unreadable metadata"):  # not "in use": the first try let go
        Store(tmp_path / "db")


def test_a_database_that_cannot_be_opened_releases_the_others(tmp_path) -> None:
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "consensus").write_text("not a directory")  # the last of the three
    with pytest.raises(StoreError, match="cannot open the store at .*consensus"):
        Store(tmp_path / "db")
    (tmp_path / "db" / "consensus").unlink()
    with Store(tmp_path / "db") as store:  # state/ and chain/ were closed: their locks are free
        assert not store.initialized


def test_data_directory_of_the_single_database_layout_is_refused(tmp_path) -> None:
    import plyvel

    plyvel.DB(str(tmp_path / "old"), create_if_missing=True).close()
    with pytest.raises(StoreError, match="layout of an earlier WarrantChain.*state transfer"):
        Store(tmp_path / "old")


def test_a_data_directory_of_another_store_format_is_refused_with_what_to_do(tmp_path) -> None:
    import plyvel

    with Store(tmp_path / "db") as store:
        store.init_genesis("wc-format", b"\x01" * 32, {}, b"\x02" * 32, b"\x03" * 32)
    with Store(tmp_path / "db") as store:  # this release's own: opens
        assert store.meta.chain_id == "wc-format"
    for found, expected in [(None, "from before store formats were recorded"), (b"0", "store format '0'")]:
        state = plyvel.DB(str(tmp_path / "db" / "state"))
        if found is None:
            state.delete(b"f")
        else:
            state.put(b"f", found)
        state.close()
        with pytest.raises(StoreError, match=f"{expected}; this release reads store format {STORE_FORMAT}.*new genesis"):
            Store(tmp_path / "db")
    Store(tmp_path / "db2").close()  # an empty directory has no format to check: genesis writes it


def test_a_crash_between_the_two_writes_of_a_block_loses_only_that_block(tmp_path, key: crypto.SigningKey) -> None:
    """chain/ is written first; the metadata in state/ decides what is committed."""
    with Store(tmp_path / "db") as store:
        store.init_genesis(CHAIN_ID, GENESIS, {}, b"\x01" * 32, b"\x02" * 32)
        first = _next_block(store, key)
        store.commit_block(first, fake_certificate(first), [b"{}"] * 2, {b"a": b"1"}, b"\x03" * 32, b"\x04" * 32)
        orphan = _next_block(store, key, 3)
        store._write_chain(orphan, fake_certificate(orphan), [b'{"orphan":1}'] * 3)  # then the power went
        assert store.block_bytes(2) is None and store.tx_location(orphan.txs[0].id) is None
    with Store(tmp_path / "db") as store:
        assert store.meta.height == 1 and store.block_bytes(2) is None and store.certificate(2) is None
        assert store._chain.get((2).to_bytes(8, "big") + b"b") is None  # the orphan's entries are gone
        second = _next_block(store, key, 1)  # another block 2 (fewer results than the orphan left)
        store.commit_block(second, fake_certificate(second), [b'{"ok":2}'], {}, b"\x05" * 32, b"\x06" * 32)
        assert store.block(2).hash == second.hash
        assert bytes(store.tx_location(second.txs[0].id).result) == b'{"ok":2}'
        assert store.tx_location(first.txs[1].id).height == 1
        assert len(list(store._chain.iterator(prefix=(2).to_bytes(8, "big")))) == 3  # block, cert, 1 result


def test_consensus_record(store: Store) -> None:
    store.put_consensus({b"view": b"3", b"slot/1": b"abc"})
    store.put_consensus({b"slot/1": None, b"slot/2": b"def"})
    assert dict(store.consensus_records()) == {b"view": b"3", b"slot/2": b"def"}


def _check_whole_prefix(path: Path) -> int:
    with Store(path) as store:
        meta = store.meta
        height = meta.height
        parent = GENESIS.hex()
        for h in range(1, height + 1):
            block = store.block(h)
            assert block is not None, f"block {h} missing below height {height}"
            assert block.header.parent == parent
            assert store.certificate(h).block_hash == block.hash.hex()
            assert all(store.tx_location(tx.id).height == h for tx in block.txs)
            parent = block.hash.hex()
        assert meta.block_hash == parent
        assert meta.state_root == height.to_bytes(32, "big").hex() or height == 0
        assert store.state.get(b"counter") == str(height).encode()
        assert [k for k, _ in store.state.scan(b"k")] == ([b"k%08d" % height] if height else [])
        # Nothing of a half-written next block is visible.
        assert store._chain.get((height + 1).to_bytes(8, "big") + b"b") is None
        return height


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_leaves_a_whole_prefix_of_blocks(tmp_path, seed: int) -> None:
    rnd = random.Random(seed)
    path = tmp_path / "db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.store.store_writer", str(path)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )
    try:
        wanted = rnd.randint(3, 40)
        deadline = time.monotonic() + 60
        seen = 0
        while seen < wanted:  # wait for the child to be busy writing, then kill it mid-stride
            line = child.stdout.readline()
            assert line, "writer exited early"
            seen = int(line)
            assert time.monotonic() < deadline
        time.sleep(rnd.random() * 0.05)  # a random moment inside the write loop
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
    height = _check_whole_prefix(path)
    assert height >= wanted
