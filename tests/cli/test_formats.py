"""The `warrant` command line without a cluster: input formats, the tree, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.kernel import crypto
from node.cli.warrant import (
    CliError,
    format_amount,
    main,
    parse_amount,
    parse_time,
    render_tree,
)


@pytest.mark.parametrize(("text", "fen"), [
    ("400000.00", 40_000_000), ("400000", 40_000_000), ("0.5", 50), ("0.05", 5), ("1_000.10", 100_010),
    ("40000000fen", 40_000_000), ("1fen", 1), ("9223372036854775807fen", 2**63 - 1),
    ("92233720368547758.07", 2**63 - 1),  # exact: decimal text, never a float
])
def test_amounts_in_yuan_or_fen(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["1.005", "1e3", "-5", "12.3.4", "1.5fen", "fen", "", "¥12", "0x10"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(CliError):
        parse_amount(text)


def test_format_amount_is_exact() -> None:
    assert [format_amount(x) for x in (0, 5, 50, 123456, 2**63 - 1)] == [
        "0.00 CNY", "0.05 CNY", "0.50 CNY", "1,234.56 CNY", "92,233,720,368,547,758.07 CNY"]


def test_times() -> None:
    now = 1_767_225_600_000
    assert parse_time("+30s", now) == now + 30_000
    assert parse_time("+2h", now) == now + 7_200_000
    assert parse_time("+90d", now) == now + 90 * 86_400_000
    assert parse_time("2026-01-01", now) == now
    assert parse_time("2026-01-01T08:00:00+08:00", now) == now
    assert parse_time("1767225600000", now) == now
    with pytest.raises(CliError):
        parse_time("next tuesday", now)


def _node(wid: str, amount: int, status: str, holder: str, children: list[dict] | None = None) -> dict:
    return {"id": wid, "amount": amount, "currency": "CNY", "status": status, "holder": holder, "paid": 0,
            "pending_to": None, "financing": None, "frozen": None, "children": children or []}


def test_the_lineage_tree() -> None:
    tree = _node("a" * 64, 400_000_00, "consumed", "wc" + "1" * 40, [
        _node("b" * 64, 250_000_00, "consumed", "wc" + "1" * 40, [
            {**_node("c" * 64, 100_000_00, "active", "wc" + "2" * 40), "frozen": {"reason": "court order"}},
            _node("d" * 64, 150_000_00, "active", "wc" + "1" * 40)]),
        _node("e" * 64, 150_000_00, "active", "wc" + "3" * 40)])
    lines = render_tree(tree, {"wc" + "2" * 40: "Tier-2 Ltd"}, mark="c" * 64)
    assert lines[0].startswith("aaaaaaaaaaaa…  400,000.00 CNY  consumed  holder wc1111")
    assert lines[1].startswith("├── bbbbbbbbbbbb…  250,000.00 CNY")
    assert lines[2].startswith("│   ├── cccccccccccc…  100,000.00 CNY  active  holder Tier-2 Ltd (wc2222222222…)")
    assert lines[2].endswith("FROZEN (court order)  ◀")
    assert lines[3].startswith("│   └── dddddddddddd…")
    assert lines[4].startswith("└── eeeeeeeeeeee…  150,000.00 CNY")


def test_exit_statuses_without_a_node(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = tmp_path / "k.pem"
    assert main(["--json", "keygen", "--out", str(key)]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["address"] == crypto.load_key(key).address
    assert main(["keygen", "--out", str(key)]) == 2  # never overwrites a key
    assert "refusing to overwrite" in capsys.readouterr().err
    unreachable = ["--rpc", "http://127.0.0.1:9/rpc", "--timeout", "2"]
    assert main([*unreachable, "accept", "--key", str(key), "ab" * 32]) == 3
    assert "cannot reach" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad_amount:  # refused before any RPC: the node is not needed
        main([*unreachable, "transfer", "--key", str(key), "ab" * 32, "--to", "wc" + "0" * 40, "--amount", "1.001"])
    assert bad_amount.value.code == 2 and "at most two decimals" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["issue", "--key", str(key)])
    assert usage.value.code == 2


def test_proof_verify_of_a_file_that_is_not_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from node.cli.warrantd import write_localnet

    write_localnet(tmp_path / "net", 1, 41000)
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"{not json")
    assert main(["proof", "verify", str(junk), "--genesis", str(tmp_path / "net" / "genesis.json")]) == 1
    assert capsys.readouterr().out.startswith("INVALID: ")
    junk.write_text('{"version": 1}')
    assert main(["proof", "verify", str(junk), "--genesis", str(tmp_path / "net" / "genesis.json")]) == 1
    assert "malformed proof bundle" in capsys.readouterr().out


W = "ab" * 32
A = "wc" + "1" * 40
COMMANDS = {
    "register-account": [A, "--role", "core", "--name", "Core Ltd"],
    "set-role": [A, "--role", "financier"],
    "credit-line": ["--core", A, "--limit", "5000000.00"],
    "anchor": ["--type", "invoice", "--number", "N-1", "--issuer-reg-id", "R-1", "--reg-kind", "other", "--hash", "cd" * 32,
               "--total", "400000", "--seller", A, "--buyer", "wc" + "2" * 40],
    "confirm-document": [W], "dispute-document": [W, "--reason", "void"], "undispute-document": [W, "--reason", "ok"],
    "issue": ["--to", A, "--amount", "400000.00", "--maturity", "+90d", "--credit-line", A, "--doc", f"{W}:300000",
              "--doc", f"{'ef' * 32}:100000.00", "--offer-expires", "+1d"],
    "accept": [W], "reject": [W],
    "transfer": [W, "--to", A, "--amount", "10.5", "--offer-expires", "+1d"],
    "split": [W, "1.00", "2fen"],
    "finance-request": [W, "--financier", A, "--mode", "pledge", "--advance", "9.99", "--discount-bps", "250"],
    "finance-approve": [W], "finance-reject": [W], "release-pledge": [W],
    "settle": [W, "--amount", "0.01"], "mark-overdue": [W],
    "freeze": [W, "--reason", "court order"], "unfreeze": [W, "--reason", "lifted"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_operation_signs_its_transaction_type(command: str, tmp_path: Path) -> None:
    import asyncio

    from node.cli.warrant import build_parser
    from node.sdk.client import Wallet

    args = build_parser().parse_args([command, "--key", str(tmp_path / "unused.pem"), *COMMANDS[command]])
    wallet = Wallet(crypto.generate_key(), "warrant-local")
    tx = asyncio.run(args.build(args, None, wallet))  # none of these needs the node
    tx.verify()
    expected = {"credit-line": "set_credit_line", "anchor": "anchor_document", "finance-request": "request_financing",
                "finance-approve": "approve_financing", "finance-reject": "reject_financing"}
    assert tx.body.type == expected.get(command, command.replace("-", "_"))
    if command == "issue":
        assert [d["amount"] for d in tx.body.payload["documents"]] == [300_000_00, 100_000_00]
    if command == "split":
        assert tx.body.payload["amounts"] == [100, 2]
