"""Admission an outsider can't abuse, on a real 4-validator network (issue 11, findings 1 and the
must-show items 1 and 2): a flood from a key that is no account is refused at the door, and one
busy account can't starve another, with no view change."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Any

import pytest

from node.kernel import codec, crypto
from node.kernel.chain import SignedTx
from node.sdk.client import Client, RpcCallError, Wallet
from node.sdk.localnet import LocalNet

from .conftest import CHAIN_ID

HOUR_MS = 3600_000


async def _flood(client: Client, txs: list[SignedTx], max_body: int = 800_000) -> collections.Counter[str]:
    """Submit ``txs`` in JSON-RPC batches (within the node's body and batch limits) as fast as the
    node answers; returns the count of each outcome (``ok`` or the refusal's reason)."""
    outcomes: collections.Counter[str] = collections.Counter()
    batch: list[tuple[str, dict[str, Any]]] = []
    size = 0

    async def send() -> None:
        while True:
            try:
                answers = await client.batch(batch)
            except RpcCallError as exc:
                if exc.code != 1007:  # RATE_LIMITED: the RPC's own limit; a flooder waits as told
                    raise
                outcomes["RATE_LIMITED"] += 1
                await asyncio.sleep(exc.data.get("retry_after_ms", 100) / 1000)
                continue
            for answer in answers:
                outcomes[answer.reason or str(answer.code) if isinstance(answer, RpcCallError) else "ok"] += 1
            return

    for tx in txs:
        if batch and (len(batch) == 100 or size + len(tx.raw) > max_body):
            await send()
            batch, size = [], 0
        batch.append(("tx_submit", {"tx": codec.decode(tx.raw)}))
        size += len(tx.raw)
    if batch:
        await send()
    return outcomes


def _outsider_txs(count: int, rng: random.Random) -> list[SignedTx]:
    """Schema-valid transactions of 1-3.5 kB from a key that is no account: issues with up to 32
    document allocations, and splits into up to 64 parts."""
    stranger = Wallet(crypto.generate_key(), CHAIN_ID, ttl_ms=HOUR_MS)
    out = []
    for n in range(count):
        if n % 2:
            docs = [{"doc": f"{rng.getrandbits(256):064x}", "amount": 10**12} for _ in range(rng.randint(5, 29))]
            tx = stranger.issue(stranger.address, 10**12 * len(docs), int(time.time() * 1000) + HOUR_MS,
                                stranger.address, docs, int(time.time() * 1000) + HOUR_MS)
        else:
            tx = stranger.split(f"{rng.getrandbits(256):064x}", [10**17 + i for i in range(rng.randint(40, 64))])
        out.append(tx)
    return out


async def _views(net: LocalNet) -> set[int]:
    return {s["view"] for s in (await net.heights()).values()}


@pytest.mark.timeout(240)
async def test_floods_are_refused_at_admission_and_cannot_starve_other_accounts(net: LocalNet, admin: Wallet) -> None:
    rng = random.Random(11)
    member, busy, core = (Wallet(crypto.generate_key(), CHAIN_ID, ttl_ms=HOUR_MS) for _ in range(3))
    async with net.client(0) as client:
        for wallet, role in ((member, "supplier"), (busy, "financier"), (core, "core")):
            answer = await client.submit(admin.register_account(wallet.address, role, f"{role}-{wallet.address[2:8]}"))
            assert answer["result"]["ok"], answer

    # 1. An unregistered key submits 3,000 schema-valid transactions of 1-3.5 kB to every node,
    #    while a registered account's transactions are submitted during the flood.
    junk = _outsider_txs(3_000, rng)
    sizes = [len(tx.raw) for tx in junk]
    assert 1_000 <= min(sizes) and max(sizes) <= 3_500, (min(sizes), max(sizes))
    # The floods come from addresses of their own (the RPC's rate limit is per address; the
    # member submits from 127.0.0.1).
    clients = [Client(net.rpc_url(i), source_address="127.0.0.2") for i in range(net.count)]
    started = time.monotonic()
    try:
        floods = [asyncio.create_task(_flood(clients[i], junk[i::net.count])) for i in range(net.count)]
        mine = [member.split(f"{n:064x}", [1, 2]) for n in range(10)]  # schema-valid; fails at execution
        answers = await asyncio.gather(*(clients[n % net.count].submit(tx, timeout_ms=30_000)
                                         for n, tx in enumerate(mine)))
        refused: collections.Counter[str] = collections.Counter()
        for outcome in await asyncio.gather(*floods):
            refused.update(outcome)
    finally:
        for c in clients:
            await c.close()
    print(f"\noutsider flood: {dict(refused)} in {time.monotonic() - started:.1f}s; "
          f"member's transactions committed at heights {[a['height'] for a in answers]}")
    waits = refused.pop("RATE_LIMITED", 0)  # batches the RPC's rate limit made wait, then resent
    assert refused == {"UNKNOWN_SENDER": 3_000}, (refused, waits)
    assert all(a["status"] == "committed" for a in answers)
    assert await _views(net) == {0}, "the flood caused a view change"
    async with net.client(1) as client:
        assert (await client.status())["mempool_size"] == 0

    # 2. One registered account floods its node with 10,000 valid transactions; another account's
    #    transactions still commit within a few blocks.
    flood = [busy.set_credit_line(core.address, 10**9 + n) for n in range(10_000)]
    flooders = [Client(net.rpc_url(0), source_address=f"127.0.0.{3 + i}") for i in range(4)]  # four streams at once: faster than blocks drain them
    async with net.client(0) as other_client:
        flooding = asyncio.gather(*(_flood(c, flood[i::len(flooders)]) for i, c in enumerate(flooders)))
        await asyncio.sleep(0.5)  # the flood is under way: its first batches are in the mempool
        latencies = []
        for n in range(5):
            # Counted from admission: the mempool's fairness is what is judged here, not how long
            # the RPC queue of the flooded node took to reach the submission.
            tx = member.split(f"{n + 100:064x}", [1, 2])
            sent = time.monotonic()
            await other_client.submit(tx, wait=False)
            before = (await other_client.status())["height"]

            async def committed(tx_id: str = tx.id_hex) -> dict[str, Any] | None:
                answer = await other_client.tx(tx_id)
                return answer if answer["status"] == "committed" else None

            answer = await net.wait_for(committed, 30, "the other account's transaction to commit", interval=0.02)
            latencies.append((answer["height"] - before, time.monotonic() - sent))
        outcome = sum(await flooding, collections.Counter())
        for c in flooders:
            await c.close()
    print(f"busy account's flood: {dict(outcome)}; the other account's transactions committed "
          f"(blocks after submission, seconds): {[(b, round(s, 2)) for b, s in latencies]}")
    # Whether the cap is reached depends on how fast blocks drain the flood on this machine
    # (tests/mempool/test_pool.py shows the cap itself); what is refused is refused for it.
    outcome.pop("RATE_LIMITED", None)
    assert outcome["ok"] >= 1_000 and set(outcome) <= {"ok", "SENDER_PENDING_LIMIT"}, outcome
    # v0 is the primary and proposes h only once it has executed h-1, so at most one block it
    # proposed before the admission (without the transaction) is ahead of it; the next one takes
    # it, however much of the busy account's flood waits (blocks are filled round-robin by sender).
    assert max(blocks for blocks, _ in latencies) <= 2, latencies
    assert await _views(net) == {0}, "the flood caused a view change"
