"""One cluster for the bad-input suite: v0..v2 as real processes, and validator 3's slot left
free so that a test peer holding v3's genesis key can join the mesh. Three of four is a quorum,
so the cluster commits; every test checks that what is committed did not change under its input."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

RUNNING = [0, 1, 2]


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    net = LocalNet(Path(tmp_path_factory.mktemp("badinput")) / "net", 4)
    try:
        for index in RUNNING:
            net.start(index)
        asyncio.run(net.wait_ready(RUNNING, timeout=60))
        yield net
    finally:
        net.stop_all()


async def committed_view(net: LocalNet) -> dict[int, tuple[int, str, str]]:
    """(height, block hash, state root) per running validator, once they agree and the chain is at
    rest: no commit in flight, and the last block's results certified by an empty block after it
    (the primary makes that one by itself: `empty_block_interval_ms` in docs/OPERATIONS.md)."""

    async def settled() -> dict[int, tuple[int, str, str]] | None:
        statuses = await net.heights(RUNNING)
        view = {i: (s["height"], s["block_hash"], s["state_root"]) for i, s in statuses.items()}
        if len(view) != len(RUNNING) or len(set(view.values())) != 1:
            return None
        height = view[RUNNING[0]][0]
        if height:
            async with net.client(RUNNING[0]) as client:
                if (await client.block(height=height))["txs"]:
                    return None  # an empty block certifying this one's results is on its way
        return view

    return await net.wait_for(settled, 30, "the validators to agree on their head")  # type: ignore[no-any-return]


async def commit_one(net: LocalNet) -> None:
    """A real transaction still commits on every running validator."""
    admin = Wallet(crypto.load_key(net.directory / "admin.pem"), "warrant-local")
    key = crypto.generate_key()
    async with net.client(RUNNING[-1]) as client:
        answer = await client.submit(admin.register_account(key.address, "supplier", "after-bad-input"))
    assert answer["result"]["ok"], answer
    await net.wait_height(answer["height"], RUNNING, timeout=30)
