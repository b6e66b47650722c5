"""Commit waiters (node.waiters, behind tx_submit with wait): a transaction that expires in the
mempool answers its waiting client at once with TX_EXPIRED, and no waiter outlives its call
(commit, expiry, the caller's timeout, a stop)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from node.cli.warrantd import write_localnet
from node.config import load_config
from node.factory import build_node
from node.kernel import crypto
from node.kernel.chain import SignedTx
from node.metrics import Metrics
from node.node import now_ms
from node.rpc.api import ApiError, ErrorCode
from node.sdk.client import Wallet
from node.service import NodeService
from node.waiters import CommitWaiters, TxExpired

CHAIN = "warrant-local"


class _Unlinked:
    """A mesh with no links (the node under test is never started)."""

    def connected(self, role: object = None) -> set[int]:
        return set()

    def send(self, peer: int, data: bytes) -> bool:
        return False

    def broadcast(self, data: bytes) -> int:
        return 0


@pytest.fixture()
async def service(tmp_path: Path) -> AsyncIterator[NodeService]:
    write_localnet(tmp_path, 4, 41000)
    node = build_node(load_config(tmp_path / "v1.toml"))
    node.mesh = _Unlinked()  # type: ignore[assignment]
    try:
        yield NodeService(node, Metrics(protocol_version="test"))
    finally:
        node.gossip.close()
        node.store.close()


def _registration(directory: Path, expires: int) -> SignedTx:
    admin = Wallet(crypto.load_key(directory / "admin.pem"), CHAIN)
    payload: dict[str, Any] = {"address": crypto.generate_key().address, "role": "supplier", "name": "s"}
    return admin.build("register_account", payload, expires=expires)


async def test_a_transaction_that_expires_in_the_mempool_answers_its_waiting_client(
    service: NodeService, tmp_path: Path
) -> None:
    tx = _registration(tmp_path, expires=now_ms() + 60_000)
    service.node.submit(tx)  # as tx_submit does once the node is ready
    waiting = asyncio.create_task(service.wait_tx(tx.id_hex))
    await asyncio.sleep(0)
    assert len(service.waiters) == 1
    assert service.node.mempool.oldest(tx.body.expires + 1) is None  # the tick's expiry pass
    with pytest.raises(ApiError) as refused:
        await asyncio.wait_for(waiting, 10)  # on main: never answered before the client's timeout
    assert refused.value.code == ErrorCode.TX_REJECTED and refused.value.reason == "TX_EXPIRED"
    assert refused.value.data == {"id": tx.id_hex, "status": "expired"}
    assert "expired" in str(refused.value) and "sign it again" in str(refused.value)
    assert len(service.waiters) == 0 and tx.id not in service.node.mempool
    # Asked again (a client's second wait): answered at once, not after its timeout.
    with pytest.raises(ApiError, match="expired"):
        await asyncio.wait_for(service.wait_tx(tx.id_hex), 10)


async def test_a_waiter_whose_caller_gave_up_is_forgotten(service: NodeService, tmp_path: Path) -> None:
    tx = _registration(tmp_path, expires=now_ms() + 60_000)
    service.node.submit(tx)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(service.wait_tx(tx.id_hex), 0.05)  # tx_submit's timeout_ms
    await asyncio.sleep(0)
    assert len(service.waiters) == 0  # on main, Node._waiters kept it until the tx committed


async def test_waiters_are_settled_by_commit_expiry_and_stop() -> None:
    waiters = CommitWaiters()
    committed_id, expired_id, stopped_id = b"\x01" * 32, b"\x02" * 32, b"\x03" * 32
    first, second = waiters.wait(committed_id), waiters.wait(committed_id)
    gone, stopped = waiters.wait(expired_id), waiters.wait(stopped_id)
    committed: Any = SimpleNamespace(block=SimpleNamespace(txs=[SimpleNamespace(id=committed_id)]))
    waiters.committed(committed)
    assert first.result() is committed and second.result() is committed
    expired: Any = SimpleNamespace(id=expired_id, id_hex=expired_id.hex(), body=SimpleNamespace(expires=5))
    waiters.expired([expired])
    assert isinstance(gone.exception(), TxExpired)
    waiters.cancel_all()
    assert stopped.cancelled()
    await asyncio.sleep(0)
    assert len(waiters) == 0
