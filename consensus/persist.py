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
``b"slot/" + seq(8B BE)``  ``{"view", "pre_prepare", "proof"}`` for a seq above the stable
                          checkpoint: the pre-prepare this replica accepted (or, as primary,
                          signed) in ``view`` -- it has prepared/committed nothing else in that
                          view for that seq -- and its highest-view prepared certificate. A
                          ``None`` value deletes the key (garbage collection).
========================  ===================================================================

Why this is enough: a replica signs a Prepare or Commit (or, as primary, a PrePrepare) for
``(view, seq)`` only for the digest of the slot's accepted pre-prepare, which is persisted before
the signed message leaves. After a restart the slot holds that pre-prepare again, so any other
digest for that ``(view, seq)`` is refused as a CONFLICT. Prepared certificates are persisted
before the Commit is sent, so a restarted replica still reports them in its ViewChange (without
them, a committed block could be lost in a later view change).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Mapping, Union

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
    "ViewRecord",
    "CheckpointRecord",
    "SlotRecord",
    "Record",
    "PersistedState",
    "decode_record",
    "slot_key",
]

KEY_VIEW = b"view"
KEY_CHECKPOINT = b"checkpoint"
SLOT_PREFIX = b"slot/"


def slot_key(seq: int) -> bytes:
    return SLOT_PREFIX + seq.to_bytes(8, "big")


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

    def encode(self) -> bytes:
        return pack({
            "view": (self.view, "int"),
            "pre_prepare": (self.pre_prepare, PrePrepare),
            "proof": (self.proof, PreparedProof),
        })


Record = Union[ViewRecord, CheckpointRecord, SlotRecord]


def decode_record(key: bytes, value: bytes) -> Record:
    """Inverse of ``record.encode()`` for the record stored under ``key``."""
    try:
        if key.startswith(SLOT_PREFIX):
            body, blobs = unpack(value)
            return SlotRecord(
                unpack_value(body["view"], "int", blobs),
                unpack_value(body["pre_prepare"], PrePrepare, blobs),
                unpack_value(body["proof"], PreparedProof, blobs),
            )
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

    @classmethod
    def from_items(cls, items: Mapping[bytes, bytes]) -> PersistedState:
        """Rebuild from stored bytes (the key/values left after applying every Persist)."""
        return cls.from_records({k: decode_record(k, v) for k, v in items.items()})

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
            else:
                state.slots[int.from_bytes(key[len(SLOT_PREFIX):], "big")] = rec
        state.slots = {s: r for s, r in state.slots.items() if s > state.stable_seq}
        return state
