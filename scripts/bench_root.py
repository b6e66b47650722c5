#!/usr/bin/env python3
"""The state-root update of one block of transfers, with the element function of
node.ledger.state against alternatives (docs/PERFORMANCE.md, issue 16): best of N, interleaved,
so that a shared machine's noise falls on all of them alike.

    PYTHONPATH=. python scripts/bench_root.py [--block-size 2000] [--repeat 15]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.ledger import BlockContext, Overlay, apply  # noqa: E402
from node.ledger.state import element  # noqa: E402
from scripts.bench_ledger import CHAIN, Bench  # noqa: E402

_sha256 = hashlib.sha256


def _over_digest(xof: Callable[[bytes], object]) -> Callable[[bytes, bytes], int]:
    """An element over SHA-256(value) instead of the value, with the extendable-output ``xof``."""
    def candidate(key: bytes, value: bytes) -> int:
        h = xof(len(key).to_bytes(4, "big") + key + _sha256(value).digest())
        return int.from_bytes(h.digest(512), "little")  # type: ignore[attr-defined]
    return candidate


def _raw(xof: Callable[[bytes], object]) -> Callable[[bytes, bytes], int]:
    def candidate(key: bytes, value: bytes) -> int:
        return int.from_bytes(xof(len(key).to_bytes(4, "big") + key + value).digest(512), "little")  # type: ignore[attr-defined]
    return candidate


_FIXED = bytes(range(256)) * 2


def _floor(key: bytes, value: bytes) -> int:
    """No hashing at all: the call, the 512-byte conversion and the 4096-bit addition."""
    return int.from_bytes(_FIXED, "little")


CANDIDATES: dict[str, Callable[[bytes, bytes], int]] = {
    "element (node.ledger.state)": element,
    "SHAKE-256 over SHA-256(value)": _over_digest(hashlib.shake_256),
    "SHAKE-128 over the value": _raw(hashlib.shake_128),
    "SHAKE-128 over SHA-256(value)": _over_digest(hashlib.shake_128),
    "floor: no hash": _floor,
}


def block_pairs(block_size: int, suppliers: int) -> list[tuple[bytes, bytes]]:
    """The (key, value) pairs whose elements a block of ``block_size`` transfers adds or subtracts."""
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(tmp, suppliers)
        held = bench.setup()
        bench.commit(bench.transfers(held, block_size))  # so that the next block rewrites committed records
        txs = bench.transfers(held, block_size)
        meta = bench.store.meta
        ctx = BlockContext(height=meta.height + 1, time_ms=bench.time, chain_id=CHAIN, params=bench.params)
        overlay = Overlay(bench.store.state)
        for tx in txs:
            apply(overlay, tx, ctx)
        writes, _ = overlay.finish()
        pairs = []
        for key, new in writes.items():
            old = bench.store.state.get(key)
            pairs.extend((key, value) for value in (old, new) if value is not None)
        bench.store.close()
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--block-size", type=int, default=2000)
    parser.add_argument("--suppliers", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    pairs = block_pairs(args.block_size, args.suppliers)
    sizes = sorted(len(v) for _, v in pairs)
    print(f"{len(pairs) / args.block_size:.2f} elements per transfer; values: median {sizes[len(sizes) // 2]} bytes, "
          f"largest {sizes[-1]}, mean {sum(sizes) / len(sizes):.0f}")
    best = dict.fromkeys(CANDIDATES, float("inf"))
    for _ in range(args.repeat):
        for name, candidate in CANDIDATES.items():
            start = time.perf_counter()
            total = 0
            for key, value in pairs:
                total += candidate(key, value)
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"  {name:32} {seconds / args.block_size * 1e6:6.2f} us per transfer (best of {args.repeat})")


if __name__ == "__main__":
    main()
