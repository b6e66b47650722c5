"""PBFT messages: frozen dataclasses, their signing bytes, and the wire codec.

Rules of this file:

* Every message kind is a frozen dataclass with ``sender`` and ``sig`` as its last two fields.
* The bytes a message is signed over start with the chain ``domain`` and a distinct tag per kind
  (``/preprepare/``, ``/prepare/``, ``/commit/``...), so a signature can never be replayed as
  another kind of message or on another chain. The commit's signing bytes are fixed by the node's
  certificate format: see :func:`commit_signing_bytes`.
* The wire codec is canonical JSON (sorted keys, no spaces) with bytes as lowercase hex. Decoding
  is strict (exact field sets, exact types, integers in ``0 .. 2**63-1``) and every failure is one
  :class:`MalformedMessage`, never another exception.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any, Union

__all__ = [
    "ConsensusError",
    "MalformedMessage",
    "PrePrepare",
    "Prepare",
    "Commit",
    "Checkpoint",
    "PreparedProof",
    "ViewChange",
    "NewView",
    "Status",
    "Suspect",
    "StateRequest",
    "StateEntry",
    "StateResponse",
    "Certificate",
    "Message",
    "commit_signing_bytes",
    "signing_bytes",
    "encode_message",
    "decode_message",
    "to_jsonable",
    "from_jsonable",
    "check_well_formed",
    "describe",
]

MAX_INT = 2**63 - 1


class ConsensusError(Exception):
    """The one error type of the consensus layer."""


class MalformedMessage(ConsensusError):
    """Bytes or a message object that is not a well-formed consensus message."""


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class Certificate:
    """Proof that ``digest`` was committed at ``seq``: >= 2f+1 commit signatures of ``view``.

    Each signature is over ``commit_signing_bytes(domain, view, seq, digest)``.
    """

    view: int
    seq: int
    digest: bytes
    signatures: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class PrePrepare:
    """The primary of ``view`` assigns ``payload`` (with ``digest``) to sequence number ``seq``."""

    view: int
    seq: int
    digest: bytes
    payload: bytes
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Prepare:
    view: int
    seq: int
    digest: bytes
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Commit:
    view: int
    seq: int
    digest: bytes
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """``sender`` has delivered every block up to ``seq``; ``digest`` is the block digest at seq."""

    seq: int
    digest: bytes
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class PreparedProof:
    """A prepared certificate: a pre-prepare and 2f matching prepares from distinct backups."""

    pre_prepare: PrePrepare
    prepares: tuple[Prepare, ...]


@dataclass(frozen=True, slots=True)
class ViewChange:
    """``sender`` moves to ``view`` (the new view), carrying its stable checkpoint and P set."""

    view: int
    stable_seq: int
    stable_digest: bytes
    checkpoint_proof: tuple[Checkpoint, ...]
    prepared: tuple[PreparedProof, ...]
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class NewView:
    """The primary of ``view`` starts it: 2f+1 view changes (V) and the pre-prepares (O)."""

    view: int
    view_changes: tuple[ViewChange, ...]
    pre_prepares: tuple[PrePrepare, ...]
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Status:
    """Heartbeat: ``sender`` is in ``view`` and has delivered up to ``seq``."""

    view: int
    seq: int
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class Suspect:
    """``sender`` suspects the primary of ``view``: a request it knows of (or a proposal) has
    waited too long. Not binding: the sender stays in ``view`` and keeps voting; a replica leaves
    an active view only with 2f+1 of these (docs/CONSENSUS.md, "No replica alone in a view")."""

    view: int
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class StateRequest:
    """Please send committed blocks ``from_seq .. to_seq`` (inclusive) with certificates."""

    from_seq: int
    to_seq: int
    sender: int
    sig: bytes = b""


@dataclass(frozen=True, slots=True)
class StateEntry:
    seq: int
    digest: bytes
    payload: bytes
    certificate: Certificate


@dataclass(frozen=True, slots=True)
class StateResponse:
    entries: tuple[StateEntry, ...]
    sender: int
    sig: bytes = b""


Message = Union[
    PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView, Status, Suspect, StateRequest,
    StateResponse,
]

# --------------------------------------------------------------------------- signing bytes

_VS = struct.Struct(">QQ")
_S = struct.Struct(">Q")


def commit_signing_bytes(domain: bytes, view: int, seq: int, digest: bytes) -> bytes:
    """The exact bytes a Commit is signed over; the node verifies certificates with these."""
    return domain + b"/commit/" + view.to_bytes(8, "big") + seq.to_bytes(8, "big") + digest


def signing_bytes(domain: bytes, msg: Message, chain_domain: bytes | None = None) -> bytes:
    """Deterministic, domain-prefixed bytes that ``msg.sig`` signs (``sig`` itself excluded).

    ``domain`` is the epoch's signing domain (``consensus.epoch.signing_domain``); a Commit is
    signed under ``chain_domain`` (default: ``domain``), the certificate format's."""
    if isinstance(msg, Commit):
        return commit_signing_bytes(chain_domain or domain, msg.view, msg.seq, msg.digest)
    if isinstance(msg, Prepare):
        return domain + b"/prepare/" + _VS.pack(msg.view, msg.seq) + msg.digest
    if isinstance(msg, PrePrepare):
        # The payload is bound through the digest; receivers check digest(payload) == digest.
        return domain + b"/preprepare/" + _VS.pack(msg.view, msg.seq) + msg.digest
    if isinstance(msg, Checkpoint):
        return domain + b"/checkpoint/" + _S.pack(msg.seq) + msg.digest
    if isinstance(msg, Status):
        return domain + b"/status/" + _VS.pack(msg.view, msg.seq)
    if isinstance(msg, Suspect):
        return domain + b"/suspect/" + _S.pack(msg.view)
    if isinstance(msg, StateRequest):
        return domain + b"/staterequest/" + _VS.pack(msg.from_seq, msg.to_seq)
    # Composite messages: a hash of their canonical encoding with an empty signature. The same
    # ViewChange is checked alone and again inside each NewView that carries it, so the hash of
    # a small one is remembered per message object (the entry holds the object, so its id can't
    # be reused); large ones are not kept, so the cache pins at most 256 x 64 KiB.
    cached = _composite_hashes.get(id(msg))
    if cached is not None and cached[0] is msg:
        hashed = cached[1]
    else:
        body = _canonical(to_jsonable(_unsigned(msg)))
        hashed = hashlib.sha256(body).digest()
        if len(body) <= _COMPOSITE_CACHED_BYTES:
            if len(_composite_hashes) >= _COMPOSITES_CACHED:
                _composite_hashes.clear()
            _composite_hashes[id(msg)] = (msg, hashed)
    return domain + _COMPOSITE_TAGS[type(msg)] + hashed


_COMPOSITE_TAGS = {ViewChange: b"/viewchange/", NewView: b"/newview/", StateResponse: b"/stateresponse/"}
_COMPOSITES_CACHED = 256
_COMPOSITE_CACHED_BYTES = 64 * 1024
_composite_hashes: dict[int, tuple[Any, bytes]] = {}


def _unsigned(msg: Any) -> Any:
    from dataclasses import replace

    return replace(msg, sig=b"")


# --------------------------------------------------------------------------- codec

# Field specs: "int", "bytes", "payload" (bytes; a blob on the wire), "pair" (int, bytes),
# ("tuple", spec) or a dataclass type.
_SPECS: dict[type, tuple[tuple[str, Any], ...]] = {
    Certificate: (("view", "int"), ("seq", "int"), ("digest", "bytes"),
                  ("signatures", ("tuple", "pair"))),
    PrePrepare: (("view", "int"), ("seq", "int"), ("digest", "bytes"), ("payload", "payload"),
                 ("sender", "int"), ("sig", "bytes")),
    Prepare: (("view", "int"), ("seq", "int"), ("digest", "bytes"), ("sender", "int"),
              ("sig", "bytes")),
    Commit: (("view", "int"), ("seq", "int"), ("digest", "bytes"), ("sender", "int"),
             ("sig", "bytes")),
    Checkpoint: (("seq", "int"), ("digest", "bytes"), ("sender", "int"), ("sig", "bytes")),
    PreparedProof: (("pre_prepare", PrePrepare), ("prepares", ("tuple", Prepare))),
    ViewChange: (("view", "int"), ("stable_seq", "int"), ("stable_digest", "bytes"),
                 ("checkpoint_proof", ("tuple", Checkpoint)),
                 ("prepared", ("tuple", PreparedProof)), ("sender", "int"), ("sig", "bytes")),
    NewView: (("view", "int"), ("view_changes", ("tuple", ViewChange)),
              ("pre_prepares", ("tuple", PrePrepare)), ("sender", "int"), ("sig", "bytes")),
    Status: (("view", "int"), ("seq", "int"), ("sender", "int"), ("sig", "bytes")),
    Suspect: (("view", "int"), ("sender", "int"), ("sig", "bytes")),
    StateRequest: (("from_seq", "int"), ("to_seq", "int"), ("sender", "int"), ("sig", "bytes")),
    StateEntry: (("seq", "int"), ("digest", "bytes"), ("payload", "payload"),
                 ("certificate", Certificate)),
    StateResponse: (("entries", ("tuple", StateEntry)), ("sender", "int"), ("sig", "bytes")),
}
MESSAGE_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView, Status, Suspect,
                StateRequest, StateResponse)
}


def _enc(value: Any, spec: Any, blobs: dict[bytes, int] | None = None) -> Any:
    if spec == "int":
        return value
    if spec == "payload" and blobs is not None:
        # On the wire a payload is an index into the blobs that follow the JSON, each block once
        # however many pre-prepares in a NewView or ViewChange repeat it.
        return blobs.setdefault(value, len(blobs))
    if spec in ("bytes", "payload"):
        return value.hex()
    if spec == "pair":
        return [value[0], value[1].hex()]
    if isinstance(spec, tuple):
        return [_enc(v, spec[1], blobs) for v in value]
    return {name: _enc(getattr(value, name), sub, blobs) for name, sub in _SPECS[spec]}


def _dec(data: Any, spec: Any, blobs: list[bytes] | None = None) -> Any:
    if spec == "int":
        if type(data) is not int or not 0 <= data <= MAX_INT:
            raise MalformedMessage(f"expected an integer in 0..2**63-1, got {data!r:.40}")
        return data
    if spec == "payload" and blobs is not None:
        if type(data) is not int or not 0 <= data < len(blobs):
            raise MalformedMessage("expected the index of a payload blob")
        return blobs[data]
    if spec in ("bytes", "payload"):
        if type(data) is not str or len(data) % 2 or data != data.lower():
            raise MalformedMessage("expected lowercase hex")
        try:
            return bytes.fromhex(data)
        except ValueError:
            raise MalformedMessage("expected lowercase hex") from None
    if spec == "pair":
        if type(data) is not list or len(data) != 2:
            raise MalformedMessage("expected [index, signature]")
        return (_dec(data[0], "int"), _dec(data[1], "bytes"))
    if isinstance(spec, tuple):
        if type(data) is not list:
            raise MalformedMessage("expected a list")
        return tuple(_dec(v, spec[1], blobs) for v in data)
    fields = _SPECS[spec]
    if type(data) is not dict or set(data) != {name for name, _ in fields}:
        raise MalformedMessage(f"expected the fields of {spec.__name__}")
    return spec(*(_dec(data[name], sub, blobs) for name, sub in fields))


def to_jsonable(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict for any message or nested type (bytes as hex)."""
    return _enc(obj, type(obj))  # type: ignore[no-any-return]


def from_jsonable(cls: type, data: Any) -> Any:
    """Inverse of :func:`to_jsonable`; raises :class:`MalformedMessage`."""
    return _dec(data, cls)


def _canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


_BLOBS_MARK = b"\x00"
_LEN = struct.Struct(">I")


def encode_message(msg: Message) -> bytes:
    """Canonical wire bytes of ``msg``.

    A message without payloads is canonical JSON. One that carries payloads (blocks) is
    ``0x00 || len(json) || json || (len(blob) || blob)*`` with 4-byte big-endian lengths: the
    JSON names each payload by its index among the blobs, so blocks travel as raw bytes, once.
    """
    blobs: dict[bytes, int] = {}
    body = _enc(msg, type(msg), blobs)
    body["type"] = type(msg).__name__
    return _frame(body, blobs)


def _frame(body: dict[str, Any], blobs: dict[bytes, int]) -> bytes:
    text = _canonical(body)
    if not blobs:
        return text
    parts = [_BLOBS_MARK, _LEN.pack(len(text)), text]
    for blob in blobs:  # dicts keep insertion order: index order
        parts += [_LEN.pack(len(blob)), blob]
    return b"".join(parts)


def pack(fields: dict[str, tuple[Any, Any]]) -> bytes:
    """Frame ``{name: (value, spec)}`` like a wire message (JSON, then each distinct payload once
    as a raw blob); ``None`` values stay null. Used for the persisted record, so a slot's block is
    stored once, not hex-encoded in both its pre-prepare and its prepared proof."""
    blobs: dict[bytes, int] = {}
    body = {name: None if value is None else _enc(value, spec, blobs) for name, (value, spec) in fields.items()}
    return _frame(body, blobs)


def unpack(data: bytes) -> tuple[Any, list[bytes]]:
    """The JSON body and the blobs of :func:`pack`'s bytes; raises :class:`MalformedMessage`."""
    text, blobs = _split_blobs(bytes(data))
    try:
        return json.loads(text), blobs or []
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None


def unpack_value(data: Any, spec: Any, blobs: list[bytes]) -> Any:
    """Decode one field of :func:`unpack`'s body (``spec`` as in :func:`pack`)."""
    return None if data is None else _dec(data, spec, blobs)


def _split_blobs(data: bytes) -> tuple[bytes, list[bytes] | None]:
    """The JSON part and the blobs of a wire message (None when it has no blob section)."""
    if not data.startswith(_BLOBS_MARK):
        return data, None
    view = memoryview(data)
    if len(data) < 5:
        raise MalformedMessage("truncated message header")
    (size,) = _LEN.unpack_from(data, 1)
    offset = 5 + size
    if offset > len(data):
        raise MalformedMessage("truncated message")
    text, blobs = bytes(view[5:offset]), []
    while offset < len(data):
        if offset + 4 > len(data):
            raise MalformedMessage("truncated payload length")
        (size,) = _LEN.unpack_from(data, offset)
        if offset + 4 + size > len(data):
            raise MalformedMessage("truncated payload")
        blobs.append(bytes(view[offset + 4 : offset + 4 + size]))
        offset += 4 + size
    return text, blobs


def decode_message(data: bytes) -> Message:
    """Parse wire bytes; any problem raises :class:`MalformedMessage` (and nothing else)."""
    if not isinstance(data, (bytes, bytearray)):
        raise MalformedMessage("wire data must be bytes")
    text, blobs = _split_blobs(bytes(data))
    try:
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError) as exc:
        raise MalformedMessage(f"not JSON: {exc}") from None
    if type(body) is not dict or type(body.get("type")) is not str:
        raise MalformedMessage("expected an object with a type")
    cls = MESSAGE_TYPES.get(body.pop("type"))
    if cls is None:
        raise MalformedMessage("unknown message type")
    try:
        msg = _dec(body, cls, blobs if blobs is not None else [])
    except RecursionError:
        raise MalformedMessage("nested too deeply") from None
    return msg  # type: ignore[no-any-return]


def check_well_formed(msg: Any, digest_size: int) -> None:
    """Check an in-memory message's field types and ranges (messages built in-process can be
    anything); raises :class:`MalformedMessage`."""
    if type(msg) not in _SPECS:
        raise MalformedMessage(f"not a consensus message: {type(msg).__name__}")
    _check(msg, type(msg), digest_size)


def _check(value: Any, spec: Any, digest_size: int, name: str = "") -> None:
    if spec == "int":
        if type(value) is not int or not 0 <= value <= MAX_INT:
            raise MalformedMessage(f"{name}: expected an integer in 0..2**63-1")
    elif spec in ("bytes", "payload"):
        if type(value) is not bytes:
            raise MalformedMessage(f"{name}: expected bytes")
        if name.endswith("digest") and len(value) != digest_size:
            raise MalformedMessage(f"{name}: expected a {digest_size}-byte digest")
    elif spec == "pair":
        if type(value) is not tuple or len(value) != 2:
            raise MalformedMessage(f"{name}: expected (index, signature)")
        _check(value[0], "int", digest_size, name)
        _check(value[1], "bytes", digest_size, name)
    elif isinstance(spec, tuple):
        if type(value) is not tuple:
            raise MalformedMessage(f"{name}: expected a tuple")
        for item in value:
            _check(item, spec[1], digest_size, name)
    else:
        if type(value) is not spec:
            raise MalformedMessage(f"{name}: expected {spec.__name__}")
        # Every message of the normal case is a struct of ints and bytes: those fields are
        # checked here rather than by a call each (a replica checks every message it steps).
        for field, sub in _SPECS[spec]:
            item = getattr(value, field)
            if sub == "int":
                if type(item) is int and 0 <= item <= MAX_INT:
                    continue
            elif sub == "bytes" or sub == "payload":
                if type(item) is bytes and (len(item) == digest_size or not field.endswith("digest")):
                    continue
            _check(item, sub, digest_size, field)


# --------------------------------------------------------------------------- describe


def _d(digest: Any) -> str:
    return digest.hex()[:8] if isinstance(digest, bytes) else repr(digest)


def describe(msg: Any) -> str:
    """One line for logs and test output, e.g. ``Prepare(v=3 s=17 d=ab12cd34 from=2)``."""
    name = type(msg).__name__
    if isinstance(msg, PrePrepare):
        return f"{name}(v={msg.view} s={msg.seq} d={_d(msg.digest)} {len(msg.payload)}B from={msg.sender})"
    if isinstance(msg, (Prepare, Commit)):
        return f"{name}(v={msg.view} s={msg.seq} d={_d(msg.digest)} from={msg.sender})"
    if isinstance(msg, Checkpoint):
        return f"{name}(s={msg.seq} d={_d(msg.digest)} from={msg.sender})"
    if isinstance(msg, ViewChange):
        pset = ",".join(str(p.pre_prepare.seq) for p in msg.prepared)
        return f"{name}(v={msg.view} stable={msg.stable_seq} P=[{pset}] from={msg.sender})"
    if isinstance(msg, NewView):
        vcs = ",".join(str(vc.sender) for vc in msg.view_changes)
        oset = [p.seq for p in msg.pre_prepares]
        span = f"{oset[0]}..{oset[-1]}" if oset else "-"
        return f"{name}(v={msg.view} V=[{vcs}] O={span} from={msg.sender})"
    if isinstance(msg, Status):
        return f"{name}(v={msg.view} height={msg.seq} from={msg.sender})"
    if isinstance(msg, Suspect):
        return f"{name}(v={msg.view} from={msg.sender})"
    if isinstance(msg, StateRequest):
        return f"{name}({msg.from_seq}..{msg.to_seq} from={msg.sender})"
    if isinstance(msg, StateResponse):
        got = [e.seq for e in msg.entries]
        span = f"{got[0]}..{got[-1]}" if got else "-"
        return f"{name}({span} from={msg.sender})"
    return f"{name}(?)"
