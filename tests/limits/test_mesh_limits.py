"""Must-show 3: 50 unauthenticated connections to a validator's mesh port, each starting a 16 MiB
frame, are cut at the frame's header (a few KiB are allowed until the handshake completes): the
node's peak memory grows by less than 20 MB and its links to the other validators stay up. The
pending-handshake limit is global as well as per host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import commit_one, reset_peak, status_kb

MIB = 1 << 20


def _frame_header(length: int) -> bytes:
    """A masked binary frame's header announcing ``length`` payload bytes (RFC 6455 5.2)."""
    return bytes([0x82, 0x80 | 127]) + struct.pack("!Q", length) + os.urandom(4)


async def _start_big_frame(url: str, source: str) -> tuple[int, int | None]:
    """Open a link from ``source``, announce a 16 MiB frame and stream its payload until cut.
    Returns (payload bytes written, close code)."""
    written = 0
    async with connect(url, local_addr=(source, 0), max_size=None, open_timeout=20, ping_interval=None) as ws:
        transport = ws.transport
        transport.write(_frame_header(16 * MIB))
        chunk = os.urandom(64 << 10)
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            async with asyncio.timeout(10):
                while written < 4 * MIB and not transport.is_closing():
                    transport.write(chunk)
                    written += len(chunk)
                    await asyncio.sleep(0.005)
                await ws.recv()
        return written, ws.close_code


async def _silent(url: str, source: str) -> int | None:
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        async with connect(url, local_addr=(source, 0), open_timeout=20, ping_interval=None) as ws:
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()  # the node's Hello, then nothing until it hangs up
    return ws.close_code


def _links_lost(net: LocalNet, index: int) -> int:
    return sum(" lost " in line for line in net.log_path(index).read_text().splitlines())


async def test_pre_handshake_frames_are_cut_at_their_header(net: LocalNet, admin: Wallet) -> None:
    url = f"ws://127.0.0.1:{net.base_port + 1}"
    lost_before = _links_lost(net, 1)
    reset_peak(net, 1)
    before = status_kb(net, 1, "VmRSS")
    results = await asyncio.gather(*(_start_big_frame(url, f"127.0.3.{i + 1}") for i in range(50)))
    peak = status_kb(net, 1, "VmHWM")
    codes = [code for _, code in results]
    print(f"\n50 connections announcing 16 MiB frames: close codes {sorted(set(codes))}, "
          f"{sum(w for w, _ in results) / MIB:.1f} MiB written before the cut in all; "
          f"node RSS {before / 1024:.0f} MiB before, peak {peak / 1024:.0f} MiB (+{(peak - before) / 1024:.1f} MiB)")
    assert all(code == 1009 for code in codes), codes
    assert peak - before < 20 * 1024, f"peak memory grew by {(peak - before) / 1024:.1f} MiB"
    assert "16777216-byte frame is too large for a handshake" in net.log_path(1).read_text()

    await commit_one(net, admin, via=1)
    assert _links_lost(net, 1) == lost_before, "the validators' links were disturbed"
    statuses = await net.heights()
    assert all(s["peers"] == 3 for s in statuses.values())


async def test_pending_handshakes_are_capped_across_hosts(net: LocalNet, admin: Wallet) -> None:
    url = f"ws://127.0.0.1:{net.base_port + 1}"
    lost_before = _links_lost(net, 1)
    # 70 silent connections from 70 hosts: each host is under the per-host cap of 8, together they
    # are over the global cap of 64. The excess is refused at once (1013); the rest time out (1008).
    codes = await asyncio.gather(*(_silent(url, f"127.0.4.{i + 1}") for i in range(70)))
    print(f"\n70 silent connections from 70 hosts: {codes.count(1013)} refused busy, "
          f"{codes.count(1008)} timed out")
    assert codes.count(1013) >= 6 and codes.count(1008) <= 64
    assert codes.count(1013) + codes.count(1008) == 70, codes
    await commit_one(net, admin, via=1)
    assert _links_lost(net, 1) == lost_before
