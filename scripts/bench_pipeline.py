#!/usr/bin/env python3
"""The application path of a 4-validator network in one process: CPU per transaction by stage.

No network, no RPC, no consensus messages: what each validator's Application and Mempool spend
on one transaction, measured with the process's CPU clock (``time.process_time``), so a machine
shared with other work slows it down but does not change the figures much. Per block:

- admit (client): validator 0 decodes each transaction as the RPC does and admits it;
- admit (relayed): validators 1..3 admit the relayed bytes (decode, checks, verification);
- propose: validator 0 builds the block (and the replica asks for its digest);
- check: validators 1..3 check the proposal (decode, roots, ids, cached signatures);
- deliver: all four execute the block and commit it to LevelDB (synced).

The load is transfers with split along each supplier's chain of remainders (scripts/bench_ledger.py).
Figures are µs per transaction, all four validators together (compare scripts/bench's node CPU/tx),
for the least-disturbed measured block per stage and the median block.

    python -m scripts.bench_pipeline [--blocks 8] [--block-size 2000] [--suppliers 16]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

from consensus.messages import Certificate as ConsensusCertificate
from node.kernel import chain, crypto
from node.app import Application, sender_registered
from node.kernel.genesis import ChainParams, Genesis, GenesisAccount, GenesisAdmin
from node.ledger import genesis_state
from node.ledger.keys import document_id
from node.ledger.model import warrant_id
from node.ledger.payloads import check_payload
from node.mempool.pool import Mempool
from node.store.leveldb import Store

CHAIN = "wc-pipeline"
DAY = 86_400_000
VALIDATORS = 4


def key(name: str) -> crypto.SigningKey:
    return crypto.SigningKey.from_private_bytes(crypto.sha256(b"pipeline-" + name.encode()))


class Network:
    def __init__(self, root: Path, suppliers: int) -> None:
        self.keys = {n: key(n) for n in ["admin", "core", "bank", *(f"v{i}" for i in range(VALIDATORS))]}
        self.suppliers = [f"s{i}" for i in range(suppliers)]
        self.keys.update({s: key(s) for s in self.suppliers})
        roles = {"core": "core", "bank": "financier", **{s: "supplier" for s in self.suppliers}}
        self.t0 = int(time.time() * 1000)
        genesis = Genesis(
            chain_id=CHAIN, genesis_time_ms=self.t0 - 60_000,
            validators=[chain.Validator(name=f"v{i}", pubkey=self.keys[f"v{i}"].public_key.hex(),
                                        address=self.keys[f"v{i}"].address) for i in range(VALIDATORS)],
            admins=[GenesisAdmin(name="admin", address=self.keys["admin"].address,
                                 pubkey=self.keys["admin"].public_key.hex())],
            accounts=[GenesisAccount(name=n, address=self.keys[n].address, pubkey=self.keys[n].public_key.hex(),
                                     role=r) for n, r in roles.items()],  # type: ignore[arg-type]
            params=ChainParams(),
        )
        writes, state_root = genesis_state(genesis)
        self.apps: list[Application] = []
        for i in range(VALIDATORS):
            store = Store(root / f"v{i}")
            store.init_genesis(CHAIN, genesis.hash(), writes, state_root, crypto.sha256(b""))
            mempool = Mempool(
                chain_id=CHAIN, max_txs=100_000, max_bytes=1 << 30, max_ttl_ms=genesis.params.max_tx_ttl_ms,
                is_committed=store.has_tx, check_payload=check_payload,
                is_registered=lambda address, s=store: sender_registered(s.state, address), max_per_sender=100_000,
            )
            self.apps.append(Application(store, genesis, mempool))
        self.nonce = 0
        self.cpu: collections.Counter[str] = collections.Counter()  # this block's
        self.blocks: list[tuple[int, collections.Counter[str]]] = []  # (txs, CPU by stage) per measured block

    def addr(self, name: str) -> str:
        return self.keys[name].address

    def tx(self, who: str, kind: str, **payload: object) -> chain.SignedTx:
        self.nonce += 1
        return chain.sign_tx(self.keys[who], {"chain_id": CHAIN, "type": kind, "sender": self.addr(who),
                                               "nonce": self.nonce, "expires": self.t0 + 3_600_000,
                                               "payload": payload})

    def _timed(self, stage: str, fn: object, *args: object) -> object:
        started = time.process_time()
        result = fn(*args)  # type: ignore[operator]
        self.cpu[stage] += time.process_time() - started
        return result

    def block(self, txs: list[chain.SignedTx], measure: bool = True) -> list[bytes]:
        """Run ``txs`` through the five stages as one block; returns validator 0's results."""
        primary, backups = self.apps[0], self.apps[1:]
        now = int(time.time() * 1000)
        envelopes = [tx.raw for tx in txs]  # what clients send and peers relay
        timed = self._timed if measure else (lambda _stage, fn, *args: fn(*args))
        timed("admit (client)", lambda: [primary.mempool.add(chain.decode_tx(raw), now) for raw in envelopes])
        for app in backups:
            timed("admit (relayed)", lambda a=app: [a.mempool.add(raw, now, relayed=True) for raw in envelopes])
        block = timed("propose", lambda: primary.propose(0, now))
        assert isinstance(block, chain.Block) and len(block.txs) == len(txs), "the mempool held back transactions"
        digest = timed("propose", primary.digest, block.raw)
        for app in backups:
            reason = timed("check", app.check_proposal, block.height, digest, block.raw, now)
            assert reason is None, reason
        cert = ConsensusCertificate(view=0, seq=block.height, digest=block.hash, signatures=())
        results: list[bytes] = []
        for app in self.apps:
            committed = timed("deliver", app.deliver, block.height, block.hash, block.raw, cert)
            results = committed.outcome.results  # type: ignore[attr-defined]
        if measure:
            self.blocks.append((len(txs), self.cpu))
        self.cpu = collections.Counter()
        return results

    def setup(self) -> dict[str, str]:
        """One big accepted warrant per supplier; returns supplier -> warrant id."""
        self.block([self.tx("bank", "set_credit_line", core=self.addr("core"), currency="CNY", limit=10**15)], False)
        self.block([self.tx("core", "anchor_document", doc_type="invoice", number=f"INV-{s}", issuer_reg_id="BENCH",
                            issuer_reg_kind="other", hash=f"{i:064x}", total=10**12, currency="CNY",
                            seller=self.addr(s), buyer=self.addr("core")) for i, s in enumerate(self.suppliers)], False)
        issues = [self.tx("core", "issue", to=self.addr(s), amount=10**12, currency="CNY", maturity=self.t0 + 300 * DAY,
                          credit_line=self.addr("bank"),
                          documents=[{"doc": document_id("invoice", f"INV-{s}", "BENCH", "other"), "amount": 10**12}],
                          offer_expires=self.t0 + DAY) for s in self.suppliers]
        assert all(b'"ok":true' in r for r in self.block(issues, False))
        held = {s: warrant_id(t.id, 0) for s, t in zip(self.suppliers, issues)}
        assert all(b'"ok":true' in r for r in self.block([self.tx(s, "accept", warrant=held[s]) for s in self.suppliers], False))
        return held

    def transfers(self, held: dict[str, str], count: int) -> list[chain.SignedTx]:
        out = []
        n = len(self.suppliers)
        for i in range(count):
            s, to = self.suppliers[i % n], self.suppliers[(i + 1) % n]
            tx = self.tx(s, "transfer", warrant=held[s], to=self.addr(to), amount=1, offer_expires=self.t0 + 2 * DAY)
            held[s] = warrant_id(tx.id, 1)
            out.append(tx)
        return out


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=2000)
    parser.add_argument("--suppliers", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="warrant-pipeline-") as tmp:
        net = Network(Path(tmp), args.suppliers)
        held = net.setup()
        loads = [net.transfers(held, args.block_size) for _ in range(args.blocks)]
        for txs in loads:
            results = net.block(txs)
            assert all(b'"ok":true' in r for r in results), [r for r in results if b'"ok":true' not in r][:1]
        for app in net.apps:
            app.store.close()
    # Per stage, the least-disturbed block: on a shared machine other processes' bursts only
    # ever add to a block's CPU time (cache and hyper-thread contention), so the minimum is the
    # steadiest figure; the median is printed beside it.
    stages = list(net.blocks[0][1])
    per_tx = {stage: sorted(cpu[stage] / n * 1e6 for n, cpu in net.blocks) for stage in stages}
    low = sum(v[0] for v in per_tx.values())
    mid = sum(v[len(v) // 2] for v in per_tx.values())
    print(f"{args.blocks} blocks of {args.block_size} transfers, {VALIDATORS} validators in one process: "
          f"{low:,.1f} µs CPU per transaction, all validators together (median block {mid:,.1f})")
    for stage, values in per_tx.items():
        print(f"  {stage:<16} {values[0]:8.1f} µs/tx   (median {values[len(values) // 2]:.1f})")
    return 0


if __name__ == "__main__":

    sys.exit(main())
