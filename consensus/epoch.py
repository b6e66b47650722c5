"""Epochs: which validators order which sequence numbers (docs/CONSENSUS.md, "Reconfiguration").

An :class:`Epoch` is a validator set (its members' keys, in replica-id order) and the first
sequence number it orders. Epoch 0 starts at seq 1; epoch ``e+1`` starts at ``first_seq``, one
above a checkpoint height. Replica ids, n, f and the quorum are per epoch; so is the signing domain
of every message but the Commit (see :func:`signing_domain`).

The boundary rule is the ledger's (node/ledger/epochs.py, docs/LEDGER.md): a change approved in
block ``a`` starts at ``c + 1`` for the first checkpoint height ``c > a``, and never less than K
after the epoch before it. So once block ``x`` is executed, the epoch of every seq up to
:func:`fixed_through` is known: no block after ``x`` can schedule an epoch starting at or below it.
A replica orders nothing above that height (it stashes what it gets for it) until it knows.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from consensus.interfaces import Verifier
from consensus.messages import ConsensusError

__all__ = ["Epoch", "first_seq_after", "fixed_through", "signing_domain", "check_next"]


@dataclass(frozen=True, slots=True)
class Epoch:
    """A validator set and the first seq it orders.

    ``members`` are the validators' identities (public keys) in replica-id order; ``verifier``
    checks the signature of member ``i`` of *this* epoch (``verifier.verify(i, data, sig)``)."""

    number: int
    first_seq: int
    members: tuple[bytes, ...]
    verifier: Verifier = field(compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.number < 0 or self.first_seq < 1 or (self.number == 0) != (self.first_seq == 1):
            raise ConsensusError("epoch 0 starts at seq 1, and only epoch 0 does")
        if not self.members or len(set(self.members)) != len(self.members):
            raise ConsensusError("an epoch needs distinct members")

    @property
    def n(self) -> int:
        return len(self.members)

    @property
    def base(self) -> int:
        """The seq before the first: the epoch's genesis (a checkpoint of the epoch before)."""
        return self.first_seq - 1

    def index(self, key: bytes) -> int | None:
        """The replica id of ``key`` in this epoch, or None if it is not a member."""
        try:
            return self.members.index(key)
        except ValueError:
            return None


_EPOCH = struct.Struct(">Q")


def signing_domain(chain_domain: bytes, epoch: int) -> bytes:
    """The domain every message of ``epoch`` but the Commit is signed under.

    Epoch 0 keeps the chain's own domain (so nothing signed before reconfiguration existed
    changes). A later epoch appends its number: a Status, Suspect, ViewChange, NewView... signed
    in epoch e never verifies in e+1, where the same replica id may be another key. The Commit
    stays under the chain domain because the node's certificate format is fixed by it
    (``commit_signing_bytes``); it is bound to an epoch by its seq: a commit (and a certificate)
    is only ever checked against the validator set of the epoch of its seq."""
    return chain_domain if epoch == 0 else chain_domain + b"/epoch/" + _EPOCH.pack(epoch)


def first_seq_after(approved: int, checkpoint_interval: int) -> int:
    """``c + 1`` for the first checkpoint height ``c > approved`` (the ledger's boundary rule)."""
    return (approved // checkpoint_interval + 1) * checkpoint_interval + 1


def fixed_through(applied: int, checkpoint_interval: int, newest: Epoch) -> int:
    """The last seq whose epoch is known once block ``applied`` is executed and ``newest`` is
    the newest epoch known then (perhaps not started): an epoch approved in a later block starts
    at ``first_seq_after(applied + 1)`` at the earliest, and K after ``newest`` at the earliest."""
    return max(first_seq_after(applied + 1, checkpoint_interval),
               newest.first_seq + checkpoint_interval) - 1


def check_next(known: Sequence[Epoch], epoch: Epoch, checkpoint_interval: int, horizon: int) -> None:
    """Raise ConsensusError unless ``epoch`` may follow the ``known`` ones: the next number,
    starting one above a checkpoint, K or more after the newest, and above ``horizon`` (the
    seqs this replica may already have ordered in the epoch before)."""
    newest = known[-1]
    if epoch.number != newest.number + 1:
        raise ConsensusError(f"epoch {epoch.number} cannot follow epoch {newest.number}")
    if epoch.base % checkpoint_interval or epoch.first_seq < newest.first_seq + checkpoint_interval:
        raise ConsensusError(f"epoch {epoch.number} must start one above a checkpoint, K after the last")
    if epoch.first_seq <= horizon:
        raise ConsensusError(
            f"epoch {epoch.number} starts at {epoch.first_seq}, but seqs up to {horizon} are "
            f"already fixed to epoch {newest.number} (scheduled too late)")
