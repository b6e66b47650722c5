"""Shared builders for kernel tests."""

from __future__ import annotations

from typing import Any

import pytest

from node.kernel import chain, crypto

CHAIN_ID = "wc-test"


def tx_body(key: crypto.SigningKey, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "chain_id": CHAIN_ID,
        "type": "transfer",
        "sender": key.address,
        "nonce": 7,
        "expires": 1_900_000_000_000,
        "payload": {"warrant": "ab" * 16, "to": "wc" + "00" * 20, "amount": 40_000_000},
    }
    body.update(overrides)
    return body


@pytest.fixture(scope="session")
def key() -> crypto.SigningKey:
    return crypto.generate_key()


@pytest.fixture(scope="session")
def validator_keys() -> list[crypto.SigningKey]:
    return [crypto.generate_key() for _ in range(4)]


@pytest.fixture(scope="session")
def validators(validator_keys: list[crypto.SigningKey]) -> chain.ValidatorSet:
    return chain.ValidatorSet(
        chain.Validator(name=f"v{i}", pubkey=k.public_key.hex(), address=k.address)
        for i, k in enumerate(validator_keys)
    )
