"""One cluster for the resource-limit tests: four real validator processes, each configured for one
kind of abuse (small limits, so that every test runs in seconds), and helpers that read a node's
memory, open files and log size from /proc and its log file.

- v0: open-file limit 1,024 (soft and hard), short head/idle timeouts, a rate limit of 50 calls/s
  (bursts of 100) and a trusted reverse proxy at 127.0.0.4: the connection flood and rate tests;
- v1: default RPC limits: the amplification (batch of chain_getBlock) and mesh tests;
- v2: WebSocket limits of 3 connections per address, 4 subscriptions, a 16-message queue.

The primary (v0 in view 0) waits 1 s for transactions, so submitted bursts make big blocks.
Attackers use other loopback addresses (127.0.0.2 and up; all of 127/8 reaches 127.0.0.1), so
that "another address" is real."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

CHAIN_ID = "warrant-local"
NOFILE = 1024
OVERRIDES: dict[int, dict[str, dict[str, Any]]] = {
    0: {"rpc": {"header_timeout_ms": 2000, "idle_timeout_ms": 2000, "rate": 50, "rate_burst": 100,
                "trusted_proxies": ["127.0.0.4"]}},
    2: {"rpc": {"ws_max_per_address": 3, "ws_max_subscriptions": 4, "ws_queue": 16}},
}


@pytest.fixture(scope="package")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    cluster = LocalNet(Path(tmp_path_factory.mktemp("limits")) / "net", 4)
    try:
        for index in range(4):
            cluster.configure(index, "consensus", {"batch_delay_ms": 1000})
            for section, values in OVERRIDES.get(index, {}).items():
                cluster.configure(index, section, values)
            cluster.start(index, nofile=NOFILE if index == 0 else None)
        asyncio.run(cluster.wait_ready(timeout=60))
        yield cluster
    finally:
        cluster.stop_all()


@pytest.fixture()
def admin(net: LocalNet) -> Wallet:
    return Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)


def pid(net: LocalNet, index: int) -> int:
    return net.procs[index].pid


def status_kb(net: LocalNet, index: int, field: str) -> int:
    """A ``/proc/PID/status`` memory field (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid(net, index)}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc status")


def reset_peak(net: LocalNet, index: int) -> None:
    """Restart VmHWM (the peak resident size) from the current size (Linux clear_refs 5)."""
    Path(f"/proc/{pid(net, index)}/clear_refs").write_text("5")


def open_files(net: LocalNet, index: int) -> int:
    return len(os.listdir(f"/proc/{pid(net, index)}/fd"))


def tcp_peers(net: LocalNet, index: int, port: int) -> list[str]:
    """Remote addresses of the established TCP connections to ``port`` (this node's side of them)."""
    out = []
    for line in Path(f"/proc/{pid(net, index)}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == "01" and int(local.split(":")[1], 16) == port:
            out.append(".".join(str(b) for b in bytes.fromhex(remote.split(":")[0])[::-1]))
    return out


async def metric(net: LocalNet, index: int, name: str) -> float:
    """One sample of the node's /metrics (0 when absent)."""
    url = net.rpc_url(index).removesuffix("/rpc") + "/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        text = await answer.text()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def rpc_from(source: str, url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """POST one JSON-RPC body from the local address ``source``; (HTTP status, decoded answer)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(url, json=body, headers=headers or {}) as answer:
            return answer.status, await answer.json(content_type=None)


async def commit_one(net: LocalNet, admin: Wallet, via: int = 1) -> int:
    """Register an account through validator ``via``; every validator reaches its height. Returns it."""
    key = crypto.generate_key()
    async with net.client(via) as client:
        answer = await client.submit(admin.register_account(key.address, "supplier", "limits"))
    assert answer["result"]["ok"], answer
    await net.wait_height(answer["height"], timeout=60)
    return int(answer["height"])
