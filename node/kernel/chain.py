"""Chain types: the signed transaction envelope, block header, block and commit certificate.

Wire and hashing formats (docs/PROTOCOL.md has them with test vectors):

- a transaction is ``{"body": {...}, "pubkey": hex, "sig": hex}``; the signature is over
  ``canonical(body)`` and the transaction id is ``sha256(canonical(body))``: the signature is left
  out of the id because ECDSA signatures are malleable. The body carries the chain id.
- a block is ``{"header": {...}, "txs": [transaction, ...]}``; its hash is
  ``sha256(canonical(header))``, and the header's ``tx_root`` is the Merkle root (node.kernel.merkle) over
  the canonical bytes of each transaction, signature included.
- a commit certificate holds 2f+1 validators' commit signatures over the block hash, signed as
  ``consensus.messages.commit_signing_bytes(chain_id, view, height, block_hash)``; it is the
  stored and JSON form (hex) of ``consensus.messages.Certificate`` and is verified by consensus'
  own check (``consensus.proofs.certificate_problem``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import msgspec

from consensus import messages as consensus_messages
from consensus.proofs import certificate_problem
from node.errors import ChainError, CryptoError, EncodingError
from node.kernel import codec, crypto, merkle

__all__ = [
    "MAX_TX_BYTES",
    "TxBody",
    "TxEnvelope",
    "SignedTx",
    "sign_tx",
    "decode_tx",
    "tx_from_envelope",
    "BlockHeader",
    "Block",
    "make_block",
    "decode_block",
    "Certificate",
    "Validator",
    "ValidatorSet",
    "check_chain_id",
]

MAX_TX_BYTES = 64 * 1024
_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_PubKey = Annotated[str, msgspec.Meta(pattern="^0[23][0-9a-f]{64}$")]
_Sig = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]
_Address = Annotated[str, msgspec.Meta(pattern="^wc[0-9a-f]{40}$")]
_ChainId = Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]{0,62}$")]
_TxType = Annotated[str, msgspec.Meta(pattern="^[a-z][a-z_]{0,31}$")]
_U63 = Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]


def check_chain_id(chain_id: object) -> str:
    """Return ``chain_id`` if well formed: 1-63 of [a-z0-9-], not starting with '-'."""
    try:
        return codec.convert(chain_id, _ChainId)
    except EncodingError:
        raise ChainError(
            f"malformed chain id {str(chain_id)[:70]!r}: use 1-63 lowercase letters, digits or '-'"
        ) from None


class TxBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the sender signs."""

    chain_id: _ChainId
    type: _TxType
    sender: _Address
    nonce: _U63  # chosen by the client, so that identical operations get distinct ids
    expires: _U63  # block time (ms) after which the transaction can no longer be included
    payload: dict[str, Any]


class TxEnvelope(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    body: TxBody
    pubkey: _PubKey
    sig: _Sig


class SignedTx:
    """A decoded transaction with its derived bytes computed once (id, canonical bytes)."""

    # The signed bytes are not kept: a node holds thousands of these, and re-encoding the body for
    # the one verification each gets costs about a microsecond.
    # ``typed`` is the schema-checked payload (node.ledger.payloads.check_payload), kept by the
    # first check (admission) so that execution does not convert it again.
    __slots__ = ("body", "id", "pubkey", "sig", "raw", "typed")

    def __init__(self, body: TxBody, pubkey: bytes, sig: bytes) -> None:
        codec.check_value(body.payload, "$.body.payload")
        self.body = body
        body_bytes = codec.encode(body)
        self.id: bytes = hashlib.sha256(body_bytes).digest()
        self.pubkey = pubkey
        self.sig = sig
        # codec.encode(self.envelope()), without encoding the body a second time: the canonical
        # envelope is its three members in key order, and hex needs no escaping
        # (tests/kernel/test_chain.py checks the two agree).
        self.raw: bytes = b"".join((
            b'{"body":', body_bytes, b',"pubkey":"', pubkey.hex().encode(), b'","sig":"', sig.hex().encode(), b'"}'
        ))
        self.typed: Any = None

    @property
    def id_hex(self) -> str:
        return self.id.hex()

    @property
    def body_bytes(self) -> bytes:
        """The canonical body: what the signature covers and the id hashes."""
        return codec.encode(self.body)

    def envelope(self) -> TxEnvelope:
        return TxEnvelope(body=self.body, pubkey=self.pubkey.hex(), sig=self.sig.hex())

    def check_sender(self) -> None:
        """Raise ChainError unless the public key is the sender's."""
        try:
            address = crypto.address_of(self.pubkey)
        except CryptoError as exc:
            raise ChainError(f"transaction {self.id_hex}: {exc}") from None
        if address != self.body.sender:
            raise ChainError(
                f"transaction {self.id_hex}: public key belongs to {address}, not to sender {self.body.sender}"
            )

    def verify(self) -> None:
        """Check the sender's key and the signature; raise ChainError if either is wrong."""
        self.check_sender()
        try:
            ok = crypto.verify(self.pubkey, self.sig, self.body_bytes)
        except CryptoError as exc:
            raise ChainError(f"transaction {self.id_hex}: {exc}") from None
        if not ok:
            raise ChainError(f"transaction {self.id_hex}: signature does not match the body and public key")

    def __repr__(self) -> str:
        return f"SignedTx({self.body.type} {self.id_hex[:12]} from {self.body.sender[:10]})"


def sign_tx(key: crypto.SigningKey, body: TxBody | dict[str, Any]) -> SignedTx:
    """Sign a transaction body (a TxBody or a plain dict with its fields)."""
    if isinstance(body, dict):
        codec.check_value(body)
        body = _convert(body, TxBody)
    assert isinstance(body, TxBody)
    return SignedTx(body, key.public_key.raw, key.sign(codec.encode(body)))


def tx_from_envelope(envelope: TxEnvelope) -> SignedTx:
    """A SignedTx from a schema-checked envelope (signature not yet verified)."""
    return SignedTx(envelope.body, bytes.fromhex(envelope.pubkey), bytes.fromhex(envelope.sig))


def decode_tx(data: bytes | str) -> SignedTx:
    """Decode a transaction from JSON; checks its schema but not its signature (see verify)."""
    if len(data) > MAX_TX_BYTES:
        raise ChainError(f"transaction is {len(data)} bytes; the limit is {MAX_TX_BYTES}")
    try:
        return tx_from_envelope(codec.decode(data, TxEnvelope))
    except EncodingError as exc:
        raise ChainError(f"malformed transaction: {exc}") from None


class BlockHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    chain_id: _ChainId
    height: _U63
    time_ms: _U63
    parent: _Hex32  # hash of the block at height - 1 (the genesis hash for height 1)
    proposer: _U63  # index of the proposing validator in genesis
    tx_count: _U63
    tx_root: _Hex32
    # Execution lags one block (order-then-execute): these commit to the state and the results
    # after executing the parent, so a replica that diverged stops at the next block.
    state_root: _Hex32
    results_root: _Hex32

    def hash(self) -> bytes:
        return hashlib.sha256(codec.encode(self)).digest()


class _BlockWire(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    header: BlockHeader
    txs: list[msgspec.Raw]  # each decoded on its own, unless the caller already holds it


# A canonical envelope is {"body":<canonical body>,"pubkey":"<66 hex>","sig":"<128 hex>"}
# (keys sorted): its body is a fixed slice, so its id is one hash away, without decoding.
_BODY_START = len(b'{"body":')
_BODY_TAIL = len(b',"pubkey":"') + 66 + len(b'","sig":"') + 128 + len(b'"}')


class Block:
    """A header and its transactions, with the hash and encoding computed once."""

    __slots__ = ("header", "txs", "hash", "raw")

    def __init__(self, header: BlockHeader, txs: Sequence[SignedTx], raw: bytes | None = None) -> None:
        self.header = header
        self.txs = list(txs)
        self.hash: bytes = header.hash()
        self.raw: bytes = raw if raw is not None else _encode_block(header, self.txs)

    @property
    def height(self) -> int:
        return self.header.height

    def tx_proof(self, index: int) -> list[bytes]:
        """Merkle audit path of transaction ``index`` to ``header.tx_root``."""
        return merkle.merkle_proof([tx.raw for tx in self.txs], index)

    def __repr__(self) -> str:
        return f"Block(#{self.height} {self.hash.hex()[:12]} txs={len(self.txs)})"


def _encode_block(header: BlockHeader, txs: Sequence[SignedTx]) -> bytes:
    # Splice the already-canonical transaction bytes instead of re-encoding every envelope;
    # "header" < "txs", so this is the canonical key order.
    return b'{"header":' + codec.encode(header) + b',"txs":[' + b",".join(tx.raw for tx in txs) + b"]}"


def make_block(
    *,
    chain_id: str,
    height: int,
    time_ms: int,
    parent: bytes,
    proposer: int,
    txs: Sequence[SignedTx],
    state_root: bytes,
    results_root: bytes,
) -> Block:
    """Assemble a block, computing its transaction root."""
    header = BlockHeader(
        chain_id=chain_id,
        height=height,
        time_ms=time_ms,
        parent=parent.hex(),
        proposer=proposer,
        tx_count=len(txs),
        tx_root=merkle.merkle_root([tx.raw for tx in txs]).hex(),
        state_root=state_root.hex(),
        results_root=results_root.hex(),
    )
    _convert(msgspec.to_builtins(header), BlockHeader)  # refuse out-of-range fields early
    return Block(header, txs)


def _block_tx(raw: bytes, known: Callable[[bytes], SignedTx | None] | None) -> SignedTx:
    if known is not None and len(raw) > _BODY_START + _BODY_TAIL:
        held = known(hashlib.sha256(raw[_BODY_START:-_BODY_TAIL]).digest())
        if held is not None and held.raw == raw:
            return held
    return tx_from_envelope(codec.decode(raw, TxEnvelope))


def decode_block(data: bytes, known: Callable[[bytes], SignedTx | None] | None = None) -> Block:
    """Decode a block and check that its transactions match the header's count and root.

    ``known(tx_id)`` may return a transaction the caller holds already (its mempool): one whose
    canonical bytes are exactly those in the block is used as it is instead of decoded again.
    """
    try:
        wire: _BlockWire = codec.decode(data, _BlockWire)
        txs = [_block_tx(bytes(raw), known) for raw in wire.txs]
    except EncodingError as exc:
        raise ChainError(f"malformed block: {exc}") from None
    header = wire.header
    if header.tx_count != len(txs):
        raise ChainError(f"block {header.height}: header says {header.tx_count} transactions, body has {len(txs)}")
    if merkle.merkle_root([tx.raw for tx in txs]).hex() != header.tx_root:
        raise ChainError(f"block {header.height}: transactions do not match the header's tx_root")
    return Block(header, txs, raw=bytes(data))


class Validator(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    pubkey: _PubKey
    address: _Address


class ValidatorSet:
    """The fixed validator set from genesis: index order is consensus order."""

    __slots__ = ("validators", "keys", "f", "quorum")

    def __init__(self, validators: Iterable[Validator]) -> None:
        self.validators = tuple(validators)
        n = len(self.validators)
        if n < 1:
            raise ChainError("a validator set needs at least one validator")
        try:
            self.keys = tuple(crypto.PublicKey.from_hex(v.pubkey) for v in self.validators)
        except CryptoError as exc:
            raise ChainError(f"validator set: {exc}") from None
        for validator, key in zip(self.validators, self.keys):
            if key.address != validator.address:
                raise ChainError(f"validator {validator.name}: address does not match its public key")
        if len({k.raw for k in self.keys}) != n:
            raise ChainError("validator set lists the same key twice")
        self.f = (n - 1) // 3
        # Any two quorums must share a correct validator: 2q - n > f, so q = ceil((n + f + 1) / 2).
        # That is 2f + 1 when n = 3f + 1 (every genesis so far), but more for the sizes governance
        # can make: 4 of 5, 4 of 6 (2f + 1 would let 3 of 5 commit two conflicting blocks).
        self.quorum = (n + self.f + 2) // 2

    def __len__(self) -> int:
        return len(self.validators)

    def index_of(self, address: str) -> int | None:
        for index, key in enumerate(self.keys):
            if key.address == address:
                return index
        return None

    def verify(self, index: int, data: bytes, sig: bytes) -> bool:
        """Is ``sig`` validator ``index``'s signature on ``data``? Never raises (a
        ``consensus.interfaces.Verifier``)."""
        try:
            return 0 <= index < len(self.keys) and self.keys[index].verify(sig, data)
        except CryptoError:
            return False


class Certificate(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """2f+1 commit signatures of distinct validators over one block hash."""

    height: _U63
    view: _U63
    block_hash: _Hex32
    signatures: list[tuple[_U63, _Sig]]

    def encode(self) -> bytes:
        return codec.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> Certificate:
        try:
            return codec.decode(data, cls)
        except EncodingError as exc:
            raise ChainError(f"malformed certificate: {exc}") from None

    @classmethod
    def from_consensus(cls, cert: consensus_messages.Certificate) -> Certificate:
        """The stored form (hex, canonical JSON) of what the replica delivered."""
        return cls(
            height=cert.seq, view=cert.view, block_hash=cert.digest.hex(),
            signatures=[(index, sig.hex()) for index, sig in cert.signatures],
        )

    def to_consensus(self) -> consensus_messages.Certificate:
        """The replica's form, e.g. to serve a stored block to a lagging peer (state transfer)."""
        return consensus_messages.Certificate(
            self.view, self.height, bytes.fromhex(self.block_hash),
            tuple((index, bytes.fromhex(sig)) for index, sig in self.signatures),
        )

    def verify(self, validators: ValidatorSet, chain_id: str, block_hash: bytes, height: int) -> None:
        """Raise ChainError unless this certifies ``block_hash`` at ``height`` with a quorum."""
        problem = certificate_problem(
            self.to_consensus(), height, block_hash, domain=chain_id.encode(), n=len(validators),
            quorum=validators.quorum, verify=validators.verify,
        )
        if problem is not None:
            raise ChainError(problem)


def _convert(value: Any, kind: type[Any]) -> Any:
    try:
        return codec.convert(value, kind)
    except EncodingError as exc:
        raise ChainError(str(exc)) from None
