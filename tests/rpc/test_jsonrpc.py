"""The pure JSON-RPC envelope: parsing, ids, batches, notifications and the standard errors."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc import jsonrpc
from node.rpc.jsonrpc import Limits, Request, RpcError

LIMITS = Limits(max_batch=5, max_depth=10)


async def echo(request: Request) -> Any:
    if request.method == "fail":
        raise RpcError(1234, "nope", {"reason": "NOPE"})
    if request.method == "crash":
        raise ZeroDivisionError("hidden")
    return {"method": request.method, "params": request.params}


async def run(body: bytes | str | Any) -> Any:
    data = body.encode() if isinstance(body, str) else body if isinstance(body, bytes) else msgspec.json.encode(body)
    answer = await jsonrpc.handle(data, echo, LIMITS)
    return None if answer is None else msgspec.json.decode(answer)


def err(code: int, id: Any = None) -> Any:
    return lambda answer: answer["error"]["code"] == code and answer["id"] == id and "result" not in answer


async def test_single_call() -> None:
    answer = await run({"jsonrpc": "2.0", "method": "m", "params": {"a": 1}, "id": "x"})
    assert answer == {"jsonrpc": "2.0", "result": {"method": "m", "params": {"a": 1}}, "id": "x"}


async def test_params_may_be_absent_or_an_array() -> None:
    assert (await run({"jsonrpc": "2.0", "method": "m", "id": 1}))["result"]["params"] is None
    assert (await run({"jsonrpc": "2.0", "method": "m", "params": [1], "id": 1}))["result"]["params"] == [1]


@pytest.mark.parametrize(
    "body",
    ['{"jsonrpc": "2.0", "method": "m", "params": "bar", "id": 1', "", "nul", b"\xff\xfe", '{"a":1}x', "1e999",
     b'{"jsonrpc":"2.0","method":"m\xc3","id":1}', '"\\ud800"'],
)
async def test_parse_error(body: Any) -> None:
    answer = await run(body)
    assert err(-32700)(answer) and answer["error"]["message"].startswith("parse error")


async def test_deep_nesting_is_parse_error_without_recursion() -> None:
    assert err(-32700)(await run("[" * 11 + "]" * 11))
    assert err(-32700)(await run("[" * 100_000 + "]" * 100_000))
    assert "nested deeper than 10" in (await run("[" * 11 + "]" * 11))["error"]["message"]
    ok = {"jsonrpc": "2.0", "method": "m", "params": {"a": [[[[[[[1]]]]]]]}, "id": 1}  # depth 9
    assert "result" in await run(ok)


def _depth(value: Any) -> int:
    """The dumb reference: how many arrays/objects deep ``value`` nests (0 for a scalar)."""
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=40,
)


@settings(max_examples=2000, deadline=None)
@given(value=_JSON, limit=st.integers(min_value=1, max_value=12))
def test_depth_check_agrees_with_a_dumb_reference(value: Any, limit: int) -> None:
    assert jsonrpc.depth_exceeds(value, limit) == (_depth(value) > limit)


@pytest.mark.parametrize(
    ("request_", "id"),
    [
        (1, None),
        ('"x"', None),
        ([], None),  # empty batch: one error, not an array
        ({"jsonrpc": "2.0", "method": 1, "params": "bar"}, None),
        ({"jsonrpc": "1.0", "method": "m", "id": 3}, 3),
        ({"method": "m", "id": 3}, 3),
        ({"jsonrpc": "2.0", "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "", "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "m", "params": 5, "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "m", "params": None, "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "m", "id": 1.5}, None),
        ({"jsonrpc": "2.0", "method": "m", "id": True}, None),
        ({"jsonrpc": "2.0", "method": "m", "id": {}}, None),
        ({"jsonrpc": "2.0", "method": "m", "param": {}, "id": 3}, 3),
        ({"jsonrpc": "2.0", "method": "m", "params": 5}, None),  # an invalid notification is still answered
    ],
)
async def test_invalid_request(request_: Any, id: Any) -> None:
    answer = await run(request_)
    assert err(-32600, id)(answer), answer
    assert answer["error"]["message"].startswith("invalid request:")


async def test_null_and_string_ids_are_echoed() -> None:
    assert (await run({"jsonrpc": "2.0", "method": "m", "id": None}))["id"] is None
    assert (await run({"jsonrpc": "2.0", "method": "m", "id": 2**70}))["id"] == 2**70


async def test_notifications_get_no_answer() -> None:
    assert await run({"jsonrpc": "2.0", "method": "m"}) is None
    assert await run({"jsonrpc": "2.0", "method": "fail"}) is None  # not even for an error
    assert await run([{"jsonrpc": "2.0", "method": "m"}, {"jsonrpc": "2.0", "method": "crash"}]) is None


async def test_batch_mixing_valid_and_invalid_calls() -> None:
    answer = await run([
        {"jsonrpc": "2.0", "method": "m", "params": [1], "id": "1"},
        {"jsonrpc": "2.0", "method": "m"},  # notification: left out
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "fail", "id": 5},
        {"jsonrpc": "2.0", "method": "crash", "id": 9},
    ])
    assert answer[0] == {"jsonrpc": "2.0", "result": {"method": "m", "params": [1]}, "id": "1"}
    assert err(-32600)(answer[1])
    assert answer[2] == {"jsonrpc": "2.0", "error": {"code": 1234, "message": "nope", "data": {"reason": "NOPE"}}, "id": 5}
    assert answer[3] == {"jsonrpc": "2.0", "error": {"code": -32603, "message": "internal error"}, "id": 9}
    assert len(answer) == 4


async def test_batch_too_long() -> None:
    answer = await run([{"jsonrpc": "2.0", "method": "m", "id": i} for i in range(6)])
    assert err(-32600)(answer) and "limit is 5" in answer["error"]["message"]
    assert len(await run([{"jsonrpc": "2.0", "method": "m", "id": i} for i in range(5)])) == 5


async def test_unencodable_result_is_internal_error() -> None:
    async def bad(request: Request) -> Any:
        return {"x": object()}

    answer = msgspec.json.decode(await jsonrpc.handle(b'{"jsonrpc":"2.0","method":"m","id":1}', bad, LIMITS) or b"")
    assert answer["error"]["code"] == -32603


def _valid_answer(answer: Any) -> bool:
    if isinstance(answer, list):
        return bool(answer) and all(_valid_answer(a) for a in answer)
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0" or "id" not in answer:
        return False
    if "error" in answer:
        e = answer["error"]
        return "result" not in answer and isinstance(e["code"], int) and isinstance(e["message"], str)
    return "result" in answer


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
requestish = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]) | json_values,
        "method": st.sampled_from(["m", "fail", "crash", ""]) | json_values,
        "params": json_values,
        "id": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(requestish, st.lists(requestish | json_values, max_size=7), json_values, st.binary(max_size=64)))
def test_random_input_always_gets_a_valid_answer(body: Any) -> None:
    import asyncio

    data = body if isinstance(body, bytes) else msgspec.json.encode(body)
    answer = asyncio.run(jsonrpc.handle(data, echo, LIMITS))
    if answer is not None:
        assert _valid_answer(msgspec.json.decode(answer))
