"""The block feed's frames: what an observer asks a validator for, and the committed blocks with
their certificates that a validator pushes to it (pure encoding, no I/O).

A feed frame is the mesh frame tagged :data:`TAG_FEED`, then one kind byte:

- ``?`` a :class:`FeedRequest` (observer -> validator), canonical JSON: "send me the committed
  blocks from ``from_height`` on";
- ``b`` blocks (validator -> observer): a 4-byte big-endian length, the canonical JSON of a
  :class:`FeedHeader` (the sender's height and, per block, its certificate and size), then the
  blocks' raw bytes one after another (an empty block for a null request: size 0).

Raw blocks ride as bytes, not inside the JSON, so a 2 MiB block costs 2 MiB, not 2.7 (base64).
docs/PROTOCOL.md ("Block feed") has the exact layout and a test vector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

import msgspec

from node.errors import EncodingError, WarrantChainError
from node.kernel import codec
from node.kernel.chain import Certificate

__all__ = [
    "TAG_FEED",
    "MAX_FEED_ENTRIES",
    "FeedError",
    "FeedRequest",
    "FeedEntryHeader",
    "FeedHeader",
    "FeedEntry",
    "FeedBlocks",
    "encode_request",
    "encode_blocks",
    "decode_feed",
]

TAG_FEED = b"f"
_KIND_REQUEST = b"?"
_KIND_BLOCKS = b"b"
MAX_FEED_ENTRIES = 256  # blocks in one frame at most
_Height = Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]
_Size = Annotated[int, msgspec.Meta(ge=0, le=1 << 30)]


class FeedError(WarrantChainError):
    """A feed frame that does not parse: the sender is faulty (the frame is dropped)."""


class FeedRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    from_height: Annotated[int, msgspec.Meta(ge=1, le=codec.INT64_MAX)]


class FeedEntryHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    certificate: Certificate  # its height, view, block hash and commit signatures
    size: _Size  # bytes of the raw block that follow (0: a null block)


class FeedHeader(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tip: _Height  # the sender's committed height when it sent this frame
    entries: Annotated[list[FeedEntryHeader], msgspec.Meta(max_length=MAX_FEED_ENTRIES)]


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One committed block: its raw bytes (b"" for a null block) and its certificate."""

    payload: bytes
    certificate: Certificate

    @property
    def height(self) -> int:
        return self.certificate.height

    @property
    def digest(self) -> bytes:
        return bytes.fromhex(self.certificate.block_hash)


@dataclass(frozen=True, slots=True)
class FeedBlocks:
    tip: int
    entries: tuple[FeedEntry, ...]


def encode_request(from_height: int) -> bytes:
    """The mesh frame asking for blocks from ``from_height`` on."""
    return TAG_FEED + _KIND_REQUEST + codec.encode(FeedRequest(from_height))


def encode_blocks(tip: int, entries: Sequence[FeedEntry]) -> bytes:
    """The mesh frame carrying ``entries`` (in height order) from a node at height ``tip``."""
    header = codec.encode(FeedHeader(tip, [FeedEntryHeader(e.certificate, len(e.payload)) for e in entries]))
    return b"".join([TAG_FEED, _KIND_BLOCKS, len(header).to_bytes(4, "big"), header, *(e.payload for e in entries)])


def decode_feed(body: bytes) -> FeedRequest | FeedBlocks:
    """Parse a feed frame's body (after :data:`TAG_FEED`); raise FeedError for anything else."""
    kind, rest = body[:1], body[1:]
    try:
        if kind == _KIND_REQUEST:
            request: FeedRequest = codec.decode(rest, FeedRequest)
            return request
        if kind != _KIND_BLOCKS:
            raise FeedError(f"unknown feed frame kind {kind.hex() or 'none'}")
        size = int.from_bytes(rest[:4], "big")
        if len(rest) < 4 + size:
            raise FeedError(f"feed header of {size} bytes does not fit in a {len(rest)}-byte frame")
        header: FeedHeader = codec.decode(rest[4 : 4 + size], FeedHeader)
    except EncodingError as exc:
        raise FeedError(f"malformed feed frame: {str(exc)[:200]}") from None
    offset = 4 + size
    entries = []
    for entry in header.entries:
        end = offset + entry.size
        if end > len(rest):
            raise FeedError("a feed frame's blocks are shorter than its header says")
        entries.append(FeedEntry(bytes(rest[offset:end]), entry.certificate))
        offset = end
    if offset != len(rest):
        raise FeedError(f"{len(rest) - offset} bytes after the last block of a feed frame")
    return FeedBlocks(header.tip, tuple(entries))
