"""The daemon's side of epochs (docs/CONSENSUS.md "Reconfiguration", docs/LEDGER.md "Validator set
and epochs"): the ledger's epoch records as the replica's ``consensus.Epoch``, handing the next one
to the replica when a block reveals it, and who the mesh links to.

The ledger decides (node.ledger.epochs); the replica switches (consensus.boundary); this module
only translates: an epoch record's validators, in consensus order, are the replica's members
(their compressed public keys) and their ``ValidatorSet`` its verifier.
"""

from __future__ import annotations

from collections.abc import Mapping

from consensus.epoch import Epoch
from consensus.replica import Replica
from node.kernel import crypto
from node.kernel.chain import ValidatorSet
from node.ledger.epochs import EpochRecord, epoch_history, epoch_of, pending_epoch, validator_set_of
from node.ledger.state import StateReaderLike
from node.p2p.handshake import Members

__all__ = ["consensus_epoch", "known_epochs", "schedule_pending", "members_at", "validators_of"]


def consensus_epoch(record: EpochRecord) -> Epoch:
    """The replica's view of an epoch record."""
    validators = validator_set_of(record)
    members = tuple(bytes.fromhex(v.pubkey) for v in record.validators)
    return Epoch(record.epoch, record.first_height, members, validators)


def known_epochs(state: StateReaderLike) -> list[Epoch]:
    """Every epoch executed state knows (epoch 0 first; the last may be pending)."""
    return [consensus_epoch(r) for r in epoch_history(state)]


def validators_of(epoch: Epoch) -> ValidatorSet:
    """The ValidatorSet an Epoch made by :func:`consensus_epoch` verifies with."""
    assert isinstance(epoch.verifier, ValidatorSet)
    return epoch.verifier


def schedule_pending(replica: Replica, state: StateReaderLike, executed: int) -> bool:
    """After executing block ``executed``: hand the replica the epoch it scheduled, if any
    (before ``replica.applied``). True if that is news (the mesh should learn the new members)."""
    record = pending_epoch(state, executed)
    if record is None or any(e.number == record.epoch for e in replica.epochs):
        return False
    replica.schedule_epoch(consensus_epoch(record))
    return True


def members_at(
    state: StateReaderLike, executed: int, urls_by_name: Mapping[str, str],
    observers: frozenset[crypto.PublicKey] = frozenset(),
) -> Members:
    """Who the mesh links to after block ``executed``: the validators of the epoch of the next
    block and of the pending one (a joining validator links before its epoch), at the URL the
    config gives by name or else the record's endpoint (None: not dialed, it may dial us)."""
    history = epoch_history(state)
    records = [epoch_of(history, executed + 1)]
    pending = pending_epoch(state, executed)
    if pending is not None:
        records.append(pending)
    validators: dict[crypto.PublicKey, str | None] = {}
    for record in records:
        for v in record.validators:
            validators[crypto.PublicKey.from_hex(v.pubkey)] = urls_by_name.get(v.name) or v.endpoint or None
    return Members.of(validators, observers)
