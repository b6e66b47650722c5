"""The `warrant` command line drives a whole warrant story against a local 4-validator cluster.

Every step is a separate `python -m node.cli.warrant` process signing with its own key file, as an
enterprise would run it; nothing is signed in the test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from node.sdk.localnet import ROOT, LocalNet
from tests.integration.conftest import net  # noqa: F401  (the fixture)
from tests.readable import assert_readable

MATURITY_S = 20  # long enough for the steps before settlement, even on a loaded machine


class Cli:
    """Runs `warrant` against one node with key files in ``keys``."""

    def __init__(self, net: LocalNet, keys: Path) -> None:  # noqa: F811  (a parameter, not the fixture)
        self.rpc = net.rpc_url(1)
        self.keys = keys

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "node.cli.warrant", "--rpc", self.rpc, *args],
                              capture_output=True, text=True, cwd=ROOT, timeout=90, check=False)
        assert proc.returncode == expect, f"warrant {' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc

    def tx(self, signer: str, command: str, *args: str) -> dict[str, Any]:
        """Sign as ``signer`` and return the committed result's events."""
        proc = self.run("--json", command, "--key", str(self.keys / f"{signer}.pem"), *args)
        answer = json.loads(proc.stdout)
        assert answer["status"] == "committed" and answer["result"]["ok"], answer
        return answer["result"]["events"]  # type: ignore[no-any-return]

    def query(self, *args: str) -> Any:
        text = self.run(*args).stdout  # what a person reads ...
        assert_readable(text, f"warrant {' '.join(args)}")
        return json.loads(self.run("--json", *args).stdout)  # ... and the machine form


def test_a_warrant_story_end_to_end(net: LocalNet, tmp_path: Path) -> None:  # noqa: F811
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "admin.pem").write_bytes((net.directory / "admin.pem").read_bytes())
    cli = Cli(net, keys)
    address = {}
    for name in ("core", "supplier", "supplier2", "bank", "regulator"):
        made = json.loads(cli.run("--json", "keygen", "--out", str(keys / f"{name}.pem")).stdout)
        address[name] = made["address"]
        assert cli.run("address", "--key", str(keys / f"{name}.pem")).stdout.strip() == made["address"]

    # The alliance admin registers the members.
    roles = {"core": "core", "supplier": "supplier", "supplier2": "supplier", "bank": "financier", "regulator": "regulator"}
    for name, role in roles.items():
        cli.tx("admin", "register-account", address[name], "--role", role, "--name", f"{name} Ltd")
    assert cli.query("account", address["bank"])["role"] == "financier"

    # Credit line, invoice, issuance and acceptance.
    cli.tx("bank", "credit-line", "--core", address["core"], "--limit", "5000000.00")
    invoice = tmp_path / "invoice.pdf"
    invoice.write_bytes(b"%PDF-1.7 invoice INV-2026-001")
    # The supplier anchors its invoice; a variant of the same key is refused; the core confirms it.
    anchor = ("anchor", "--type", "invoice", "--issuer-reg-id", "91310000MA1FL2026R", "--total", "400000.00",
              "--seller", address["supplier"], "--buyer", address["core"])
    doc = cli.tx("supplier", *anchor, "--number", "INV-2026-001", "--file", str(invoice))[0]["document"]
    refused = cli.run(*anchor, "--key", str(keys / "supplier.pem"), "--number", "inv\u20112026-001 ", "--hash", "ee" * 32,
                      expect=1)
    assert "DOCUMENT_EXISTS" in refused.stderr
    assert cli.query("document", doc)["status"] == "unconfirmed"
    cli.tx("core", "confirm-document", doc)
    maturity = int(time.time() * 1000) + MATURITY_S * 1000
    w0 = cli.tx("core", "issue", "--to", address["supplier"], "--amount", "400000.00", "--maturity", str(maturity),
                "--credit-line", address["bank"], "--doc", doc)[0]["warrant"]
    cli.tx("supplier", "accept", w0)

    # Split, transfer a part down the chain, finance another part.
    w1, w2 = cli.tx("supplier", "split", w0, "250000.00", "15000000fen")[0]["children"]
    w3, w4 = cli.tx("supplier", "transfer", w1, "--to", address["supplier2"], "--amount", "100000.00")[0]["children"]
    cli.tx("supplier2", "accept", w3)
    cli.tx("supplier", "finance-request", w2, "--financier", address["bank"], "--mode", "transfer",
           "--advance", "145000.00", "--discount-bps", "300", "--recourse")
    cli.tx("bank", "finance-approve", w2)
    assert cli.query("warrant", w2)["holder"] == address["bank"]

    # The regulator freezes a part: it can't move until unfrozen; the refusal names the ledger code.
    cli.tx("regulator", "freeze", w3, "--reason", "court order 2026-17")
    refused = cli.run("transfer", "--key", str(keys / "supplier2.pem"), w3, "--to", address["supplier"],
                      "--amount", "10.00", expect=1)
    assert "WARRANT_FROZEN" in refused.stderr
    assert_readable(refused.stderr, "a refused transfer")
    cli.tx("regulator", "unfreeze", w3, "--reason", "order lifted")

    # Settlement at maturity: block time comes from the proposer's clock (this machine), so once
    # our clock passes maturity the next block's time does too.
    if time.time() * 1000 < maturity - 5000:  # early enough that the block time is surely before it
        early = cli.run("settle", "--key", str(keys / "core.pem"), w0, expect=1)
        assert "NOT_MATURED" in early.stderr
        assert_readable(early.stderr, "an early settlement")
    while time.time() * 1000 <= maturity:
        time.sleep(min(0.2, max(0.0, maturity / 1000 - time.time()) + 0.01))
    settled = cli.tx("core", "settle", w0)[0]
    assert settled["amount"] == 400_000_00
    assert {p["warrant"]: p["amount"] for p in settled["payments"]} == {w3: 100_000_00, w4: 150_000_00, w2: 150_000_00}
    # A refused transaction after it (mark-overdue of a consumed warrant) also certifies its result.
    refused = cli.run("mark-overdue", "--key", str(keys / "supplier.pem"), w0, expect=1)
    assert "WARRANT_TERMINAL" in refused.stderr

    # Queries.
    assert cli.query("credit", "--financier", address["bank"], "--core", address["core"])["used"] == 0
    assert cli.query("document", "--type", "invoice", "--number", "INV-2026-001", "--issuer-reg-id",
                     "91310000MA1FL2026R")["id"] == doc
    assert cli.query("documents", address["supplier"])["documents"][0]["status"] == "confirmed"
    assert cli.query("allocations", doc)["allocations"][0]["warrant"] == w0
    assert cli.query("holdings", address["supplier2"])["held"] == []
    status = cli.query("status")
    block = cli.query("block", str(status["height"]))
    assert cli.query("block", block["hash"]) == block
    assert cli.query("tx", cli.query("warrant", w3)["history"][-1]["tx"])["result"]["ok"]

    # The lineage as a tree.
    tree = cli.run("trace", w3).stdout
    print(tree)
    assert "├── " in tree and "└── " in tree and "◀" in tree
    assert "400,000.00 CNY  consumed" in tree and "100,000.00 CNY  settled" in tree and "supplier2 Ltd" in tree
    assert_readable(tree, "warrant trace")

    # The proof: exported from one node, verified offline from the genesis file alone.
    proof = tmp_path / "w3.proof.json"
    print(cli.run("proof", "export", w3, "--out", str(proof)).stdout)
    verified = cli.run("proof", "verify", str(proof), "--genesis", str(net.directory / "genesis.json"))
    assert verified.stdout.startswith(f"VALID: warrant {w3}")
    assert "settle" in verified.stdout and "amount 100,000.00 CNY" in verified.stdout
    assert_readable(verified.stdout, "warrant proof verify")
    as_json = json.loads(cli.run("--json", "proof", "verify", str(proof), "--genesis",
                                 str(net.directory / "genesis.json")).stdout)
    assert as_json["valid"] and as_json["complete"] and as_json["warrant"] == w3 and as_json["amount"] == 100_000_00
