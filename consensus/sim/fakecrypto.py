"""Cheap fake signatures for the simulator and tests: HMAC-SHA256 with a per-replica key."""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["FakeSigner", "FakeVerifier", "fake_keys", "sha256", "DOMAIN"]

DOMAIN = b"warrantchain-sim"
"""The chain domain the simulated validators sign under."""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def fake_keys(n: int, salt: bytes = b"") -> list[bytes]:
    return [hashlib.sha256(b"fake-key/%d/" % i + salt).digest() for i in range(n)]


class FakeSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return hmac.digest(self._key, data, "sha256")  # one C call: hmac.new(...).digest() is five


class FakeVerifier:
    def __init__(self, keys: list[bytes]) -> None:
        self._keys = keys

    def verify(self, replica: int, data: bytes, sig: bytes) -> bool:
        if not 0 <= replica < len(self._keys):
            return False
        expected = hmac.digest(self._keys[replica], data, "sha256")
        return hmac.compare_digest(expected, sig)
