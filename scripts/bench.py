"""Throughput and latency benchmark of a WarrantChain network, measured the way a consortium would.

It starts a local network (or uses the RPC addresses given), creates a bank, a core enterprise and
one supplier per client, issues each supplier a warrant, then **pre-signs** the whole load before
the clock starts: mostly transfers with split along each supplier's chain of remainders, with
accepts of received offers, new issuances and financing requests mixed in. Several clients submit
it in JSON-RPC batches at full speed or at a target rate, and the report gives:

- committed transactions per second, from the chain (block notifications over a steady window);
- latency from submission to commit (p50/p95/p99), commit = the block's notification at node 0;
- rejected transactions by code (at submission, and failed at execution);
- CPU seconds per committed transaction (all node processes, and the load generator);
- the crypto bound: P-256 verifications per second per core x cores / validators, since every
  validator verifies every transaction, and committed TPS as a fraction of it;
- the largest resident memory of any node.

Usage: scripts/bench [--validators 4] [--duration 60] [--rate 0] [--concurrency 8] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.kernel import codec, crypto
from node.kernel.chain import SignedTx
from node.ledger.keys import document_id
from node.ledger.model import warrant_id
from node.mempool.pool import RETRY_CODES
from node.sdk.client import Client, PreparedBatch, RpcCallError, Wallet
from node.sdk.localnet import LocalNet
from scripts import stages

CHAIN_ID = "warrant-local"
BIG = 10**15  # fen: enough for any run
HOUR_MS = 3600 * 1000


@dataclass
class Plan:
    """The pre-signed load: one list of transactions per client."""

    streams: list[list[SignedTx]]
    mix: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def total(self) -> int:
        return sum(len(s) for s in self.streams)


# -- setup -------------------------------------------------------------------------------------


async def commit_all(client: Client, txs: list[SignedTx]) -> None:
    """Submit ``txs`` in one batch and wait for the last; every one must succeed."""
    answers = await client.batch([("tx_submit", {"tx": codec.decode(tx.raw)}) for tx in txs])
    errors = [a for a in answers if isinstance(a, RpcCallError)]
    if errors:
        raise RuntimeError(f"setup transaction refused: {errors[0]}")
    for tx in txs:
        result = await client.call("tx_submit", tx=codec.decode(tx.raw), wait=True, timeout_ms=60_000)
        if not result["result"]["ok"]:
            raise RuntimeError(f"setup transaction failed: {result['result']}")


@dataclass
class Actors:
    admin: Wallet
    bank: Wallet
    core: Wallet
    suppliers: list[Wallet]
    documents: list[str]  # one per supplier, in order
    warrants: list[str]  # each supplier's starting warrant


async def set_up(client: Client, admin_key: crypto.SigningKey, clients: int) -> Actors:
    admin = Wallet(admin_key, CHAIN_ID, ttl_ms=HOUR_MS)
    bank = Wallet(crypto.generate_key(), CHAIN_ID, ttl_ms=HOUR_MS)
    core = Wallet(crypto.generate_key(), CHAIN_ID, ttl_ms=HOUR_MS)
    suppliers = [Wallet(crypto.generate_key(), CHAIN_ID, ttl_ms=HOUR_MS) for _ in range(clients)]
    await commit_all(
        client,
        [admin.register_account(bank.address, "financier", "bench-bank"),
         admin.register_account(core.address, "core", "bench-core")]
        + [admin.register_account(s.address, "supplier", f"bench-supplier-{i}") for i, s in enumerate(suppliers)],
    )
    await commit_all(client, [bank.set_credit_line(core.address, BIG)])
    # one invoice per supplier (a document backs only issuances to its seller), anchored and so
    # confirmed by the core enterprise, its buyer
    await commit_all(client, [
        core.anchor_document("invoice", f"BENCH-{i:04d}", "BENCH", f"{i:064x}", BIG, seller=s.address, buyer=core.address,
                             issuer_reg_kind="other")
        for i, s in enumerate(suppliers)
    ])
    docs = [document_id("invoice", f"BENCH-{i:04d}", "BENCH", "other") for i in range(len(suppliers))]
    maturity = int(time.time() * 1000) + 30 * 24 * HOUR_MS
    issues = [
        core.issue(s.address, 10**12, maturity, bank.address, [{"doc": d, "amount": 10**12}],
                   int(time.time() * 1000) + HOUR_MS)
        for s, d in zip(suppliers, docs)
    ]
    await commit_all(client, issues)
    warrants = [warrant_id(tx.id, 0) for tx in issues]
    await commit_all(client, [s.accept(w) for s, w in zip(suppliers, warrants)])
    return Actors(admin, bank, core, suppliers, docs, warrants)


def make_plan(actors: Actors, total: int) -> Plan:
    """Pre-sign ``total`` transactions: ~88% transfers with split, ~8% accepts, ~2% issues,
    ~2% financing requests. Dependent transactions come several steps after what they depend on."""
    clients = len(actors.suppliers)
    streams: list[list[SignedTx]] = [[] for _ in range(clients + 1)]  # the last stream is the core's
    mix: collections.Counter[str] = collections.Counter()
    current = list(actors.warrants)
    offers: list[collections.deque[tuple[int, str]]] = [collections.deque() for _ in range(clients)]
    accepted: list[collections.deque[tuple[int, str]]] = [collections.deque() for _ in range(clients)]
    now = int(time.time() * 1000)
    maturity = now + 30 * 24 * HOUR_MS
    lag = 40  # steps between a transaction and the one that depends on it
    step = 0
    while sum(len(s) for s in streams) < total:
        for i, wallet in enumerate(actors.suppliers):
            inbox = offers[i]
            if inbox and inbox[0][0] <= step - lag and step % 12 == 0:
                _, offered = inbox.popleft()
                streams[i].append(wallet.accept(offered))
                accepted[i].append((step, offered))
                mix["accept"] += 1
            elif accepted[i] and accepted[i][0][0] <= step - lag and step % 50 == 25:
                _, mine = accepted[i].popleft()
                streams[i].append(wallet.request_financing(mine, actors.bank.address, "pledge", 350, 90, True))
                mix["request_financing"] += 1
            else:
                to = (i + 1) % clients
                tx = wallet.transfer(current[i], actors.suppliers[to].address, 100, now + 2 * HOUR_MS)
                streams[i].append(tx)
                offers[to].append((step, warrant_id(tx.id, 0)))
                current[i] = warrant_id(tx.id, 1)
                mix["transfer"] += 1
        if step % 5 == 0:
            payee = step // 5 % clients
            tx = actors.core.issue(
                actors.suppliers[payee].address, 1_000_000, maturity, actors.bank.address,
                [{"doc": actors.documents[payee], "amount": 1_000_000}], now + 2 * HOUR_MS,
            )
            streams[clients].append(tx)
            offers[payee].append((step, warrant_id(tx.id, 0)))
            mix["issue"] += 1
        step += 1
    return Plan(streams, mix)


# -- measuring ---------------------------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main_thread_cpu_seconds(pid: int) -> float:
    """utime + stime of a process's main thread (where the node's Python runs); the rest of
    its CPU is other threads', mostly LevelDB's background compaction."""
    with open(f"/proc/{pid}/task/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def crypto_bound(validators: int, seconds: float = 1.0) -> tuple[float, float]:
    """(verifications/s on one core, verifications/s x cores / validators)."""
    key = crypto.generate_key()
    message = b"x" * 300
    signature = key.sign(message)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            crypto.verify(key.public_key.raw, signature, message)
        count += 100
    per_core = count / (time.perf_counter() - start)
    return per_core, per_core * (os.cpu_count() or 1) / validators


def start_profilers(pids: list[int], directory: Path, duration: float) -> list[subprocess.Popen[bytes]]:
    """py-spy on every validator for the load (non-blocking sampling: the nodes are not paused)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    directory.mkdir(parents=True, exist_ok=True)
    return [
        subprocess.Popen(
            [spy, "record", "--nonblocking", "--rate", "97", "--format", "raw", "--duration", str(int(duration)),
             "-o", str(directory / f"node-{index}.txt"), "--pid", str(pid)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for index, pid in enumerate(pids)
    ]


def stop_profilers(profilers: list[subprocess.Popen[bytes]]) -> None:
    for proc in profilers:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
    for proc in profilers:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Run:
    """Submits a plan and collects what happened."""

    def __init__(self, urls: list[str], plan: Plan, rate: float, batch: int, duration: float) -> None:
        self.urls = urls
        self.plan = plan
        self.rate = rate
        self.batch = batch
        self.duration = duration
        self.sent_at: dict[bytes, float] = {}
        self.refused: collections.Counter[str] = collections.Counter()
        self.block_at: dict[int, float] = {}
        self.block_txs: dict[int, int] = {}
        self.start = 0.0
        self.stop_at = 0.0
        self.watching = asyncio.Event()
        self.busy_retries = 0
        self.clients: list[Client] = []
        self.prepared: list[list[tuple[list[SignedTx], PreparedBatch]]] = []

    async def watch_blocks(self) -> None:
        async with Client(self.urls[0], timeout=3600) as client, client.subscribe("blocks") as blocks:
            self.watching.set()
            async for block in blocks:
                self.block_at[block["height"]] = time.monotonic()
                self.block_txs[block["height"]] = block["txs"]

    def prepare(self) -> None:
        """Encode every JSON-RPC batch of the plan before the clock starts: the load generator
        shares the machine's cores with the validators, so what it does per transaction while
        the load runs is taken from them (a retry of what a full mempool turned away is encoded
        when it happens)."""
        self.clients = [Client(self.urls[i % len(self.urls)], timeout=120) for i in range(len(self.plan.streams))]
        self.prepared = [
            [(stream[offset : offset + self.batch],
              client.prepare_batch([("tx_submit", {"tx": codec.decode(tx.raw)}) for tx in stream[offset : offset + self.batch]]))
             for offset in range(0, len(stream), self.batch)]
            for client, stream in zip(self.clients, self.plan.streams)
        ]

    async def submit_stream(self, index: int, share: float) -> None:
        interval = self.batch / share if share > 0 else 0.0
        async with self.clients[index] as client:
            # At a set rate the clients' sends are spread over the interval, as independent
            # clients' would be: started together, all eight sent their batch at the same instant
            # (400 transactions every 0.8 s at 490/s), and latency measured that square wave's
            # queue rather than the network's (docs/PERFORMANCE.md, step 29).
            next_send = time.monotonic() + interval * index / len(self.prepared)
            for first, prepared in self.prepared[index]:
                now = time.monotonic()
                if now >= self.stop_at:
                    return
                if interval:
                    if next_send > now:
                        await asyncio.sleep(next_send - now)
                    next_send += interval
                chunk: list[SignedTx] = first
                batch: PreparedBatch | None = prepared
                while chunk and time.monotonic() < self.stop_at:
                    sent = time.monotonic()
                    if batch is None:
                        batch = client.prepare_batch([("tx_submit", {"tx": codec.decode(tx.raw)}) for tx in chunk])
                    answers = await client.send_batch(batch)
                    batch = None
                    busy = []
                    for tx, answer in zip(chunk, answers):
                        if isinstance(answer, RpcCallError):
                            # A client retries what a full node turned away. A node handles a
                            # batch in order without draining in between, so once one is turned
                            # away the rest are too, and each chain keeps its order.
                            if answer.reason in RETRY_CODES:
                                busy.append(tx)
                            else:
                                self.refused[answer.reason or str(answer.code)] += 1
                        else:
                            self.sent_at[tx.id] = sent
                    if busy:
                        self.busy_retries += len(busy)
                        await asyncio.sleep(0.05)
                    chunk = busy

    async def progress(self) -> None:
        while True:
            elapsed = time.monotonic() - self.start
            committed = sum(self.block_txs.values())
            done = min(1.0, elapsed / self.duration)
            bar = "#" * int(done * 30)
            print(
                f"\r[{bar:<30}] {elapsed:5.1f}s  submitted {len(self.sent_at):>7}  committed {committed:>7}"
                f"  refused {sum(self.refused.values()):>5}",
                end="", file=sys.stderr, flush=True,
            )
            await asyncio.sleep(0.5)

    async def run(self) -> None:
        watcher = asyncio.create_task(self.watch_blocks())
        await asyncio.wait_for(self.watching.wait(), 30)
        self.start = time.monotonic()
        self.stop_at = self.start + self.duration
        progress = asyncio.create_task(self.progress())
        streams = self.plan.streams
        weights = [len(s) for s in streams]
        total = sum(weights)
        await asyncio.gather(
            *(self.submit_stream(i, self.rate * len(s) / total if self.rate else 0.0)
              for i, s in enumerate(streams))
        )
        # Let what was submitted commit (bounded), then stop watching.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if sum(self.block_txs.values()) >= len(self.sent_at):
                break
            await asyncio.sleep(0.2)
        progress.cancel()
        watcher.cancel()
        print(file=sys.stderr)


async def collect_results(run: Run, url: str) -> dict[str, Any]:
    """Ask the chain where each submitted transaction landed, and with what result."""
    heights: dict[bytes, int] = {}
    failed: collections.Counter[str] = collections.Counter()
    missing = 0
    ids = list(run.sent_at)
    async with Client(url, timeout=120) as client:
        for offset in range(0, len(ids), 100):
            chunk = ids[offset : offset + 100]
            answers = await client.batch([("tx_get", {"id": tx_id.hex()}) for tx_id in chunk])
            for tx_id, answer in zip(chunk, answers):
                if isinstance(answer, RpcCallError) or answer.get("status") != "committed":
                    missing += 1
                    continue
                heights[tx_id] = answer["height"]
                if not answer["result"]["ok"]:
                    failed[answer["result"]["code"]] += 1
    return {"heights": heights, "failed": failed, "missing": missing}


def report(args: argparse.Namespace, run: Run, landed: dict[str, Any], cpu: dict[str, float], rss: float,
           plan: Plan, bound: tuple[float, float]) -> dict[str, Any]:
    heights: dict[bytes, int] = landed["heights"]
    latencies = [
        run.block_at[h] - run.sent_at[tx_id] for tx_id, h in heights.items() if h in run.block_at
    ]
    # Steady window: skip the first `warmup` seconds and stop at the end of submission.
    window_start = run.start + args.warmup
    window_end = min(run.stop_at, max(run.block_at.values(), default=run.stop_at))
    in_window = sum(run.block_txs[h] for h, t in run.block_at.items() if window_start <= t <= window_end)
    window = max(1e-9, window_end - window_start)
    tps = in_window / window
    committed = len(heights)
    per_core, bound_tps = bound
    result = {
        "validators": args.validators,
        "duration_s": args.duration,
        "target_rate": args.rate or "max",
        "concurrency": args.concurrency,
        "batch": args.batch,
        "presigned": plan.total,
        "mix": dict(plan.mix),
        "submitted": len(run.sent_at),
        "committed": committed,
        "lost": landed["missing"],
        "committed_tps": round(tps, 1),
        "window_s": round(window, 1),
        "latency_s": {
            "p50": round(percentile(latencies, 0.50), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "p99": round(percentile(latencies, 0.99), 3),
            "mean": round(statistics.fmean(latencies), 3) if latencies else None,
        },
        "refused_at_submission": dict(run.refused),
        "busy_retries": run.busy_retries,
        "failed_at_execution": dict(landed["failed"]),
        "cpu_s_per_committed_tx": {k: round(v / max(1, committed) * 1e3, 3) for k, v in cpu.items()},
        "cpu_unit": "ms",
        "max_node_rss_mb": round(rss, 1),
        "crypto": {
            "verify_per_s_per_core": round(per_core),
            "cores": os.cpu_count(),
            "bound_tps": round(bound_tps),
            "fraction_of_bound": round(tps / bound_tps, 3),
        },
    }
    return result


def print_table(result: dict[str, Any]) -> None:
    lat = result["latency_s"]
    rows = [
        ("validators", result["validators"]),
        ("committed TPS (steady window)", f"{result['committed_tps']:,.0f} over {result['window_s']} s"),
        ("submitted / committed / lost", f"{result['submitted']:,} / {result['committed']:,} / {result['lost']:,}"),
        ("latency p50 / p95 / p99", f"{lat['p50']} / {lat['p95']} / {lat['p99']} s"),
        ("refused at submission", result["refused_at_submission"] or "none"),
        ("retried after BUSY", f"{result['busy_retries']:,}"),
        ("failed at execution", result["failed_at_execution"] or "none"),
        ("CPU ms per committed tx", result["cpu_s_per_committed_tx"]),
        ("max node RSS", f"{result['max_node_rss_mb']} MB"),
        ("crypto bound", f"{result['crypto']['bound_tps']:,} TPS "
                         f"({result['crypto']['verify_per_s_per_core']:,} verify/s/core x {result['crypto']['cores']} cores"
                         f" / {result['validators']} validators)"),
        ("fraction of crypto bound", f"{result['crypto']['fraction_of_bound']:.1%}"),
        ("mix", result["mix"]),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


async def main_async(args: argparse.Namespace) -> int:
    net: LocalNet | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None
    try:
        if args.rpc:
            urls = args.rpc
            admin_key = crypto.load_key(args.admin_key)
        else:
            if args.dir:
                directory = Path(args.dir)
            else:
                tmp = tempfile.TemporaryDirectory(prefix="warrant-bench-")
                directory = Path(tmp.name) / "net"
            net = LocalNet(directory, args.validators, log_level=args.log_level)
            for index in range(args.validators):
                # The load generator is one trusted gateway on 127.0.0.1: the per-address rate
                # limit (docs/OPERATIONS.md) is for the RPC's many clients, not what is measured here.
                net.configure(index, "rpc", {"rate": 1_000_000, "rate_burst": 1_000_000})
            net.start_all()
            await net.wait_ready(timeout=60)
            urls = [net.rpc_url(i) for i in range(args.validators)]
            admin_key = crypto.load_key(net.directory / "admin.pem")
        async with Client(urls[0], timeout=120) as client:
            print(f"setting up {args.concurrency} suppliers, a core enterprise and a bank ...", file=sys.stderr)
            actors = await set_up(client, admin_key, args.concurrency)
        total = args.txs or int((args.rate or args.max_rate_guess) * args.duration * 1.1)
        started = time.perf_counter()
        plan = make_plan(actors, total)
        print(f"pre-signed {plan.total:,} transactions in {time.perf_counter() - started:.1f}s: {dict(plan.mix)}",
              file=sys.stderr)
        run = Run(urls, plan, args.rate, args.batch, args.duration)
        run.prepare()
        # Measured while the network idles, just before the load: this shared machine's speed
        # varies over minutes, so the bound and the run should see the same machine.
        bound = crypto_bound(args.validators)
        pids = [p.pid for p in net.procs.values()] if net else []
        cpu_before = {pid: proc_cpu_seconds(pid) for pid in pids}
        main_before = {pid: main_thread_cpu_seconds(pid) for pid in pids}
        own_before = time.process_time()
        rss_max = 0.0

        async def sample_rss() -> None:
            nonlocal rss_max
            while True:
                for pid in pids:
                    rss_max = max(rss_max, proc_rss_mb(pid))
                await asyncio.sleep(1)

        sampler = asyncio.create_task(sample_rss())
        profilers = start_profilers(pids, Path(args.profile), args.duration) if args.profile else []
        try:
            await run.run()
        finally:
            stop_profilers(profilers)
        sampler.cancel()
        cpu = {
            "nodes": sum(proc_cpu_seconds(pid) - before for pid, before in cpu_before.items()),
            "nodes_main_thread": sum(main_thread_cpu_seconds(pid) - before for pid, before in main_before.items()),
            "load_generator": time.process_time() - own_before,
        }
        landed = await collect_results(run, urls[0])
        result = report(args, run, landed, cpu, rss_max, plan, bound)
        if args.profile:
            counts = stages.read(sorted(Path(args.profile).glob("node-*.txt")))
            # py-spy sees the Python (main) thread only: its stages share that thread's CPU, and
            # the other threads' (LevelDB's compaction) is a stage of its own.
            per_tx = result["cpu_s_per_committed_tx"]
            rows = stages.table(counts, per_tx["nodes_main_thread"])
            other = per_tx["nodes"] - per_tx["nodes_main_thread"]
            rows.append(("other threads (LevelDB bg)", 0.0, other * 1000))
            total_us = max(1e-9, per_tx["nodes"] * 1000)
            rows = sorted(((stage, (us or 0.0) / total_us, us) for stage, _, us in rows), key=lambda row: -(row[2] or 0.0))
            result["stages_us_per_tx"] = {stage: round(us or 0.0, 1) for stage, _, us in rows}
        print(f"\nWarrantChain benchmark ({result['validators']} validators, {args.duration:.0f} s, "
              f"rate {result['target_rate']}, {args.concurrency} clients, batch {args.batch})")
        print_table(result)
        if args.profile:
            print("\nnode CPU per committed tx by stage (py-spy samples of every validator, all together):")
            stages.print_table(rows)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nresult written to {args.out}")
        return 0
    finally:
        if net is not None:
            net.stop_all()
        if tmp is not None:
            tmp.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--validators", type=int, default=4, help="local network size (4, 7, 10)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds excluded from the steady window")
    parser.add_argument("--rate", type=float, default=0.0, help="target transactions/s (0 = full speed)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent clients (one supplier each)")
    parser.add_argument("--batch", type=int, default=50, help="transactions per JSON-RPC batch")
    parser.add_argument("--txs", type=int, default=0, help="transactions to pre-sign (default from rate x duration)")
    parser.add_argument("--max-rate-guess", type=float, default=2500.0, help="for pre-signing at full speed")
    parser.add_argument("--rpc", nargs="*", help="use a running network at these RPC URLs instead")
    parser.add_argument("--admin-key", help="with --rpc: the alliance admin's key file")
    parser.add_argument("--dir", help="keep the network's keys, data and logs here (default: a temp dir)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--out", default="bench-results.json")
    parser.add_argument("--profile", metavar="DIR",
                        help="sample every validator with py-spy during the load, keep the samples in DIR "
                             "and print the CPU per committed tx by stage (scripts/stages.py)")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
