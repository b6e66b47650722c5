"""The daemon's side of epochs (docs/CONSENSUS.md "Reconfiguration", docs/LEDGER.md "Validator set
and epochs"): the ledger's epoch records as the replica's ``consensus.Epoch``, handing the next one
to the replica when a block reveals it, and whether a key votes (the mesh's members are
node.observer.membership's).

The ledger decides (node.ledger.epochs); the replica switches (consensus.boundary); this module
only translates: an epoch record's validators, in consensus order, are the replica's members
(their compressed public keys) and their ``ValidatorSet`` its verifier.
"""

from __future__ import annotations

from consensus.epoch import Epoch
from consensus.replica import Replica
from node.kernel import crypto
from node.kernel.chain import ValidatorSet
from node.ledger.epochs import EpochRecord, epoch_history, pending_epoch, validator_set_of
from node.ledger.state import StateReaderLike

__all__ = ["consensus_epoch", "known_epochs", "schedule_pending", "validators_of", "voter_in"]


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


def voter_in(epochs: list[Epoch], height: int, key: crypto.PublicKey) -> Epoch | None:
    """The epoch of block ``height + 1`` if ``key`` is one of its validators, else None."""
    current = [e for e in epochs if e.first_seq <= height + 1][-1]
    return current if key.raw in current.members else None


def schedule_pending(replica: Replica, state: StateReaderLike, executed: int) -> bool:
    """After executing block ``executed``: hand the replica the epoch it scheduled, if any
    (before ``replica.applied``). True if that is news (the mesh should learn the new members)."""
    record = pending_epoch(state, executed)
    if record is None or any(e.number == record.epoch for e in replica.epochs):
        return False
    replica.schedule_epoch(consensus_epoch(record))
    return True
