"""Wire codec, signing bytes and describe()."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.messages import (
    Certificate,
    Checkpoint,
    Commit,
    MalformedMessage,
    NewView,
    PrePrepare,
    PreparedProof,
    Prepare,
    StateEntry,
    StateRequest,
    StateResponse,
    Status,
    Suspect,
    ViewChange,
    check_well_formed,
    commit_signing_bytes,
    decode_message,
    describe,
    encode_message,
    signing_bytes,
)

D = bytes(range(32))
PP = PrePrepare(3, 17, D, b"payload", 3, b"sig")
PREP = Prepare(3, 17, D, 1, b"s1")
CP = Checkpoint(10, D, 2, b"s2")
CERT = Certificate(3, 17, D, ((0, b"a"), (1, b"b"), (2, b"c")))
EXAMPLES = [
    PP,
    PREP,
    Commit(3, 17, D, 2, b"s"),
    CP,
    ViewChange(4, 10, D, (CP,), (PreparedProof(PP, (PREP,)),), 1, b"vc"),
    NewView(4, (ViewChange(4, 0, bytes(32), (), (), 1, b""),), (PP,), 0, b"nv"),
    Status(2, 99, 1, b"st"),
    Suspect(4, 2, b"su"),
    StateRequest(5, 9, 3, b"sr"),
    StateResponse((StateEntry(17, D, b"x", CERT),), 0, b"resp"),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_roundtrip(msg: object) -> None:
    data = encode_message(msg)  # type: ignore[arg-type]
    assert decode_message(data) == msg
    assert encode_message(decode_message(data)) == data  # canonical


def test_suspect_signs_its_view_under_its_own_tag() -> None:
    assert signing_bytes(b"chain", Suspect(4, 2, b"x")) == b"chain/suspect/" + (4).to_bytes(8, "big")
    assert describe(Suspect(4, 2)) == "Suspect(v=4 from=2)"


def test_commit_signing_bytes_is_the_node_certificate_format() -> None:
    expected = b"chain" + b"/commit/" + (3).to_bytes(8, "big") + (17).to_bytes(8, "big") + D
    assert commit_signing_bytes(b"chain", 3, 17, D) == expected
    assert signing_bytes(b"chain", Commit(3, 17, D, 2, b"whatever")) == expected


def test_signing_bytes_differ_by_kind_and_domain() -> None:
    kinds = [PrePrepare(3, 17, D, b"", 0), Prepare(3, 17, D, 0), Commit(3, 17, D, 0)]
    assert len({signing_bytes(b"c", m) for m in kinds}) == 3
    assert signing_bytes(b"a", PREP) != signing_bytes(b"b", PREP)
    # the signature itself is never part of what is signed
    assert signing_bytes(b"c", EXAMPLES[4]) == signing_bytes(b"c", EXAMPLES[4].__class__(
        *[getattr(EXAMPLES[4], f) for f in ("view", "stable_seq", "stable_digest",
                                              "checkpoint_proof", "prepared", "sender")], b"zz"))


@pytest.mark.parametrize("data", [
    b"", b"null", b"[]", b"{}", b'{"type":"Prepare"}', b'{"type":"Nope","view":1}',
    b'{"type":"Prepare","view":-1,"seq":1,"digest":"00","sender":0,"sig":""}',
    b'{"type":"Prepare","view":true,"seq":1,"digest":"00","sender":0,"sig":""}',
    b'{"type":"Prepare","view":1,"seq":1,"digest":"0g","sender":0,"sig":""}',
    b'{"type":"Prepare","view":1,"seq":1,"digest":"0A","sender":0,"sig":""}',
    b'{"type":"Prepare","view":1,"seq":1,"digest":"00","sender":0,"sig":"","x":1}',
    b'{"type":"Prepare","view":1,"seq":99999999999999999999,"digest":"00","sender":0,"sig":""}',
    b"\xff\xfe", b"[" * 100000,
])
def test_garbage_raises_malformed_only(data: bytes) -> None:
    with pytest.raises(MalformedMessage):
        decode_message(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        decode_message(data)
    except MalformedMessage:
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLES), st.integers(0, 400), st.integers(0, 255))
def test_corrupted_encodings_decode_or_raise_malformed(msg: object, pos: int, byte: int) -> None:
    data = bytearray(encode_message(msg))  # type: ignore[arg-type]
    data[pos % len(data)] = byte
    try:
        decode_message(bytes(data))
    except MalformedMessage:
        pass


def test_describe_reads_well() -> None:
    assert describe(PREP) == "Prepare(v=3 s=17 d=00010203 from=1)"
    assert describe(PP) == "PrePrepare(v=3 s=17 d=00010203 7B from=3)"
    assert "P=[17]" in describe(EXAMPLES[4])
    for msg in EXAMPLES:
        assert describe(msg).startswith(type(msg).__name__)


@pytest.mark.parametrize(("msg", "error"), [
    (Prepare(True, 17, D, 1, b"s"), "view: expected an integer in 0..2**63-1"),  # type: ignore[arg-type]
    (Prepare(3, 2**63, D, 1, b"s"), "seq: expected an integer in 0..2**63-1"),
    (Prepare(3, 17, D[:31], 1, b"s"), "digest: expected a 32-byte digest"),
    (Prepare(3, 17, D, 1, "s"), "sig: expected bytes"),  # type: ignore[arg-type]
    (PrePrepare(3, 17, D, bytearray(b"p"), 3, b""), "payload: expected bytes"),  # type: ignore[arg-type]
    (ViewChange(4, 10, D + b"x", (), (), 1, b""), "stable_digest: expected a 32-byte digest"),
    (ViewChange(4, 10, D, (Checkpoint(10, b"", 2, b""),), (), 1, b""), "digest: expected a 32-byte digest"),
    (ViewChange(4, 10, D, [CP], (), 1, b""), "checkpoint_proof: expected a tuple"),  # type: ignore[arg-type]
    (Certificate(3, 17, D, ((0, b"a"), (-1, b"b"))), "signatures: expected an integer in 0..2**63-1"),
])
def test_ill_formed_fields_are_named(msg: object, error: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        check_well_formed(msg, 32)
    assert str(caught.value) == error


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: type(m).__name__)
def test_well_formed_examples_pass_the_check(msg: object) -> None:
    check_well_formed(msg, 32)
    assert check_well_formed(PrePrepare(3, 17, D, b"a payload of any length", 3, b""), 32) is None


def test_a_composite_signing_hash_is_remembered_per_object_and_boundedly() -> None:
    from dataclasses import replace

    from consensus import messages

    vc = EXAMPLES[4]
    first = signing_bytes(b"d", vc)
    assert signing_bytes(b"d", vc) == first and signing_bytes(b"e", vc) == b"e" + first[1:]
    # An equal copy hashes the same; a changed one differently, even after the first was cached.
    assert signing_bytes(b"d", replace(vc, sig=b"other")) == first
    assert signing_bytes(b"d", replace(vc, view=5)) != first
    for view in range(1000):  # a flood of distinct small ones: the cache stays bounded
        signing_bytes(b"d", replace(vc, view=view))
    assert 0 < len(messages._composite_hashes) <= messages._COMPOSITES_CACHED
    big = StateResponse((StateEntry(17, D, bytes(64 * 1024), CERT),), 0, b"")
    signing_bytes(b"d", big)
    assert all(entry[0] is not big for entry in messages._composite_hashes.values())
    assert signing_bytes(b"d", big) == signing_bytes(b"d", replace(big))
