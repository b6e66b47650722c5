"""The p2p handshake: how two members of the mesh prove to each other who they are (sans-I/O).

Rules of this file: no sockets, no asyncio, no clock. Bytes in (:meth:`Handshake.receive`), bytes
out (:meth:`Handshake.data_to_send`); timeouts and closing the connection belong to node.p2p.mesh.

Theory of operation (docs/P2P.md has the exact bytes). Both sides run the same two steps:

1. on open, each side sends ``Hello{chain_id, genesis_hash, key, role, nonce}``: its public key,
   the role it claims (``validator`` or ``observer``) and a fresh random 32-byte nonce;
2. on the peer's Hello, each side checks chain id, genesis hash, and that the key is a member in
   the claimed role (:class:`Members`: the validators of the current and the pending epoch, and the
   allowed observers) and may open a link in this direction; then it sends ``Proof{signature}``:
   its key's signature over a domain-tagged transcript of *both* Hellos (initiator's first) and its
   own side.

A side is done when the peer's Proof verifies against the key in the peer's Hello. Identity is the
public key, not a position in a list, so a link survives a change of the validator set that keeps
both keys. Because each transcript holds the verifier's own fresh nonce, a recorded Proof never
verifies in a later session (no replay), and because it names the signer's side, a Proof can't be
reflected back to the side that made it. Every failure raises :class:`HandshakeError` with a short,
stable reason (used as a metrics label and in the one log line a refused peer gets).

The connection rule (who dials whom) is deterministic: between two validators the one whose key's
compressed bytes sort lower dials the other; an observer dials validators and is never dialed, and
two observers do not link.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

import msgspec

from node.errors import CryptoError, EncodingError, WarrantChainError
from node.kernel import codec
from node.kernel.crypto import PublicKey, SigningKey

__all__ = [
    "DOMAIN",
    "NONCE_SIZE",
    "MAX_HANDSHAKE_FRAME",
    "Role",
    "PeerRole",
    "Refusal",
    "HandshakeError",
    "Members",
    "role_fits",
    "Hello",
    "Proof",
    "encode_message",
    "decode_message",
    "transcript",
    "dials",
    "make_hello",
    "check_hello",
    "make_proof",
    "check_proof",
    "Handshake",
]

DOMAIN = b"warrantchain/p2p-handshake/v2\x00"
NONCE_SIZE = 32
# A Hello or Proof encodes to under 400 bytes; anything much larger is not a handshake message.
MAX_HANDSHAKE_FRAME = 1024

_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_Sig = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{128}$")]
_Key = Annotated[str, msgspec.Meta(pattern="^0[23][0-9a-f]{64}$")]  # a compressed SEC1 P-256 point
_ChainIdText = Annotated[str, msgspec.Meta(max_length=64)]


class Role(str, enum.Enum):
    """Which side of the connection: who opened it; the initiator's Hello comes first in the transcript."""

    INITIATOR = "initiator"
    RESPONDER = "responder"


class PeerRole(str, enum.Enum):
    """What a member of the mesh is: a validator votes; an observer follows the chain and never votes."""

    VALIDATOR = "validator"
    OBSERVER = "observer"


class Refusal(str, enum.Enum):
    """Why a handshake failed: stable labels for logs and the ``refused.*`` counters."""

    MALFORMED = "malformed"  # not a handshake message, bad JSON, wrong schema, too large, not a key
    UNEXPECTED = "unexpected"  # a valid message out of order (e.g. a Proof before the Hello)
    CHAIN_ID = "chain-id"
    GENESIS_HASH = "genesis-hash"
    NOT_ALLOWED = "not-allowed"  # the key is not a member in the role it claims (or it is our own key)
    WRONG_PEER = "wrong-peer"  # we dialed one key and another answered
    WRONG_DIRECTION = "wrong-direction"  # the connection rule says we dial them (or nobody does), not the reverse
    REFLECTED = "reflected"  # our own nonce came back
    BAD_SIGNATURE = "bad-signature"
    # Raised by the I/O layer; listed here so that all reasons live in one place.
    OBSERVER_LIMIT = "observer-limit"  # this validator already serves max_observer_links observers
    REMOVED = "removed"  # the peer's key left the members (set_members): its link is closed
    TIMEOUT = "timeout"  # no complete handshake in time
    CLOSED = "closed"  # the peer went away mid-handshake
    BUSY = "busy"  # too many unfinished handshakes from the peer's host


class HandshakeError(WarrantChainError):
    """The peer failed the handshake; close the connection and log ``reason``."""

    def __init__(self, reason: Refusal, detail: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Members:
    """Who may be in the mesh, by key, and where the validators listen.

    ``validators`` are the validators of the current epoch and of the pending one (key -> the URL
    to dial it at, or None when unknown: it may still dial us); ``observers`` the allowed
    observers. A key in both is a validator. The daemon makes a new one whenever an epoch is
    executed or an observer is admitted, and hands it to ``Mesh.set_members``.
    """

    validators: Mapping[PublicKey, str | None]
    observers: frozenset[PublicKey] = field(default_factory=frozenset)

    @classmethod
    def of(cls, validators: Mapping[PublicKey, str | None], observers: Iterable[PublicKey] = ()) -> Members:
        return cls(dict(validators), frozenset(observers) - set(validators))

    def role_of(self, key: PublicKey) -> PeerRole | None:
        if key in self.validators:
            return PeerRole.VALIDATOR
        if key in self.observers:
            return PeerRole.OBSERVER
        return None


class Hello(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag="hello", tag_field="type"):
    chain_id: _ChainIdText
    genesis_hash: _Hex32
    key: _Key
    role: PeerRole
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
        raise HandshakeError(Refusal.MALFORMED, "handshake frames are binary")
    if len(data) > MAX_HANDSHAKE_FRAME:
        raise HandshakeError(Refusal.MALFORMED, f"{len(data)}-byte frame is too large for a handshake")
    try:
        return codec.decode(data, Message)
    except EncodingError as exc:
        raise HandshakeError(Refusal.MALFORMED, str(exc)[:200]) from None


def transcript(initiator: Hello, responder: Hello, signer: Role) -> bytes:
    """The exact bytes a Proof signs: DOMAIN || canonical({"initiator", "responder", "signer"})."""
    return DOMAIN + codec.encode({"initiator": initiator, "responder": responder, "signer": signer.value})


def dials(mine: PublicKey, my_role: PeerRole, theirs: PublicKey, their_role: PeerRole) -> bool:
    """The connection rule: True if the side with key ``mine`` opens the link to ``theirs``.

    Validators: the lower key (compressed bytes) dials the higher. An observer dials validators;
    nobody dials an observer, and observers don't link to each other."""
    if their_role is PeerRole.OBSERVER:
        return False
    if my_role is PeerRole.OBSERVER:
        return True
    return mine.raw < theirs.raw


def make_hello(chain_id: str, genesis_hash: bytes, key: PublicKey, role: PeerRole, nonce: bytes | None = None) -> Hello:
    """Our Hello with a fresh random nonce (pass ``nonce`` only in tests)."""
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    return Hello(chain_id=chain_id, genesis_hash=genesis_hash.hex(), key=key.hex(), role=role, nonce=nonce.hex())


def _key_of(hello: Hello) -> PublicKey:
    try:
        return PublicKey.from_hex(hello.key)
    except CryptoError as exc:  # 33 bytes that are not a point on the curve
        raise HandshakeError(Refusal.MALFORMED, f"key: {exc}") from None


def role_fits(member: PeerRole | None, link: PeerRole) -> bool:
    """May a peer the members hold as ``member`` link (or stay linked) in role ``link``? The same
    role; or a validator as an observer: admitted by governance (or not yet removed), it learns
    that it votes only by following the chain up to the approval, and links again as a validator
    then (``Mesh.set_members`` closes every link of a node whose own role changed)."""
    return member is link or (member is PeerRole.VALIDATOR and link is PeerRole.OBSERVER)


def check_hello(hello: Hello, ours: Hello, members: Members, side: Role, expect: PublicKey | None = None) -> PublicKey:
    """The peer's key, or HandshakeError unless the peer's ``hello`` may talk to us (the sender of ``ours``).

    ``expect`` is the key we dialed (initiator); a responder accepts only peers that the
    connection rule (:func:`dials`) lets dial it.
    """
    if hello.chain_id != ours.chain_id:
        raise HandshakeError(Refusal.CHAIN_ID, f"peer is on chain {hello.chain_id!r}, we are on {ours.chain_id!r}")
    if hello.genesis_hash != ours.genesis_hash:
        raise HandshakeError(Refusal.GENESIS_HASH, f"peer's genesis is {hello.genesis_hash[:16]}…")
    key = _key_of(hello)
    if hello.key == ours.key:
        raise HandshakeError(Refusal.NOT_ALLOWED, "the peer claims our own key")
    allowed = members.role_of(key)
    if not role_fits(allowed, hello.role):
        what = "not a member" if allowed is None else f"a {allowed.value}"
        raise HandshakeError(Refusal.NOT_ALLOWED, f"key {hello.key[:16]}… claims {hello.role.value}; it is {what}")
    if expect is not None and key != expect:
        raise HandshakeError(Refusal.WRONG_PEER, f"dialed {expect.hex()[:16]}…, {hello.key[:16]}… answered")
    if side is Role.RESPONDER and not dials(key, hello.role, _key_of(ours), ours.role):
        raise HandshakeError(Refusal.WRONG_DIRECTION, f"{hello.role.value} {hello.key[:16]}… may not dial us ({ours.role.value})")
    if hello.nonce == ours.nonce:
        raise HandshakeError(Refusal.REFLECTED, "peer echoed our nonce")
    return key


def make_proof(key: SigningKey, initiator: Hello, responder: Hello, side: Role) -> Proof:
    """Sign the transcript as ``side``."""
    return Proof(signature=key.sign(transcript(initiator, responder, side)).hex())


def check_proof(proof: Proof, initiator: Hello, responder: Hello, signer: Role) -> None:
    """Raise HandshakeError unless ``proof`` is the signature of the ``signer`` side's key (from its Hello)."""
    peer = initiator if signer is Role.INITIATOR else responder
    key = _key_of(peer)
    try:
        ok = key.verify(bytes.fromhex(proof.signature), transcript(initiator, responder, signer))
    except CryptoError as exc:  # r or s out of range
        raise HandshakeError(Refusal.BAD_SIGNATURE, str(exc)) from None
    if not ok:
        raise HandshakeError(Refusal.BAD_SIGNATURE, f"not signed by key {peer.key[:16]}…")


class Handshake:
    """One side of one handshake.

    Create it, send every frame from :meth:`data_to_send`, then feed each frame received with
    :meth:`receive` and send again, until :attr:`done` (the peer is :attr:`peer`, in the role
    :attr:`peer_role`) or HandshakeError (close the connection). Frames after that are the mesh's.
    ``members`` is read when the peer's Hello arrives.
    """

    def __init__(
        self,
        *,
        role: Role,
        key: SigningKey,
        members: Members,
        chain_id: str,
        genesis_hash: bytes,
        expect: PublicKey | None = None,
        nonce: bytes | None = None,
        claim: PeerRole | None = None,
    ) -> None:
        self.role = role
        self.key = key
        self.members = members
        self.expect = expect
        # A key that is no validator claims observer (the peers refuse it if it is not listed either).
        mine = members.role_of(key.public_key) if claim is None else claim
        self.ours = make_hello(chain_id, genesis_hash, key.public_key, mine or PeerRole.OBSERVER, nonce)
        self.theirs: Hello | None = None
        self._peer: PublicKey | None = None
        self.done = False
        self._out: list[bytes] = [encode_message(self.ours)]

    @property
    def peer(self) -> PublicKey:
        """The authenticated peer's key; valid once :attr:`done`."""
        assert self.done and self._peer is not None
        return self._peer

    @property
    def peer_role(self) -> PeerRole:
        assert self.done and self.theirs is not None
        return self.theirs.role

    def data_to_send(self) -> list[bytes]:
        """Frames to send now, in order; each is one binary websocket message."""
        out, self._out = self._out, []
        return out

    def receive(self, data: object) -> None:
        """Feed one frame from the peer; raises HandshakeError if the peer fails a check."""
        if self.done:
            raise HandshakeError(Refusal.UNEXPECTED, "handshake already complete")
        message = decode_message(data)
        if self.theirs is None:
            if not isinstance(message, Hello):
                raise HandshakeError(Refusal.UNEXPECTED, "expected a hello first")
            self._peer = check_hello(message, self.ours, self.members, self.role, self.expect)
            self.theirs = message
            initiator, responder = self._pair()
            self._out.append(encode_message(make_proof(self.key, initiator, responder, self.role)))
            return
        if not isinstance(message, Proof):
            raise HandshakeError(Refusal.UNEXPECTED, "expected a proof after the hello")
        their_role = Role.RESPONDER if self.role is Role.INITIATOR else Role.INITIATOR
        check_proof(message, *self._pair(), their_role)
        self.done = True

    def _pair(self) -> tuple[Hello, Hello]:
        assert self.theirs is not None
        return (self.ours, self.theirs) if self.role is Role.INITIATOR else (self.theirs, self.ours)

    def describe(self) -> str:
        peer = "?" if self.theirs is None else self.theirs.key[:16]
        return f"handshake({self.role.value} {self.ours.key[:16]}<->{peer} done={self.done})"
