"""The sans-I/O handshake, fed raw frames only (no sockets)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.kernel.crypto import generate_key
from node.p2p.handshake import (
    DOMAIN,
    Handshake,
    HandshakeError,
    Hello,
    Proof,
    Reason,
    Role,
    decode_message,
    encode_message,
    make_hello,
    make_proof,
    transcript,
)
from tests.p2p.conftest import CHAIN_ID, GENESIS_HASH, Cluster, make_cluster


def side(cluster: Cluster, role: Role, index: int, expect: int | None = None, **kw: object) -> Handshake:
    args: dict[str, object] = dict(
        role=role,
        index=index,
        key=cluster.keys[index],
        validators=cluster.validators,
        chain_id=CHAIN_ID,
        genesis_hash=GENESIS_HASH,
        expect=expect,
    )
    args.update(kw)
    return Handshake(**args)  # type: ignore[arg-type]


def run(a: Handshake, b: Handshake) -> tuple[list[bytes], list[bytes]]:
    """Exchange frames until both are done; returns what a and b sent."""
    sent_a: list[bytes] = []
    sent_b: list[bytes] = []
    for _ in range(4):
        out_a, out_b = a.data_to_send(), b.data_to_send()
        sent_a += out_a
        sent_b += out_b
        for frame in out_a:
            b.receive(frame)
        for frame in out_b:
            a.receive(frame)
    return sent_a, sent_b


def refusal(h: Handshake, *frames: object) -> Reason:
    with pytest.raises(HandshakeError) as info:
        for frame in frames:
            h.receive(frame)
    return info.value.reason


def test_both_sides_authenticate(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    b = side(cluster5, Role.RESPONDER, 3)
    sent_a, sent_b = run(a, b)
    assert a.done and b.done
    assert (a.peer, b.peer) == (3, 1)
    assert [type(decode_message(f)) for f in sent_a] == [Hello, Proof]
    assert [type(decode_message(f)) for f in sent_b] == [Hello, Proof]
    assert "done=True" in a.describe()


def test_transcript_bytes_are_exact() -> None:
    i = make_hello(CHAIN_ID, GENESIS_HASH, 0, b"\x01" * 32)
    r = make_hello(CHAIN_ID, GENESIS_HASH, 2, b"\x02" * 32)
    g = GENESIS_HASH.hex()
    expected = (
        b"warrantchain/p2p-handshake/v1\x00"
        + b'{"initiator":{"chain_id":"wc-test","genesis_hash":"' + g.encode()
        + b'","index":0,"nonce":"' + b"01" * 32 + b'","type":"hello"},'
        + b'"responder":{"chain_id":"wc-test","genesis_hash":"' + g.encode()
        + b'","index":2,"nonce":"' + b"02" * 32 + b'","type":"hello"},'
        + b'"signer":"responder"}'
    )
    assert transcript(i, r, Role.RESPONDER) == expected
    assert transcript(i, r, Role.INITIATOR) != expected
    assert encode_message(i) == expected[len(DOMAIN) + len(b'{"initiator":') : expected.index(b',"responder"')]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("chain_id", "wc-other", Reason.CHAIN_ID),
        ("genesis_hash", "00" * 32, Reason.GENESIS_HASH),
        ("index", 9, Reason.UNKNOWN_INDEX),
        ("index", 3, Reason.UNKNOWN_INDEX),  # our own index
    ],
)
def test_hello_checks(cluster5: Cluster, field: str, value: object, reason: Reason) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    hello = json.loads(encode_message(make_hello(CHAIN_ID, GENESIS_HASH, 1)))
    hello[field] = value
    assert refusal(b, json.dumps(hello).encode()) is reason


def test_dialer_refuses_a_different_validator(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    b = side(cluster5, Role.RESPONDER, 2)
    assert refusal(a, *b.data_to_send()) is Reason.WRONG_PEER


def test_responder_refuses_a_higher_index(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 4, expect=2)
    b = side(cluster5, Role.RESPONDER, 2)
    assert refusal(b, *a.data_to_send()) is Reason.WRONG_DIRECTION


def test_reflected_nonce_is_refused(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    mine = decode_message(b.data_to_send()[0])
    assert isinstance(mine, Hello)
    echo = make_hello(CHAIN_ID, GENESIS_HASH, 1, bytes.fromhex(mine.nonce))
    assert refusal(b, encode_message(echo)) is Reason.REFLECTED


def test_key_not_in_genesis_is_refused(cluster5: Cluster) -> None:
    # An outsider claims index 1 but signs with its own key.
    impostor = side(cluster5, Role.INITIATOR, 1, expect=3, key=generate_key())
    b = side(cluster5, Role.RESPONDER, 3)
    with pytest.raises(HandshakeError) as info:
        run(impostor, b)
    assert info.value.reason is Reason.BAD_SIGNATURE
    assert not b.done


def test_recorded_handshake_does_not_replay(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    sent_a, _ = run(a, side(cluster5, Role.RESPONDER, 3))
    # The same frames replayed to a fresh responder, which picks a fresh nonce.
    assert refusal(side(cluster5, Role.RESPONDER, 3), *sent_a) is Reason.BAD_SIGNATURE


def test_proof_for_the_other_role_is_refused(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    hello_b = decode_message(b.data_to_send()[0])
    hello_a = make_hello(CHAIN_ID, GENESIS_HASH, 1)
    assert isinstance(hello_b, Hello)
    wrong = make_proof(cluster5.keys[1], hello_a, hello_b, Role.RESPONDER)  # should say INITIATOR
    assert refusal(b, encode_message(hello_a), encode_message(wrong)) is Reason.BAD_SIGNATURE


def test_out_of_range_signature_is_a_bad_signature(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    hello_a = make_hello(CHAIN_ID, GENESIS_HASH, 1)
    zero = encode_message(Proof(signature="00" * 64))  # r = s = 0
    assert refusal(b, encode_message(hello_a), zero) is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    "frame",
    [
        "a text frame",
        b"",
        b"not json",
        b"{",
        b"\x00\xff\xfe binary junk \x81",
        b"[]",
        b'{"type":"hello"}',
        b'{"type":"bye"}',
        b'{"type":"proof","signature":"zz"}',
        encode_message(make_hello(CHAIN_ID, GENESIS_HASH, 1))[:-1] + b',"extra":1}',
        b"{" + b" " * 2000 + b"}",
    ],
)
def test_garbage_is_malformed(cluster5: Cluster, frame: object) -> None:
    assert refusal(side(cluster5, Role.RESPONDER, 3), frame) is Reason.MALFORMED


def test_messages_out_of_order_are_unexpected(cluster5: Cluster) -> None:
    proof = encode_message(Proof(signature="11" * 64))
    hello = encode_message(make_hello(CHAIN_ID, GENESIS_HASH, 1))
    assert refusal(side(cluster5, Role.RESPONDER, 3), proof) is Reason.UNEXPECTED
    assert refusal(side(cluster5, Role.RESPONDER, 3), hello, hello) is Reason.UNEXPECTED
    a, b = side(cluster5, Role.INITIATOR, 1, expect=3), side(cluster5, Role.RESPONDER, 3)
    run(a, b)
    assert refusal(b, hello) is Reason.UNEXPECTED


_FUZZ_CLUSTER = make_cluster(4)  # hypothesis can't take function-scoped fixtures


@given(st.binary(max_size=300) | st.text(max_size=50))
def test_random_frames_only_raise_handshake_error(data: bytes | str) -> None:
    h = side(_FUZZ_CLUSTER, Role.RESPONDER, 3)
    try:
        h.receive(data)
    except HandshakeError:
        pass
    assert not h.done

