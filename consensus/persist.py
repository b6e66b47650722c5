"""The write-ahead record: what a replica must find again after a crash.

Stored as key/value bytes through ``Persist(key, record)`` actions (``record.encode()`` gives
the value bytes; ``record is None`` deletes the key):

========================  ===================================================================
key                       value (canonical JSON)
========================  ===================================================================
``b"view"``               ``{"view": v, "active": bool, "epoch": e}`` -- current epoch and
                          view (views restart at 0 in each epoch), and whether its new view
                          was accepted (False: a view change to ``v`` is under way); ``epoch``
                          is left out for epoch 0
``b"checkpoint"``         the last stable checkpoint: ``{"seq", "digest", "proof"}`` with 2f+1
                          signed Checkpoint messages
``b"slot/" + seq(8B BE)``  ``{"view", "pre_prepare", "proof", "by_ref"}`` for a seq above the
                          stable checkpoint: the pre-prepare this replica accepted (or, as
                          primary, signed) in ``view`` -- it has prepared/committed nothing else
                          in that view for that seq -- and its highest-view prepared
                          certificate. Their blocks are not in it (``by_ref``: each is the
                          block record of its seq and digest). A ``None`` value deletes the key
                          (garbage collection).
``b"block/" + seq(8B BE)  the block (payload) of a pre-prepare of that slot, raw bytes: written
+ digest``                once when the slot record first names it, deleted with the slot or
                          when the slot record no longer names it
========================  ===================================================================

A block of 2,000 transactions is ~1.1 MB; the slot record is written twice per block (at the
pre-prepare and when prepared), so it refers to the block instead of holding it, and the block is
written once. A slot record without ``by_ref`` (written before) holds its blocks itself.

Why this is enough: a replica signs a Prepare or Commit (or, as primary, a PrePrepare) for
``(view, seq)`` only for the digest of the slot's accepted pre-prepare, which is persisted before
the signed message leaves. After a restart the slot holds that pre-prepare again, so any other
digest for that ``(view, seq)`` is refused as a CONFLICT. Prepared certificates are persisted
before the Commit is sent, so a restarted replica still reports them in its ViewChange (without
them, a committed block could be lost in a later view change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Union, cast

from consensus.messages import (
    Checkpoint,
    MalformedMessage,
    PrePrepare,
    PreparedProof,
    from_jsonable,
    pack,
    to_jsonable,
    unpack,
    unpack_value,
)

__all__ = [
    "KEY_VIEW",
    "KEY_CHECKPOINT",
    "SLOT_PREFIX",
    "BLOCK_PREFIX",
    "ViewRecord",
    "CheckpointRecord",
    "SlotRecord",
    "BlockRecord",
    "Record",
    "PersistedState",
    "decode_record",
    "slot_key",
    "block_key",
]

KEY_VIEW = b"view"
KEY_CHECKPOINT = b"checkpoint"
SLOT_PREFIX = b"slot/"
BLOCK_PREFIX = b"block/"


def slot_key(seq: int) -> bytes:
    return SLOT_PREFIX + seq.to_bytes(8, "big")


def block_key(seq: int, digest: bytes) -> bytes:
    return BLOCK_PREFIX + seq.to_bytes(8, "big") + digest


def _seq_of(key: bytes, prefix: bytes) -> int:
    return int.from_bytes(key[len(prefix):len(prefix) + 8], "big")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True, slots=True)
class ViewRecord:
    view: int
    active: bool
    epoch: int = 0

    def encode(self) -> bytes:
        body: dict[str, Any] = {"view": self.view, "active": self.active}
        if self.epoch:
            body["epoch"] = self.epoch
        return _dumps(body)


@dataclass(frozen=True, slots=True)
class CheckpointRecord:
    seq: int
    digest: bytes
    proof: tuple[Checkpoint, ...]

    def encode(self) -> bytes:
        return _dumps({
            "seq": self.seq, "digest": self.digest.hex(), "proof": [to_jsonable(c) for c in self.proof]
        })


@dataclass(frozen=True, slots=True)
class SlotRecord:
    view: int
    pre_prepare: PrePrepare | None
    proof: PreparedProof | None

    def blocks(self) -> dict[bytes, bytes]:
        """The blocks this record names, by digest: each is stored once as a :class:`BlockRecord`
        under ``block_key(seq, digest)``, and the record holds only the pre-prepares around them."""
        found = {} if self.proof is None else {self.proof.pre_prepare.digest: self.proof.pre_prepare.payload}
        if self.pre_prepare is not None:
            found[self.pre_prepare.digest] = self.pre_prepare.payload
        return found

    def encode(self) -> bytes:
        proof = self.proof
        return pack({
            "view": (self.view, "int"),
            "pre_prepare": (None if self.pre_prepare is None else _without_block(self.pre_prepare), PrePrepare),
            "proof": (None if proof is None else replace(proof, pre_prepare=_without_block(proof.pre_prepare)),
                      PreparedProof),
            "by_ref": (1, "int"),
        })


@dataclass(frozen=True, slots=True)
class BlockRecord:
    """A block a slot record names (``block_key(seq, digest)``), stored as its raw bytes."""

    payload: bytes

    def encode(self) -> bytes:
        return self.payload


def _without_block(pp: PrePrepare) -> PrePrepare:
    return replace(pp, payload=b"")


Record = Union[ViewRecord, CheckpointRecord, SlotRecord, BlockRecord]


def decode_record(key: bytes, value: bytes, stored: Mapping[bytes, bytes] | None = None) -> Record:
    """Inverse of ``record.encode()`` for the record stored under ``key``; a slot record's blocks
    are read from ``stored`` (every stored key/value: its block records)."""
    try:
        if key.startswith(SLOT_PREFIX):
            return _decode_slot(_seq_of(key, SLOT_PREFIX), value, stored or {})
        if key.startswith(BLOCK_PREFIX):
            if len(key) <= len(BLOCK_PREFIX) + 8:
                raise ValueError("block key without a digest")
            return BlockRecord(bytes(value))
        body = json.loads(value)
        if key == KEY_VIEW:
            return ViewRecord(int(body["view"]), bool(body["active"]), int(body.get("epoch", 0)))
        if key == KEY_CHECKPOINT:
            return CheckpointRecord(
                int(body["seq"]),
                bytes.fromhex(body["digest"]),
                tuple(from_jsonable(Checkpoint, c) for c in body["proof"]),
            )
    except (ValueError, KeyError, TypeError, MalformedMessage) as exc:
        raise MalformedMessage(f"corrupt persisted record {key!r}: {exc}") from None
    raise MalformedMessage(f"unknown persisted key {key!r}")


def _decode_slot(seq: int, value: bytes, stored: Mapping[bytes, bytes]) -> SlotRecord:
    body, blobs = unpack(value)
    if type(body) is not dict:
        raise ValueError("expected an object")
    pre_prepare = unpack_value(body["pre_prepare"], PrePrepare, blobs)
    proof = unpack_value(body["proof"], PreparedProof, blobs)
    if body.get("by_ref") is not None:
        if body["by_ref"] != 1 or set(body) != {"view", "pre_prepare", "proof", "by_ref"}:
            raise ValueError("unknown slot record format")

        def with_block(pp: PrePrepare) -> PrePrepare:
            payload = stored.get(block_key(seq, pp.digest))
            if payload is None:
                raise ValueError(f"the block {pp.digest.hex()[:16]} of slot {seq} is missing")
            return replace(pp, payload=bytes(payload))

        pre_prepare = None if pre_prepare is None else with_block(pre_prepare)
        proof = None if proof is None else replace(proof, pre_prepare=with_block(proof.pre_prepare))
    return SlotRecord(unpack_value(body["view"], "int", blobs), pre_prepare, proof)


@dataclass
class PersistedState:
    """Everything read back from the Persist records, handed to ``Replica(persisted=...)``."""

    view: int = 0
    active: bool = True
    epoch: int = 0
    """The epoch ``view`` belongs to (a record of an older epoch than the application's height
    implies is not resumed: the replica starts that epoch afresh at its base)."""
    stable_seq: int = 0
    stable_digest: bytes = b""
    stable_proof: tuple[Checkpoint, ...] = ()
    slots: dict[int, SlotRecord] = field(default_factory=dict)
    blocks: dict[int, set[bytes]] = field(default_factory=dict)
    """The digests of the block records stored for each seq above the stable checkpoint."""

    @classmethod
    def from_items(cls, items: Mapping[bytes, bytes]) -> PersistedState:
        """Rebuild from stored bytes (the key/values left after applying every Persist).

        Slot and block records at or below the stable checkpoint are not read: garbage
        collection deletes a slot's blocks in the batch that moves the checkpoint past it, and
        a slot record left behind there (one of an epoch before) may name deleted blocks."""
        raw = items.get(KEY_CHECKPOINT)
        stable = 0 if raw is None else cast(CheckpointRecord, decode_record(KEY_CHECKPOINT, raw)).seq

        def collected(key: bytes) -> bool:
            prefix = SLOT_PREFIX if key.startswith(SLOT_PREFIX) else BLOCK_PREFIX if key.startswith(BLOCK_PREFIX) else None
            return prefix is not None and _seq_of(key, prefix) <= stable

        return cls.from_records({k: decode_record(k, v, items) for k, v in items.items() if not collected(k)})

    @classmethod
    def from_records(cls, records: Mapping[bytes, Record]) -> PersistedState:
        """Rebuild from record objects (``Persist.record``), e.g. in the simulator."""
        state = cls()
        for key, rec in records.items():
            if isinstance(rec, ViewRecord):
                state.view, state.active, state.epoch = rec.view, rec.active, rec.epoch
            elif isinstance(rec, CheckpointRecord):
                state.stable_seq, state.stable_digest, state.stable_proof = (
                    rec.seq, rec.digest, rec.proof
                )
            elif isinstance(rec, BlockRecord):
                state.blocks.setdefault(_seq_of(key, BLOCK_PREFIX), set()).add(key[len(BLOCK_PREFIX) + 8:])
            else:
                state.slots[_seq_of(key, SLOT_PREFIX)] = rec
        state.slots = {s: r for s, r in state.slots.items() if s > state.stable_seq}
        state.blocks = {s: d for s, d in state.blocks.items() if s > state.stable_seq}
        return state
