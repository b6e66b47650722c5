"""Epoch changes in proof bundles: how a bundle proves the validator set of every height it uses.

A bundle whose headers reach past the genesis validator set's epoch carries, in ``epochs``, one
entry per epoch change from epoch 1 on: the transaction that enacted it (the approval that reached
the admins' quorum, or a proposal under quorum 1), with its Merkle proof into the ``tx_root`` of
its block and its result's proof into the next header's ``results_root``. The result's
``epoch_scheduled`` event holds the new epoch record (node.ledger.epochs). Both headers lie below
the new epoch's first height (the boundary rule), so they are certified by validators the
verifier already knows: starting from the genesis file, each set is proven by signatures of the
set before it. Format: docs/PROTOCOL.md, "Proof bundles".

:func:`epochs_to_prove` and :func:`enacting_index` serve the builder; :func:`establish_epochs`
the verifier (node.bundles), which then checks every other certificate against
``epoch_of(records, height)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from node.errors import ChainError, EncodingError
from node.kernel import codec
from node.kernel.chain import SignedTx, ValidatorSet
from node.kernel.genesis import Genesis
from node.ledger.epochs import EpochRecord, check_succession, epoch_of, genesis_epoch, record_hash, validator_set_of

__all__ = ["GOVERNANCE_TXS", "EpochChange", "certifying_heights", "enacting_index", "epochs_to_prove", "establish_epochs", "scheduled_record"]

GOVERNANCE_TXS = frozenset({"propose_validator_change", "approve_validator_change"})
EpochChange = tuple[int, SignedTx, Mapping[str, Any] | None]  # (height, enacting tx, its proven result)


def epochs_to_prove(records: Sequence[EpochRecord], top_height: int) -> list[EpochRecord]:
    """The epoch changes a bundle whose highest header is ``top_height`` must carry: every epoch
    after 0 that begins at or below it (each one's proof needs only the ones before it)."""
    return [r for r in records[1:] if r.first_height <= top_height]


def _scheduled_events(result: Mapping[str, Any]) -> list[Any]:
    events = result.get("events")
    return [e for e in events if isinstance(e, dict) and e.get("type") == "epoch_scheduled"] if isinstance(events, list) else []


def enacting_index(results: Sequence[bytes], epoch: int) -> int | None:
    """Index of the transaction whose result schedules ``epoch``, in a block's stored results."""
    for index, raw in enumerate(results):
        for event in _scheduled_events(codec.decode(raw)):
            if isinstance(event.get("epoch"), dict) and event["epoch"].get("epoch") == epoch:
                return index
    return None


def scheduled_record(result: Mapping[str, Any]) -> EpochRecord:
    """The epoch record a result's single ``epoch_scheduled`` event carries, checked against the
    event's ``hash``."""
    events = _scheduled_events(result)
    if len(events) != 1:
        raise ChainError(f"its result schedules {len(events)} epochs; an epoch change schedules exactly one")
    try:
        record: EpochRecord = codec.convert(events[0].get("epoch"), EpochRecord)
    except EncodingError as exc:
        raise ChainError(f"its epoch record is malformed: {exc}") from None
    if events[0].get("hash") != record_hash(record).hex():
        raise ChainError(f"epoch {record.epoch}: the event's hash is not the hash of its record")
    return record


def certifying_heights(headers: Mapping[int, tuple[Any, bytes]], height: int, null_digest: bytes) -> list[int]:
    """``height`` and the headers after it up to the first certified by its own hash (headers maps
    a height to (entry, the digest its certificate signs))."""
    out = [height]
    while True:
        found = headers.get(out[-1] + 1)
        if found is None:  # the bundle's shape checks refuse a null block without a linked successor
            return out
        out.append(out[-1] + 1)
        if found[1] != null_digest:
            return out


def establish_epochs(
    changes: Sequence[EpochChange],
    genesis: Genesis,
    proving_heights: Callable[[int], list[int]],
    verify_header: Callable[[int, ValidatorSet], None],
) -> tuple[list[EpochRecord], set[int]]:
    """Epoch records from genesis through ``changes`` (in order), each proven under the one before.

    ``proving_heights(h)`` lists the headers that certify block ``h``'s transaction and result
    (``h``, ``h + 1`` and any null blocks before the next certified header);
    ``verify_header(height, validators)`` checks one header's certificate. Returns the records and
    the heights whose certificates were verified here. Raises ChainError naming what is wrong.
    """
    records = [genesis_epoch(genesis.validators)]
    sets = [validator_set_of(records[0])]
    admins = {admin.address for admin in genesis.admins}
    verified: set[int] = set()
    interval = genesis.params.checkpoint_interval
    for height, tx, result in changes:
        what = f"epoch change at height {height} (transaction {tx.id_hex})"
        if result is None:
            raise ChainError(f"{what} carries no proven result")
        if tx.body.type not in GOVERNANCE_TXS:
            raise ChainError(f"{what} is a {tx.body.type!r}, not a governance transaction")
        if tx.body.sender not in admins:
            raise ChainError(f"{what} is signed by {tx.body.sender}, not an alliance admin of genesis")
        try:
            record = scheduled_record(result)
            check_succession(records[-1], record, interval)
        except ChainError as exc:
            raise ChainError(f"{what}: {exc}") from None
        named = tx.id_hex if tx.body.type == "propose_validator_change" else tx.body.payload.get("proposal")
        if record.proposal != named or record.approved_height != height:
            raise ChainError(f"{what} does not enact proposal {record.proposal[:16]}… at height {record.approved_height}")
        for proof_height in proving_heights(height):
            if proof_height >= record.first_height:  # the new set would vouch for itself
                raise ChainError(f"{what}: header {proof_height} that proves it is not certified by the set before it")
            verify_header(proof_height, sets[epoch_of(records, proof_height).epoch])
            verified.add(proof_height)
        tx.verify()
        records.append(record)
        sets.append(validator_set_of(record))
    return records, verified

