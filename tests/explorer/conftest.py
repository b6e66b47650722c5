"""One 4-validator network that has run the demo story (scripts/demo.py's own code) plus a few
accounts of the explorer tests' own, and one headless Chromium for all the browser tests.

Screenshots go to explorer-screenshots/ in the checkout (not committed), or
to $WARRANTCHAIN_SCREENSHOTS.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import ROOT, LocalNet
from scripts.demo import Story, tell_story

MARKUP_NAME = "<img src=x onerror=alert(1)>"
FREEZE_REASON = "<script>alert(2)</script> court order 7"
SMALL_BATCH_NODE = 3  # this validator's RPC takes batches of 2 calls at most (the explorer sends 20)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to its end from a test. Playwright's sync API keeps an event loop of its own in
    this thread, so asyncio.run would refuse here: use a thread of its own."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class Extra:
    """What the explorer tests add to the demo story: a live issuance to an account with a markup name."""

    core: str
    bank: str
    markup: str  # the account named MARKUP_NAME
    issuance: str
    pledged: str  # 200,000.00 CNY, pledged to the bank
    frozen: str  # 100,000.00 CNY, frozen
    document: str  # the invoice backing the issuance
    issue_tx: str
    wallets: dict[str, Wallet] = field(default_factory=dict)


@dataclass
class Network:
    net: LocalNet
    story: Story
    extra: Extra
    admin: Wallet

    def url(self, route: str = "", index: int = 0) -> str:
        return f"{self.net.rpc_url(index)[: -len('/rpc')]}/explorer/#/{route}"


async def _add_extra(net: LocalNet, admin: Wallet) -> Extra:
    chain_id = admin.chain_id
    names = {"core": "Qiantang Motors", "bank": "Hangzhou Trust Bank", "markup": MARKUP_NAME, "regulator": "Regulator Two"}
    roles = {"core": "core", "bank": "financier", "markup": "supplier", "regulator": "regulator"}
    w = {k: Wallet(crypto.generate_key(), chain_id) for k in names}
    async with net.client(1) as client:
        async def ok(tx: Any) -> dict[str, Any]:
            answer = await client.submit(tx, timeout_ms=30_000)
            assert answer["result"]["ok"], answer
            return answer["result"]  # type: ignore[no-any-return]

        for key in names:
            await ok(admin.register_account(w[key].address, roles[key], names[key]))
        await ok(w["bank"].set_credit_line(w["core"].address, 5_000_000_00))
        doc = await _anchor_invoice(ok, w["core"], w["markup"])
        now = int(time.time() * 1000)
        issued = await ok(w["core"].issue(w["markup"].address, 300_000_00, now + 60 * 86_400_000, w["bank"].address,
                                          [{"doc": doc, "amount": 300_000_00}], now + 86_400_000))
        root = issued["events"][0]["warrant"]
        await ok(w["markup"].accept(root))
        pledged, frozen = (await ok(w["markup"].split(root, [200_000_00, 100_000_00])))["events"][0]["children"]
        await ok(w["markup"].request_financing(pledged, w["bank"].address, "pledge", 300, 190_000_00, True))
        await ok(w["bank"].approve_financing(pledged))
        await ok(w["regulator"].freeze(frozen, FREEZE_REASON))
        issue_tx = (await client.call("warrant_get", id=root))["history"][0]["tx"]
    return Extra(w["core"].address, w["bank"].address, w["markup"].address, root, pledged, frozen, doc, issue_tx, w)


async def _anchor_invoice(ok: Any, core: Wallet, seller: Wallet) -> str:
    """The invoice the issuance draws on. Since protocol 0.2 a document names its parties, the
    supplier anchors it and the debtor confirms it; before, the core enterprise's anchoring was enough."""
    if "seller" in inspect.signature(core.anchor_document).parameters:
        anchored = await ok(seller.anchor_document("invoice", "INV-X-1", "REG-X", "cd" * 32, 300_000_00,
                                                   seller=seller.address, buyer=core.address, issuer_reg_kind="other"))
        doc: str = anchored["events"][0]["document"]
        await ok(core.confirm_document(doc))  # type: ignore[attr-defined]
        return doc
    anchored = await ok(core.anchor_document("invoice", "INV-X-1", "REG-X", "cd" * 32, 300_000_00))
    return anchored["events"][0]["document"]  # type: ignore[no-any-return]


@pytest.fixture(scope="package")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    net = LocalNet(tmp_path_factory.mktemp("explorer") / "net", 4, log_level="warning")
    config = net.directory / f"v{SMALL_BATCH_NODE}.toml"
    config.write_text(config.read_text().replace("[rpc]\n", "[rpc]\nmax_batch = 2\n"))
    try:
        net.start_all()
        run(net.wait_ready(timeout=60))
        story = run(tell_story(net, maturity_s=3.0))
        admin = Wallet(crypto.load_key(net.directory / "admin.pem"), "warrant-local")
        extra = run(_add_extra(net, admin))
        yield Network(net, story, extra, admin)
    finally:
        net.stop_all()


@pytest.fixture(scope="package")
def shots() -> Path:
    folder = Path(os.environ.get("WARRANTCHAIN_SCREENSHOTS", ROOT / "explorer-screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# -- the browser, for each test module that drives it -----------------------------------------------

WAIT_MS = 30_000
# Debian's Chromium, installed by scripts/setup-venv; Playwright drives it and downloads nothing.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class Recorder:
    """Everything the pages asked of the node, and anything a page must never do."""

    def __init__(self) -> None:
        self.rpc_methods: list[str] = []
        self.ws_sent: list[Any] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def on_request(self, request: Any) -> None:
        if request.url.endswith("/rpc"):
            body = json.loads(request.post_data or "null")
            for call in body if isinstance(body, list) else [body]:
                self.rpc_methods.append(call["method"])

    def on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup-venv installs Debian's chromium (as root), "
                    "or run `apt-get install chromium`")
    from playwright.sync_api import sync_playwright

    # Module scope: the sync API keeps an event loop running in this thread while it is open,
    # which the async tests of other modules must not meet.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def page(browser: Any, recorder: Recorder) -> Iterator[Any]:
    # Without the node's Content-Security-Policy: Playwright's waits evaluate strings, which it
    # forbids, and the markup test then shows the pages are safe without that second wall.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    page.on("request", recorder.on_request)
    page.on("dialog", recorder.on_dialog)
    page.on("pageerror", lambda error: recorder.errors.append(str(error)))
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: recorder.ws_sent.append(json.loads(payload))))
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def open_page(page: Any, url: str) -> None:
    """Go to ``url`` and wait until its page is drawn: after a change of the hash alone the previous
    page stays ready until the new route starts, so wait for this route's."""
    page.goto(url)
    wait_route(page, url[url.index("#"):] if "#" in url else "#/")


def wait_route(page: Any, route: str) -> None:
    """Wait until the page of ``route`` (a hash, "#/tx/…") is drawn, e.g. after a click on a link."""
    page.wait_for_function("(route) => document.body.dataset.ready === 'yes' && document.body.dataset.route === route",
                           arg=route)


# Verify bundles in the page with verify.js: [[bundle as base64, [(byte offset or -1, new byte)]]],
# the genesis as base64 -> one verdict per alteration.
VERIFY_ALL = """async ([files, genesis]) => {
  const m = await import('/explorer/verify.js');
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const g = await m.loadGenesis(bytes(genesis));
  const out = [];
  for (const [b64, changes] of files) {
    const data = bytes(b64);
    for (const [at, byte] of changes) {
      const copy = data.slice();
      if (at >= 0) copy[at] = byte;
      const r = await m.verifyBundle(copy, g);
      out.push({ok: r.ok, reason: r.reason, amount: r.ok ? r.amount.toString() : null, lineage: r.lineage,
                unproven: r.unproven.length, epochs: r.epochs});
    }
  }
  return out;
}"""
