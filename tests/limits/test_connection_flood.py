"""Must-show 1: 2,000 idle or half-sent connections against a node whose open-file limit is
1,024. A normal client is still served, the network keeps committing, the idle connections are
closed by the timeouts, and the node's log stays under 1 MB. v0 runs with RLIMIT_NOFILE 1,024
(soft and hard) and 2 s head and idle timeouts."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import NOFILE, commit_one, open_files, rpc_from, tcp_peers

HALF_HEAD = b"POST /rpc HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"  # no blank line: unfinished
ATTACKERS = 40


async def _open(port: int, i: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, local_addr=(f"127.0.5.{i % ATTACKERS + 1}", 0)), 30)
    except (OSError, TimeoutError):
        return None
    if i % 2:
        with contextlib.suppress(OSError):
            writer.write(HALF_HEAD)
    return reader, writer


async def _fate(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None, deadline: float) -> str:
    """How the node ended a connection: the status line it wrote, "closed" without one, "open"."""
    if conn is None:
        return "not connected"
    reader, writer = conn
    try:
        async with asyncio.timeout(max(0.1, deadline - time.monotonic())):
            data = await reader.read()
            while chunk := await reader.read():
                data += chunk
        return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed"
    except TimeoutError:
        return "open"
    except OSError:
        return "reset"
    finally:
        writer.close()


async def test_two_thousand_idle_or_half_sent_connections(net: LocalNet, admin: Wallet) -> None:
    port = net.base_port + 100
    log_before = net.log_path(0).stat().st_size
    peak_files = 0
    sampling = True

    async def sample() -> None:
        nonlocal peak_files
        while sampling:
            peak_files = max(peak_files, open_files(net, 0))
            await asyncio.sleep(0.1)

    sampler = asyncio.ensure_future(sample())
    gate = asyncio.Semaphore(250)

    async def open_one(i: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        async with gate:
            return await _open(port, i)

    started = time.monotonic()
    conns = await asyncio.gather(*(open_one(i) for i in range(2000)))
    opened = time.monotonic() - started

    # A normal client (another address) is served while the flood is on, and the network commits.
    status, answer = await rpc_from("127.0.0.1", net.rpc_url(0), {"jsonrpc": "2.0", "id": 1, "method": "chain_status"})
    assert status == 200 and "result" in answer, answer
    height = await commit_one(net, admin, via=1)
    assert (await net.heights([0]))[0]["height"] >= height

    # The node ends every attacking connection it accepted: refused, evicted, or closed by a
    # timeout. (A client can still believe it is connected if the kernel never handed its
    # connection to the node: the accept queue was full and the kernel dropped it silently.)
    async def attackers_gone() -> bool:
        return not [peer for peer in tcp_peers(net, 0, port) if peer.startswith("127.0.5.")]

    await net.wait_for(attackers_gone, 30, "the node to close every attacking connection")
    sampling = False
    await sampler
    files_after = open_files(net, 0)
    fates = collections.Counter(await asyncio.gather(*(_fate(c, time.monotonic() + 1) for c in conns)))
    grown = net.log_path(0).stat().st_size - log_before
    new_log = net.log_path(0).read_bytes()[log_before:]
    print(f"\n2000 connections opened in {opened:.1f}s; node open files peaked at {peak_files} (limit {NOFILE}), "
          f"{files_after} after; what the clients saw: {dict(fates)} ('open': never accepted by the kernel); "
          f"log grew by {grown} bytes")
    assert peak_files < NOFILE and files_after < 100
    assert fates["HTTP/1.1 408 Request Timeout"] > 0, "half-sent heads are answered 408 when their time is up"
    assert grown < 1 << 20 and b"Traceback" not in new_log
    assert b"out of system resource" not in new_log
