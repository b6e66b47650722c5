"""Malformed JSON-RPC against real nodes: each input gets a clear JSON-RPC error (never an internal
error or a dead connection), the nodes keep serving, and nothing committed changes."""

from __future__ import annotations

import asyncio
import collections
import json

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.sdk.localnet import LocalNet

from .conftest import RUNNING, commit_one, committed_view
from .rpc_inputs import HAND_WRITTEN, Answer, error_codes, json_value, post, rpc_request

TRIED: collections.Counter[str] = collections.Counter()
FUZZ = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])


def _port(net: LocalNet, turn: int) -> int:
    return net.base_port + 100 + RUNNING[turn % len(RUNNING)]


@pytest.fixture(scope="module")
def before(cluster: LocalNet) -> dict[int, tuple[int, str, str]]:
    return asyncio.run(committed_view(cluster))


def test_hand_written_malformed_requests_get_clear_errors(cluster: LocalNet, before: dict) -> None:
    wrong = []
    for turn, case in enumerate(HAND_WRITTEN):
        answer = post(_port(cluster, turn), case.body, case.content_type)
        codes = error_codes(answer)
        if not codes or not set(codes) <= set(case.expect):
            wrong.append(f"{case.name}: got {codes} (HTTP {answer.status}), expected {case.expect}: {answer.body[:160]!r}")
        TRIED["hand-written JSON-RPC bodies"] += 1
    assert not wrong, "\n".join(wrong)
    # Not /rpc, or not POST: plain HTTP errors.
    assert post(_port(cluster, 0), b"{}", path="/rpc", method="GET").status == 405
    assert post(_port(cluster, 1), b"{}", path="/nowhere").status == 404
    TRIED["wrong HTTP method or path"] += 2


@FUZZ
@given(value=rpc_request, turn=st.integers(0, 2))
def test_random_requests_get_clear_answers(cluster: LocalNet, before: dict, value: dict, turn: int) -> None:
    error_codes(post(_port(cluster, turn), json.dumps(value).encode()))
    TRIED["random requests (hypothesis)"] += 1


@settings(FUZZ, max_examples=300)
@given(batch=st.lists(rpc_request | json_value, min_size=1, max_size=8), turn=st.integers(0, 2))
def test_random_batches_get_clear_answers(cluster: LocalNet, before: dict, batch: list, turn: int) -> None:
    error_codes(post(_port(cluster, turn), json.dumps(batch).encode()))
    TRIED["random batches (hypothesis)"] += 1


@settings(FUZZ, max_examples=300)
@given(body=st.binary(max_size=300), turn=st.integers(0, 2))
def test_random_bytes_get_parse_errors(cluster: LocalNet, before: dict, body: bytes, turn: int) -> None:
    answer = post(_port(cluster, turn), body)
    codes = error_codes(answer)
    assert codes, "bytes never make a notification"
    TRIED["random byte bodies (hypothesis)"] += 1


_VALID = json.dumps({"jsonrpc": "2.0", "method": "chain_getBlock", "params": {"height": 1}, "id": 7}).encode()


@settings(FUZZ, max_examples=300)
@given(edits=st.lists(st.tuples(st.integers(0, len(_VALID) - 1), st.binary(min_size=0, max_size=3)), min_size=1, max_size=4),
       turn=st.integers(0, 2))
def test_mutated_valid_requests_get_clear_answers(cluster: LocalNet, before: dict, edits: list, turn: int) -> None:
    body = bytearray(_VALID)
    for position, replacement in edits:
        body[position:position + 1] = replacement
    error_codes(post(_port(cluster, turn), bytes(body)))
    TRIED["mutated valid requests (hypothesis)"] += 1


async def test_malformed_websocket_messages_get_errors_or_a_close(cluster: LocalNet, before: dict) -> None:
    url = f"http://127.0.0.1:{_port(cluster, 0)}/ws"
    messages: list[str | bytes] = [
        "not json", "[]", "{}", json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"topic": "nope"}, "id": 1}),
        json.dumps({"jsonrpc": "2.0", "method": "subscribe", "params": {"topic": "account"}, "id": 2}),
        json.dumps({"jsonrpc": "2.0", "method": "unsubscribe", "params": {"subscription": ""}, "id": 3}),
        b"\xff\xfe\x00binary", "[" * 100_000,
    ]
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url) as ws:
            for message in messages:
                await (ws.send_bytes(message) if isinstance(message, bytes) else ws.send_str(message))
                reply = await asyncio.wait_for(ws.receive(), 10)
                error_codes(Answer(200, reply.data.encode() if isinstance(reply.data, str) else reply.data))
                TRIED["malformed WebSocket messages"] += 1
        async with session.ws_connect(url, max_msg_size=0) as ws:  # over the 1 MiB message limit
            try:
                await ws.send_str("x" * (2 << 20))
            except ConnectionError:
                closed = True  # the server cut the connection while the message was still going out
            else:
                reply = await asyncio.wait_for(ws.receive(), 10)
                closed = reply.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
            assert closed, "an oversized WebSocket message must close the connection"
            TRIED["malformed WebSocket messages"] += 1


async def test_nodes_kept_serving_and_nothing_committed_changed(cluster: LocalNet, before: dict) -> None:
    after = await committed_view(cluster)
    assert after == before, f"committed state changed under malformed RPC input: {before} -> {after}"
    await commit_one(cluster)  # and they still order and execute transactions
    print(f"\nmalformed RPC inputs tried: {sum(TRIED.values())}")
    for name, count in sorted(TRIED.items()):
        print(f"  {count:6d}  {name}")
