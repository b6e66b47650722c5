"""The explorer in a real browser (headless Chromium) against a network that has told the demo
story: what a person sees on the warrant, chain, account, risk and proof pages, and that browsing
never asks the node to change anything."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node.bundles import verify_bundle
from node.kernel import crypto
from node.kernel.genesis import load_genesis, parse_genesis
from node.rpc.methods import METHODS
from node.sdk.localnet import ROOT

from .conftest import (FREEZE_REASON, MARKUP_NAME, SMALL_BATCH_NODE, VERIFY_ALL, WAIT_MS, Network, Recorder, open_page, run,
                       wait_route)

Json = dict[str, Any]


def trace(network: Network, wid: str) -> Json:
    async def fetch() -> Json:
        async with network.net.client(0) as client:
            return await client.call("warrant_trace", id=wid)  # type: ignore[no-any-return]

    return run(fetch())


def flatten(tree: Json) -> list[Json]:
    return [tree, *(w for child in tree.get("children", []) for w in flatten(child))]


def test_lineage_tree_has_exactly_the_traced_warrants_and_holders(page: Any, network: Network, shots: Path) -> None:
    story = network.story
    open_page(page, network.url(f"warrant/{story.root}"))
    page.wait_for_selector("#lineage svg g.lnode")
    page.screenshot(path=str(shots / "warrant-lineage.png"), full_page=True)
    drawn = page.eval_on_selector_all(
        "#lineage g.lnode",
        "nodes => nodes.map(g => ({id: g.dataset.id, holder: g.dataset.holder, status: g.dataset.status,"
        " name: g.querySelector('text.holder').textContent, title: g.querySelector('title').textContent}))")
    expected = {w["id"]: w for w in flatten(trace(network, story.root))}
    assert sorted(d["id"] for d in drawn) == sorted(expected), "the tree must draw each traced warrant once"
    assert len(drawn) == 6  # issuance, split into two, transfer to tier 2, its transfer to tier 3 and remainder
    for d in drawn:
        holder = expected[d["id"]]["holder"]
        assert d["holder"] == holder
        assert d["title"].startswith(f"{story.parties[holder]} holds warrant {d['id']}")
        assert d["name"] == story.parties[holder]
    statuses = {d["id"]: d["status"] for d in drawn}
    assert statuses[story.root] == "consumed"
    assert statuses[story.proof_warrant] == "settled"  # settled at maturity, paid to the bank that factored it
    # Clicking a box opens that warrant.
    page.click(f"#lineage g.lnode[data-id='{story.proof_warrant}']")
    wait_route(page, f"#/warrant/{story.proof_warrant}")
    assert page.locator("#lineage g.lnode.current").get_attribute("data-id") == story.proof_warrant
    assert story.proof_warrant in page.inner_text("main")


def test_a_new_block_appears_without_a_reload(page: Any, network: Network, shots: Path) -> None:
    open_page(page, network.url(""))
    page.wait_for_function("document.getElementById('live').textContent.startsWith('live')")
    page.evaluate("window.__sameDocument = true")
    before = int(page.inner_text("#height"))

    async def commit() -> int:
        async with network.net.client(2) as client:
            tx = network.admin.register_account(crypto.generate_key().address, "supplier", "Live Block Ltd")
            answer = await client.submit(tx)
            return int(answer["height"])

    height = run(commit())
    assert height > before
    page.wait_for_selector(f"#blocks tr[data-height='{height}']")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    page.wait_for_function(f"Number(document.getElementById('height').textContent) >= {height}")
    page.screenshot(path=str(shots / "chain-live.png"), full_page=True)


def test_pages_work_under_the_nodes_content_policy(browser: Any, network: Network) -> None:
    """The other tests bypass the policy (Playwright's waits need eval); here it is enforced."""
    context = browser.new_context()
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    try:
        page.goto(network.url(""))
        page.wait_for_selector("text=live over the WebSocket", timeout=WAIT_MS)
        page.goto(network.url(f"warrant/{network.story.root}"))
        page.wait_for_selector("#lineage g.lnode", timeout=WAIT_MS)
        page.goto(network.url("validators"))  # its records' hash chain is rechecked with WebCrypto
        page.wait_for_selector("#epoch-history td .ok", timeout=WAIT_MS)
    finally:
        context.close()
    assert not [line for line in console if "Content Security Policy" in line], console


def test_a_name_made_of_markup_shows_as_text_and_runs_nothing(page: Any, network: Network, recorder: Recorder,
                                                              shots: Path) -> None:
    extra = network.extra
    open_page(page, network.url(f"account/{extra.markup}"))
    page.screenshot(path=str(shots / "account-markup-name.png"), full_page=True)
    assert page.inner_text("#account-name") == MARKUP_NAME
    assert page.locator("img").count() == 0
    open_page(page, network.url(f"warrant/{extra.frozen}"))
    page.screenshot(path=str(shots / "warrant-frozen-and-pledged.png"), full_page=True)
    assert page.locator("img, script:not([src])").count() == 0
    shown = dict(page.eval_on_selector_all("#lineage g.lnode", "gs => gs.map(g => [g.dataset.id, g.dataset.status])"))
    assert shown == {extra.issuance: "consumed", extra.pledged: "pledged", extra.frozen: "frozen"}
    names = page.eval_on_selector_all("#lineage text.holder", "ts => ts.map(t => t.textContent)")
    assert names.count(MARKUP_NAME) == 3  # the issuance and both parts of its split
    assert FREEZE_REASON in page.inner_text("main")
    open_page(page, network.url("search/" + "%3Cimg"))
    assert MARKUP_NAME in page.inner_text("main")
    assert page.locator("img").count() == 0
    assert recorder.dialogs == [], "a name from the chain ran as script"


def test_risk_view_figures(page: Any, network: Network, shots: Path) -> None:
    extra = network.extra
    open_page(page, network.url("risk"))
    page.screenshot(path=str(shots / "risk.png"), full_page=True)
    rows = page.eval_on_selector_all(
        "#risk-cores tbody tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))")
    head = page.eval_on_selector_all("#risk-cores thead th", "ths => ths.map(th => th.textContent)")
    cores = {row[0]: dict(zip(head, row)) for row in rows}
    core = cores["Qiantang Motors"]
    assert core["Credit lines"] == "5,000,000.00 CNY"
    assert core["Used"] == "300,000.00 CNY"
    assert core["Outstanding"] == "300,000.00 CNY"
    assert core["due in 31–90 days"] == "300,000.00 CNY"  # matures 60 days after issuance
    assert core["Frozen"] == "100,000.00 CNY"
    assert core["Financed share"] == "66.67%"  # 200,000.00 pledged of 300,000.00
    demo = cores["Huaxin Motors (core enterprise)"]
    assert demo["Outstanding"] == "0.00 CNY"  # the story settles everything it issued
    financiers = page.eval_on_selector_all(
        "#risk-financiers tbody tr", "trs => trs.map(tr => [...tr.children].map(td => td.textContent))")
    bank = next(row for row in financiers if row[0] == "Hangzhou Trust Bank")
    assert bank[1:4] == ["200,000.00 CNY", "0.00 CNY", "200,000.00 CNY"]  # exposure, held, pledged
    assert "Financed share" in page.inner_text("dl.defs")


@pytest.fixture(scope="module")
def exported(network: Network, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The story's proof bundle as `warrant proof export` writes it, and the genesis file."""
    out = tmp_path_factory.mktemp("proof") / "proof.json"
    done = subprocess.run([sys.executable, "-m", "node.cli.warrant", "--rpc", network.net.rpc_url(3), "proof", "export",
                           network.story.proof_warrant, "--out", str(out)], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return out, network.net.directory / "genesis.json"


def cli_verify(bundle: Path, genesis: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.warrant", "proof", "verify", str(bundle), "--genesis", str(genesis)],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)


def test_proof_page_says_valid_then_invalid(page: Any, network: Network, exported: tuple[Path, Path], shots: Path,
                                            tmp_path: Path) -> None:
    bundle, genesis = exported
    open_page(page, network.url("proof"))
    page.set_input_files("#genesis-file", str(genesis))
    page.set_input_files("#bundle-file", str(bundle))
    page.wait_for_selector("#verdict.valid")
    verdict = page.inner_text("#verdict")
    assert verdict.startswith(f"VALID: warrant {network.story.proof_warrant} of 150,000.00 CNY"), verdict
    steps = page.inner_text("#steps")
    for word in ("shape", "headers", "transaction issue", "lineage", "certificates", "signatures"):
        assert word in steps
    page.screenshot(path=str(shots / "proof-valid.png"), full_page=True)
    data = bundle.read_bytes()
    at = data.index(b'"sig":"') + len(b'"sig":"') + 5
    altered = tmp_path / "altered.json"
    altered.write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
    page.set_input_files("#bundle-file", str(altered))
    page.wait_for_selector("#verdict.invalid")
    assert page.inner_text("#verdict").startswith("INVALID: ")
    page.screenshot(path=str(shots / "proof-invalid.png"), full_page=True)
    assert cli_verify(altered, genesis).returncode == 1
    # Dropped on the page, as a person would: both files at once.
    page.evaluate("""([bundle, genesis]) => {
      const file = (b64, name) => new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name);
      const drop = new DataTransfer();
      drop.items.add(file(genesis, 'genesis.json'));
      drop.items.add(file(bundle, 'proof.json'));
      document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: drop, bubbles: true}));
    }""", [base64.b64encode(data).decode(), base64.b64encode(genesis.read_bytes()).decode()])
    page.wait_for_selector("#verdict.valid")
    assert page.inner_text("#bundle-name").startswith("proof.json")


def test_proof_page_offers_the_nodes_bundle_as_the_cli_exports_it(page: Any, network: Network,
                                                                   exported: tuple[Path, Path]) -> None:
    bundle, genesis = exported
    open_page(page, network.url(f"proof/{network.story.proof_warrant}"))
    with page.expect_download() as download:
        page.click("#download")
    # From the node that served the page (each node keeps the certificates it collected), and now:
    # the chain moved on since `exported`.
    again = bundle.with_name("again.json")
    done = subprocess.run([sys.executable, "-m", "node.cli.warrant", "--rpc", network.net.rpc_url(0), "proof", "export",
                           network.story.proof_warrant, "--out", str(again)], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert Path(download.value.path()).read_bytes() == again.read_bytes()
    page.set_input_files("#genesis-file", str(genesis))
    page.click("#use-node-bundle")
    page.wait_for_selector("#verdict.valid")


def _python_verdict(data: bytes, genesis: Any) -> Json:
    """What `warrant proof verify` decides (node/cli/warrant.py: json.loads, then verify_bundle)."""
    try:
        report = verify_bundle(json.loads(data), genesis)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {"ok": False}
    return {"ok": report.ok, "amount": str(report.amount) if report.ok else None,
            "lineage": report.lineage if report.ok else [], "unproven": len(report.unproven)}


def test_browser_and_cli_agree_on_good_and_altered_bundles(page: Any, network: Network,
                                                            exported: tuple[Path, Path]) -> None:
    bundle_path, genesis_path = exported
    genesis = load_genesis(genesis_path)
    data = bundle_path.read_bytes()
    rnd = random.Random(17)
    # The exported file, unaltered and with 300 single-byte changes: a random position, and a byte
    # of the same kind (digit, hex, letter, punctuation) half the time so the JSON often stays valid.
    kinds = [b"0123456789", b"0123456789abcdef", b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", b'{}[],:" -.\\']
    changes = [(-1, 0)]
    for _ in range(300):
        at = rnd.randrange(len(data))
        same = [k for k in kinds if data[at] in k]
        pool = same[0] if same and rnd.random() < 0.5 else bytes(range(256))
        changes.append((at, rnd.choice([b for b in pool if b != data[at]])))
    # The same bundle pretty-printed: changing white space keeps it valid for both, other bytes not.
    pretty = json.dumps(json.loads(data), indent=1).encode()
    spaces = [i for i, b in enumerate(pretty) if b in b" \n"]
    pretty_changes = [(-1, 0)] + [(rnd.choice(spaces), rnd.choice(b"\t\r ")) for _ in range(10)] + \
                     [(rnd.randrange(len(pretty)), rnd.randrange(256)) for _ in range(20)]
    # A bundle whose last result is not yet certified: valid but incomplete, for both.
    bundle = json.loads(data)
    last = bundle["transactions"][-1]
    bundle["transactions"][-1] = {k: v for k, v in last.items() if k not in ("result", "result_proof")}
    pending = json.dumps(bundle).encode()
    files = [(data, changes), (pretty, pretty_changes), (pending, [(-1, 0)])]

    in_browser = page.evaluate(VERIFY_ALL, [[[base64.b64encode(d).decode(), c] for d, c in files],
                                             base64.b64encode(genesis_path.read_bytes()).decode()])
    disagree = []
    valid = 0
    altered = 0
    k = 0
    for content, file_changes in files:
        for at, byte in file_changes:
            copy = bytearray(content)
            if at >= 0:
                copy[at] = byte
                altered += 1 if byte != content[at] else 0
            expected = _python_verdict(bytes(copy), genesis)
            got = in_browser[k]
            k += 1
            valid += expected["ok"]
            details = ("amount", "lineage", "unproven")
            same = got["ok"] == expected["ok"] and (not got["ok"] or all(got[f] == expected[f] for f in details))
            if not same:
                disagree.append((at, byte, expected, got))
    print(f"\n{k} bundles ({altered} single-byte alterations): {valid} valid, {k - valid} invalid; "
          f"{len(disagree)} disagreements")
    assert not disagree, disagree[:5]
    assert altered >= 300
    assert k - valid >= 300 and valid >= 3
    # And `warrant proof verify` itself on a few of them, as files.
    for index, (at, byte) in enumerate(changes[:6]):
        copy = bytearray(data)
        if at >= 0:
            copy[at] = byte
        path = bundle_path.with_name(f"case{index}.json")
        path.write_bytes(bytes(copy))
        assert (cli_verify(path, genesis_path).returncode == 0) == in_browser[index]["ok"]


def test_browser_hashes_a_genesis_file_as_the_node_does(page: Any, network: Network) -> None:
    """Defaults filled in (docs/PROTOCOL.md section 8), any white space, escapes and non-ASCII names."""
    document = json.loads((network.net.directory / "genesis.json").read_bytes())
    variants = [document, {k: v for k, v in document.items() if k not in ("params", "accounts")},
                {**document, "params": {"checkpoint_interval": 5}},
                {**document, "params": {"checkpoint_interval": 5, "governance_quorum": 1}},  # set: in the hash
                {**document, "admins": [{**document["admins"][0], "name": "Admin é中 \U0001f600 \"q\" \\ \t"}]}]
    files = [json.dumps(v, indent=2, ensure_ascii=i % 2 == 0).encode() for i, v in enumerate(variants)]
    hashes = page.evaluate("""async (files) => {
      const m = await import('/explorer/verify.js');
      const out = [];
      for (const b64 of files) out.push((await m.loadGenesis(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)))).hash);
      return out;
    }""", [base64.b64encode(f).decode() for f in files])
    assert hashes == [parse_genesis(f).hash().hex() for f in files]
    assert len(set(hashes)) == 4  # leaving out the defaults changes nothing; a governance quorum, even 1, does


def test_pages_work_within_a_nodes_smaller_batch_limit(page: Any, network: Network) -> None:
    figures = []
    for index in (0, SMALL_BATCH_NODE):
        open_page(page, network.url("risk", index))
        figures.append(page.inner_text("#risk-cores") + page.inner_text("#risk-financiers"))
    assert "Qiantang Motors" in figures[1] and figures[0] == figures[1]
    open_page(page, network.url(f"account/{network.extra.bank}", SMALL_BATCH_NODE))
    assert "request_financing" in page.inner_text("main")


def test_browsing_never_asked_the_node_to_change_anything(page: Any, network: Network, recorder: Recorder,
                                                          shots: Path) -> None:
    # Visit what the other tests did not, then look at every call the pages made.
    extra = network.extra
    for route in ("block/5", f"tx/{extra.issue_tx}", f"document/{extra.document}", "search/INV-X-1"):
        open_page(page, network.url(route))
        page.screenshot(path=str(shots / f"{route.split('/')[0]}.png"), full_page=True)
        assert "Not found" not in page.inner_text("h1") and "went wrong" not in page.inner_text("h1"), route
    assert page.locator(f"a[href='#/document/{extra.document}']").count() == 1  # the search found the invoice
    asked = set(recorder.rpc_methods)
    queries = {name for name in METHODS if name != "tx_submit"}
    assert asked and asked <= queries, asked - queries
    assert {"chain_status", "chain_getBlock", "warrant_trace", "warrant_proof", "account_get"} <= asked
    assert all(frame.get("method") == "subscribe" for frame in recorder.ws_sent), recorder.ws_sent
    assert recorder.errors == [], recorder.errors
    print(f"\n{len(recorder.rpc_methods)} calls of {len(asked)} methods, all queries: {sorted(asked)}")
