#!/usr/bin/env python3
"""Ledger throughput: transfers with split, applied and committed to LevelDB, blocks of 1,000.

Signatures are made before timing (the mempool verifies them before the ledger sees a
transaction). Each timed block is: make_block, execute_block (overlay, handlers, state root),
Store.commit_block (one synced LevelDB batch). Every transaction transfers 1 fen of a supplier's
remainder warrant to the next supplier, so each consumes one warrant and creates two.

    PYTHONPATH=. python scripts/bench_ledger.py [--blocks 10] [--block-size 1000] [--suppliers 100]
    PYTHONPATH=. python scripts/bench_ledger.py --history 500 --blocks 10   # one warrant, a long history
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from node.kernel import chain, crypto  # noqa: E402
from node.kernel.chain import Certificate  # noqa: E402
from node.kernel.genesis import ChainParams, Genesis, GenesisAccount, GenesisAdmin  # noqa: E402
from node.ledger import BlockContext, execute_block, genesis_state  # noqa: E402
from node.ledger.keys import document_id  # noqa: E402
from node.ledger.model import key_warrant as warrant_key, warrant_id  # noqa: E402
from node.store.leveldb import Store  # noqa: E402

CHAIN = "wc-bench"
T0 = 1_700_000_000_000
DAY = 86_400_000


def key(name: str) -> crypto.SigningKey:
    return crypto.SigningKey.from_private_bytes(crypto.sha256(b"bench-" + name.encode()))


class Bench:
    def __init__(self, path: str, suppliers: int) -> None:
        self.keys = {"admin": key("admin"), "core": key("core"), "bank": key("bank"), "v0": key("v0")}
        self.suppliers = [f"s{i}" for i in range(suppliers)]
        for name in self.suppliers:
            self.keys[name] = key(name)
        roles = {"core": "core", "bank": "financier", **{s: "supplier" for s in self.suppliers}}
        self.params = ChainParams(max_block_txs=100_000)
        v0 = self.keys["v0"]
        genesis = Genesis(
            chain_id=CHAIN, genesis_time_ms=T0,
            validators=[chain.Validator(name="v0", pubkey=v0.public_key.hex(), address=v0.address)],
            admins=[GenesisAdmin(name="admin", address=self.keys["admin"].address,
                                 pubkey=self.keys["admin"].public_key.hex())],
            accounts=[self.account(n, r) for n, r in roles.items()], params=self.params,
        )
        self.store = Store(path)
        writes, root = genesis_state(genesis)
        self.store.init_genesis(CHAIN, genesis.hash(), writes, root, crypto.sha256(b""))
        self.root = root
        self.results_root = crypto.sha256(b"")
        self.time = T0
        self.nonce = 0
        self.writes = self.written = 0  # state writes of the blocks committed, and their bytes

    def account(self, name: str, role: str) -> GenesisAccount:
        k = self.keys[name]
        return GenesisAccount(name=name, address=k.address, pubkey=k.public_key.hex(), role=role)  # type: ignore[arg-type]

    def addr(self, name: str) -> str:
        return self.keys[name].address

    def tx(self, who: str, kind: str, **payload: object) -> chain.SignedTx:
        self.nonce += 1
        return chain.sign_tx(self.keys[who], {"chain_id": CHAIN, "type": kind, "sender": self.addr(who),
                                               "nonce": self.nonce, "expires": self.time + 3_600_000,
                                               "payload": payload})

    def commit(self, txs: list[chain.SignedTx]) -> list[bytes]:
        meta = self.store.meta
        block = chain.make_block(chain_id=CHAIN, height=meta.height + 1, time_ms=self.time,
                                 parent=bytes.fromhex(meta.block_hash), proposer=0, txs=txs,
                                 state_root=self.root, results_root=self.results_root)
        ctx = BlockContext(height=block.height, time_ms=self.time, chain_id=CHAIN, params=self.params)
        outcome = execute_block(self.store.state, txs, ctx)
        self.writes += len(outcome.writes)
        self.written += sum(len(k) + len(v or b"") for k, v in outcome.writes.items())
        cert = Certificate(height=block.height, view=0, block_hash=block.hash.hex(), signatures=[])
        self.store.commit_block(block, cert, outcome.results, outcome.writes, outcome.state_root,
                                outcome.results_root)
        self.root, self.results_root = outcome.state_root, outcome.results_root
        self.time += 1_000
        return outcome.results

    def setup(self) -> dict[str, str]:
        """One big accepted warrant per supplier; returns supplier -> warrant id."""
        self.commit([self.tx("bank", "set_credit_line", core=self.addr("core"), currency="CNY", limit=10**15)])
        docs = [self.tx("core", "anchor_document", doc_type="invoice", number=f"INV-{s}", issuer_reg_id="BENCH",
                        issuer_reg_kind="other", hash=f"{i:064x}", total=10**12, currency="CNY", seller=self.addr(s),
                        buyer=self.addr("core")) for i, s in enumerate(self.suppliers)]
        self.commit(docs)
        issues = []
        for s in self.suppliers:
            doc = document_id("invoice", f"INV-{s}", "BENCH", "other")
            issues.append(self.tx("core", "issue", to=self.addr(s), amount=10**12, currency="CNY",
                                  maturity=T0 + 300 * DAY, credit_line=self.addr("bank"),
                                  documents=[{"doc": doc, "amount": 10**12}], offer_expires=T0 + DAY))
        results = self.commit(issues)
        assert all(b'"ok":true' in r for r in results), results[:1]
        held = {s: warrant_id(t.id, 0) for s, t in zip(self.suppliers, issues)}
        results = self.commit([self.tx(s, "accept", warrant=held[s]) for s in self.suppliers])
        assert all(b'"ok":true' in r for r in results), results[:1]
        return held

    def transfers(self, held: dict[str, str], count: int) -> list[chain.SignedTx]:
        out = []
        n = len(self.suppliers)
        for i in range(count):
            s = self.suppliers[i % n]
            to = self.suppliers[(i + 1) % n]
            tx = self.tx(s, "transfer", warrant=held[s], to=self.addr(to), amount=1,
                         offer_expires=T0 + 200 * DAY)
            held[s] = warrant_id(tx.id, 1)  # the remainder, which the sender still holds
            out.append(tx)
        return out

    def financing_rounds(self, wid: str, holder: str, rounds: int) -> list[chain.SignedTx]:
        """``rounds`` financing requests on one warrant, each rejected by the bank: two history
        entries per round, which any holder and financier can repeat for as long as they like."""
        out = []
        for _ in range(rounds):
            out.append(self.tx(holder, "request_financing", warrant=wid, financier=self.addr("bank"), mode="pledge",
                               discount_bps=100, advance=1, recourse=True))
            out.append(self.tx("bank", "reject_financing", warrant=wid))
        return out


def long_history(bench: Bench, held: dict[str, str], blocks: int, rounds: int) -> None:
    """``--history``: the cost of a transaction on a warrant whose history keeps growing."""
    holder = bench.suppliers[0]
    wid = held[holder]
    for number in range(1, blocks + 1):
        txs = bench.financing_rounds(wid, holder, rounds)
        cpu = time.process_time()
        results = bench.commit(txs)
        cpu = time.process_time() - cpu
        assert all(b'"ok":true' in r for r in results), [r for r in results if b'"ok":true' not in r][:1]
        if number == 1 or number % max(1, blocks // 5) == 0:
            size = len(bench.store.state.get(warrant_key(wid)) or b"")
            print(f"  after {number * rounds * 2:>6} entries: record {size:>9,} bytes, {cpu / len(txs) * 1e6:8.1f} us/tx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blocks", type=int, default=10)
    parser.add_argument("--block-size", type=int, default=1000)
    parser.add_argument("--suppliers", type=int, default=100)
    parser.add_argument("--profile", action="store_true", help="print the top functions by cumulative time")
    parser.add_argument("--history", type=int, metavar="ROUNDS", default=0,
                        help="instead: --blocks blocks of ROUNDS financing request + reject pairs on one warrant")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(tmp, args.suppliers)
        held = bench.setup()
        if args.history:
            print(f"ledger: one warrant's history growing by {2 * args.history} entries a block")
            long_history(bench, held, args.blocks, args.history)
            bench.store.close()
            return
        blocks = []
        for _ in range(args.blocks):
            blocks.append(bench.transfers(held, args.block_size))
        profiler = cProfile.Profile() if args.profile else None
        elapsed: list[float] = []
        block_cpu: list[float] = []  # process CPU of each block (LevelDB's compaction lands where it happens)
        cpu_start = time.process_time()
        bench.writes = bench.written = 0
        for txs in blocks:
            if profiler:
                profiler.enable()
            start, cpu_block = time.perf_counter(), time.process_time()
            results = bench.commit(txs)
            elapsed.append(time.perf_counter() - start)
            block_cpu.append(time.process_time() - cpu_block)
            if profiler:
                profiler.disable()
            bad = [r for r in results if b'"ok":true' not in r]
            assert not bad, bad[:1]
        cpu = time.process_time() - cpu_start
        print("  per-block ms:", " ".join(f"{e * 1e3:.0f}" for e in elapsed))
        total = sum(elapsed)
        count = args.blocks * args.block_size
        state_keys = sum(1 for _ in bench.store.state.scan(b""))
        print(f"ledger: {count} transfers with split in {args.blocks} blocks of {args.block_size}, "
              f"committed to LevelDB")
        median = sorted(elapsed)[len(elapsed) // 2]
        print(f"  {count / total:,.0f} tx/s overall ({args.block_size / median:,.0f} tx/s at the median block); "
              f"per block {min(elapsed) * 1e3:.0f}-{max(elapsed) * 1e3:.0f} ms; {total / count * 1e6:.1f} us/tx")
        print(f"  CPU time of this process: {cpu / count * 1e6:.1f} us/tx ({count / cpu:,.0f} tx/s per busy core; "
              "wall time above includes fsync and waiting for a shared CPU)")
        per_block = sorted(block_cpu)
        print(f"  CPU per tx by block: best {per_block[0] / args.block_size * 1e6:.1f} us, median "
              f"{per_block[len(per_block) // 2] / args.block_size * 1e6:.1f} us (the best block is the least disturbed "
              "by other processes on a shared machine)")
        print(f"  state writes: {bench.writes / count:.2f} per tx, {bench.written / count:,.0f} bytes per tx "
              "(keys and values, deletes as keys; the accumulator counted once per block)")
        print(f"  state: {state_keys} keys after the run; root {bench.root.hex()[:16]}")
        bench.store.close()
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
