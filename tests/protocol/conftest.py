"""One 4-validator cluster shared by the protocol tests (package scope: starting one costs seconds).

Tests only add accounts and warrants of their own, so sharing the chain does not couple them.
The fixture is synchronous so that every async test can use it from its own event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

CHAIN_ID = "warrant-local"


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    net = LocalNet(tmp_path_factory.mktemp("protocol") / "net", 4)
    try:
        net.start_all()
        asyncio.run(net.wait_ready(timeout=60))
        yield net
    finally:
        net.stop_all()


REG_ID = "91310000MA1FL2026R"


@dataclass
class Story:
    """A warrant with a long history: issued, accepted, split, transferred, pledged, frozen, released."""

    wallets: dict[str, Wallet]
    document: str
    issuance: str
    split_part: str
    warrant: str  # the transferred part held by supplier2: the proofs' subject
    last_height: int


async def _tell_story(net: LocalNet) -> Story:
    admin = Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)
    roles = {"core": "core", "supplier": "supplier", "supplier2": "supplier", "bank": "financier", "regulator": "regulator"}
    w = {name: Wallet(crypto.generate_key(), CHAIN_ID) for name in roles}

    async with net.client(2) as client:
        async def ok(tx: Any) -> dict[str, Any]:
            result = await client.submit(tx)
            assert result["result"]["ok"], result
            return result["result"]  # type: ignore[no-any-return]

        for name, role in roles.items():
            await ok(admin.register_account(w[name].address, role, name))
        await ok(w["bank"].set_credit_line(w["core"].address, 10_000_000_00))
        doc = (await ok(w["supplier"].anchor_document("invoice", "INV-9", REG_ID, "ab" * 32, 500_000_00,
                                                        seller=w["supplier"].address, buyer=w["core"].address)))["events"][0]["document"]
        await ok(w["core"].confirm_document(doc))
        now = int(time.time() * 1000)
        issued = await ok(w["core"].issue(w["supplier"].address, 400_000_00, now + 30 * 86_400_000, w["bank"].address,
                                          [{"doc": doc, "amount": 400_000_00}], now + 86_400_000))
        w0 = issued["events"][0]["warrant"]
        await ok(w["supplier"].accept(w0))
        w1, _ = (await ok(w["supplier"].split(w0, [250_000_00, 150_000_00])))["events"][0]["children"]
        w3, _ = (await ok(w["supplier"].transfer(w1, w["supplier2"].address, 100_000_00, now + 86_400_000)))["events"][0]["children"]
        await ok(w["supplier2"].accept(w3))
        await ok(w["supplier2"].request_financing(w3, w["bank"].address, "pledge", 350, 90_000_00, True))
        await ok(w["bank"].approve_financing(w3))
        await ok(w["regulator"].freeze(w3, "court order 2026-17"))
        await ok(w["regulator"].unfreeze(w3, "order lifted"))
        await ok(w["bank"].release_pledge(w3))
        # One more block, so that the next header certifies the results of the last one.
        last = await client.submit(admin.register_account(crypto.generate_key().address, "supplier", "late"))
    return Story(w, doc, w0, w1, w3, last["height"])


@pytest.fixture(scope="package")
def story(cluster: LocalNet) -> Story:
    return asyncio.run(_tell_story(cluster))
