"""node.kernel.codec: canonical bytes are deterministic, order-independent, round-trip, and refuse what can't be canonical."""

from __future__ import annotations

import json
import random
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import EncodingError
from node.kernel import codec

int64 = st.integers(min_value=codec.INT64_MIN, max_value=codec.INT64_MAX)
text = st.text()  # hypothesis text never contains lone surrogates
values = st.recursive(
    st.none() | st.booleans() | int64 | text,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_canonical_round_trips(value: Any) -> None:
    data = codec.canonical(value)
    assert codec.decode(data) == value
    assert codec.canonical(codec.decode(data)) == data


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(text, values, max_size=8), st.randoms(use_true_random=False))
def test_canonical_ignores_insertion_order(value: dict[str, Any], rnd: random.Random) -> None:
    items = list(value.items())
    rnd.shuffle(items)
    assert codec.canonical(dict(items)) == codec.canonical(value)


@settings(max_examples=200, deadline=None)
@given(values)
def test_canonical_matches_the_documented_rules(value: Any) -> None:
    # The documented form is exactly what Python's json module writes with sorted keys, compact
    # separators and raw UTF-8: an independent implementation other clients can compare against.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert codec.canonical(value) == expected


def test_known_bytes() -> None:
    value = {"b": [1, -2, True, None], "a": "fen \u00e9\n", "A": {}}
    assert codec.canonical(value) == b'{"A":{},"a":"fen \xc3\xa9\\n","b":[1,-2,true,null]}'


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ({"a": 1.0}, "floating-point"),
        ({"a": float("nan")}, "floating-point"),
        ({"a": 2**63}, "64-bit"),
        ({"a": -(2**63) - 1}, "64-bit"),
        ({"a": "\ud800"}, "not valid Unicode"),
        ({"\udfff": 1}, "not valid Unicode"),
        ({1: 2}, "key"),
        ({"a": b"bytes"}, "no canonical encoding"),
        ({"a": {1, 2}}, "no canonical encoding"),
        ([[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "nested"),
    ],
)
def test_refuses_non_canonical_values(bad: Any, fragment: str) -> None:
    with pytest.raises(EncodingError, match=fragment):
        codec.canonical(bad)


def test_extreme_int64_values_are_allowed() -> None:
    assert codec.canonical([codec.INT64_MIN, codec.INT64_MAX]) == b"[-9223372036854775808,9223372036854775807]"


class _Payment(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(gt=0, le=codec.INT64_MAX)]
    to: str


@pytest.mark.parametrize(
    "data, fragment",
    [
        (b'{"amount":1.5,"to":"x"}', "amount: expected a whole number, got a number with a fraction"),
        (b'{"amount":"1","to":"x"}', "amount: expected a whole number, got text"),
        (b'{"amount":0,"to":"x"}', "amount: expected a whole number at least 1"),
        (b'{"amount":9223372036854775808,"to":"x"}', "amount: expected a whole number at most 2\\^63-1"),
        (b'{"amount":1,"to":"x","extra":1}', "extra: unknown field"),
        (b'{"amount":1}', "to: required field missing"),
        (b'{"amount":1,', "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"", "malformed JSON"),
    ],
)
def test_decode_errors_name_the_field(data: bytes, fragment: str) -> None:
    with pytest.raises(EncodingError, match=fragment):
        codec.decode(data, _Payment)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(EncodingError):
        codec.decode(12345, _Payment)  # type: ignore[arg-type]


def test_convert_is_strict() -> None:
    assert codec.convert({"amount": 5, "to": "x"}, _Payment) == _Payment(5, "x")
    with pytest.raises(EncodingError, match="amount"):
        codec.convert({"amount": "5", "to": "x"}, _Payment)


def test_struct_encoding_sorts_fields() -> None:
    assert codec.canonical(_Payment(amount=3, to="y")) == b'{"amount":3,"to":"y"}'


@pytest.mark.parametrize("depth", [3_000, 100_000])
@pytest.mark.parametrize("opening, closing", [(b"[", b"]"), (b'{"a":', b"}")])
def test_deep_nesting_is_an_encoding_error_at_any_depth(depth: int, opening: bytes, closing: bytes) -> None:
    """msgspec recurses once per level: thousands of levels used to raise RecursionError."""
    data = opening * depth + b"1" + closing * depth
    for target in (Any, dict[str, Any], list[Any]):
        with pytest.raises(EncodingError, match="nested too deeply|invalid value"):
            codec.decode(data, target)


def test_deep_nesting_inside_a_transaction_or_block_is_a_chain_error() -> None:
    from node.kernel.chain import decode_block, decode_tx
    from node.errors import ChainError

    deep = b"[" * 5_000 + b"]" * 5_000
    tx = (b'{"body":{"chain_id":"x","type":"split","sender":"wc' + b"0" * 40 + b'","nonce":1,"expires":1,'
          b'"payload":{"a":' + deep + b'}},"pubkey":"02' + b"0" * 64 + b'","sig":"' + b"0" * 128 + b'"}')
    with pytest.raises(ChainError):
        decode_tx(tx)
    with pytest.raises(ChainError):
        decode_block(b'{"header":' + deep + b',"txs":[]}')


def test_deeply_nested_python_values_are_refused_by_encode() -> None:
    value: Any = 1
    for _ in range(100_000):
        value = [value]
    with pytest.raises(EncodingError):
        codec.encode(value)
