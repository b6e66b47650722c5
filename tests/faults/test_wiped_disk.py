"""A validator whose data directory was deleted rejoins from scratch by state transfer."""

from __future__ import annotations

import shutil
import time

import pytest

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain, register_accounts


@pytest.mark.timeout(120)
async def test_node_with_deleted_data_directory_rejoins_by_state_transfer(net: LocalNet, admin: Wallet) -> None:
    results = await register_accounts(net, admin, 60)  # one block each: more than a checkpoint interval (50)
    top = max(r["height"] for r in results)
    await net.wait_height(top, indices=[2], timeout=30)

    net.stop(2)
    shutil.rmtree(net.directory / "data" / "v2")
    results += await register_accounts(net, admin, 10, via=[0, 1, 3])  # the others go on meanwhile
    top = max(r["height"] for r in results)

    started = time.monotonic()
    net.start(2)
    status = (await net.wait_height(top, indices=[2], timeout=60))[2]
    print(f"\nv2 rebuilt {status['height']} blocks from nothing in {time.monotonic() - started:.1f}s (including process start)")

    after = await register_accounts(net, admin, 3, via=[2])  # and takes part again
    assert all(r["result"]["ok"] for r in after)
    await net.wait_height(max(r["height"] for r in after), timeout=30)
    assert await assert_same_chain(net, [0, 1, 2, 3]) >= top
    async with net.client(2) as client:
        for result in results:
            found = await client.call("tx_get", id=result["id"])
            assert (found["height"], found["index"]) == (result["height"], result["index"])
