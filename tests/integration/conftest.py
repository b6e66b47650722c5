"""Fixtures for integration tests: real validator processes on 127.0.0.1, always cleaned up."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

CHAIN_ID = "warrant-local"


@pytest.fixture()
async def net(tmp_path) -> AsyncIterator[LocalNet]:
    cluster = LocalNet(tmp_path / "net", 4)
    try:
        cluster.start_all()
        await cluster.wait_ready(timeout=60)
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture()
def admin(net: LocalNet) -> Wallet:
    return Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)
