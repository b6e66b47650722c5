"""A chain committed in-process through node.app: real ledger, store and certificates
signed by the validators' keys, as consensus would make them; no network. Proof bundle tests
build their histories with it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgspec

from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import commit_signing_bytes
from node.app import NULL_DIGEST, Application
from node.cli.warrantd import build_genesis
from node.kernel import chain, codec, crypto
from node.kernel.genesis import ChainParams, Genesis, parse_genesis
from node.ledger.epochs import validator_set_at
from node.ledger.initial import genesis_state
from node.ledger.payloads import check_payload
from node.mempool.pool import Mempool
from node.sdk.client import Wallet
from node.store.leveldb import Store


class Chain:
    """Commits blocks (or null blocks), each certified by the last 2f+1 validators of the set that
    certifies its height (node.ledger.epochs), so a validator added by governance signs at once."""

    def __init__(self, path: Path, chain_id: str, params: ChainParams | None = None, validators: int = 4,
                 admins: int = 1, spare_keys: int = 0) -> None:
        self.chain_id = chain_id
        self.keys = [crypto.generate_key() for _ in range(validators + spare_keys)]  # spares: validators to be
        admin_keys = [crypto.generate_key() for _ in range(admins)]
        self.genesis: Genesis = parse_genesis(build_genesis(
            chain_id, [f"v{i}={k.public_key.hex()}" for i, k in enumerate(self.keys[:validators])],
            [f"admin{i}={k.public_key.hex()}" for i, k in enumerate(admin_keys)], [], int(time.time() * 1000)))
        if params is not None:
            self.genesis = msgspec.structs.replace(self.genesis, params=params)
        self.store = Store(path)
        writes, root = genesis_state(self.genesis)
        self.store.init_genesis(chain_id, self.genesis.hash(), writes, root, root)
        mempool = Mempool(chain_id=chain_id, max_txs=100, max_bytes=1 << 20,
                          max_ttl_ms=self.genesis.params.max_tx_ttl_ms, is_committed=self.store.has_tx,
                          check_payload=check_payload, is_registered=lambda address: True,
                          max_per_sender=100)
        self.app = Application(self.store, self.genesis, mempool)
        self.admins = [Wallet(key, chain_id) for key in admin_keys]
        self.admin = self.admins[0]

    def signers(self, seq: int) -> list[tuple[int, crypto.SigningKey]]:
        validators = validator_set_at(self.store.state, seq)
        by_address = {key.address: key for key in self.keys}
        members = [(i, by_address[v.address]) for i, v in enumerate(validators.validators)]
        return members[len(members) - validators.quorum:]

    def commit(self, *txs: chain.SignedTx, null: bool = False) -> list[dict[str, Any]]:
        seq = self.app.next_height()
        if null:
            payload, digest = b"", NULL_DIGEST
        else:
            meta = self.store.meta
            block = chain.make_block(
                chain_id=self.chain_id, height=seq, time_ms=self.app.last_time_ms() + 1,
                parent=bytes.fromhex(meta.block_hash), proposer=0, txs=list(txs),
                state_root=bytes.fromhex(meta.state_root), results_root=bytes.fromhex(meta.results_root))
            payload, digest = block.raw, block.hash
        message = commit_signing_bytes(self.chain_id.encode(), 0, seq, digest)
        signatures = tuple((i, key.sign(message)) for i, key in self.signers(seq))
        committed = self.app.deliver(seq, digest, payload, ConsensusCertificate(0, seq, digest, signatures))
        results = [codec.decode(raw) for raw in committed.outcome.results]
        assert all(r["ok"] for r in results), results
        return results
