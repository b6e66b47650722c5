"""A byzantine primary (v0, primary of view 0, run in-process with its genesis key) that lies in
its own proposals, on a real 4-validator network (issue 11, findings 2 and 3, must-show items 3
and 4): every correct backup refuses the lie, the view changes away from it, and the chain goes
on with the ledger's rules judged by the correct validators' clocks."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from node.bundles import verify_bundle
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.ledger.keys import document_id
from node.sdk.client import Client, Wallet
from node.sdk.localnet import LocalNet

from tests.scrape import scrape

from .byzantine import Byzantine
from .conftest import CHAIN_ID

LIAR = 0
CORRECT = [1, 2, 3]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest.fixture()
async def liar(idle_net: LocalNet) -> AsyncIterator[Byzantine]:
    for index in CORRECT:
        idle_net.start(index)
    byzantine = Byzantine(idle_net, random.Random(11), index=LIAR)
    await byzantine.start()
    try:
        # Every link up, the liar's included, before the first transaction: as primary it must
        # hear of every transaction (a relay sent before the link came up would be lost to it).
        async def linked() -> bool:
            statuses = await idle_net.heights(CORRECT)
            return len(statuses) == len(CORRECT) and all(s["peers"] == 3 for s in statuses.values()) \
                and byzantine.node.linked_validators() >= set(CORRECT)

        await idle_net.wait_for(linked, 60, "all four validators to be linked")
        yield byzantine
    finally:
        await byzantine.stop()


class Story:
    """Accounts, a credit line, a document and an accepted warrant, all through a correct node."""

    def __init__(self, client: Client, admin: Wallet) -> None:
        self.client = client
        self.admin = admin
        self.core, self.supplier, self.supplier2, self.bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(4))

    async def ok(self, tx: Any) -> dict[str, Any]:
        answer: dict[str, Any] = await self.client.submit(tx, timeout_ms=30_000)
        assert answer["result"]["ok"], answer
        return answer

    async def warrant(self, maturity: int) -> tuple[str, dict[str, Any]]:
        """An issued and accepted warrant maturing at ``maturity``; returns it and the issue's answer."""
        for wallet, role in ((self.core, "core"), (self.supplier, "supplier"), (self.supplier2, "supplier"),
                             (self.bank, "financier")):
            await self.ok(self.admin.register_account(wallet.address, role, f"{role}-{wallet.address[2:8]}"))
        await self.ok(self.bank.set_credit_line(self.core.address, 10**9))
        await self.ok(self.core.anchor_document("invoice", "BYZ-1", "91310000MA1FL2026R", "cd" * 32, 10**6,
                                                seller=self.supplier.address, buyer=self.core.address))
        doc = document_id("invoice", "BYZ-1", "91310000MA1FL2026R")
        issued = await self.ok(self.core.issue(self.supplier.address, 10**6, maturity, self.bank.address,
                                               [{"doc": doc, "amount": 10**6}], maturity))
        warrant = issued["result"]["events"][0]["warrant"]
        await self.ok(self.supplier.accept(warrant))
        return warrant, issued


async def _views(net: LocalNet) -> set[int]:
    return {s["view"] for s in (await net.heights(CORRECT)).values()}


def _refusals(net: LocalNet, index: int, fragment: str) -> int:
    return sum(1 for line in net.log_path(index).read_text().splitlines()
               if "proposal-refused" in line and fragment in line)


@pytest.mark.timeout(150)
async def test_a_primary_re_including_a_committed_transaction_is_refused_by_every_backup(
    idle_net: LocalNet, liar: Byzantine, admin: Wallet
) -> None:
    net = idle_net
    genesis = load_genesis(net.directory / "genesis.json")
    async with net.client(1) as client:
        story = Story(client, admin)
        warrant, issued = await story.warrant(now_ms() + 10**8)
        original = await client.tx(issued["id"])
        assert original["result"]["ok"] and await _views(net) == {0}

        # v0, still primary, puts the committed issuance into its next block again.
        liar.reinclude = [liar.node.store.block(original["height"]).txs[original["index"]]]
        later = await story.ok(admin.register_account(crypto.generate_key().address, "supplier", "after"))
        assert liar.counts["proposal re-including a committed transaction"] > 0, dict(liar.counts)
        liar.reinclude = []
        assert await _views(net) == {1}, "the view should change once, away from the lying primary"
        assert {later["height"]} == {(await c.tx(later["id"]))["height"] for c in [client]}

        for index in CORRECT:
            assert _refusals(net, index, f"transaction {issued['id']} is already committed") >= 1, f"v{index} did not refuse"
            metrics = await scrape(net.rpc_url(index))  # the refusal by its code, the view change away from v0
            assert (metrics.value("warrantchain_proposals_refused_total", reason="COMMITTED_TX") or 0) >= 1, index
            assert (metrics.value("warrantchain_view_changes_total") or 0) >= 1, index
            async with net.client(index) as other:
                assert await other.tx(issued["id"]) == original
                report = verify_bundle(await other.proof(warrant), genesis)
                assert report.ok, report.reason
                outcome = next(t for t in report.transactions if t.id == issued["id"])
                assert outcome.ok is True, outcome
        print(f"\nre-inclusion refused by v1..v3; view 0 -> 1; chain went on to height {later['height']}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("skew_ms", [60_000, -60_000], ids=["clock+60s", "clock-60s"])
async def test_a_primary_with_a_clock_a_minute_off_cannot_bend_maturity(
    idle_net: LocalNet, liar: Byzantine, admin: Wallet, skew_ms: int
) -> None:
    net = idle_net
    params = load_genesis(net.directory / "genesis.json").params
    behind = params.max_clock_drift_ms + params.max_block_delay_ms
    async with net.client(1) as client:
        story = Story(client, admin)
        if skew_ms > 0:
            # Settlement before maturity: the warrant matures 30 s from now, inside the liar's minute.
            maturity = now_ms() + 30_000
            warrant, _ = await story.warrant(maturity)
            liar.clock_skew_ms = skew_ms
            tx = story.core.settle(warrant)
            expected, fragment = "NOT_MATURED", "ahead of our clock"
        else:
            # A transfer after maturity: the last block is from before maturity, and the liar's
            # clock (a minute slow) makes it stamp just after that block.
            maturity = now_ms() + 6_000
            warrant, _ = await story.warrant(maturity)
            async def past() -> bool:
                return now_ms() > maturity + behind + 1_000
            await net.wait_for(past, 60, "maturity plus the allowed lag to pass")
            liar.clock_skew_ms = skew_ms
            tx = story.supplier.transfer(warrant, story.supplier2.address, 10, maturity)  # valid before maturity
            expected, fragment = "WARRANT_MATURED", "behind our clock"
        assert await _views(net) == {0}
        submitted = now_ms()
        answer = await client.submit(tx, timeout_ms=60_000)
        block = await client.block(answer["height"])
        print(f"\nclock {skew_ms:+d} ms: {tx.body.type} {answer['result']['code']} in block {answer['height']} "
              f"time {block['header']['time_ms'] - maturity:+d} ms from maturity (submitted "
              f"{submitted - maturity:+d} ms); views {sorted(await _views(net))}; {dict(liar.counts)}")
        assert answer["result"]["code"] == expected, answer
        assert block["header"]["proposer"] != LIAR
        assert min(await _views(net)) >= 1
        assert all(_refusals(net, index, fragment) >= 1 for index in CORRECT)
