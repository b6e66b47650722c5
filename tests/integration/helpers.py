"""Shared steps of integration tests."""

from __future__ import annotations

from typing import Any

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet


async def register_accounts(net: LocalNet, admin: Wallet, count: int, via: list[int] | None = None, wait: bool = True) -> list[dict[str, Any]]:
    """Register ``count`` new supplier accounts, submitting round-robin to the nodes ``via``."""
    nodes = via if via is not None else net.running()
    results = []
    for i in range(count):
        key = crypto.generate_key()
        tx = admin.register_account(key.address, "supplier", f"supplier-{key.address[2:10]}")
        async with net.client(nodes[i % len(nodes)]) as client:
            results.append(await client.submit(tx, wait=wait))
    return results


async def chain_of(net: LocalNet, index: int, upto: int) -> list[tuple[str, str]]:
    """(block hash, state root in the next header) for heights 1..upto on validator ``index``."""
    out = []
    async with net.client(index) as client:
        for height in range(1, upto + 1):
            block = await client.call("chain_getBlock", height=height)
            out.append((block["hash"], block["header"]["state_root"]))
    return out


async def assert_same_chain(net: LocalNet, indices: list[int]) -> int:
    """All ``indices`` have identical block hashes and state roots up to their common height."""
    statuses = await net.heights(indices)
    height = min(s["height"] for s in statuses.values())
    chains = {i: await chain_of(net, i, height) for i in indices}
    first = chains[indices[0]]
    for index in indices[1:]:
        assert chains[index] == first, f"v{index} differs from v{indices[0]}"
    # State after the common height: compare nodes that are exactly there.
    at = {s["state_root"] for s in statuses.values() if s["height"] == height}
    assert len(at) == 1, f"state roots differ at height {height}: {at}"
    return height
