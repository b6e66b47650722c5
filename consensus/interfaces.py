"""What the caller injects: a signer for this replica and a verifier for all validators."""

from __future__ import annotations

from typing import Callable, Protocol

__all__ = ["Signer", "Verifier", "Validate", "DigestFn"]


class Signer(Protocol):
    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` with this replica's key."""
        ...


class Verifier(Protocol):
    def verify(self, replica: int, data: bytes, sig: bytes) -> bool:
        """True if ``sig`` is validator ``replica``'s signature on ``data``. Must not raise."""
        ...


Validate = Callable[[int, bytes, bytes], bool]
"""``validate(seq, digest, payload)``: may a backup prepare this proposal? (not called for nulls)"""

DigestFn = Callable[[bytes], bytes]
"""``digest(payload)``: the block digest; ``digest(b"")`` is the null block's digest."""
