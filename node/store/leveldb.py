"""The node's LevelDB store: the only module that imports plyvel.

A data directory holds three LevelDB databases. As CometBFT keeps its block store and its
consensus WAL apart from its state store, what is appended once and read rarely (the chain, in
height order) and what is written and deleted again within ten blocks (the replica's write-ahead
record) are kept apart from what is overwritten at random keys all the time (state). LevelDB's
background compaction rewrites a table each time it merges it with the next level; with state's
random keys every new table overlaps the whole next level, so everything stored beside state was
rewritten again and again (measured: docs/PERFORMANCE.md, steps 26 and 27). Chain data keyed by
height first lands in tables that overlap nothing and move down the levels without a rewrite.

``state/`` (heights are 8-byte big-endian so they sort numerically):

====================  ==============================================================
``m``                 chain metadata (ChainMeta, canonical JSON): the source of truth
``h`` + block hash    height
``t`` + tx id         height (8 bytes) + index in the block (4 bytes), big-endian
``s`` + key           ledger state (read through the StateView methods)
====================  ==============================================================

``chain/`` (every key starts with the height, so a block's data is contiguous):

===============================  =====================================================
height + ``b``                   block bytes (node.kernel.chain wire format)
height + ``c``                   commit certificate
height + ``r`` + index (4B BE)   the ledger's result of the block's index-th transaction
===============================  =====================================================

``consensus/``: the consensus replica's write-ahead record (``consensus.persist`` keys as given).

A block is written to ``chain/`` first, then everything else it changes (tx index, state writes,
metadata) to ``state/``, each one batch with ``sync=True``. ``m`` says which blocks are committed:
a crash between the two writes leaves chain entries above ``m``'s height, which opening the store
deletes, so after a crash the store holds a whole prefix of blocks and metadata that agrees with
them, never half a block.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated

import msgspec
import plyvel

from node.errors import ChainError, EncodingError, StoreError
from node.kernel import codec
from node.kernel.chain import Block, Certificate, decode_block

__all__ = ["STORE_FORMAT", "ChainMeta", "TxLocation", "Store", "StateReader"]

# The format of what this release stores, written beside the metadata at genesis and checked at
# open: a release whose ledger encoding or state root differs bumps it, so that a data directory
# of another release is refused with what to do rather than failing at its first block.
# 1: the first recorded (document allocations under dal/ keys, docs/LEDGER.md section 5).
STORE_FORMAT = 1
_META = b"m"  # state/
_FORMAT = b"f"  # state/
_HASH = b"h"
_TX = b"t"
_STATE = b"s"
_BLOCK = b"b"  # chain/, after the height
_CERT = b"c"
_RESULT = b"r"
_DECODED_BLOCKS = 2
_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]

# The three databases of a data directory and their LevelDB options (none compresses: what is
# stored is mostly hex and signatures, which Snappy hardly shrinks, and compressing every table
# again at each compaction was the largest CPU cost of a loaded node; docs/PERFORMANCE.md).
_DATABASES: tuple[tuple[str, dict[str, int]], ...] = (
    # The bloom filter makes "is this transaction id committed?" cheap when it is not (every
    # admission asks); the block cache keeps hot state in memory. A 16 MB write buffer (default
    # 4): a block writes several MB of state and tx index; fewer, larger level-0 tables mean fewer
    # merges with level 1, whose keys (ids, hashes) are random. 32 MB measured no better, and
    # LevelDB may hold two buffers at once (docs/PERFORMANCE.md, step 17).
    ("state", {"bloom_filter_bits": 10, "lru_cache_size": 16 << 20, "write_buffer_size": 16 << 20,
               "max_open_files": 1000}),
    # Sequential, written once, read by height: no bloom filter (lookups are for keys that
    # exist), a small cache, and few open tables (they are large and cold).
    ("chain", {"lru_cache_size": 4 << 20, "write_buffer_size": 8 << 20, "max_open_files": 200}),
    # The replica's write-ahead record: a slot's block is written and deleted again ten blocks
    # later; kept apart, it never rides along in the state's compactions.
    ("consensus", {"write_buffer_size": 8 << 20, "max_open_files": 50}),
)


class ChainMeta(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the store holds: the last committed block and the state after executing it."""

    chain_id: str
    genesis_hash: _Hex32
    height: int
    block_hash: _Hex32  # the genesis hash at height 0
    state_root: _Hex32
    results_root: _Hex32


class TxLocation(msgspec.Struct, frozen=True):
    """Where a committed transaction is, and the ledger's result of it."""

    height: int
    index: int
    result: msgspec.Raw  # canonical JSON, stored as given


def _h(height: int) -> bytes:
    return height.to_bytes(8, "big")


class StateReader:
    """Read-only view of committed ledger state: the interface the ledger reads through."""

    __slots__ = ("_db",)

    def __init__(self, db: plyvel.DB) -> None:
        self._db = db

    def get(self, key: bytes) -> bytes | None:
        value: bytes | None = self._db.get(_STATE + key)
        return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Keys (without the store's prefix) and values under ``prefix``, in key order."""
        cut = len(_STATE)
        for key, value in self._db.iterator(prefix=_STATE + prefix):
            yield key[cut:], value


class Store:
    """A node's chain, state and consensus record in one data directory (three LevelDBs)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from None
        if os.path.exists(os.path.join(self.path, "CURRENT")):
            raise StoreError(
                f"data directory {self.path} is in the layout of an earlier WarrantChain (one LevelDB for "
                "everything); this version keeps state/, chain/ and consensus/ apart: move the directory "
                "aside and start with an empty one, the node fetches the chain from its peers by state "
                "transfer (docs/OPERATIONS.md, section 4.3)"
            )
        opened: list[plyvel.DB] = []
        try:
            for name, options in _DATABASES:
                opened.append(self._open(name, options))
        except StoreError:
            for db in opened:
                db.close()
            raise
        self._db, self._chain, self._wal = opened
        self.state = StateReader(self._db)
        self._blocks: collections.OrderedDict[int, Block] = collections.OrderedDict()
        try:
            raw = self._db.get(_META)
            self._meta: ChainMeta | None = None if raw is None else self._decode_meta(raw)
            if self._meta is not None:
                self._check_format(self._db.get(_FORMAT))
            self._drop_uncommitted_chain()
        except StoreError:
            self.close()  # release LevelDB's locks: the caller may report and retry in this process
            raise

    def _open(self, name: str, options: Mapping[str, int]) -> plyvel.DB:
        path = os.path.join(self.path, name)
        try:
            return plyvel.DB(path, create_if_missing=True, compression=None, **options)
        except plyvel.IOError as exc:
            reason = exc.args[0].decode(errors="replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            # LevelDB's LOCK file: one process per directory. Its message starts "lock <path>"; an
            # unusable path ("<path>/LOCK: Not a directory") names the file too but is not contention.
            if reason.startswith("IO error: lock "):
                raise StoreError(
                    f"cannot open the store at {self.path}: the data directory is in use by another process "
                    "(is this node already running?); stop that one first, or give this node its own node.data_dir"
                ) from None
            raise StoreError(f"cannot open the store at {path}: {reason}") from None
        except (plyvel.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {path}: {exc}") from None

    def _drop_uncommitted_chain(self) -> None:
        """Delete chain entries above the committed height: a crash came between a block's two writes."""
        start = _h((self._meta.height if self._meta is not None else 0) + 1)
        stale = list(self._chain.iterator(start=start, include_value=False))
        if stale:
            with self._writing("the store's cleanup after a crash"), self._chain.write_batch(sync=True) as batch:
                for key in stale:
                    batch.delete(key)

    def _check_format(self, raw: bytes | None) -> None:
        if raw == str(STORE_FORMAT).encode():
            return
        found = "by a release from before store formats were recorded" if raw is None else \
            f"in store format {raw[:16].decode(errors='replace')!r}"
        raise StoreError(
            f"data directory {self.path} was written {found}; this release reads store format {STORE_FORMAT}, "
            "whose state root differs, so it can neither open this chain nor replay its blocks: run the release "
            "that wrote it, or start a new chain from a new genesis (docs/OPERATIONS.md, section 5)"
        )

    def _decode_meta(self, raw: bytes) -> ChainMeta:
        try:
            return codec.decode(raw, ChainMeta)
        except EncodingError as exc:
            raise StoreError(f"store at {self.path} has unreadable metadata: {exc}") from None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def meta(self) -> ChainMeta:
        if self._meta is None:
            raise StoreError(f"store at {self.path} has no chain yet (genesis not written)")
        return self._meta

    @property
    def initialized(self) -> bool:
        return self._meta is not None

    def check_chain(self, chain_id: str, genesis_hash: bytes) -> None:
        """Refuse a data directory that belongs to another chain."""
        meta = self.meta
        if meta.chain_id != chain_id or meta.genesis_hash != genesis_hash.hex():
            raise StoreError(
                f"data directory {self.path} belongs to chain {meta.chain_id!r} (genesis "
                f"{meta.genesis_hash[:16]}), not to {chain_id!r} (genesis {genesis_hash.hex()[:16]}); "
                "use another data directory or the matching genesis file"
            )

    def init_genesis(
        self, chain_id: str, genesis_hash: bytes, state_writes: Mapping[bytes, bytes | None], state_root: bytes,
        results_root: bytes,
    ) -> ChainMeta:
        """Write the genesis state and metadata (height 0) in one batch; idempotent per chain."""
        if self._meta is not None:
            self.check_chain(chain_id, genesis_hash)
            return self._meta
        meta = ChainMeta(
            chain_id=chain_id,
            genesis_hash=genesis_hash.hex(),
            height=0,
            block_hash=genesis_hash.hex(),
            state_root=state_root.hex(),
            results_root=results_root.hex(),
        )
        with self._db.write_batch(sync=True, transaction=True) as batch:
            self._put_state(batch, state_writes)
            batch.put(_META, codec.encode(meta))
            batch.put(_FORMAT, str(STORE_FORMAT).encode())
        self._meta = meta
        return meta

    def close(self) -> None:
        for db in (self._db, self._chain, self._wal):
            if not db.closed:
                db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing a block -----------------------------------------------------------------------

    def commit_block(
        self,
        block: Block,
        certificate: Certificate,
        results: Sequence[bytes],
        state_writes: Mapping[bytes, bytes | None],
        state_root: bytes,
        results_root: bytes,
        *,
        ids_checked: bool = False,
    ) -> ChainMeta:
        """Append ``block`` with everything it changed, atomically and synced to disk.

        ``results`` are the ledger's canonical result bytes, one per transaction; ``state_writes``
        maps state keys to new values (None deletes); the roots are those after executing it.
        ``ids_checked``: the caller found, against this store at its current height, that no id
        of the block is committed or repeated (a backup checked the proposal), so the refusal to
        overwrite need not look them up again; the caller vouches for that check.
        """
        meta = self.meta
        height = block.header.height
        if height != meta.height + 1:
            raise StoreError(f"cannot append block {height}: the store is at height {meta.height}")
        if block.header.parent != meta.block_hash:
            raise StoreError(f"block {height} does not extend the stored chain (parent mismatch)")
        if len(results) != len(block.txs):
            raise StoreError(f"block {height} has {len(block.txs)} transactions but {len(results)} results")
        if not ids_checked:
            self._refuse_overwrite(block)
        new_meta = msgspec.structs.replace(
            meta, height=height, block_hash=block.hash.hex(), state_root=state_root.hex(),
            results_root=results_root.hex(),
        )
        key = _h(height)
        with self._writing(f"block {height}"):
            self._write_chain(block, certificate, results)
            with self._db.write_batch(sync=True, transaction=True) as batch:
                batch.put(_HASH + block.hash, key)
                put = batch.put
                for index, tx in enumerate(block.txs):
                    put(_TX + tx.id, key + index.to_bytes(4, "big"))
                self._put_state(batch, state_writes)
                batch.put(_META, codec.encode(new_meta))
        self._meta = new_meta
        return new_meta

    def _write_chain(self, block: Block, certificate: Certificate, results: Sequence[bytes]) -> None:
        """The first of a block's two writes: its bytes, certificate and results, by height."""
        key = _h(block.header.height)
        result_key = key + _RESULT
        with self._chain.write_batch(sync=True, transaction=True) as batch:
            batch.put(key + _BLOCK, block.raw)
            batch.put(key + _CERT, certificate.encode())
            put = batch.put
            for index, result in enumerate(results):
                put(result_key + index.to_bytes(4, "big"), result)

    def _refuse_overwrite(self, block: Block) -> None:
        """A transaction's location is written once: a block that includes an id already committed
        (or one id twice) was certified by a faulty quorum or this node diverged; never overwrite
        the original, stop instead."""
        seen: set[bytes] = set()
        for tx in block.txs:
            earlier = self._db.get(_TX + tx.id)
            if earlier is not None or tx.id in seen:
                where = "earlier in the same block" if earlier is None else \
                    f"at height {int.from_bytes(earlier[:8], 'big')}"
                raise StoreError(
                    f"block {block.header.height} includes transaction {tx.id_hex}, already committed {where}: "
                    "refusing to overwrite its location; this node's chain diverged from a correct quorum "
                    "(halt: keep the data directory for investigation, see docs/OPERATIONS.md)"
                )
            seen.add(tx.id)

    @contextlib.contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """Turn LevelDB's write failures (disk full, I/O error) into a StoreError naming ``what``."""
        try:
            yield
        except plyvel.Error as exc:
            raise StoreError(f"cannot write {what} to {self.path}: {exc}") from None

    @staticmethod
    def _put_state(batch: plyvel.WriteBatch, writes: Mapping[bytes, bytes | None]) -> None:
        put, delete = batch.put, batch.delete
        for key, value in writes.items():
            if value is None:
                delete(_STATE + key)
            else:
                put(_STATE + key, value)

    # -- reading the chain ---------------------------------------------------------------------

    def _chain_get(self, height: int, kind: bytes) -> bytes | None:
        """A committed block's entry (entries above the metadata's height are not committed)."""
        if not 0 < height <= self.meta.height:
            return None
        value: bytes | None = self._chain.get(_h(height) + kind)
        return value

    def block_bytes(self, height: int) -> bytes | None:
        return self._chain_get(height, _BLOCK)

    def block(self, height: int) -> Block | None:
        """The decoded block at ``height``; the last few are kept, since queries about the
        transactions of one block come in runs and a block of 2,000 decodes in tens of ms."""
        cached = self._blocks.get(height)
        if cached is not None:
            return cached
        raw = self.block_bytes(height)
        if raw is None:
            return None
        try:
            block = decode_block(raw)
        except ChainError as exc:
            raise StoreError(f"stored block {height} is corrupt: {exc}") from None
        self._blocks[height] = block
        if len(self._blocks) > _DECODED_BLOCKS:
            self._blocks.popitem(last=False)
        return block

    def height_of(self, block_hash: bytes) -> int | None:
        raw = self._db.get(_HASH + block_hash)
        return None if raw is None else int.from_bytes(raw, "big")

    def certificate(self, height: int) -> Certificate | None:
        raw = self._chain_get(height, _CERT)
        return None if raw is None else Certificate.decode(raw)

    def certificate_bytes(self, height: int) -> bytes | None:
        return self._chain_get(height, _CERT)

    def tx_location(self, tx_id: bytes) -> TxLocation | None:
        raw = self._db.get(_TX + tx_id)
        if raw is None:
            return None
        height = int.from_bytes(raw[:8], "big")
        result = self._chain_get(height, _RESULT + raw[8:12])
        if result is None:
            raise StoreError(f"store at {self.path} indexes transaction {tx_id.hex()} at height {height} "
                             "but holds no result for it: the chain/ database is damaged or from another node")
        return TxLocation(height, int.from_bytes(raw[8:12], "big"), msgspec.Raw(result))

    def has_tx(self, tx_id: bytes) -> bool:
        return self._db.get(_TX + tx_id) is not None

    # -- the consensus write-ahead record ------------------------------------------------------

    def put_consensus(self, records: Mapping[bytes, bytes | None]) -> None:
        """Durably apply the replica's Persist records (before its messages are sent)."""
        with self._writing("the consensus record"), self._wal.write_batch(sync=True, transaction=True) as batch:
            for key, value in records.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    def consensus_records(self) -> Iterator[tuple[bytes, bytes]]:
        yield from self._wal.iterator()
