"""Epochs: which validator set certifies which heights. Records, the boundary rule, and look-ups.

Rules of this file: everything that decides "the validator set at height h" lives here, as pure
functions over epoch records, so that the ledger (which writes the records), the node and the
replica (which read them from state) and the offline bundle verifier (which reads them from a
proof bundle) share one definition. docs/LEDGER.md, "Validator set and epochs", is the contract.

An epoch is a validator set and the first height it certifies. Epoch 0 is the genesis validator
set from height 1, written into state at genesis. Each later epoch is the result of exactly one
approved governance proposal (node.ledger.governance) and records its predecessor's hash, so the
records form a hash chain from genesis::

    epoch/<epoch as 8 bytes BE> -> {"approved_height", "epoch", "first_height", "previous",
                                    "proposal", "validators": [{"address", "endpoint", "name", "pubkey"}]}
    epoch-tip                   -> the newest epoch's number (ASCII)

The boundary (:func:`first_height_after`): a change approved in block ``a`` takes effect at
``c + 1``, where ``c`` is the first checkpoint height (a multiple of ``checkpoint_interval``)
*above* ``a``. Strictly above, so that block ``a + 1``, whose header's ``results_root`` proves the
approval's result, is still certified by the old set: a verifier then learns each new set from
signatures of the set before it, never from the new set vouching for itself. Two changes never
share an epoch: one approved while another is still pending starts ``checkpoint_interval`` blocks
after it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Protocol

import msgspec

from node.errors import ChainError
from node.kernel import codec
from node.kernel.chain import Validator, ValidatorSet
from node.ledger.state import StateReaderLike

__all__ = [
    "EPOCH_PREFIX",
    "MAX_VALIDATORS",
    "KEY_EPOCH_TIP",
    "GENESIS_PREVIOUS",
    "EpochRecord",
    "EpochValidator",
    "check_succession",
    "describe_epoch",
    "epoch_at",
    "epoch_history",
    "epoch_of",
    "epoch_writes",
    "first_height_after",
    "fixed_through",
    "genesis_epoch",
    "key_epoch",
    "latest_epoch",
    "next_first_height",
    "pending_epoch",
    "record_hash",
    "validator_set_at",
    "validator_history_query",
    "validator_set_of",
    "validator_set_query",
]

EPOCH_PREFIX = b"epoch/"
MAX_VALIDATORS = 64  # every validator signs every slot: consensus traffic grows with n squared
KEY_EPOCH_TIP = b"epoch-tip"  # the newest epoch's number (outside the epoch/ prefix)
GENESIS_PREVIOUS = "00" * 32  # epoch 0 has no predecessor
_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_ProposalId = Annotated[str, msgspec.Meta(pattern="^([0-9a-f]{64})?$")]
_U63 = Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]
_PubKey = Annotated[str, msgspec.Meta(pattern="^0[23][0-9a-f]{64}$")]
_Address = Annotated[str, msgspec.Meta(pattern="^wc[0-9a-f]{40}$")]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Endpoint = Annotated[str, msgspec.Meta(max_length=255)]


class EpochValidator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A validator of an epoch: its identity (as in genesis) and where the mesh reaches it ("" if
    unknown: genesis validators' endpoints live in each node's config)."""

    name: _Name
    pubkey: _PubKey
    address: _Address
    endpoint: _Endpoint = ""


class EpochRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    epoch: _U63
    first_height: _U63  # the first block this set certifies
    validators: list[EpochValidator]  # consensus order: index i signs as validator i
    previous: _Hex32  # record_hash of epoch - 1 (GENESIS_PREVIOUS for epoch 0)
    proposal: _ProposalId  # the governance proposal (its tx id) that made it; "" for epoch 0
    approved_height: _U63  # the block whose transaction reached the quorum; 0 for epoch 0


def key_epoch(epoch: int) -> bytes:
    return EPOCH_PREFIX + epoch.to_bytes(8, "big")


def record_hash(record: EpochRecord) -> bytes:
    """SHA-256 of the record's canonical JSON: what the next record names as ``previous``."""
    return hashlib.sha256(codec.encode(record)).digest()


def genesis_epoch(validators: Iterable[Validator]) -> EpochRecord:
    """Epoch 0: the genesis validators from height 1."""
    members = [EpochValidator(name=v.name, pubkey=v.pubkey, address=v.address) for v in validators]
    return EpochRecord(epoch=0, first_height=1, validators=members, previous=GENESIS_PREVIOUS, proposal="",
                       approved_height=0)


def validator_set_of(record: EpochRecord) -> ValidatorSet:
    """The record's set as consensus uses it (raises ChainError if keys and addresses disagree)."""
    return ValidatorSet(Validator(name=v.name, pubkey=v.pubkey, address=v.address) for v in record.validators)


# -- the boundary rule ----------------------------------------------------------------------------

def first_height_after(approval_height: int, checkpoint_interval: int) -> int:
    """``c + 1`` for the first checkpoint height ``c > approval_height`` (``c % interval == 0``).

    >>> first_height_after(9, 10), first_height_after(10, 10), first_height_after(11, 10), first_height_after(5, 1)
    (11, 21, 21, 7)
    """
    return (approval_height // checkpoint_interval + 1) * checkpoint_interval + 1


def next_first_height(latest: EpochRecord, approval_height: int, checkpoint_interval: int) -> int:
    """First height of an epoch approved at ``approval_height`` after ``latest`` (the newest record,
    perhaps still pending): the boundary rule, but never sharing or preceding ``latest``'s boundary."""
    return max(first_height_after(approval_height, checkpoint_interval), latest.first_height + checkpoint_interval)


def check_succession(previous: EpochRecord, record: EpochRecord, checkpoint_interval: int) -> None:
    """Raise ChainError unless ``record`` may follow ``previous``: the next number, the previous
    record's hash, approved at a height ``previous`` already certifies, starting at the boundary
    rule's height, approved no earlier than ``previous`` (possibly while ``previous`` was still
    pending), and a valid validator set. The ledger asserts it on what it writes; the bundle
    verifier checks it on what a bundle claims."""
    what = f"epoch {record.epoch}"
    if record.epoch != previous.epoch + 1:
        raise ChainError(f"{what} does not follow epoch {previous.epoch}")
    if record.previous != record_hash(previous).hex():
        raise ChainError(f"{what} names {record.previous[:16]}… as its predecessor, not the hash of epoch {previous.epoch}")
    if not record.proposal:
        raise ChainError(f"{what} names no proposal")
    if record.approved_height < max(previous.approved_height, 1):
        raise ChainError(f"{what} was approved at height {record.approved_height}, before epoch {previous.epoch} was")
    expected = next_first_height(previous, record.approved_height, checkpoint_interval)
    if record.first_height != expected:
        raise ChainError(f"{what} starts at height {record.first_height}; approved at height "
                         f"{record.approved_height} it must start at {expected}")
    if len(record.validators) > MAX_VALIDATORS:
        raise ChainError(f"{what} has {len(record.validators)} validators; at most {MAX_VALIDATORS}")
    validator_set_of(record)


# -- look-ups ------------------------------------------------------------------------------------

def epoch_of(records: Sequence[EpochRecord], height: int) -> EpochRecord:
    """The record in force at ``height``: the last one (by epoch) whose ``first_height <= height``.
    ``records`` are in epoch order and start with epoch 0."""
    found = records[0]
    for record in records[1:]:
        if record.first_height > height:
            break
        found = record
    return found


def epoch_history(reader: StateReaderLike) -> list[EpochRecord]:
    """Every epoch record in state, epoch 0 first (the last may still be pending)."""
    records: list[EpochRecord] = [codec.decode(raw, EpochRecord) for _, raw in reader.scan(EPOCH_PREFIX)]
    if not records:
        raise ChainError("state has no epoch records: it was not initialised from a genesis file by this version")
    return records


class _Getter(Protocol):
    def get(self, key: bytes) -> bytes | None: ...


def latest_epoch(state: _Getter) -> EpochRecord:
    """The newest record (scheduled or in force), through ``get`` alone, so that an overlay sees
    a record written earlier in the same block."""
    tip = state.get(KEY_EPOCH_TIP)
    raw = None if tip is None else state.get(key_epoch(int(tip)))
    if raw is None:
        raise ChainError("state has no epoch records: it was not initialised from a genesis file by this version")
    record: EpochRecord = codec.decode(raw, EpochRecord)
    return record


def epoch_writes(record: EpochRecord) -> dict[bytes, bytes]:
    """The state writes that add ``record`` as the newest epoch (genesis and governance use them)."""
    return {key_epoch(record.epoch): codec.encode(record), KEY_EPOCH_TIP: b"%d" % record.epoch}


def epoch_at(reader: StateReaderLike, height: int) -> EpochRecord:
    """The record in force at ``height``, from committed state."""
    return epoch_of(epoch_history(reader), height)


def validator_set_at(reader: StateReaderLike, height: int) -> ValidatorSet:
    """The validator set that certifies block ``height``, from committed state.

    Valid for any height up to the newest record's first height and beyond: state written up to
    block ``a`` knows every epoch that starts at or before the first checkpoint above ``a``.
    """
    return validator_set_of(epoch_at(reader, height))


def fixed_through(state: _Getter, executed: int, checkpoint_interval: int) -> int:
    """The last height whose validator set is already fixed by state executed to block ``executed``:
    no later block can schedule an epoch that starts at or below it. At least ``executed + 2``
    (an epoch starts two blocks after its approval at the earliest). A replica may order, and a
    node may verify certificates of, heights up to this one with :func:`validator_set_at`."""
    return next_first_height(latest_epoch(state), executed + 1, checkpoint_interval) - 1


def pending_epoch(reader: StateReaderLike, height: int) -> EpochRecord | None:
    """The scheduled epoch that starts after ``height`` (the height state was executed to), if any."""
    latest = latest_epoch(reader)
    return latest if latest.first_height > height else None


# -- queries (plain dicts for the RPC) ---------------------------------------------------------

def describe_epoch(record: EpochRecord) -> dict[str, Any]:
    """The record as JSON, with its hash, size n, faults tolerated f and commit quorum."""
    validators = validator_set_of(record)
    out: dict[str, Any] = msgspec.to_builtins(record)
    out.update(hash=record_hash(record).hex(), n=len(validators), f=validators.f, quorum=validators.quorum)
    return out


def validator_set_query(reader: StateReaderLike, height: int, executed: int, checkpoint_interval: int) -> dict[str, Any]:
    """``validator_set``: the epoch in force at ``height`` as state executed to ``executed`` knows
    it; ``final`` is False if a block after ``executed`` could still schedule an epoch that starts
    at or below ``height``; ``pending`` is the epoch scheduled after ``executed``, if any."""
    pending = pending_epoch(reader, executed)
    final = height <= fixed_through(reader, executed, checkpoint_interval)
    return {"height": height, "epoch": describe_epoch(epoch_at(reader, height)), "final": final,
            "pending": None if pending is None else describe_epoch(pending)}


def validator_history_query(reader: StateReaderLike, executed: int) -> dict[str, Any]:
    """``validator_history``: every epoch from genesis, each with ``status`` active / past / pending."""
    records = epoch_history(reader)
    current = epoch_of(records, executed + 1).epoch
    epochs = []
    for record in records:
        status = "active" if record.epoch == current else ("past" if record.epoch < current else "pending")
        epochs.append({**describe_epoch(record), "status": status})
    return {"epochs": epochs}
