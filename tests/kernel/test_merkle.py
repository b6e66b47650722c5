"""node.kernel.merkle: RFC 6962 trees; every proof verifies and any alteration fails."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import ChainError
from node.kernel import merkle

leaves = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


def reference_root(items: list[bytes]) -> bytes:
    """RFC 6962 §2.1 as written: split at the largest power of two smaller than n."""
    if not items:
        return hashlib.sha256(b"").digest()
    if len(items) == 1:
        return hashlib.sha256(b"\x00" + items[0]).digest()
    k = 1
    while k * 2 < len(items):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(items[:k]) + reference_root(items[k:])).digest()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=20), max_size=70))
def test_root_matches_rfc6962_reference(items: list[bytes]) -> None:
    assert merkle.merkle_root(items) == reference_root(items)


@settings(max_examples=150, deadline=None)
@given(leaves)
def test_every_leaf_proof_verifies(items: list[bytes]) -> None:
    root = merkle.merkle_root(items)
    for index, item in enumerate(items):
        assert merkle.verify_proof(item, index, len(items), merkle.merkle_proof(items, index), root)


@settings(max_examples=100, deadline=None)
@given(leaves)
def test_levels_built_once_give_every_leafs_path(items: list[bytes]) -> None:
    levels = merkle.merkle_levels(items)
    assert levels[-1] == [reference_root(items)]
    for index, item in enumerate(items):
        assert merkle.verify_proof(item, index, len(items), merkle.path_in(levels, index), levels[-1][0])
    with pytest.raises(ChainError):
        merkle.path_in(levels, len(items))


@settings(max_examples=200, deadline=None)
@given(leaves, st.data())
def test_altered_leaf_index_size_proof_or_root_fails(items: list[bytes], data: st.DataObject) -> None:
    root = merkle.merkle_root(items)
    index = data.draw(st.integers(0, len(items) - 1))
    proof = merkle.merkle_proof(items, index)
    item = items[index]
    assert not merkle.verify_proof(item + b"x", index, len(items), proof, root)
    other = data.draw(st.integers(0, len(items) - 1).filter(lambda i: items[i] != item or i == index))
    if other != index:
        assert not merkle.verify_proof(item, other, len(items), proof, root)
    assert not merkle.verify_proof(item, index, len(items), proof, bytes([root[0] ^ 1]) + root[1:])
    if proof:
        position = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[position] = bytes([bad[position][0] ^ 0x80]) + bad[position][1:]
        assert not merkle.verify_proof(item, index, len(items), bad, root)
        assert not merkle.verify_proof(item, index, len(items), proof[:-1], root)
    assert not merkle.verify_proof(item, index, len(items), [*proof, b"\x00" * 32], root)


def test_invalid_proof_inputs_are_false_not_errors() -> None:
    items = [b"a", b"b", b"c"]
    root = merkle.merkle_root(items)
    proof = merkle.merkle_proof(items, 1)
    assert not merkle.verify_proof(b"b", -1, 3, proof, root)
    assert not merkle.verify_proof(b"b", 3, 3, proof, root)
    assert not merkle.verify_proof(b"b", 1, 0, proof, root)
    assert not merkle.verify_proof(b"b", 1, 3, [b"short"], root)
    assert not merkle.verify_proof(b"b", "1", 3, proof, root)  # type: ignore[arg-type]


def test_proof_of_missing_index_is_an_error() -> None:
    with pytest.raises(ChainError):
        merkle.merkle_proof([b"a"], 1)
    with pytest.raises(ChainError):
        merkle.merkle_proof([], 0)
