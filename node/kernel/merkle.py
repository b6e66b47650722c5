"""Merkle trees over transactions, RFC 6962 style (Certificate Transparency).

leaf hash = SHA-256(0x00 || data), interior = SHA-256(0x01 || left || right); a tree of n leaves
splits at the largest power of two below n, which is the same as pairing level by level and
promoting an unpaired last node unchanged. The root of no leaves is SHA-256 of the empty string.
The 0x00/0x01 prefixes keep a leaf from being passed off as an interior node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from node.errors import ChainError

__all__ = ["leaf_hash", "merkle_root", "merkle_levels", "merkle_proof", "path_in", "verify_proof", "root_of_hashes"]

_EMPTY = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_of_hashes(level: Sequence[bytes]) -> bytes:
    """Root over already-hashed leaves (``leaf_hash`` of each item)."""
    if not level:
        return _EMPTY
    nodes = list(level)
    while len(nodes) > 1:
        paired = [_node(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
    return nodes[0]


def merkle_root(items: Sequence[bytes]) -> bytes:
    """Root of the tree whose leaves are ``items``."""
    return root_of_hashes([leaf_hash(item) for item in items])


def merkle_levels(items: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree over ``items``, leaf hashes first and the root's level last.

    Built once, it answers the audit path of any leaf in O(log n) (:func:`path_in`), where
    :func:`merkle_proof` alone rebuilds the tree for each leaf.
    """
    nodes = [leaf_hash(item) for item in items]
    levels = [nodes]
    while len(nodes) > 1:
        paired = [_node(nodes[i], nodes[i + 1]) for i in range(0, len(nodes) - 1, 2)]
        if len(nodes) % 2:
            paired.append(nodes[-1])
        nodes = paired
        levels.append(nodes)
    return levels


def path_in(levels: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """Audit path for leaf ``index`` of a tree given by :func:`merkle_levels`."""
    size = len(levels[0]) if levels else 0
    if not isinstance(index, int) or not 0 <= index < size:
        raise ChainError(f"leaf index {index!r} is outside a tree of {size} leaves")
    path: list[bytes] = []
    position = index
    for nodes in levels[:-1]:
        sibling = position ^ 1
        if sibling < len(nodes):
            path.append(nodes[sibling])
        position //= 2
    return path


def merkle_proof(items: Sequence[bytes], index: int) -> list[bytes]:
    """Audit path for ``items[index]``: sibling hashes from the leaf up to the root."""
    if not isinstance(index, int) or not 0 <= index < len(items):
        raise ChainError(f"leaf index {index!r} is outside a tree of {len(items)} leaves")
    return path_in(merkle_levels(items), index)


def verify_proof(item: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True if ``item`` is leaf ``index`` of a ``size``-leaf tree with ``root`` (RFC 6962 §2.1.1)."""
    if not (isinstance(index, int) and isinstance(size, int) and 0 <= index < size):
        return False
    if any(not isinstance(h, bytes) or len(h) != 32 for h in proof):
        return False
    node = leaf_hash(item)
    position, last = index, size - 1
    steps = iter(proof)
    while last > 0:
        if position % 2 == 1:
            sibling = next(steps, None)
            if sibling is None:
                return False
            node = _node(sibling, node)
        elif position < last:
            sibling = next(steps, None)
            if sibling is None:
                return False
            node = _node(node, sibling)
        # else: an unpaired last node is promoted unchanged
        position //= 2
        last //= 2
    return next(steps, None) is None and node == root
