"""Every `warrant` command, in text and in --json, against a node that runs the real ledger.

The node here is the ledger of tests.ledger.world behind the real RPC server (no consensus: each
transaction is its own block), in a thread, so the command line runs in-process and fast. Every
command is run twice from the same state: as text, which must read as a person reads (no fen,
epoch milliseconds, Python reprs or regexes), and with --json, which must be JSON and nothing else.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.cli.warrant import main
from node.kernel import codec, crypto
from node.kernel.chain import SignedTx
from node.ledger import epochs, governance, queries
from node.metrics import Metrics
from node.rpc.api import NodeStatus
from node.rpc.server import RpcLimits, RpcServer
from tests.ledger.world import CHAIN_ID, REG_ID, governed_world
from tests.rpc.threaded import serving
from tests.readable import assert_readable

Json = dict[str, Any]


class LedgerNode:
    """node.rpc.methods.NodeAPI over a World; block time is this machine's clock plus ``offset_ms``."""

    def __init__(self) -> None:
        self.world = governed_world(quorum=2)  # three admins, two needed for a validator set change
        self.offset_ms = 0
        self.txs: dict[str, Json] = {}

    def snapshot(self) -> Any:
        w = self.world
        return dict(w.reader.data), w.height, w.root, dict(self.txs)

    def restore(self, snap: Any) -> None:
        w = self.world
        data, w.height, w.root, self.txs = snap
        w.reader.data.clear()
        w.reader.data.update(data)

    async def status(self) -> NodeStatus:
        w = self.world
        return NodeStatus(chain_id=CHAIN_ID, height=w.height, block_hash="00" * 32, state_root=w.root.hex(), view=0,
                          validators=1, peers=0, mempool_size=0, in_sync=True)

    async def submit_tx(self, tx: SignedTx) -> None:
        if tx.id_hex not in self.txs:
            self.world.time = int(time.time() * 1000) + self.offset_ms
            result = self.world.block([tx])[0]
            self.txs[tx.id_hex] = {"id": tx.id_hex, "status": "committed", "height": self.world.height, "index": 0,
                                   "result": result, "tx": codec.decode(tx.raw)}

    async def wait_tx(self, tx_id: str) -> Json:
        return self.txs[tx_id]

    async def get_tx(self, tx_id: str) -> Json | None:
        return self.txs.get(tx_id)

    async def get_block(self, *, height: int | None = None, block_hash: str | None = None, **page: Any) -> Json | None:
        h = height if height is not None else 1
        return {"hash": f"{h:064x}", "header": {"height": h, "time_ms": self.world.time, "txs": 1}, "txs": [],
                "certificate": None}

    async def validators(self) -> list[Json]:
        return []

    async def warrant(self, warrant_id: str) -> Json | None:
        return queries.get_warrant(self.world.reader, warrant_id)

    async def warrant_trace(self, warrant_id: str) -> Json | None:
        return queries.lineage(self.world.reader, warrant_id)

    async def warrant_descendants(self, warrant_id: str, after: str | None, limit: int) -> Json | None:
        return queries.descendants(self.world.reader, warrant_id, after, limit)

    async def warrant_proof(self, warrant_id: str) -> Json | None:
        return {"version": 1, "warrant": warrant_id, "transactions": [], "headers": []}

    async def account(self, address: str) -> Json | None:
        return queries.get_account(self.world.reader, address)

    async def holdings(self, address: str, *, offset: int = 0, limit: int = 1000) -> Json | None:
        return queries.holdings(self.world.reader, address, offset=offset, limit=limit)

    async def document(self, *, doc_id: str) -> Json | None:
        return queries.get_document(self.world.reader, doc_id)

    async def document_allocations(self, doc_id: str) -> Json | None:
        return queries.document_allocations(self.world.reader, doc_id)

    async def account_documents(self, address: str, limit: int, after: str | None) -> Json | None:
        return queries.account_documents(self.world.reader, address, limit, after)

    async def credit(self, *, financier: str, core: str) -> Json | None:
        return queries.get_credit_line(self.world.reader, core, financier)

    async def validator_set(self, height: int | None) -> Json:
        w = self.world
        return epochs.validator_set_query(w.reader, w.height + 1 if height is None else height, w.height,
                                          w.params.checkpoint_interval)

    async def validator_history(self) -> Json:
        return epochs.validator_history_query(self.world.reader, self.world.height)

    async def governance_proposals(self, status: str | None, limit: int) -> Json:
        return {"required": self.world.params.approvals_required,
                "proposals": governance.list_proposals(self.world.reader, status, limit)}


@pytest.fixture
def served() -> Iterator[tuple[LedgerNode, str]]:
    node = LedgerNode()
    with serving(RpcServer(node, Metrics(protocol_version="test"), "127.0.0.1", 0, RpcLimits())) as base:
        yield node, f"{base}/rpc"


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(list(argv))
        except SystemExit as exc:  # argparse usage errors
            status = int(exc.code or 0)
    return status, out.getvalue(), err.getvalue()


def test_every_command_reads_as_text_and_parses_as_json(served: tuple[LedgerNode, str], tmp_path: Path) -> None:
    node, url = served
    w = node.world
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("admin", "admin2", "core", "sup1", "sup2", "bank", "bank2", "reg"):
        crypto.save_key(keys / f"{name}.pem", w.keys[name])
    seen: set[str] = set()

    def both(*argv: str, expect: int = 0, key: str | None = None) -> Any:
        """Run ``argv`` as text on a copy of the state, then with --json for real; return the JSON."""
        command = argv[0] if argv[0] not in ("proof", "governance") else f"{argv[0]} {argv[1]}"
        seen.add(command)
        args = [*argv, "--key", str(keys / f"{key}.pem")] if key else list(argv)
        snap = node.snapshot()
        status, out, err = _run("--rpc", url, *args)
        assert status == expect, (args, out, err)
        assert_readable(out + err, f"warrant {' '.join(argv)}")
        node.restore(snap)
        status, out, err = _run("--rpc", url, "--json", *args)
        assert status == expect, (args, out, err)
        return json.loads(out)  # the machine form and nothing else on stdout

    # keys
    status, text, _ = _run("keygen", "--out", str(tmp_path / "a.pem"))
    assert status == 0 and "address" in text
    assert_readable(text, "warrant keygen")
    status, made, _ = _run("--json", "keygen", "--out", str(tmp_path / "b.pem"))
    assert status == 0 and json.loads(made)["address"] == crypto.load_key(tmp_path / "b.pem").address
    seen.add("keygen")
    assert both("address", key="sup1")["address"] == w.addr("sup1")

    newcomer = crypto.generate_key().address
    both("register-account", newcomer, "--role", "supplier", "--name", "Newco Ltd", key="admin")
    both("set-role", newcomer, "--role", "financier", key="admin")
    both("credit-line", "--core", w.addr("core"), "--limit", "5000000.00", key="bank")
    anchored = both("anchor", "--type", "invoice", "--number", "INV-9", "--issuer-reg-id", REG_ID,
                    "--hash", "ab" * 32, "--total", "1234567.89", "--seller", w.addr("sup1"),
                    "--buyer", w.addr("core"), key="sup1")
    doc = anchored["result"]["events"][0]["document"]
    both("confirm-document", doc, key="core")
    issued = both("issue", "--to", w.addr("sup1"), "--amount", "1234567.89", "--maturity", "+30m",
                  "--credit-line", w.addr("bank"), "--doc", doc, key="core")
    root = issued["result"]["events"][0]["warrant"]
    both("reject", root, key="sup1")  # as text on a copy; the --json run below then really rejects ...
    issued = both("issue", "--to", w.addr("sup1"), "--amount", "1234567.89", "--maturity", "+30m",
                  "--credit-line", w.addr("bank"), "--doc", doc, key="core")
    root = issued["result"]["events"][0]["warrant"]  # ... so a second issuance carries the story on
    both("accept", root, key="sup1")
    a, b = both("split", root, "1000000.00", "234567.89", key="sup1")["result"]["events"][0]["children"]
    sent = both("transfer", a, "--to", w.addr("sup2"), "--amount", "400000.00", key="sup1")
    offered = sent["result"]["events"][0]["offered"]
    both("accept", offered, key="sup2")
    both("finance-request", b, "--financier", w.addr("bank"), "--mode", "pledge", "--advance", "200000.00",
         "--discount-bps", "300", key="sup1")
    both("finance-reject", b, key="bank")
    both("finance-request", b, "--financier", w.addr("bank"), "--mode", "pledge", "--advance", "200000.00",
         key="sup1")
    both("finance-approve", b, key="bank")
    both("release-pledge", b, key="bank")
    both("dispute-document", doc, "--reason", "buyer says goods not delivered", key="reg")
    both("undispute-document", doc, "--reason", "delivery proven", key="reg")
    both("freeze", offered, "--reason", "court order 2026-17", key="reg")
    both("unfreeze", offered, "--reason", "order lifted", key="reg")
    refused = both("transfer", a, "--to", w.addr("sup2"), "--amount", "1.00", expect=1, key="sup1")
    assert refused["result"]["code"] == "WARRANT_TERMINAL"
    early = both("settle", root, expect=1, key="core")
    assert early["result"]["code"] == "NOT_MATURED"
    node.offset_ms = 31 * 60_000  # the block clock passes maturity
    settled = both("settle", root, key="core")
    assert settled["result"]["events"][0]["amount"] == 123_456_789
    both("mark-overdue", root, expect=1, key="sup1")

    # governance: two of three admins add a validator
    new_key = w.keys["v-new"].public_key.hex()
    proposed = both("governance", "propose", "add", "--pubkey", new_key, "--name", "v-new", "--endpoint",
                    "10.0.0.5:26656", key="admin")
    assert [e["type"] for e in proposed["result"]["events"]] == ["validator_change_proposed"]
    assert both("governance", "list", "--status", "open")["proposals"][0]["id"] == proposed["id"]
    enacted = both("governance", "approve", proposed["id"], key="admin2")
    assert enacted["result"]["events"][-1]["type"] == "epoch_scheduled"
    again = both("governance", "approve", proposed["id"], expect=1, key="admin2")
    assert again["result"]["code"] == "PROPOSAL_CLOSED"
    refused = both("governance", "propose", "remove", "--address", w.addr("v0"), expect=1, key="core")
    assert refused["result"]["code"] == "NOT_ADMIN"
    pending = both("governance", "validators")["pending"]
    assert pending["epoch"] == 1 and pending["n"] == 5
    assert [e["status"] for e in both("governance", "history")["epochs"]] == ["active", "pending"]
    status, _, err = _run("--rpc", url, "governance", "propose", "add", "--name", "x", "--key", str(keys / "admin.pem"))
    assert status == 2 and "--address" in err  # refused before anything is signed

    # queries
    assert both("status")["chain_id"] == CHAIN_ID
    both("block", "1")
    assert both("tx", settled["id"])["result"]["ok"]
    assert both("warrant", offered)["status"] == "settled"
    both("account", w.addr("sup2"))
    both("holdings", w.addr("sup1"))
    both("document", doc)
    both("documents", w.addr("sup1"))
    both("allocations", doc)
    both("credit", "--financier", w.addr("bank"), "--core", w.addr("core"))
    both("trace", root)
    first = both("descendants", root, "--limit", "2")
    assert [w["id"] for w in first["warrants"]][0] == root and first["next"]
    rest = both("descendants", root, "--after", first["next"], "--limit", "1000")
    assert rest["next"] is None and root not in [w["id"] for w in rest["warrants"]]
    both("proof", "export", offered, "--out", str(tmp_path / "p.json"))
    crypto.save_key(tmp_path / "v.pem", w.keys["v0"])
    genesis = tmp_path / "genesis.json"
    genesis.write_bytes(codec.canonical(codec.decode(codec.encode(w.genesis))))
    verified = both("proof", "verify", str(tmp_path / "p.json"), "--genesis", str(genesis), expect=1)
    assert verified["valid"] is False and verified["reason"]

    from node.cli.warrant import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    governance = {f"governance {name}" for name in ("propose", "approve", "list", "validators", "history")}
    assert seen >= (commands - {"proof", "governance"}) | {"proof export", "proof verify"} | governance, commands - seen


def test_text_shows_amounts_times_and_names_as_people_write_them(served: tuple[LedgerNode, str],
                                                                  tmp_path: Path) -> None:
    node, url = served
    w = node.world
    crypto.save_key(tmp_path / "core.pem", w.keys["core"])
    crypto.save_key(tmp_path / "bank.pem", w.keys["bank"])
    status, out, err = _run("--rpc", url, "credit-line", "--key", str(tmp_path / "bank.pem"), "--core",
                            w.addr("core"), "--limit", "1234567.89")
    assert status == 0, err
    assert "1,234,567.89 CNY" in out and f"core ({w.addr('core')[:12]}…)" in out
    status, out, err = _run("--rpc", url, "credit", "--financier", w.addr("bank"), "--core", w.addr("core"))
    assert "limit: 1,234,567.89 CNY" in out and "used: 0.00 CNY" in out
    status, out, _ = _run("--rpc", url, "account", w.addr("sup1"))
    assert "name: sup1" in out and "role: supplier" in out
