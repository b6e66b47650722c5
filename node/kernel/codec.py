"""Canonical encoding: the exact bytes that are hashed and signed, and schema-checked decoding.

The canonical form is JSON with no insignificant white space, object keys sorted by code point
(the same as sorting their UTF-8 bytes), strings as UTF-8 with only ``"``, ``\\`` and control
characters escaped, and integers only, in the signed 64-bit range. Floats, NaN, byte strings,
non-string keys and text that is not valid Unicode are refused, so two machines can never disagree
on the bytes of one value. Binary values (hashes, keys, signatures) travel as lowercase hex strings.

msgspec does the encoding and the typed decoding: measured here it encodes a transaction body in
0.27 µs, orjson in 0.22 µs, msgpack in 0.53 µs and the standard library in 2.9 µs; msgspec also
decodes straight into typed structs (``decode``) with field-path errors, which orjson does not, so
one library serves both jobs (see docs/PROTOCOL.md and scripts/bench_kernel.py).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from node.errors import EncodingError
from node.fmt import explain_validation

__all__ = [
    "INT64_MIN",
    "INT64_MAX",
    "canonical",
    "check_value",
    "encode",
    "decode",
    "convert",
    "Struct",
]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_DEPTH = 32
_TOO_DEEP = f"value nested too deeply (canonical values nest at most {MAX_DEPTH} levels)"

Struct = msgspec.Struct
T = TypeVar("T")

_encoder = msgspec.json.Encoder(order="sorted")
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def check_value(value: Any, path: str = "$", depth: int = 0) -> None:
    """Raise EncodingError unless ``value`` is made only of canonical JSON types."""
    if depth > MAX_DEPTH:
        raise EncodingError(f"value nested deeper than {MAX_DEPTH} levels at {path}")
    kind = type(value)
    if kind is str:
        _check_text(value, path)
    elif kind is int:
        if not INT64_MIN <= value <= INT64_MAX:
            raise EncodingError(f"integer at {path} is outside the signed 64-bit range")
    elif kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise EncodingError(f"object key at {path} must be a string, not {type(key).__name__}")
            _check_text(key, path)
            check_value(item, f"{path}.{key}", depth + 1)
    elif kind is list or kind is tuple:
        for index, item in enumerate(value):
            check_value(item, f"{path}[{index}]", depth + 1)
    elif value is None or kind is bool:
        pass
    elif kind is float:
        raise EncodingError(f"floating-point number at {path}: amounts are integers in minor units (fen)")
    else:
        raise EncodingError(f"value at {path} has type {kind.__name__}, which has no canonical encoding")


def _check_text(text: str, path: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise EncodingError(f"text at {path} is not valid Unicode (lone surrogate)") from None


def canonical(value: Any) -> bytes:
    """The canonical bytes of a plain value (dict/list/str/int/bool/None) or a codec Struct.

    Plain values are checked in full; Structs are trusted to have come through :func:`decode` or
    :func:`convert`, which enforce their field types.
    """
    if not isinstance(value, msgspec.Struct):
        check_value(value)
    return encode(value)


def encode(value: Any) -> bytes:
    """Canonical bytes of an already-validated value, without re-checking it (hot path)."""
    try:
        return _encoder.encode(value)
    except (TypeError, ValueError, UnicodeEncodeError, OverflowError) as exc:
        raise EncodingError(f"cannot encode value: {exc}") from None
    except RecursionError:
        raise EncodingError(_TOO_DEEP) from None


def decode(data: bytes | bytearray | memoryview | str, type: type[T] | Any = Any) -> T:
    """Decode JSON ``data`` into ``type``, raising EncodingError with the offending field's path."""
    decoder = _decoders.get(type)
    if decoder is None:
        decoder = _decoders[type] = msgspec.json.Decoder(type)
    try:
        return decoder.decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise EncodingError(f"invalid value: {explain_validation(str(exc))[1]}") from None
    except msgspec.DecodeError as exc:
        raise EncodingError(f"malformed JSON: {exc}") from None
    except TypeError as exc:
        raise EncodingError(f"cannot decode {exc}") from None
    except RecursionError:  # msgspec recurses per nesting level; thousands of "[" exhaust the stack
        raise EncodingError(_TOO_DEEP) from None


def convert(value: Any, type: type[T]) -> T:
    """Validate an already-parsed value against ``type`` (strictly: no coercion of strings)."""
    try:
        return msgspec.convert(value, type, strict=True)
    except msgspec.ValidationError as exc:
        raise EncodingError(f"invalid value: {explain_validation(str(exc))[1]}") from None
    except RecursionError:
        raise EncodingError(_TOO_DEEP) from None
