"""Child process for the crash test: appends blocks to a store forever, printing each height."""

from __future__ import annotations

import sys

from node.kernel import chain, crypto
from node.store.leveldb import Store

from tests.kernel.conftest import CHAIN_ID, tx_body

GENESIS = b"\x47" * 32


def fake_certificate(block: chain.Block) -> chain.Certificate:
    return chain.Certificate(height=block.height, view=0, block_hash=block.hash.hex(), signatures=[])


def main(path: str) -> None:
    key = crypto.generate_key()
    store = Store(path)
    store.init_genesis(CHAIN_ID, GENESIS, {b"counter": b"0"}, b"\x00" * 32, b"\x00" * 32)
    while True:
        meta = store.meta
        height = meta.height + 1
        txs = [chain.sign_tx(key, tx_body(key, nonce=height * 1000 + i)) for i in range(50)]
        block = chain.make_block(
            chain_id=CHAIN_ID, height=height, time_ms=height, parent=bytes.fromhex(meta.block_hash),
            proposer=0, txs=txs, state_root=bytes.fromhex(meta.state_root), results_root=b"\x00" * 32,
        )
        writes = {b"counter": str(height).encode(), b"k%08d" % height: b"v" * 200}
        if height > 1:
            writes[b"k%08d" % (height - 1)] = None  # deletions are part of the batch too
        store.commit_block(
            block, fake_certificate(block), [b'{"ok":true}'] * len(txs), writes,
            height.to_bytes(32, "big"), b"\x00" * 32,
        )
        print(height, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
