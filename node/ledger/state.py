"""The state overlay the ledger executes on, and the incremental state root.

Rules of this file: the ledger reads and writes state only through :class:`Overlay`; nothing here
knows about warrants. Reads fall through to committed state (a ``StateReader``: ``get`` and
``scan``), writes stay in the overlay until the daemon commits them with the block.

Savepoints: :meth:`Overlay.savepoint` before each transaction, :meth:`Overlay.rollback` if it
fails, so a failed transaction changes nothing.

State root (docs/LEDGER.md has the security argument): an additive multiset hash over
Z/2^4096. Every live (key, value) pair has the element
``int.from_bytes(SHAKE-256(len(key) as 4 bytes || key || value).digest(512), "little")``; the
accumulator is their sum mod 2^4096 and the root is SHA-256 of its 512 little-endian bytes. At the
end of a block, for each key the block wrote, the old pair's element is subtracted and the new
one's added, so the cost follows what the block changed, not the size of the state. The
accumulator lives under the reserved key :data:`ACC_KEY`, which is itself outside the sum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

__all__ = [
    "ACC_KEY",
    "DictReader",
    "Overlay",
    "StateReaderLike",
    "element",
    "full_accumulator",
    "root_of",
]

ACC_KEY = b"~acc"
_BITS = 4096
_BYTES = _BITS // 8
_MASK = (1 << _BITS) - 1
_shake = hashlib.shake_256
_sha256 = hashlib.sha256
_MISSING: Any = object()  # "no entry" in dict.get, where None means a deleted key


class StateReaderLike(Protocol):
    """What the ledger needs from committed state (node.store.leveldb.StateReader has it)."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]: ...


class DictReader:
    """Committed state in memory (genesis, tests, tools): same interface as StateReader."""

    __slots__ = ("data",)

    def __init__(self, data: dict[bytes, bytes] | None = None) -> None:
        self.data: dict[bytes, bytes] = {} if data is None else data

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        for key in sorted(k for k in self.data if k.startswith(prefix)):
            yield key, self.data[key]

    def commit(self, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply a block's writes (None deletes), as Store.commit_block does."""
        for key, value in writes.items():
            if value is None:
                self.data.pop(key, None)
            else:
                self.data[key] = value


def element(key: bytes, value: bytes) -> int:
    """The multiset-hash element of one (key, value) pair."""
    return int.from_bytes(_shake(len(key).to_bytes(4, "big") + key + value).digest(_BYTES), "little")


def root_of(accumulator: int) -> bytes:
    return _sha256(accumulator.to_bytes(_BYTES, "little")).digest()


def full_accumulator(pairs: Iterator[tuple[bytes, bytes]]) -> int:
    """Accumulator recomputed from scratch over all pairs (audits and tests; O(state))."""
    total = 0
    for key, value in pairs:
        if key != ACC_KEY:
            total += element(key, value)
    return total & _MASK


class Overlay:
    """Uncommitted writes over committed state, with savepoints and the root update."""

    __slots__ = ("_base", "_committed", "_journal", "_serial", "_writes")

    def __init__(self, base: StateReaderLike) -> None:
        self._base = base
        self._writes: dict[bytes, bytes | None] = {}
        self._committed: dict[bytes, bytes | None] = {}  # committed value of every key read
        self._journal: list[tuple[bytes, object]] | None = None
        self._serial = 0

    @property
    def base(self) -> StateReaderLike:
        return self._base

    def get(self, key: bytes) -> bytes | None:
        writes = self._writes
        if key in writes:
            return writes[key]
        committed = self._committed
        if key in committed:
            return committed[key]
        value = committed[key] = self._base.get(key)
        return value

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Pairs under ``prefix`` as this overlay sees them (committed state with its writes), in
        key order. Costs a pass over the block's writes, so execution calls it only in rare
        transactions (a document's dispute), never per transfer."""
        writes = self._writes
        mine = [key for key in writes if key.startswith(prefix)]
        if not mine:
            yield from self._base.scan(prefix)
            return
        merged: dict[bytes, bytes | None] = dict(self._base.scan(prefix))
        for key in mine:
            merged[key] = writes[key]
        for key in sorted(merged):
            value = merged[key]
            if value is not None:
                yield key, value

    def put(self, key: bytes, value: bytes | None) -> None:
        """Set ``key`` to ``value``; None deletes it."""
        writes = self._writes
        journal = self._journal
        if journal is not None:
            journal.append((key, writes.get(key, _MISSING)))
        writes[key] = value

    def put_new(self, key: bytes, value: bytes) -> None:
        """Set a key the caller knows was never written before (it embeds a fresh warrant id,
        derived from the unique transaction id), sparing the committed-state lookup at finish."""
        # put's body, not a call to it: six of these per transfer, each executed on every node.
        writes = self._writes
        previous = writes.get(key, _MISSING)
        if previous is _MISSING and key not in self._committed:
            self._committed[key] = None
        journal = self._journal
        if journal is not None:
            journal.append((key, previous))
        writes[key] = value

    def delete(self, key: bytes) -> None:
        self.put(key, None)

    def serial(self) -> int:
        """A number unique within this overlay's block, increasing in execution order: orders
        append-only keys written in the same block. Not rolled back (gaps are harmless)."""
        self._serial += 1
        return self._serial

    # -- savepoints ----------------------------------------------------------------------------

    def savepoint(self) -> None:
        """Start recording writes so that :meth:`rollback` can undo them."""
        self._journal = []

    def release(self) -> None:
        """Keep the writes since the savepoint."""
        self._journal = None

    def rollback(self) -> None:
        """Undo every write since the savepoint."""
        journal, self._journal = self._journal, None
        if not journal:
            return
        writes = self._writes
        for key, previous in reversed(journal):
            if previous is _MISSING:
                del writes[key]
            else:
                writes[key] = previous  # type: ignore[assignment]

    # -- finishing a block -----------------------------------------------------------------------

    def finish(self) -> tuple[dict[bytes, bytes | None], bytes]:
        """The block's net writes (accumulator included) and the new state root.

        Writes that leave a key as it was committed are dropped, so they cost nothing to commit.
        """
        committed = self._committed
        base_get = self._base.get
        raw = base_get(ACC_KEY)
        acc = 0 if raw is None else int.from_bytes(raw, "little")
        out: dict[bytes, bytes | None] = {}
        shake = _shake
        from_bytes = int.from_bytes
        committed_get = committed.get
        for key, new in self._writes.items():
            old = committed_get(key, _MISSING)
            if old is _MISSING:
                old = base_get(key)
            if old == new:
                continue
            prefix = len(key).to_bytes(4, "big") + key
            if old is not None:
                acc -= from_bytes(shake(prefix + old).digest(_BYTES), "little")
            if new is not None:
                acc += from_bytes(shake(prefix + new).digest(_BYTES), "little")
            out[key] = new
        acc &= _MASK
        acc_bytes = acc.to_bytes(_BYTES, "little")
        out[ACC_KEY] = acc_bytes
        return out, _sha256(acc_bytes).digest()
