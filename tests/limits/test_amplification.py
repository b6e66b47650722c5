"""Must-show 2: a batch of 100 chain_getBlock calls on the biggest block gets size-limit errors
instead of an answer of 100 blocks, and the node's peak memory stays within 50 MB of its level
before; chain_getBlock gives transaction ids by default and whole transactions, a page at a time,
on request."""

from __future__ import annotations

from node.kernel import codec, crypto
from node.kernel.chain import TxEnvelope, tx_from_envelope
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import reset_peak, rpc_from, status_kb

MIB = 1 << 20


async def _fill_blocks(net: LocalNet, admin: Wallet, count: int) -> None:
    """Submit ``count`` registrations in batches of 100 (the primary gathers them into big blocks)."""
    txs = [admin.register_account(crypto.generate_key().address, "supplier", "s" * 128) for _ in range(count)]
    async with net.client(1) as client:
        for start in range(0, count, 100):
            calls = [("tx_submit", {"tx": codec.decode(tx.raw)}) for tx in txs[start : start + 100]]
            answers = await client.batch(calls)
            assert all(isinstance(a, dict) for a in answers), answers[:3]

    async def drained() -> bool:
        statuses = await net.heights()
        return len(statuses) == 4 and all(s["mempool_size"] == 0 for s in statuses.values()) and \
            len({s["height"] for s in statuses.values()}) == 1

    await net.wait_for(drained, 90, "the submitted transactions to be committed everywhere")


async def test_a_batch_of_full_blocks_gets_a_size_error_and_memory_stays_bounded(net: LocalNet, admin: Wallet) -> None:
    await _fill_blocks(net, admin, 1000)
    url = net.rpc_url(1)
    async with net.client(1) as client:
        height = (await client.status())["height"]
        sizes = {h: (await client.block(h))["tx_count"] for h in range(1, height + 1)}
        big = max(sizes, key=lambda h: sizes[h])
        whole = await client.block(big, full=True, limit=10_000)
    block_bytes = len(codec.encode(whole))
    assert sizes[big] >= 100 and len(whole["txs"]) == sizes[big]

    reset_peak(net, 1)
    before = status_kb(net, 1, "VmRSS")
    batch = [{"jsonrpc": "2.0", "id": i, "method": "chain_getBlock", "params": {"height": big, "full": True}}
             for i in range(100)]
    status, answers = await rpc_from("127.0.0.1", url, batch)
    peak = status_kb(net, 1, "VmHWM")
    answered = [a for a in answers if "result" in a]
    refused = [a for a in answers if "error" in a]
    answer_bytes = len(codec.encode(answers))
    print(f"\nblock {big}: {sizes[big]} txs, {block_bytes / 1024:.0f} KiB as JSON; 100 of it would be "
          f"{100 * block_bytes / MIB:.1f} MiB. Batch answer: {answer_bytes / MIB:.2f} MiB, {len(answered)} blocks, "
          f"{len(refused)} errors; node RSS {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB "
          f"(+{(peak - before) / 1024:.1f} MiB)")
    assert status == 200 and len(answers) == 100
    assert refused, "a batch answer over max_batch_response must not be sent whole"
    error = refused[0]["error"]
    assert error["code"] == 1006 and error["data"] == {"reason": "BATCH_RESPONSE_TOO_LARGE", "limit": 8 * MIB}
    assert "max_batch_response" in error["message"]
    assert all(a["result"] == whole for a in answered if a["result"]["txs"] == whole["txs"])  # whole, never cut
    assert answer_bytes <= 8 * MIB + 100 * 512
    assert peak - before < 50 * 1024, f"peak memory grew by {(peak - before) / 1024:.1f} MiB"

    # By default a block carries its transactions' ids: the same batch is small and whole.
    batch = [{"jsonrpc": "2.0", "id": i, "method": "chain_getBlock", "params": {"height": big}} for i in range(100)]
    status, answers = await rpc_from("127.0.0.1", url, batch)
    assert status == 200 and all("result" in a for a in answers)
    ids = answers[0]["result"]["txs"]
    assert len(ids) == sizes[big] and all(isinstance(i, str) and len(i) == 64 for i in ids)


async def test_block_transactions_come_a_page_at_a_time(net: LocalNet) -> None:
    async with net.client(1) as client:
        height = (await client.status())["height"]
        counts = {h: (await client.block(h))["tx_count"] for h in range(1, height + 1)}
        big = max(counts, key=lambda h: counts[h])
        ids = (await client.block(big))["txs"]
        pages, offset = [], 0
        while offset is not None:
            page = await client.block(big, full=True, offset=offset, limit=40)
            assert len(page["txs"]) <= 40 and page["tx_count"] == len(ids)
            pages.extend(page["txs"])
            offset = page["next_offset"]
    assert counts[big] > 40, "the block must need several pages"
    assert [tx_from_envelope(codec.convert(tx, TxEnvelope)).id_hex for tx in pages] == ids
