"""The genesis file: chain id, validators, alliance admins, pre-registered accounts, parameters.

Its hash (SHA-256 of its canonical encoding) identifies the chain: a data directory, a peer and a
proof bundle are all checked against it. The format is documented in docs/PROTOCOL.md.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from node.errors import ChainError, CryptoError, EncodingError
from node.kernel import codec, crypto
from node.kernel.chain import Validator, ValidatorSet, check_chain_id

__all__ = ["ROLES", "GenesisAccount", "GenesisAdmin", "ChainParams", "Genesis", "load_genesis", "parse_genesis"]

ROLES = ("core", "supplier", "financier", "regulator")
Role = Literal["core", "supplier", "financier", "regulator"]
_PubKey = Annotated[str, msgspec.Meta(pattern="^0[23][0-9a-f]{64}$")]
_Address = Annotated[str, msgspec.Meta(pattern="^wc[0-9a-f]{40}$")]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_Positive = Annotated[int, msgspec.Meta(ge=1, le=codec.INT64_MAX)]


class GenesisAdmin(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An alliance admin: signs register_account and set_role, and nothing else, so it has no role
    (a file that gives one is refused rather than have a field that means nothing enter the hash)."""

    name: _Name
    address: _Address
    pubkey: _PubKey


class GenesisAccount(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An account registered from the start, with its role."""

    name: _Name
    address: _Address
    pubkey: _PubKey
    role: Role = "supplier"


class ChainParams(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Rules every validator must apply identically."""

    max_block_txs: _Positive = 2000
    max_block_bytes: _Positive = 2 * 1024 * 1024
    max_tx_ttl_ms: _Positive = 24 * 3600 * 1000  # how far in the future a tx's `expires` may lie
    # Block time must be timely against each backup's clock when the proposal arrives (CometBFT's
    # proposer-based timestamps: PRECISION and MSGDELAY): at most max_clock_drift_ms ahead of it
    # (how far correct clocks may differ), at most max_clock_drift_ms + max_block_delay_ms behind
    # it (clock difference plus how long a correct proposal may take to arrive and be read).
    # docs/CONSENSUS.md, "Block time", has the argument and what it means for maturity and expiry.
    max_clock_drift_ms: _Positive = 2_000
    max_block_delay_ms: _Positive = 10_000
    overdue_grace_ms: int = 3 * 24 * 3600 * 1000
    # Blocks between checkpoints: the replica keeps the payloads of the blocks since the last
    # stable checkpoint in memory, so this bounds its memory (10 blocks of 2,000 txs: ~11 MB).
    checkpoint_interval: _Positive = 10
    # How many alliance admins must approve a governance proposal (a validator set change) before
    # it is enacted (node.ledger.governance). Left out (unset) it means 1, and a genesis file
    # without it keeps the hash it had before governance existed.
    governance_quorum: _Positive | msgspec.UnsetType = msgspec.UNSET

    @property
    def approvals_required(self) -> int:
        return 1 if isinstance(self.governance_quorum, msgspec.UnsetType) else self.governance_quorum


class Genesis(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: str
    genesis_time_ms: Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]
    validators: list[Validator]
    admins: list[GenesisAdmin]
    accounts: list[GenesisAccount] = []
    params: ChainParams = ChainParams()
    # Nodes allowed to follow the chain without voting (node/observer/): same fields as a
    # validator. Left out (unset) it means none, and a genesis file without it keeps its hash.
    observers: list[Validator] | msgspec.UnsetType = msgspec.UNSET

    def hash(self) -> bytes:
        return hashlib.sha256(codec.encode(self)).digest()

    def validator_set(self) -> ValidatorSet:
        return ValidatorSet(self.validators)

    def observer_list(self) -> list[Validator]:
        return [] if isinstance(self.observers, msgspec.UnsetType) else self.observers

    def observer_keys(self) -> list[crypto.PublicKey]:
        return [crypto.PublicKey.from_hex(o.pubkey) for o in self.observer_list()]

    def encode(self) -> bytes:
        return codec.encode(self)


def parse_genesis(data: bytes | str, source: str = "genesis") -> Genesis:
    """Decode and check a genesis document; raises ChainError naming what is wrong."""
    try:
        genesis: Genesis = codec.decode(data, Genesis)
    except EncodingError as exc:
        if "role: unknown field" in str(exc) and "admins" in str(exc):
            raise ChainError(f"{source}: an alliance admin has no role (remove its \"role\"); a regulator, "
                             "core enterprise, supplier or financier is an account of its own") from None
        raise ChainError(f"{source}: {exc}") from None
    check_chain_id(genesis.chain_id)
    genesis.validator_set()  # checks keys against addresses, duplicates
    _check_observers(genesis, source)
    if not genesis.admins:
        raise ChainError(f"{source}: at least one alliance admin is required")
    if genesis.params.approvals_required > len(genesis.admins):
        raise ChainError(f"{source}: governance_quorum {genesis.params.approvals_required} is more than the "
                         f"{len(genesis.admins)} alliance admins; no proposal could ever be enacted")
    seen: set[str] = set()
    members: list[GenesisAdmin | GenesisAccount] = [*genesis.admins, *genesis.accounts]
    for account in members:
        _check_address(account, f"{source}: account {account.name}")
        if account.address in seen:
            raise ChainError(f"{source}: account {account.address} is listed twice")
        seen.add(account.address)
    return genesis


def _check_address(member: GenesisAdmin | GenesisAccount | Validator, what: str) -> None:
    try:
        if crypto.address_of(bytes.fromhex(member.pubkey)) != member.address:
            raise ChainError(f"{what}: address does not match its public key")
    except CryptoError as exc:
        raise ChainError(f"{what}: {exc}") from None


def _check_observers(genesis: Genesis, source: str) -> None:
    taken = {v.pubkey for v in genesis.validators}
    for observer in genesis.observer_list():
        _check_address(observer, f"{source}: observer {observer.name}")
        if observer.pubkey in taken:
            raise ChainError(f"{source}: observer {observer.name}: its key is listed twice (as a validator or observer)")
        taken.add(observer.pubkey)


def load_genesis(path: str | os.PathLike[str]) -> Genesis:
    """Read and check the genesis file at ``path``."""
    target = Path(path)
    try:
        data = target.read_bytes()
    except OSError as exc:
        raise ChainError(f"cannot read genesis file {target}: {exc.strerror}") from None
    return parse_genesis(data, str(target))
