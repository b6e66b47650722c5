"""Must-show 5: a request flood from one address gets HTTP 429 and RATE_LIMITED (1007, with
retry_after_ms) while another address is served normally; behind a trusted proxy the client is
the address X-Forwarded-For names, not the proxy."""

from __future__ import annotations

import asyncio

import aiohttp

from node.sdk.localnet import LocalNet

from .conftest import rpc_from

STATUS = {"jsonrpc": "2.0", "method": "chain_status", "id": 1}


async def _flood(source: str, url: str, calls: int, headers: dict[str, str] | None = None) -> list[tuple[int, dict]]:
    """``calls`` concurrent calls over 16 keep-alive connections (under the per-address connection cap)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one() -> tuple[int, dict]:
            async with session.post(url, json=STATUS, headers=headers or {}) as answer:
                return answer.status, await answer.json(content_type=None)

        return list(await asyncio.gather(*(one() for _ in range(calls))))


async def test_a_flood_from_one_address_is_limited_while_another_is_served(net: LocalNet) -> None:
    url = net.rpc_url(0)  # 50 calls/s, bursts of 100
    flood = asyncio.ensure_future(_flood("127.0.0.2", url, 300))
    served = []
    for _ in range(10):  # another address, at a modest pace, during the flood
        served.append(await rpc_from("127.0.0.1", url, STATUS))
        await asyncio.sleep(0.05)
    answers = await flood
    limited = [body for status, body in answers if status == 429]
    ok = [body for status, body in answers if status == 200 and "result" in body]
    print(f"\nflood from 127.0.0.2: {len(answers)} calls, {len(ok)} answered, {len(limited)} got 429; "
          f"127.0.0.1: {sum(s == 200 for s, _ in served)}/{len(served)} answered")
    assert len(limited) >= 150, "most of a 300-call burst over a 100-call bucket must be refused"
    assert ok, "the burst allowance is served"
    error = limited[0]["error"]
    assert error["code"] == 1007 and error["data"]["reason"] == "RATE_LIMITED"
    assert 0 < error["data"]["retry_after_ms"] <= 1000 and "retry in" in error["message"]
    assert all(status == 200 and "result" in body for status, body in served), served


async def test_a_batch_counts_as_its_calls(net: LocalNet) -> None:
    batch = [{**STATUS, "id": i} for i in range(100)]
    first = await rpc_from("127.0.0.5", net.rpc_url(0), batch)
    second = await rpc_from("127.0.0.5", net.rpc_url(0), batch)
    assert first[0] == 200 and len(first[1]) == 100
    assert second[0] == 429 and second[1]["error"]["code"] == 1007  # the bucket of 100 is spent


async def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(net: LocalNet) -> None:
    url = net.rpc_url(0)  # trusted_proxies = ["127.0.0.4"]
    # A client's own X-Forwarded-For entries (left of what the proxy appended) are not believed.
    spoofed = {"X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    answers = await _flood("127.0.0.4", url, 250, spoofed)
    assert sum(status == 429 for status, _ in answers) >= 100
    other = await rpc_from("127.0.0.4", url, STATUS, {"X-Forwarded-For": "203.0.113.10"})
    assert other[0] == 200 and "result" in other[1], other
    # From an address that is not a trusted proxy, the header changes nothing.
    direct = await _flood("127.0.0.6", url, 250, {"X-Forwarded-For": "203.0.113.11"})
    assert sum(status == 429 for status, _ in direct) >= 100
