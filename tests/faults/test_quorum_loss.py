"""With f+1 = 2 of 4 validators down there is no quorum: nothing commits, the survivors refuse
submissions with NOT_READY (they can't get them committed, and a client should know), and it all
resumes when they return."""

from __future__ import annotations

import asyncio
import time

import pytest

from node.kernel import crypto
from node.sdk.client import RpcCallError, Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain, register_accounts

# The one place a bounded wait is itself the assertion: "never commits" can't be observed, only
# "did not commit for this long". 4 s is two view-change timeouts (2 s in the localnet config),
# so the two survivors have timed out (and suspected their primary, which takes a view change only
# with 2f+1 = 3 suspicions) and still could not commit.
NO_QUORUM_WINDOW_S = 4.0


@pytest.mark.timeout(120)
async def test_two_of_four_down_stops_commits_until_they_return(net: LocalNet, admin: Wallet) -> None:
    results = await register_accounts(net, admin, 3)
    before = max(r["height"] for r in results)
    await net.wait_height(before, timeout=20)

    net.kill(2)
    net.kill(3)
    key = crypto.generate_key()
    tx = admin.register_account(key.address, "supplier", "waits-for-quorum")

    async def refused() -> RpcCallError | None:
        async with net.client(0) as client:
            try:
                await client.submit(tx, wait=False)
            except RpcCallError as exc:
                return exc if exc.code == 1005 else None
        raise AssertionError("v0 took a transaction without a quorum behind it")

    exc = await net.wait_for(refused, 20, "v0 to notice it lost its quorum")
    assert exc.reason == "NOT_LINKED", exc

    started = time.monotonic()
    while time.monotonic() - started < NO_QUORUM_WINDOW_S:
        statuses = await net.heights([0, 1])
        assert all(s["height"] == before for s in statuses.values()), f"committed without a quorum: {statuses}"
        async with net.client(1) as client:
            try:
                found = await client.call("tx_get", id=tx.id_hex)
            except RpcCallError as lookup:
                assert lookup.code == 1005, lookup  # "not known here yet": it can't tell
            else:
                raise AssertionError(f"v1 without a quorum answered {found}")
        await asyncio.sleep(0.25)
    print(f"\nwith v2 and v3 down: height stayed {before} for {NO_QUORUM_WINDOW_S:.0f}s; submissions refused: {exc.message}")

    restarted = time.monotonic()
    net.start(2)
    net.start(3)
    await net.wait_ready(timeout=30)
    async with net.client(0) as client:  # the client retries the node that refused it
        await client.submit(tx, wait=False)

    async def committed() -> dict | None:
        async with net.client(0) as client:
            found = await client.call("tx_get", id=tx.id_hex)
        return found if found["status"] == "committed" else None

    found = await net.wait_for(committed, 90, "the transaction to commit once v2 and v3 are back")
    print(f"v2 and v3 restarted: the transaction committed at height {found['height']} "
          f"{time.monotonic() - restarted:.1f}s later")
    assert found["result"]["ok"]
    await net.wait_height(found["height"], timeout=30)
    more = await register_accounts(net, admin, 2)
    await net.wait_height(max(r["height"] for r in more), timeout=30)
    assert await assert_same_chain(net, [0, 1, 2, 3]) >= found["height"]

