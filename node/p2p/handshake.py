"""The p2p handshake: how two validators prove to each other who they are (sans-I/O).

Rules of this file: no sockets, no asyncio, no clock. Bytes in (:meth:`Handshake.receive`), bytes
out (:meth:`Handshake.data_to_send`); timeouts and closing the connection belong to node.p2p.mesh.

Theory of operation (docs/P2P.md has the exact bytes). Both sides run the same two steps:

1. on open, each side sends ``Hello{chain_id, genesis_hash, index, nonce}`` with a fresh random
   32-byte nonce;
2. on the peer's Hello, each side checks chain id, genesis hash and index, then sends
   ``Proof{signature}``: its validator key's signature over a domain-tagged transcript of *both*
   Hellos (initiator's first) and its own role.

A side is done when the peer's Proof verifies against the key genesis lists for the peer's index.
Because each transcript holds the verifier's own fresh nonce, a recorded Proof never verifies in a
later session (no replay), and because it names the signer's role, a Proof can't be reflected back
to the side that made it. Every failure raises :class:`HandshakeError` with a short, stable reason
(used as a metrics label and in the one log line a refused peer gets).
"""

from __future__ import annotations

import enum
import os
from typing import Annotated

import msgspec

from node.errors import CryptoError, EncodingError, WarrantChainError
from node.kernel import codec
from node.kernel.chain import ValidatorSet
from node.kernel.crypto import SigningKey

__all__ = [
    "DOMAIN",
    "NONCE_SIZE",
    "MAX_HANDSHAKE_FRAME",
    "Role",
    "Reason",
    "HandshakeError",
    "Hello",
    "Proof",
    "encode_message",
    "decode_message",
    "transcript",
    "make_hello",
    "check_hello",
    "make_proof",
    "check_proof",
    "Handshake",
]

DOMAIN = b"warrantchain/p2p-handshake/v1\x00"
NONCE_SIZE = 32
# A Hello or Proof encodes to under 300 bytes; anything much larger is not a handshake message.
MAX_HANDSHAKE_FRAME = 1024

_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_Sig = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]
_Index = Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]
_ChainIdText = Annotated[str, msgspec.Meta(max_length=64)]


class Role(str, enum.Enum):
    """Who opened the connection; the initiator's Hello comes first in the transcript."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


class Reason(str, enum.Enum):
    """Why a handshake failed: stable labels for logs and the ``refused.*`` counters."""

    MALFORMED = "malformed"  # not a handshake message, bad JSON, wrong schema, too large
    UNEXPECTED = "unexpected"  # a valid message out of order (e.g. a Proof before the Hello)
    CHAIN_ID = "chain-id"
    GENESIS_HASH = "genesis-hash"
    UNKNOWN_INDEX = "unknown-index"  # not a validator index in genesis, or our own index
    WRONG_PEER = "wrong-peer"  # we dialed validator j and someone else answered
    WRONG_DIRECTION = "wrong-direction"  # the connection rule says we dial them, not the reverse
    REFLECTED = "reflected"  # our own nonce came back
    BAD_SIGNATURE = "bad-signature"
    # Raised by the I/O layer; listed here so that all reasons live in one place.
    TIMEOUT = "timeout"  # no complete handshake in time
    CLOSED = "closed"  # the peer went away mid-handshake
    BUSY = "busy"  # too many unfinished handshakes from the peer's host


class HandshakeError(WarrantChainError):
    """The peer failed the handshake; close the connection and log ``reason``."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


class Hello(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="hello", tag_field="type"):
    chain_id: _ChainIdText
    genesis_hash: _Hex32
    index: _Index
    nonce: _Hex32


class Proof(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="proof", tag_field="type"):
    signature: _Sig


Message = Hello | Proof


def encode_message(message: Message) -> bytes:
    """Canonical JSON of a handshake message (sent as one binary websocket frame)."""
    return codec.encode(message)


def decode_message(data: object) -> Message:
    """Parse one handshake frame; raise HandshakeError(MALFORMED) for anything else."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise HandshakeError(Reason.MALFORMED, "handshake frames are binary")
    if len(data) > MAX_HANDSHAKE_FRAME:
        raise HandshakeError(Reason.MALFORMED, f"{len(data)}-byte frame is too large for a handshake")
    try:
        return codec.decode(data, Message)
    except EncodingError as exc:
        raise HandshakeError(Reason.MALFORMED, str(exc)[:200]) from None


def transcript(initiator: Hello, responder: Hello, signer: Role) -> bytes:
    """The exact bytes a Proof signs: DOMAIN || canonical({"initiator", "responder", "signer"})."""
    return DOMAIN + codec.encode({"initiator": initiator, "responder": responder, "signer": signer.value})


def make_hello(chain_id: str, genesis_hash: bytes, index: int, nonce: bytes | None = None) -> Hello:
    """Our Hello with a fresh random nonce (pass ``nonce`` only in tests)."""
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    return Hello(chain_id=chain_id, genesis_hash=genesis_hash.hex(), index=index, nonce=nonce.hex())


def check_hello(
    hello: Hello,
    ours: Hello,
    validators: ValidatorSet,
    role: Role,
    expect: int | None = None,
) -> None:
    """Raise HandshakeError unless the peer's ``hello`` may talk to us (the sender of ``ours``).

    ``expect`` is the index we dialed (initiator); a responder accepts only peers that the
    connection rule lets dial it: the lower index dials the higher.
    """
    if hello.chain_id != ours.chain_id:
        raise HandshakeError(Reason.CHAIN_ID, f"peer is on chain {hello.chain_id!r}, we are on {ours.chain_id!r}")
    if hello.genesis_hash != ours.genesis_hash:
        raise HandshakeError(Reason.GENESIS_HASH, f"peer's genesis is {hello.genesis_hash[:16]}…")
    if hello.index >= len(validators) or hello.index == ours.index:
        raise HandshakeError(Reason.UNKNOWN_INDEX, f"index {hello.index} is not another validator")
    if expect is not None and hello.index != expect:
        raise HandshakeError(Reason.WRONG_PEER, f"dialed validator {expect}, validator {hello.index} answered")
    if role is Role.RESPONDER and hello.index > ours.index:
        raise HandshakeError(Reason.WRONG_DIRECTION, f"validator {ours.index} dials {hello.index}, not the reverse")
    if hello.nonce == ours.nonce:
        raise HandshakeError(Reason.REFLECTED, "peer echoed our nonce")


def make_proof(key: SigningKey, initiator: Hello, responder: Hello, role: Role) -> Proof:
    """Sign the transcript as ``role``."""
    return Proof(signature=key.sign(transcript(initiator, responder, role)).hex())


def check_proof(proof: Proof, initiator: Hello, responder: Hello, signer: Role, validators: ValidatorSet) -> None:
    """Raise HandshakeError unless ``proof`` is the ``signer``'s genesis key's signature of the transcript."""
    peer = initiator if signer is Role.INITIATOR else responder
    try:
        ok = validators.keys[peer.index].verify(bytes.fromhex(proof.signature), transcript(initiator, responder, signer))
    except CryptoError as exc:  # r or s out of range
        raise HandshakeError(Reason.BAD_SIGNATURE, str(exc)) from None
    if not ok:
        raise HandshakeError(Reason.BAD_SIGNATURE, f"not signed by the genesis key of validator {peer.index}")


class Handshake:
    """One side of one handshake.

    Create it, send every frame from :meth:`data_to_send`, then feed each frame received with
    :meth:`receive` and send again, until :attr:`done` (the peer is :attr:`peer`) or
    HandshakeError (close the connection). Frames after that are the mesh's.
    """

    def __init__(
        self,
        *,
        role: Role,
        index: int,
        key: SigningKey,
        validators: ValidatorSet,
        chain_id: str,
        genesis_hash: bytes,
        expect: int | None = None,
        nonce: bytes | None = None,
    ) -> None:
        self.role = role
        self.key = key
        self.validators = validators
        self.expect = expect
        self.ours = make_hello(chain_id, genesis_hash, index, nonce)
        self.theirs: Hello | None = None
        self.done = False
        self._out: list[bytes] = [encode_message(self.ours)]

    @property
    def peer(self) -> int:
        """The authenticated peer's validator index; valid once :attr:`done`."""
        assert self.done and self.theirs is not None
        return self.theirs.index

    def data_to_send(self) -> list[bytes]:
        """Frames to send now, in order; each is one binary websocket message."""
        out, self._out = self._out, []
        return out

    def receive(self, data: object) -> None:
        """Feed one frame from the peer; raises HandshakeError if the peer fails a check."""
        if self.done:
            raise HandshakeError(Reason.UNEXPECTED, "handshake already complete")
        message = decode_message(data)
        if self.theirs is None:
            if not isinstance(message, Hello):
                raise HandshakeError(Reason.UNEXPECTED, "expected a hello first")
            check_hello(message, self.ours, self.validators, self.role, self.expect)
            self.theirs = message
            initiator, responder = self._pair()
            self._out.append(encode_message(make_proof(self.key, initiator, responder, self.role)))
            return
        if not isinstance(message, Proof):
            raise HandshakeError(Reason.UNEXPECTED, "expected a proof after the hello")
        their_role = Role.RESPONDER if self.role is Role.INITIATOR else Role.INITIATOR
        check_proof(message, *self._pair(), their_role, self.validators)
        self.done = True

    def _pair(self) -> tuple[Hello, Hello]:
        assert self.theirs is not None
        return (self.ours, self.theirs) if self.role is Role.INITIATOR else (self.theirs, self.ours)

    def describe(self) -> str:
        peer = "?" if self.theirs is None else str(self.theirs.index)
        return f"handshake({self.role.value} {self.ours.index}<->{peer} done={self.done})"
