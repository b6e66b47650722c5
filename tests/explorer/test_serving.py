"""How a node serves the explorer: its files at / and /explorer/ with a strict content policy,
nothing else from the package, off when the config says so; and the pages' code never builds
HTML from strings."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from node.config import load_config
from node.metrics import Metrics
from node.rpc.server import EXPLORER_DIR, RpcServer
from tests.rpc.conftest import FakeNode


async def _served(explorer: bool) -> AsyncIterator[str]:
    server = RpcServer(FakeNode(), Metrics(), explorer=explorer)  # type: ignore[arg-type]
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


@pytest.fixture
async def base() -> AsyncIterator[str]:
    async for url in _served(True):
        yield url


@pytest.fixture
async def base_off() -> AsyncIterator[str]:
    async for url in _served(False):
        yield url


async def test_index_and_modules_are_served_with_a_strict_policy(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/explorer/"):
            async with session.get(base + path) as response:
                assert response.status == 200
                assert response.content_type == "text/html"
                assert '<script type="module" src="/explorer/app.js">' in await response.text()
                policy = response.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy and "unsafe-inline" not in policy
                assert response.headers["X-Content-Type-Options"] == "nosniff"
        for name in sorted(p.name for p in EXPLORER_DIR.glob("*.js")):
            async with session.get(f"{base}/explorer/{name}") as response:
                assert response.status == 200, name
                assert response.content_type in ("application/javascript", "text/javascript"), name
        async with session.get(base + "/explorer/style.css") as response:
            assert response.status == 200 and response.content_type == "text/css"
        # Only the explorer's own folder: not the package's source next to it.
        for path in ("/explorer/../rpc.py", "/explorer/%2e%2e/rpc.py", "/explorer/nothing.js"):
            async with session.get(base + path) as response:
                assert response.status in (403, 404), path
        async with session.get(base + "/health") as response:  # the RPC's own routes are unchanged
            assert response.status == 200


async def test_switched_off_the_node_serves_no_explorer(base_off: str) -> None:
    async with aiohttp.ClientSession() as session:
        for path in ("/", "/explorer/", "/explorer/app.js"):
            async with session.get(base_off + path) as response:
                assert response.status == 404, path
        async with session.get(base_off + "/health") as response:
            assert response.status == 200


def test_config_switch(tmp_path: Path) -> None:
    text = ('[node]\nname = "v0"\ndata_dir = "d"\nkey_file = "k.pem"\ngenesis = "g.json"\n'
            '[p2p]\nlisten = "127.0.0.1:1"\n[rpc]\nlisten = "127.0.0.1:2"\n')
    path = tmp_path / "node.toml"
    path.write_text(text)
    assert load_config(path).rpc.explorer is True
    path.write_text(text + "explorer = false\n")
    assert load_config(path).rpc.explorer is False


def test_no_page_builds_html_from_strings() -> None:
    """Chain data (names, document numbers, reasons) goes into text nodes and attributes only."""
    sink = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|srcdoc"
                      r"|createContextualFragment")
    for path in sorted(EXPLORER_DIR.glob("*.js")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if not line.lstrip().startswith("//"):
                assert not sink.search(line), f"{path.name}:{number}: {line.strip()}"
    html = (EXPLORER_DIR / "index.html").read_text()
    assert "<script>" not in html and not re.search(r"\son[a-z]+\s*=", html)  # no inline script or handler
