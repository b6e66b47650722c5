"""Malformed JSON-RPC inputs: the hand-written list, the hypothesis strategies, and the check that
an answer is a clear error (or a plain result), never an internal error or a dropped connection."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from node.ledger.payloads import PAYLOADS
from node.rpc.methods import METHODS, WS_METHODS

PARSE, INVALID, NO_METHOD, PARAMS = -32700, -32600, -32601, -32602
INTERNAL = -32603


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes | Iterable[bytes]  # an iterable is sent chunked, without Content-Length
    expect: tuple[int, ...]  # JSON-RPC error codes accepted (per call); 413 for an HTTP refusal
    content_type: str = "application/json"


def request(method: str, params: Any = None, id: Any = 1, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "id": id, **extra}
    if params is not None:
        out["params"] = params
    return out


def enc(value: Any) -> bytes:
    return json.dumps(value).encode()


def _nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","method":"chain_status","id":1,"params":{"x":' + b"[" * depth + b"]" * depth + b"}}"


def _envelope(**body: Any) -> dict[str, Any]:
    base = {"chain_id": "warrant-local", "type": "register_account", "sender": "wc" + "0" * 40, "nonce": 1,
            "expires": 2**40, "payload": {}}
    base.update(body)
    return {"body": base, "pubkey": "02" + "11" * 32, "sig": "22" * 64}


HAND_WRITTEN: list[Case] = [
    # not JSON at all
    Case("empty body", b"", (PARSE,)),
    Case("plain text", b"hello node", (PARSE,)),
    Case("truncated object", b'{"jsonrpc":"2.0","method":"chain_status"', (PARSE,)),
    Case("NaN literal", b'{"jsonrpc":"2.0","method":"chain_status","id":NaN}', (PARSE,)),
    Case("trailing garbage", enc(request("chain_status")) + b"}}}", (PARSE,)),
    Case("invalid UTF-8 in a string", b'{"jsonrpc":"2.0","method":"chain_status","id":"\xff\xfe"}', (PARSE,)),
    Case("invalid UTF-8 outside strings", b'{"jsonrpc":"2.0",\xc0"method":"chain_status","id":1}', (PARSE,)),
    Case("UTF-16 body", json.dumps(request("chain_status")).encode("utf-16"), (PARSE,)),
    Case("lone surrogate escape in the id", b'{"jsonrpc":"2.0","method":"chain_status","id":"\\ud800"}',
         (PARSE, INVALID, 0)),
    Case("lone surrogate escape in a param", enc(request("warrant_get", {"id": "\ud800"})), (PARSE, PARAMS)),
    Case("NUL bytes", b"\x00" * 64, (PARSE,)),
    # wrong envelope types
    Case("a bare number", b"42", (INVALID,)),
    Case("a bare string", b'"chain_status"', (INVALID,)),
    Case("null", b"null", (INVALID,)),
    Case("jsonrpc 1.0", enc({"jsonrpc": "1.0", "method": "chain_status", "id": 1}), (INVALID,)),
    Case("jsonrpc missing", enc({"method": "chain_status", "id": 1}), (INVALID,)),
    Case("method is a number", enc(request(5)), (INVALID,)),  # type: ignore[arg-type]
    Case("method is empty", enc(request("")), (INVALID,)),
    Case("params is a string", enc(request("chain_status", "all")), (INVALID,)),
    Case("id is a fraction", enc(request("chain_status", id=1.5)), (INVALID,)),
    Case("id is a boolean", enc(request("chain_status", id=True)), (INVALID,)),
    Case("id is an object", enc(request("chain_status", id={"a": 1})), (INVALID,)),
    Case("extra envelope member", enc(request("chain_status", extra=1)), (INVALID,)),
    Case("unknown method", enc(request("chain_destroy")), (NO_METHOD,)),
    Case("method name of 100 kB", enc(request("m" * 100_000)), (NO_METHOD,)),
    Case("subscribe over HTTP", enc(request("subscribe", {"topic": "blocks"})), (NO_METHOD,)),
    # wrong param types, missing and extra fields
    Case("height as a string", enc(request("chain_getBlock", {"height": "1"})), (PARAMS,)),
    Case("height negative", enc(request("chain_getBlock", {"height": -1})), (PARAMS,)),
    Case("height as a float", enc(request("chain_getBlock", {"height": 1.0})), (PARAMS,)),
    Case("height as a boolean", enc(request("chain_getBlock", {"height": True})), (PARAMS,)),
    Case("height and hash both", enc(request("chain_getBlock", {"height": 1, "hash": "00" * 32})), (PARAMS,)),
    Case("neither height nor hash", enc(request("chain_getBlock", {})), (PARAMS,)),
    Case("hash not hex", enc(request("chain_getBlock", {"hash": "zz" * 32})), (PARAMS,)),
    Case("tx id too short", enc(request("tx_get", {"id": "ab"})), (PARAMS,)),
    Case("address of the wrong shape", enc(request("account_get", {"address": "0x1234"})), (PARAMS,)),
    Case("extra param", enc(request("chain_status", {"verbose": True})), (PARAMS,)),
    Case("too many positional params", enc(request("tx_get", ["00" * 32, 1, 2])), (PARAMS,)),
    Case("tx_submit without tx", enc(request("tx_submit", {})), (PARAMS,)),
    Case("tx_submit with a tx that is a string", enc(request("tx_submit", {"tx": "deadbeef"})), (PARAMS,)),
    Case("tx body missing fields", enc(request("tx_submit", {"tx": {"body": {}, "pubkey": "", "sig": ""}})), (PARAMS,)),
    Case("tx with an extra field", enc(request("tx_submit", {"tx": {**_envelope(), "memo": "hi"}})), (PARAMS,)),
    Case("tx with a float in its payload", enc(request("tx_submit", {"tx": _envelope(payload={"amount": 1.5})})), (PARAMS,)),
    Case("tx with a bad signature", enc(request("tx_submit", {"tx": _envelope()})), (PARAMS, 1002) + tuple(range(4000, 4007))),
    Case("tx_submit timeout_ms of 10^30", enc(request("tx_submit", {"tx": _envelope(), "timeout_ms": 10**30})), (PARAMS,)),
    Case("document_get with half a business key", enc(request("document_get", {"doc_type": "invoice"})), (PARAMS,)),
    # huge numbers
    Case("id of 10^400", b'{"jsonrpc":"2.0","method":"chain_status","id":1e400}', (PARSE, INVALID)),
    Case("id of 2^200 (echoed as given)", enc(request("chain_status", id=2**200)), (0, PARSE, INVALID)),
    Case("height of 2^64", enc(request("chain_getBlock", {"height": 2**64})), (PARSE, PARAMS)),
    Case("nonce of 10^100", enc(request("tx_submit", {"tx": _envelope(nonce=10**100)})), (PARSE, PARAMS)),
    Case("expires of -2^63", enc(request("tx_submit", {"tx": _envelope(expires=-(2**63))})), (PARAMS,)),
    # deep nesting
    Case("params nested 65 deep", _nested(65), (PARSE,)),
    Case("params nested 100,000 deep", _nested(100_000), (PARSE,)),
    Case("array nested 500,000 deep", b"[" * 500_000 + b"]" * 500_000, (PARSE,)),
    Case("unclosed nesting", b"[" * 200_000, (PARSE,)),
    # batches
    Case("empty batch", b"[]", (INVALID,)),
    Case("batch of 101 calls", enc([request("chain_status", id=i) for i in range(101)]), (INVALID,)),
    Case("batch of 100,000 calls", enc([request("chain_status", id=i) for i in range(100_000)]), (413, INVALID)),
    Case("batch of junk", enc([1, "x", None, {}, [], True]), (INVALID,)),
    Case("batch of bad and good calls", enc([request("chain_status"), request("nope", id=2), 7]), (0, NO_METHOD, INVALID)),
    Case("batch nested in a batch", enc([[request("chain_status")]]), (INVALID,)),
    # huge bodies
    Case("2 MiB body", enc(request("chain_status", {"pad": "x" * (2 << 20)})), (413,)),
    Case("2 MiB body sent chunked", (b"[" + b" " * 65536 for _ in range(32)), (413,)),
    Case("900 kB string param", enc(request("warrant_get", {"id": "a" * 900_000})), (PARAMS,)),
    # content types that are not JSON
    Case("form-encoded body", b"method=chain_status&id=1", (PARSE,), "application/x-www-form-urlencoded"),
    Case("multipart body", b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--b--\r\n", (PARSE,),
         "multipart/form-data; boundary=b"),
    Case("XML body", b"<?xml version='1.0'?><methodCall><methodName>x</methodName></methodCall>", (PARSE,), "text/xml"),
    Case("octet-stream of random bytes", bytes(range(256)) * 4, (PARSE,), "application/octet-stream"),
]

# ---- hypothesis strategies ---------------------------------------------------------------------

_leaf = (
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=24)
)
json_value = st.recursive(_leaf, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                          max_leaves=16)

_METHOD_NAMES = sorted([*METHODS, *WS_METHODS, "rpc.discover"])
_PARAM_NAMES = sorted({name for m in [*METHODS.values(), *WS_METHODS.values()] for name in m.params.__struct_fields__} | {"extra"})
_hex = st.text("0123456789abcdef", min_size=0, max_size=70)
_tx_like = st.fixed_dictionaries(
    {"body": st.fixed_dictionaries({
        "chain_id": st.sampled_from(["warrant-local", "other", ""]) | st.text(max_size=10),
        "type": st.sampled_from(sorted(PAYLOADS)) | st.text(max_size=10),
        "sender": st.just("wc" + "ab" * 20) | _hex,
        "nonce": st.integers(min_value=-5, max_value=2**70),
        "expires": st.integers(min_value=-5, max_value=2**70),
        "payload": st.dictionaries(st.sampled_from(["amount", "to", "warrant", "limit", "address", "role", "name"]),
                                   json_value, max_size=4),
    }),
     "pubkey": _hex, "sig": _hex},
    optional={"extra": json_value},
)
_param_value = json_value | _hex | st.integers(min_value=-(2**65), max_value=2**65) | _tx_like
params = (
    st.dictionaries(st.sampled_from(_PARAM_NAMES), _param_value, max_size=4)
    | st.lists(_param_value, max_size=4)
    | json_value
)
rpc_request = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.just("2.0") | json_value,
        "method": st.sampled_from(_METHOD_NAMES) | st.text(max_size=16),
        "params": params,
        "id": st.integers(min_value=-(2**70), max_value=2**70) | st.text(max_size=8) | json_value,
        "extra": json_value,
    },
)


# ---- talking to a node and checking answers ----------------------------------------------------

@dataclass
class Answer:
    status: int
    body: bytes


def post(port: int, body: bytes | Iterable[bytes], content_type: str = "application/json", path: str = "/rpc",
         method: str = "POST") -> Answer:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        chunked = not isinstance(body, (bytes, bytearray))
        headers = {"Content-Type": content_type}
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
        response = conn.getresponse()
        return Answer(response.status, response.read())
    except (ConnectionResetError, BrokenPipeError):
        # The server may close the connection while a refused oversized body is still being sent.
        return Answer(413, b"")
    finally:
        conn.close()


def error_codes(answer: Answer) -> list[int]:
    """The JSON-RPC error codes of an answer (0 for a result); asserts that it is a clear answer."""
    if answer.status == 204:
        assert answer.body == b"", "a notification-only request gets an empty 204"
        return []
    if answer.status == 413:
        if answer.body:
            assert json.loads(answer.body)["error"]["message"], "a 413 carries a JSON-RPC error that says why"
        return [413]
    assert answer.status == 200, f"HTTP {answer.status}: {answer.body[:200]!r}"
    decoded = json.loads(answer.body)
    codes = []
    for item in decoded if isinstance(decoded, list) else [decoded]:
        assert item["jsonrpc"] == "2.0" and "id" in item, item
        if "error" in item:
            error = item["error"]
            assert isinstance(error["code"], int) and isinstance(error["message"], str) and error["message"], error
            assert error["code"] != INTERNAL, f"internal error: the node did not handle this input: {error}"
            codes.append(error["code"])
        else:
            assert "result" in item, item
            codes.append(0)
    return codes
