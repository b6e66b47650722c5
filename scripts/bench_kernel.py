#!/usr/bin/env python3
"""Kernel benchmark: signatures/s, verifications/s, encodings/s, and blocks/s committed to LevelDB.

Usage: scripts/bench_kernel.py [--seconds 2] [--blocks 20] [--txs 1000]
Prints one line per figure; nothing here is asserted by tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:  # comparisons only: not dependencies of the node
    import msgpack
    import orjson
except ImportError:
    msgpack = orjson = None

from node import chain, codec, crypto  # noqa: E402
from node.store.leveldb import Store  # noqa: E402


def rate(fn, seconds: float) -> float:
    """Calls of ``fn`` per second, run for about ``seconds``."""
    count, start = 0, time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        count += 200
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return count / elapsed


def body(key: crypto.SigningKey, nonce: int) -> dict:
    return {
        "chain_id": "bench",
        "type": "transfer",
        "sender": key.address,
        "nonce": nonce,
        "expires": 1_900_000_000_000,
        "payload": {"warrant": "ab" * 32, "to": "wc" + "cd" * 20, "amount": 40_000_000, "memo": "tier-2 payment"},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--blocks", type=int, default=20)
    parser.add_argument("--txs", type=int, default=1000)
    args = parser.parse_args()

    key = crypto.generate_key()
    value = body(key, 1)
    message = codec.canonical(value)
    signature = key.sign(message)
    print(f"sign (P-256, cryptography)    {rate(lambda: key.sign(message), args.seconds):12,.0f} /s")
    print(
        f"verify (P-256, cryptography)  "
        f"{rate(lambda: crypto.verify(key.public_key.raw, signature, message), args.seconds):12,.0f} /s"
    )
    print(f"canonical (checked, msgspec)  {rate(lambda: codec.canonical(value), args.seconds):12,.0f} /s")
    print(f"encode (msgspec, sorted)      {rate(lambda: codec.encode(value), args.seconds):12,.0f} /s")
    if orjson is not None and msgpack is not None:
        print(
            f"encode (orjson, sorted)       "
            f"{rate(lambda: orjson.dumps(value, option=orjson.OPT_SORT_KEYS), args.seconds):12,.0f} /s"
        )
        print(f"encode (msgpack, unsorted)    {rate(lambda: msgpack.packb(value), args.seconds):12,.0f} /s")
    print(
        f"encode (json stdlib, sorted)  "
        f"{rate(lambda: json.dumps(value, sort_keys=True, separators=(',', ':')), args.seconds):12,.0f} /s"
    )
    raw = chain.sign_tx(key, value).raw
    print(f"decode tx (schema + id)       {rate(lambda: chain.decode_tx(raw), args.seconds):12,.0f} /s")

    txs = [chain.sign_tx(key, body(key, n)) for n in range(args.blocks * args.txs)]
    with tempfile.TemporaryDirectory() as tmp, Store(os.path.join(tmp, "db")) as store:
        store.init_genesis("bench", b"\x00" * 32, {}, b"\x00" * 32, b"\x00" * 32)
        results = [b'{"code":"OK","ok":true}'] * args.txs
        start = time.perf_counter()
        for height in range(1, args.blocks + 1):
            meta = store.meta
            batch = txs[(height - 1) * args.txs : height * args.txs]
            block = chain.make_block(
                chain_id="bench", height=height, time_ms=height, parent=bytes.fromhex(meta.block_hash),
                proposer=0, txs=batch, state_root=b"\x00" * 32, results_root=b"\x00" * 32,
            )
            cert = chain.Certificate(height=height, view=0, block_hash=block.hash.hex(), signatures=[])
            writes = {b"w/" + tx.id: tx.body_bytes for tx in batch}
            store.commit_block(block, cert, results, writes, b"\x00" * 32, b"\x00" * 32)
        elapsed = time.perf_counter() - start
    print(
        f"store commit (blocks of {args.txs} txs, synced)  {args.blocks / elapsed:8,.1f} blocks/s "
        f"= {args.blocks * args.txs / elapsed:,.0f} txs/s"
    )


if __name__ == "__main__":
    main()
