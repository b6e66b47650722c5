"""What the caller injects: a signer for this replica, a verifier for all validators, the
application's check of a proposal (answering with a :class:`Validation`) and the block digest."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Protocol

__all__ = [
    "Signer", "Verifier", "Validate", "DigestFn", "Validity", "Validation", "ACCEPT", "reject",
    "later",
]


class Signer(Protocol):
    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with this replica's key."""
        ...


class Verifier(Protocol):
    def verify(self, replica: int, data: bytes, sig: bytes) -> bool:
        """True if ``sig`` is validator ``replica``'s signature on ``data``. Must not raise."""
        ...


class Validity(enum.Enum):
    ACCEPT = "accept"
    """The backup may prepare the proposal."""
    REJECT = "reject"
    """Never: the proposal breaks the application's rules (the slot counts as waiting, so the
    view timer runs and a primary that keeps proposing such blocks is replaced)."""
    LATER = "later"
    """Not yet: the application can only check it after executing block seq-1 (its header
    commits to the state after it). The replica keeps it and asks again once
    ``Replica.applied(height)`` says height >= seq-1."""


@dataclass(frozen=True, slots=True)
class Validation:
    """The application's verdict on a proposal, with the reason for a REJECT or a LATER."""

    validity: Validity
    reason: str = ""


ACCEPT = Validation(Validity.ACCEPT)


def reject(reason: str) -> Validation:
    return Validation(Validity.REJECT, reason)


def later(reason: str) -> Validation:
    return Validation(Validity.LATER, reason)


Validate = Callable[[int, bytes, bytes], Validation]
"""``validate(seq, digest, payload)``: may a backup prepare this proposal? Not called for null
blocks nor for the pre-prepares of a NewView; called only after the replica's own checks
(signature, sender is the view's primary, view, window, digest, first for its slot)."""

DigestFn = Callable[[bytes], bytes]
"""``digest(payload)``: the block digest; ``digest(b"")`` is the null block's digest."""
