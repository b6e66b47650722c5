"""``warrant trace``, ``keygen``, ``address`` and ``proof export|verify``: reading, keys and proofs."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from node import fmt
from node.bundles import VerifyReport, verify_bundle
from node.cli import passphrase
from node.cli.common import CliError, Json, format_amount, load_key, lookup_names, now_ms, print_json, short, with_client
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.sdk.client import Client

# -- trace ----------------------------------------------------------------------------------------

def _describe(node: Json, names: dict[str, str]) -> str:
    holder = node["holder"]
    who = f"{names[holder]} ({short(holder)})" if names.get(holder) else holder
    currency = node["currency"]
    parts = [short(node["id"]), format_amount(node["amount"], currency), node["status"], f"holder {who}"]
    if node.get("paid"):
        parts.append(f"paid {format_amount(node['paid'], currency)}")
    if node.get("pending_to"):
        parts.append(f"offered to {fmt.party(node['pending_to'], names)}")
    financing = node.get("financing")
    if financing and financing["status"] in ("requested", "pledged", "approved"):
        parts.append(f"financing {financing['mode']} {financing['status']} by {fmt.party(financing['financier'], names)}")
    if node.get("frozen"):
        parts.append(f"FROZEN ({node['frozen']['reason']})")
    return "  ".join(parts)


def render_tree(root: Json, names: dict[str, str] | None = None, mark: str | None = None) -> list[str]:
    """The lineage as lines with box-drawing branches; the warrant ``mark`` is flagged with ◀."""
    names = names or {}
    lines: list[str] = []

    def visit(node: Json, prefix: str, branch: str) -> None:
        flag = "  ◀" if node["id"] == mark else ""
        lines.append(f"{prefix}{branch}{_describe(node, names)}{flag}")
        children = node.get("children", [])
        inner = prefix + ("" if not branch else "    " if branch == "└── " else "│   ")
        for i, child in enumerate(children):
            visit(child, inner, "└── " if i == len(children) - 1 else "├── ")

    visit(root, "", "")
    return lines


def cmd_trace(args: argparse.Namespace) -> int:
    async def work(client: Client) -> int:
        tree = await client.trace(args.id)
        if args.json:
            print_json(tree)
            return 0
        names = await lookup_names(client, tree)
        currency = tree["currency"]
        documents = ", ".join(f"{short(d['ref'])} {format_amount(d['amount'], currency)}"
                              for d in tree.get("documents", []))
        print(f"issuance {tree['id']} by {fmt.party(tree['issuer'], names)}, matures "
              f"{fmt.when(tree['maturity'], now_ms())}; backed by {documents or 'no documents'}")
        for dispute in tree.get("document_disputes", []):
            print(f"DISPUTED: document {short(dispute['document'])} by {fmt.party(dispute['by'], names)} "
                  f"({dispute['reason']})")
        for line in render_tree(tree, names, args.id):
            print(line)
        return 0

    return asyncio.run(with_client(args, work))


# -- keys and proofs ------------------------------------------------------------------------------

def cmd_keygen(args: argparse.Namespace) -> int:
    key = crypto.generate_key()
    secret = passphrase.for_new_key(args.passphrase_prompt)
    crypto.save_key(args.out, key, secret)
    if args.json:
        print_json({"address": key.address, "pubkey": key.public_key.hex(), "key_file": str(args.out)})
        return 0
    print(f"wrote key file {args.out} ({'encrypted' if secret else 'not encrypted'})")
    print(f"  address     {key.address}")
    print(f"  public key  {key.public_key.hex()}")
    return 0


def cmd_address(args: argparse.Namespace) -> int:
    key = load_key(args)
    if args.json:
        print_json({"address": key.address, "pubkey": key.public_key.hex()})
    else:
        print(key.address)
    return 0


def cmd_proof_export(args: argparse.Namespace) -> int:
    async def work(client: Client) -> int:
        bundle = await client.proof(args.id)
        # Compact canonical JSON: no byte of the file is insignificant, so any change is detectable.
        data = json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        Path(args.out).write_bytes(data)
        if args.json:
            print_json({"file": str(args.out), "transactions": len(bundle["transactions"]),
                         "headers": len(bundle["headers"]), "bytes": len(data)})
        else:
            print(f"wrote {args.out}: {len(bundle['transactions'])} transactions, {len(bundle['headers'])} headers, "
                  f"{len(data):,} bytes")
        return 0

    return asyncio.run(with_client(args, work))


def _summary(report: VerifyReport) -> list[str]:
    lineage = " → ".join(short(w) for w in report.lineage)
    issued = next((t for t in report.transactions if t.type == "issue"), None)
    currency = str(issued.payload.get("currency", "CNY")) if issued else "CNY"
    lines = [
        f"VALID: warrant {report.warrant} on chain {report.chain_id}",
        f"  amount {format_amount(report.amount or 0, currency)} (derived from the signed transactions); lineage {lineage}",
        (f"  {len(report.transactions)} transactions, {report.headers} headers, "
         f"{report.signatures} validator signatures checked against the genesis validator set"),
    ]
    for tx in sorted(report.transactions, key=lambda t: (t.height, t.index)):
        outcome = "ok" if tx.ok else "outcome not yet certified"
        lines.append(f"  #{tx.height:<6} {fmt.when(tx.time_ms)}  {tx.type:<18} by {tx.sender}  {outcome}")
    for doc, reason in sorted(report.document_disputes.items()):
        lines.append(f"  DISPUTED: backing document {doc} ({reason})")
    return lines


def _report_json(report: VerifyReport, path: Path) -> Json:
    """The machine form of a verification: what was proven, in fen and epoch ms."""
    return {
        "file": str(path), "valid": report.ok, "complete": report.complete, "reason": report.reason,
        "warrant": report.warrant, "chain_id": report.chain_id, "amount": report.amount,
        "lineage": report.lineage, "headers": report.headers, "signatures": report.signatures,
        "unproven": report.unproven,
        "transactions": [{"id": t.id, "type": t.type, "sender": t.sender, "height": t.height, "index": t.index,
                          "time_ms": t.time_ms, "ok": t.ok} for t in report.transactions],
    }


def cmd_proof_verify(args: argparse.Namespace) -> int:
    genesis = load_genesis(args.genesis)
    try:
        bundle = json.loads(Path(args.file).read_bytes())
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report = VerifyReport(False, f"{args.file} is not a JSON proof bundle ({exc})")
    else:
        report = verify_bundle(bundle, genesis)
    if args.json:
        print_json(_report_json(report, args.file))
        return 0 if report.ok and (report.complete or args.allow_pending) else 1
    if not report.ok:
        print(f"INVALID: {report.reason}")
        return 1
    for line in _summary(report):
        print(line)
    if report.unproven and not args.allow_pending:
        print(f"INCOMPLETE: the outcome of {len(report.unproven)} transaction(s) is not yet committed by a later "
              "block; export again after the next block, or pass --allow-pending")
        return 1
    return 0
