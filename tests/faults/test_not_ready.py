"""A validator rebuilding from an empty data directory refuses submissions with NOT_READY (1005)
until it is within a block of its peers, then takes them; meanwhile ``tx_get`` says it does not
know yet rather than ``pending`` or "not found" for what the network committed long ago.

On main the rebuilding node took submissions (filling its mempool, MEMPOOL_FULL to clients) and
answered ``pending`` for transactions committed long before; 1005 was declared but never raised.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import signal
import time

import pytest

from node.kernel import crypto
from node.sdk.client import RpcCallError, Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import register_accounts

from .load import NOT_READY


@pytest.mark.timeout(150)
async def test_rebuilding_node_refuses_with_not_ready_until_caught_up(net: LocalNet, admin: Wallet) -> None:
    results = await register_accounts(net, admin, 80)  # a block each
    top = max(r["height"] for r in results)
    old = results[0]["id"]
    net.stop(2)
    shutil.rmtree(net.directory / "data" / "v2")
    # 80 small blocks rebuild in well under a second, often before a client gets its first
    # answer: v0 and v1 are paused until v2 has refused once, so that it starts with links to v3
    # only (it may catch up from v3's certified blocks, but it is not linked to a quorum).
    paused = [0, 1]
    for index in paused:
        os.kill(net.procs[index].pid, signal.SIGSTOP)
    net.start(2)
    started = time.monotonic()

    key = crypto.generate_key()
    tx = admin.register_account(key.address, "supplier", "after-the-rebuild")
    answers: collections.Counter[str] = collections.Counter()
    lookups: collections.Counter[str] = collections.Counter()
    first_refusal = None
    async with net.client(2) as client:
        while True:
            try:
                found = await client.tx(old)
                lookups[found["status"]] += 1
            except RpcCallError as exc:
                lookups[f"{exc.code} {exc.reason or ''}".strip()] += 1
            try:
                await client.submit(tx, wait=False)
                break
            except RpcCallError as exc:
                if exc.code == NOT_READY:
                    first_refusal = first_refusal or time.monotonic() - started
                    answers[f"NOT_READY {exc.reason}"] += 1
                    while paused:
                        os.kill(net.procs[paused.pop()].pid, signal.SIGCONT)
                elif exc.code == -1:
                    answers["unreachable"] += 1
                else:
                    raise
            if time.monotonic() - started > 60:
                raise AssertionError(f"v2 never took a submission: {dict(answers)}")
            await asyncio.sleep(0.02)
        accepted = time.monotonic() - started
        height = (await client.status())["height"]
    assert first_refusal is not None, f"v2 took a submission without refusing one first: {dict(answers)}"
    print(f"\nv2 rebuilding {top} blocks: answers before it took a submission {dict(answers)}; first NOT_READY "
          f"{first_refusal:.2f}s after start, accepted at {accepted:.2f}s at height {height} (the others at >= {top}); "
          f"tx_get of a transaction committed at height {results[0]['height']} meanwhile: {dict(lookups)}")
    assert sum(n for what, n in answers.items() if what.startswith("NOT_READY")) > 0
    assert height >= top - 1
    assert set(lookups) <= {"1005 SYNCING", "1005 NOT_LINKED", "committed", "-1"}, lookups
    async with net.client(0) as client:
        done = await client.submit(tx, wait=True)  # and what it took commits
    assert done["status"] == "committed"


async def test_not_ready_is_refused_as_1005_with_an_actionable_message(net: LocalNet, admin: Wallet) -> None:
    net.stop(1)
    net.stop(2)  # v0 and v3 are left: no quorum
    key = crypto.generate_key()
    tx = admin.register_account(key.address, "supplier", "no-quorum")
    async with net.client(0) as client:

        async def refused() -> RpcCallError | None:
            try:
                await client.submit(tx, wait=False)
            except RpcCallError as exc:
                return exc if exc.code == NOT_READY else None
            return None

        exc = await net.wait_for(refused, 20, "v0 to refuse with NOT_READY once it lost its quorum")
        status = await client.status()
    assert exc.reason == "NOT_LINKED" and "quorum" in exc.message, exc
    assert status["ready"] is False
    print(f"\n{exc.message}")

