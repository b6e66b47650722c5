"""The sans-I/O handshake, fed raw frames only (no sockets)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.kernel.crypto import SigningKey, generate_key
from node.p2p.handshake import (
    DOMAIN,
    Handshake,
    HandshakeError,
    Hello,
    Members,
    PeerRole,
    Proof,
    Refusal,
    Role,
    decode_message,
    encode_message,
    make_hello,
    make_proof,
    role_fits,
    transcript,
)
from tests.p2p.conftest import CHAIN_ID, GENESIS_HASH, Cluster, make_cluster


_FUZZ_CLUSTER = make_cluster(4)  # hypothesis can't take function-scoped fixtures


def signer(cluster: Cluster, index: int) -> SigningKey:
    """Validator ``index``, or observer -1 - index."""
    return cluster.keys[index] if index >= 0 else cluster.observers[-1 - index]


def side(cluster: Cluster, role: Role, index: int, expect: int | None = None, **kw: object) -> Handshake:
    args: dict[str, object] = dict(
        role=role,
        key=signer(cluster, index),
        members=cluster.members({}),
        chain_id=CHAIN_ID,
        genesis_hash=GENESIS_HASH,
        expect=None if expect is None else cluster.key(expect),
    )
    args.update(kw)
    return Handshake(**args)  # type: ignore[arg-type]


def hello(cluster: Cluster, index: int, nonce: bytes | None = None, role: PeerRole | None = None) -> Hello:
    role = role or (PeerRole.VALIDATOR if index >= 0 else PeerRole.OBSERVER)
    return make_hello(CHAIN_ID, GENESIS_HASH, signer(cluster, index).public_key, role, nonce)


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


def refusal(h: Handshake, *frames: object) -> Refusal:
    with pytest.raises(HandshakeError) as info:
        for frame in frames:
            h.receive(frame)
    return info.value.reason


def test_both_sides_authenticate(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    b = side(cluster5, Role.RESPONDER, 3)
    sent_a, sent_b = run(a, b)
    assert a.done and b.done
    assert (a.peer, b.peer) == (cluster5.key(3), cluster5.key(1))
    assert (a.peer_role, b.peer_role) == (PeerRole.VALIDATOR, PeerRole.VALIDATOR)
    assert [type(decode_message(f)) for f in sent_a] == [Hello, Proof]
    assert [type(decode_message(f)) for f in sent_b] == [Hello, Proof]
    assert "done=True" in a.describe()


def test_transcript_bytes_are_exact(cluster5: Cluster) -> None:
    i = hello(cluster5, -1, b"\x01" * 32)
    r = hello(cluster5, 2, b"\x02" * 32)
    g = GENESIS_HASH.hex()
    expected = (
        b"warrantchain/p2p-handshake/v2\x00"
        + b'{"initiator":{"chain_id":"wc-test","genesis_hash":"' + g.encode()
        + b'","key":"' + i.key.encode() + b'","nonce":"' + b"01" * 32 + b'","role":"observer","type":"hello"},'
        + b'"responder":{"chain_id":"wc-test","genesis_hash":"' + g.encode()
        + b'","key":"' + r.key.encode() + b'","nonce":"' + b"02" * 32 + b'","role":"validator","type":"hello"},'
        + b'"signer":"responder"}'
    )
    assert transcript(i, r, Role.RESPONDER) == expected
    assert transcript(i, r, Role.INITIATOR) != expected
    assert encode_message(i) == expected[len(DOMAIN) + len(b'{"initiator":') : expected.index(b',"responder"')]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("chain_id", "wc-other", Refusal.CHAIN_ID),
        ("genesis_hash", "00" * 32, Refusal.GENESIS_HASH),
        ("key", generate_key().public_key.hex(), Refusal.NOT_ALLOWED),  # a stranger
        ("key", "own", Refusal.NOT_ALLOWED),  # our own key
        ("key", "02" + "ff" * 32, Refusal.MALFORMED),  # x beyond the field: not a point
        ("key", "04" + "11" * 32, Refusal.MALFORMED),  # not a compressed point
        ("key", "observer", Refusal.NOT_ALLOWED),  # an observer's key claiming to be a validator
        ("role", "admin", Refusal.MALFORMED),
    ],
)
def test_hello_checks(cluster5: Cluster, field: str, value: object, reason: Refusal) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    message = json.loads(encode_message(hello(cluster5, 1)))
    others = {"own": cluster5.key(3).hex(), "observer": cluster5.observers[0].public_key.hex()}
    message[field] = others.get(str(value), value)
    assert refusal(b, json.dumps(message).encode()) is reason


def test_a_validator_may_link_as_an_observer_but_not_the_reverse() -> None:
    """A validator admitted by governance links as an observer until it has followed the chain
    to its admission (issue 18): its key, claiming observer, is accepted in that role."""
    assert role_fits(PeerRole.VALIDATOR, PeerRole.OBSERVER)
    assert not role_fits(PeerRole.OBSERVER, PeerRole.VALIDATOR)
    assert not role_fits(None, PeerRole.OBSERVER) and not role_fits(None, PeerRole.VALIDATOR)
    assert role_fits(PeerRole.VALIDATOR, PeerRole.VALIDATOR) and role_fits(PeerRole.OBSERVER, PeerRole.OBSERVER)


def test_an_allowed_observer_authenticates_and_a_stranger_observer_does_not(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, -1, expect=2)
    b = side(cluster5, Role.RESPONDER, 2)
    assert a.ours.role is PeerRole.OBSERVER  # its key is no validator's: it claims observer
    run(a, b)
    assert b.done and (b.peer, b.peer_role) == (cluster5.observers[0].public_key, PeerRole.OBSERVER)
    stranger = side(cluster5, Role.INITIATOR, 0, expect=2, key=generate_key())
    assert refusal(side(cluster5, Role.RESPONDER, 2), *stranger.data_to_send()) is Refusal.NOT_ALLOWED
    # Membership is read when the Hello arrives: the observer is refused once it is no longer listed.
    without = Members.of(cluster5.members({}).validators)
    assert refusal(side(cluster5, Role.RESPONDER, 2, members=without), *side(cluster5, Role.INITIATOR, -1).data_to_send()) \
        is Refusal.NOT_ALLOWED


def test_observers_are_never_dialed_and_do_not_link_each_other(cluster5: Cluster) -> None:
    # A validator dialing an observer, and one observer dialing another, break the connection rule.
    assert refusal(side(cluster5, Role.RESPONDER, -1), *side(cluster5, Role.INITIATOR, 0).data_to_send()) \
        is Refusal.WRONG_DIRECTION
    assert refusal(side(cluster5, Role.RESPONDER, -1), *side(cluster5, Role.INITIATOR, -2).data_to_send()) \
        is Refusal.WRONG_DIRECTION


def test_a_pending_validator_is_a_member_before_its_epoch(cluster5: Cluster) -> None:
    # Members of validators 0-3 plus 4 (pending): 4 links; a set without 4 refuses it.
    now = cluster5.members({}, validators=range(4))
    assert refusal(side(cluster5, Role.RESPONDER, 3, members=now), *side(cluster5, Role.INITIATOR, 4).data_to_send()) \
        is Refusal.NOT_ALLOWED
    a = side(cluster5, Role.INITIATOR, 0, expect=4)
    b = side(cluster5, Role.RESPONDER, 4, members=cluster5.members({}))
    run(a, b)
    assert a.done and b.done


def test_dialer_refuses_a_different_validator(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    b = side(cluster5, Role.RESPONDER, 2)
    assert refusal(a, *b.data_to_send()) is Refusal.WRONG_PEER


def test_responder_refuses_a_higher_key(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 4, expect=2)
    b = side(cluster5, Role.RESPONDER, 2)
    assert refusal(b, *a.data_to_send()) is Refusal.WRONG_DIRECTION


def test_reflected_nonce_is_refused(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    mine = decode_message(b.data_to_send()[0])
    assert isinstance(mine, Hello)
    echo = hello(cluster5, 1, bytes.fromhex(mine.nonce))
    assert refusal(b, encode_message(echo)) is Refusal.REFLECTED


def test_a_claimed_key_without_its_private_key_is_refused(cluster5: Cluster) -> None:
    # An outsider names validator 1's key in its Hello but signs with its own key.
    impostor = side(cluster5, Role.INITIATOR, 1, expect=3, key=generate_key(), claim=PeerRole.VALIDATOR)
    impostor.ours = hello(cluster5, 1)
    impostor.data_to_send()
    impostor._out = [encode_message(impostor.ours)]
    b = side(cluster5, Role.RESPONDER, 3)
    with pytest.raises(HandshakeError) as info:
        run(impostor, b)
    assert info.value.reason is Refusal.BAD_SIGNATURE
    assert not b.done


def test_recorded_handshake_does_not_replay(cluster5: Cluster) -> None:
    a = side(cluster5, Role.INITIATOR, 1, expect=3)
    sent_a, _ = run(a, side(cluster5, Role.RESPONDER, 3))
    # The same frames replayed to a fresh responder, which picks a fresh nonce.
    assert refusal(side(cluster5, Role.RESPONDER, 3), *sent_a) is Refusal.BAD_SIGNATURE


def test_proof_for_the_other_role_is_refused(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    hello_b = decode_message(b.data_to_send()[0])
    hello_a = hello(cluster5, 1)
    assert isinstance(hello_b, Hello)
    wrong = make_proof(cluster5.keys[1], hello_a, hello_b, Role.RESPONDER)  # should say INITIATOR
    assert refusal(b, encode_message(hello_a), encode_message(wrong)) is Refusal.BAD_SIGNATURE


def test_out_of_range_signature_is_a_bad_signature(cluster5: Cluster) -> None:
    b = side(cluster5, Role.RESPONDER, 3)
    hello_a = hello(cluster5, 1)
    zero = encode_message(Proof(signature="00" * 64))  # r = s = 0
    assert refusal(b, encode_message(hello_a), zero) is Refusal.BAD_SIGNATURE


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
        encode_message(hello(_FUZZ_CLUSTER, 1))[:-1] + b',"extra":1}',
        b"{" + b" " * 2000 + b"}",
    ],
)
def test_garbage_is_malformed(cluster5: Cluster, frame: object) -> None:
    assert refusal(side(cluster5, Role.RESPONDER, 3), frame) is Refusal.MALFORMED


def test_messages_out_of_order_are_unexpected(cluster5: Cluster) -> None:
    proof = encode_message(Proof(signature="11" * 64))
    first = encode_message(hello(cluster5, 1))
    assert refusal(side(cluster5, Role.RESPONDER, 3), proof) is Refusal.UNEXPECTED
    assert refusal(side(cluster5, Role.RESPONDER, 3), first, first) is Refusal.UNEXPECTED
    a, b = side(cluster5, Role.INITIATOR, 1, expect=3), side(cluster5, Role.RESPONDER, 3)
    run(a, b)
    assert refusal(b, first) is Refusal.UNEXPECTED




@given(st.binary(max_size=300) | st.text(max_size=50))
def test_random_frames_only_raise_handshake_error(data: bytes | str) -> None:
    h = side(_FUZZ_CLUSTER, Role.RESPONDER, 3)
    try:
        h.receive(data)
    except HandshakeError:
        pass
    assert not h.done

