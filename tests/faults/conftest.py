"""Fixtures for fault tests: real validator processes on 127.0.0.1, stopped by pid even on failure
(and resumed first, if a test paused one with SIGSTOP)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

CHAIN_ID = "warrant-local"


@pytest.fixture()
async def idle_net(tmp_path) -> AsyncIterator[LocalNet]:
    """Four validators' keys, genesis and configs; no process started yet."""
    cluster = LocalNet(tmp_path / "net", 4)
    try:
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture()
async def net(idle_net: LocalNet) -> LocalNet:
    idle_net.start_all()
    await idle_net.wait_ready(timeout=60)
    return idle_net


@pytest.fixture()
def admin(idle_net: LocalNet) -> Wallet:
    return Wallet(crypto.load_key(idle_net.directory / "admin.pem"), CHAIN_ID)
