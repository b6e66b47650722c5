"""``warrant``: the command line of enterprises, banks and regulators.

Keys stay on the user's machine: every operation is signed locally (node.client.Wallet) with the
key file given by ``--key`` and submitted to the node at ``--rpc`` (default ``$WARRANT_RPC``, else
http://127.0.0.1:26700/rpc), waiting until it is committed. ``warrant proof verify`` works offline
from the genesis file alone. docs/PROTOCOL.md ("Command line") lists every command.

Input formats:

- **amounts** in yuan with at most two decimals (``400000``, ``400000.5``, ``400000.00``), or in fen
  with the suffix ``fen`` (``40000000fen``). Parsed as text with :mod:`decimal`, never as floats.
- **times** as ``+30s`` / ``+10m`` / ``+2h`` / ``+90d`` from now, an ISO 8601 date or date-time
  (UTC unless it names an offset), or milliseconds since the epoch.

Output: text for people (amounts as ``1,234,567.89 CNY``, times in ISO 8601 with their zone and
distance from now, names beside addresses, all through node.fmt); with ``--json`` (before or after
the command) the machine form on stdout and nothing else: amounts in fen, times in epoch ms.

Exit status: 0 success; 1 the chain refused (a ledger code, a rejected transaction, not found, an
invalid proof); 2 bad input (usage, amount, key file); 3 the node could not be reached, timed out
or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from node import crypto, fmt, passphrase
from node.chain import SignedTx
from node.client import Client, RpcCallError, Wallet
from node.errors import WarrantChainError
from node.genesis import ROLES, load_genesis
from node.ledger.errors import LedgerError
from node.ledger.keys import DOC_TYPES, REG_KINDS
from node.proofs import VerifyReport, verify_bundle

__all__ = ["format_amount", "main", "parse_amount", "parse_time", "render_tree"]

DEFAULT_RPC = "http://127.0.0.1:26700/rpc"
DEFAULT_OFFER_MS = 7 * 24 * 3600 * 1000
# Node-side failures (unreachable, internal error, timeout, busy, not ready) exit 3; input errors 2.
_NODE_FAILURES = frozenset({-1, -32603, 1003, 1004, 1005})
_INPUT_ERRORS = frozenset({-32700, -32600, -32601, -32602})
Json = dict[str, Any]


class CliError(WarrantChainError):
    """What the command line tells the user before exiting with ``status``."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# -- input and output formats ---------------------------------------------------------------------

def parse_amount(text: str) -> int:
    """Fen from ``"400000.00"`` (yuan, at most 2 decimals) or ``"40000000fen"``."""
    value = text.strip().replace("_", "")
    if value.endswith("fen"):
        digits = value[:-3]
        if not digits.isdigit():
            raise CliError(f"amount {text!r}: fen are a whole number, e.g. 40000000fen")
        return int(digits)
    if not re.fullmatch(r"\d+(\.\d{1,2})?", value):
        raise CliError(f"amount {text!r}: write yuan with at most two decimals (400000.00) or fen (40000000fen)")
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        raise CliError(f"amount {text!r} is not a number") from None


def format_amount(fen: int, currency: str = "CNY") -> str:
    """``123456`` fen -> ``"1,234.56 CNY"`` (node.fmt.amount: integer arithmetic only)."""
    return fmt.amount(fen, currency)


_UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_time(text: str, now_ms: int | None = None) -> int:
    """Milliseconds since the epoch from ``+30s``/``+2h``/``+90d``, ISO 8601, or a number of ms."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    value = text.strip()
    relative = re.fullmatch(r"\+(\d+)([smhd])", value)
    if relative:
        return now + int(relative[1]) * _UNITS[relative[2]]
    if value.isdigit():
        return int(value)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"time {text!r}: use +30s/+2h/+90d, an ISO 8601 date(-time), or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` that reports our parse errors as usage errors, before any RPC."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except CliError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def _allocation(text: str) -> tuple[str, int | None]:
    doc, _, part = text.partition(":")
    return doc, parse_amount(part) if part else None


_AMOUNT = _argument(parse_amount)
_TIME = _argument(parse_time)
_ALLOCATION = _argument(_allocation)


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


_short = fmt.short


def _addresses(value: Any, out: set[str]) -> set[str]:
    """Every account address inside ``value`` (to look up the names shown beside them)."""
    if isinstance(value, str) and value.startswith("wc") and len(value) == 42:
        out.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            _addresses(item, out)
    elif isinstance(value, list):
        for item in value:
            _addresses(item, out)
    return out


async def _names(client: Client, value: Any, limit: int = 32) -> dict[str, str]:
    """The names the chain knows for the addresses in ``value`` (at most ``limit`` look-ups)."""
    names: dict[str, str] = {}
    for address in sorted(_addresses(value, set()))[:limit]:
        try:
            name = (await client.account(address)).get("name", "")
        except RpcCallError:
            continue
        if name:
            names[address] = name
    return names


def _now() -> int:
    return int(time.time() * 1000)


# -- talking to the node ---------------------------------------------------------------------------

def _rpc_failure(exc: RpcCallError) -> CliError:
    reason = f" [{exc.reason}]" if exc.reason else ""
    status = 3 if exc.code in _NODE_FAILURES else 2 if exc.code in _INPUT_ERRORS else 1
    return CliError(f"{exc.message} (code {exc.code}){reason}", status)


async def _with_client(args: argparse.Namespace, work: Callable[[Client], Awaitable[int]]) -> int:
    async with Client(args.rpc, timeout=args.timeout) as client:
        try:
            return await work(client)
        except RpcCallError as exc:
            raise _rpc_failure(exc) from None


def _load_key(args: argparse.Namespace) -> crypto.SigningKey:
    return passphrase.load_key(args.key, args.passphrase_prompt)


async def _submit(args: argparse.Namespace, client: Client, tx: SignedTx) -> int:
    result = await client.submit(tx, wait=True, timeout_ms=int(args.timeout * 1000))
    if args.json:
        _print_json(result)
    outcome = result["result"]
    if not outcome["ok"]:
        raise CliError(
            f"refused at height {result['height']} (tx {tx.id_hex}): {outcome['code']}: {outcome.get('message', '')}", 1
        )
    if not args.json:
        events = outcome.get("events", [])
        names = await _names(client, events)
        currency = await _currency(client, events)
        print(f"committed tx {tx.id_hex} at height {result['height']} (index {result['index']}): OK")
        for event in events:
            for line in fmt.describe_event(event, names, currency, _now()):
                print(f"  {line}")
    return 0


async def _currency(client: Client, events: list[Json]) -> str:
    """The currency of the events' amounts: theirs, else that of the warrant they concern."""
    for event in events:
        if isinstance(event.get("currency"), str):
            return str(event["currency"])
    for event in events:
        if isinstance(event.get("warrant"), str):
            try:
                return str((await client.warrant(event["warrant"])).get("currency", "CNY"))
            except RpcCallError:
                break
    return "CNY"


# -- transaction commands: each maps its arguments to one Wallet method -----------------------------

async def _offer_expiry(args: argparse.Namespace, client: Client, maturity: int | None = None) -> int:
    if args.offer_expires is not None:
        return int(args.offer_expires)
    if maturity is None:
        maturity = int((await client.warrant(args.warrant))["maturity"])
    return min(maturity, int(time.time() * 1000) + DEFAULT_OFFER_MS)


async def _issue(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
    amount, maturity = args.amount, args.maturity
    documents = [{"doc": doc, "amount": amount if part is None else part} for doc, part in args.doc]
    return wallet.issue(args.to, amount, maturity, args.credit_line, documents,
                        await _offer_expiry(args, client, maturity), args.currency)


async def _anchor(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
    if (args.file is None) == (args.hash is None):
        raise CliError("anchor: give exactly one of --file (hashed here) or --hash")
    if args.file is not None:
        try:
            file_hash = hashlib.sha256(Path(args.file).read_bytes()).hexdigest()
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
    else:
        file_hash = args.hash
    return wallet.anchor_document(args.type, args.number, args.issuer_reg_id, file_hash, args.total,
                                  seller=args.seller, buyer=args.buyer, issuer_reg_kind=args.reg_kind,
                                  currency=args.currency)


async def _transfer(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
    return wallet.transfer(args.warrant, args.to, args.amount, await _offer_expiry(args, client))


Builder = Callable[[argparse.Namespace, Client, Wallet], Awaitable[SignedTx]]


def _simple(build: Callable[[argparse.Namespace, Wallet], SignedTx]) -> Builder:
    async def builder(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
        return build(args, wallet)
    return builder


_TX_COMMANDS: dict[str, tuple[str, Builder]] = {
    "register-account": ("register an account (alliance admin)",
                         _simple(lambda a, w: w.register_account(a.address, a.role, a.name))),
    "set-role": ("change an account's role (alliance admin)", _simple(lambda a, w: w.set_role(a.address, a.role))),
    "credit-line": ("set a credit line for a core enterprise (financier)",
                    _simple(lambda a, w: w.set_credit_line(a.core, a.limit, a.currency))),
    "anchor": ("anchor a trade document by business key (its seller or buyer)", _anchor),
    "confirm-document": ("confirm a document you owe (its buyer: 确权)",
                         _simple(lambda a, w: w.confirm_document(a.doc))),
    "dispute-document": ("dispute a document (regulator; or its buyer, instead of confirming)",
                         _simple(lambda a, w: w.dispute_document(a.doc, a.reason))),
    "undispute-document": ("lift a document's dispute (regulator, or whoever raised it)",
                           _simple(lambda a, w: w.undispute_document(a.doc, a.reason))),
    "issue": ("issue a warrant to a tier-1 supplier (core enterprise)", _issue),
    "accept": ("accept a warrant offered to you", _simple(lambda a, w: w.accept(a.warrant))),
    "reject": ("reject a warrant offered to you", _simple(lambda a, w: w.reject(a.warrant))),
    "transfer": ("transfer (part of) a warrant you hold", _transfer),
    "split": ("split a warrant you hold into parts",
              _simple(lambda a, w: w.split(a.warrant, a.amounts))),
    "finance-request": ("ask a financier to finance a warrant you hold", _simple(
        lambda a, w: w.request_financing(a.warrant, a.financier, a.mode, a.discount_bps, a.advance, a.recourse))),
    "finance-approve": ("approve a financing request (financier)",
                        _simple(lambda a, w: w.approve_financing(a.warrant))),
    "finance-reject": ("reject a financing request (financier)", _simple(lambda a, w: w.reject_financing(a.warrant))),
    "release-pledge": ("release a pledged warrant (pledgee)", _simple(lambda a, w: w.release_pledge(a.warrant))),
    "settle": ("settle a warrant at or after maturity (issuer)", _simple(
        lambda a, w: w.settle(a.warrant, a.amount))),
    "mark-overdue": ("mark a warrant overdue (any account)", _simple(lambda a, w: w.mark_overdue(a.warrant))),
    "freeze": ("freeze a warrant (regulator)", _simple(lambda a, w: w.freeze(a.warrant, a.reason))),
    "unfreeze": ("unfreeze a warrant (regulator)", _simple(lambda a, w: w.unfreeze(a.warrant, a.reason))),
}


def _tx_arguments(name: str, p: argparse.ArgumentParser) -> None:
    warrant_ops = {"accept", "reject", "transfer", "split", "finance-request", "finance-approve", "finance-reject",
                   "release-pledge", "settle", "mark-overdue", "freeze", "unfreeze"}
    if name in warrant_ops:
        p.add_argument("warrant", help="warrant id (64 hex)")
    if name in ("register-account", "set-role"):
        p.add_argument("address", help="account address (wc + 40 hex; `warrant address --key` prints it)")
        p.add_argument("--role", required=True, choices=ROLES)
    if name == "register-account":
        p.add_argument("--name", required=True, help="the enterprise's name")
    if name in ("credit-line", "anchor", "issue"):
        p.add_argument("--currency", default="CNY")
    if name == "credit-line":
        p.add_argument("--core", required=True, help="core enterprise address")
        p.add_argument("--limit", required=True, type=_AMOUNT, help="amount, e.g. 5000000.00")
    if name in ("confirm-document", "dispute-document", "undispute-document"):
        p.add_argument("doc", help="document id (64 hex; `warrant document` finds it by business key)")
    if name in ("dispute-document", "undispute-document"):
        p.add_argument("--reason", required=True)
    if name == "anchor":
        p.add_argument("--type", required=True, choices=DOC_TYPES, help="document type")
        p.add_argument("--number", required=True)
        p.add_argument("--issuer-reg-id", required=True, help="the document issuer's business registration id")
        p.add_argument("--reg-kind", choices=REG_KINDS, default="uscc",
                       help="uscc (统一社会信用代码, check character verified; default), lei, or other")
        p.add_argument("--seller", required=True, help="the creditor's address (a supplier)")
        p.add_argument("--buyer", required=True, help="the debtor's address (the core enterprise that confirms it)")
        p.add_argument("--total", required=True, type=_AMOUNT, help="amount, e.g. 400000.00")
        p.add_argument("--file", help="the document file (its SHA-256 is anchored)")
        p.add_argument("--hash", help="SHA-256 of the file, hex")
    if name == "issue":
        p.add_argument("--to", required=True, help="the supplier's address")
        p.add_argument("--amount", required=True, type=_AMOUNT)
        p.add_argument("--maturity", required=True, type=_TIME, help="+90d, 2027-03-31, or epoch ms")
        p.add_argument("--credit-line", required=True, help="address of the financier whose line is used")
        p.add_argument("--doc", action="append", required=True, type=_ALLOCATION, metavar="DOC_ID[:AMOUNT]",
                       help="backing document and the amount allocated from it (default: the whole amount)")
    if name in ("issue", "transfer"):
        p.add_argument("--offer-expires", type=_TIME, help="default: maturity or 7 days, whichever is first")
    if name == "transfer":
        p.add_argument("--to", required=True)
        p.add_argument("--amount", required=True, type=_AMOUNT)
    if name == "split":
        p.add_argument("amounts", nargs="+", type=_AMOUNT, help="the parts; they must add up to the warrant's amount")
    if name == "finance-request":
        p.add_argument("--financier", required=True)
        p.add_argument("--mode", required=True, choices=["transfer", "pledge"])
        p.add_argument("--advance", required=True, type=_AMOUNT)
        p.add_argument("--discount-bps", type=int, default=0, help="discount rate in basis points (0-10000)")
        p.add_argument("--recourse", action="store_true", help="the financier has recourse to the applicant")
    if name == "settle":
        p.add_argument("--amount", type=_AMOUNT, help="default: everything outstanding")
    if name in ("freeze", "unfreeze"):
        p.add_argument("--reason", required=True)


def _run_tx(build: Builder) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        key = _load_key(args)

        async def work(client: Client) -> int:
            wallet = Wallet(key, await client.chain_id())
            try:
                tx = await build(args, client, wallet)
            except LedgerError as exc:  # the payload check Wallet runs before signing
                raise CliError(f"not sent: {exc}") from None
            return await _submit(args, client, tx)

        return asyncio.run(_with_client(args, work))
    return run


# -- queries --------------------------------------------------------------------------------------

def _query(fetch: Callable[[argparse.Namespace, Client], Awaitable[Any]]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def work(client: Client) -> int:
            answer = await fetch(args, client)
            if args.json:
                _print_json(answer)
                return 0
            for line in fmt.render(answer, await _names(client, answer), _now()):
                print(line)
            return 0
        return asyncio.run(_with_client(args, work))
    return run


def _block(args: argparse.Namespace, client: Client) -> Awaitable[Any]:
    if re.fullmatch(r"[0-9a-f]{64}", args.ref):
        return client.block(block_hash=args.ref, full=True)
    if not args.ref.isdigit():
        raise CliError(f"block {args.ref!r}: give a height or a 64-hex block hash")
    return client.block(height=int(args.ref), full=True)


def _document(args: argparse.Namespace, client: Client) -> Awaitable[Any]:
    if args.id:
        return client.document(args.id)
    if not (args.type and args.number and args.issuer_reg_id):
        raise CliError("document: give an ID, or --type, --number and --issuer-reg-id")
    key = {"doc_type": args.type, "number": args.number, "issuer_reg_id": args.issuer_reg_id}
    if args.reg_kind:
        key["issuer_reg_kind"] = args.reg_kind
    return client.document(**key)


_QUERIES: dict[str, tuple[str, Callable[[argparse.Namespace, Client], Awaitable[Any]]]] = {
    "status": ("the node's chain head and health", lambda a, c: c.status()),
    "block": ("a block by height or hash", _block),
    "tx": ("a transaction and its result", lambda a, c: c.tx(a.id)),
    "warrant": ("a warrant with its history", lambda a, c: c.warrant(a.id)),
    "account": ("an account", lambda a, c: c.account(a.address)),
    "holdings": ("the warrants an account holds and is offered", lambda a, c: c.holdings(a.address)),
    "document": ("an anchored document, by id or business key (any spelling)", _document),
    "documents": ("the documents naming an account as seller or buyer",
                  lambda a, c: c.account_documents(a.address, a.limit, a.after)),
    "allocations": ("the warrants a document backs, and how much each", lambda a, c: c.document_allocations(a.id)),
    "credit": ("a credit line", lambda a, c: c.credit(a.financier, a.core)),
}


# -- trace ----------------------------------------------------------------------------------------

def _describe(node: Json, names: dict[str, str]) -> str:
    holder = node["holder"]
    who = f"{names[holder]} ({_short(holder)})" if names.get(holder) else holder
    currency = node["currency"]
    parts = [_short(node["id"]), format_amount(node["amount"], currency), node["status"], f"holder {who}"]
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
            _print_json(tree)
            return 0
        names = await _names(client, tree)
        currency = tree["currency"]
        documents = ", ".join(f"{_short(d['ref'])} {format_amount(d['amount'], currency)}"
                              for d in tree.get("documents", []))
        print(f"issuance {tree['id']} by {fmt.party(tree['issuer'], names)}, matures "
              f"{fmt.when(tree['maturity'], _now())}; backed by {documents or 'no documents'}")
        for dispute in tree.get("document_disputes", []):
            print(f"DISPUTED: document {_short(dispute['document'])} by {fmt.party(dispute['by'], names)} "
                  f"({dispute['reason']})")
        for line in render_tree(tree, names, args.id):
            print(line)
        return 0

    return asyncio.run(_with_client(args, work))


# -- keys and proofs ------------------------------------------------------------------------------

def cmd_keygen(args: argparse.Namespace) -> int:
    key = crypto.generate_key()
    secret = passphrase.for_new_key(args.passphrase_prompt)
    crypto.save_key(args.out, key, secret)
    if args.json:
        _print_json({"address": key.address, "pubkey": key.public_key.hex(), "key_file": str(args.out)})
        return 0
    print(f"wrote key file {args.out} ({'encrypted' if secret else 'not encrypted'})")
    print(f"  address     {key.address}")
    print(f"  public key  {key.public_key.hex()}")
    return 0


def cmd_address(args: argparse.Namespace) -> int:
    key = _load_key(args)
    if args.json:
        _print_json({"address": key.address, "pubkey": key.public_key.hex()})
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
            _print_json({"file": str(args.out), "transactions": len(bundle["transactions"]),
                         "headers": len(bundle["headers"]), "bytes": len(data)})
        else:
            print(f"wrote {args.out}: {len(bundle['transactions'])} transactions, {len(bundle['headers'])} headers, "
                  f"{len(data):,} bytes")
        return 0

    return asyncio.run(_with_client(args, work))


def _summary(report: VerifyReport) -> list[str]:
    lineage = " → ".join(_short(w) for w in report.lineage)
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
        _print_json(_report_json(report, args.file))
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


# -- the parser -----------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="warrant", description="WarrantChain client: sign locally, submit, query, verify")
    parser.add_argument("--rpc", default=os.environ.get("WARRANT_RPC", DEFAULT_RPC),
                        help="node JSON-RPC URL (default $WARRANT_RPC or %(default)s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the node / a commit")
    parser.add_argument("--json", action="store_true", help="print the node's full JSON answers")
    # The same options after the command (`warrant issue ... --json`); SUPPRESS keeps the values
    # given before it when they are not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rpc", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--timeout", type=float, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, under: Any = sub) -> argparse.ArgumentParser:
        return under.add_parser(name, help=help, parents=[common])  # type: ignore[no-any-return]

    p = command("keygen", "create a key file (PEM; encrypted if $WARRANT_PASSPHRASE is set or with --passphrase-prompt)")
    p.add_argument("--out", required=True, type=Path)
    passphrase.add_arguments(p)
    p.set_defaults(func=cmd_keygen)
    p = command("address", "print the address of a key file")
    p.add_argument("--key", required=True, type=Path)
    passphrase.add_arguments(p)
    p.set_defaults(func=cmd_address)

    for name, (summary, build) in _TX_COMMANDS.items():
        p = command(name, summary)
        p.add_argument("--key", required=True, type=Path, help="your key file (PEM)")
        passphrase.add_arguments(p)
        _tx_arguments(name, p)
        p.set_defaults(func=_run_tx(build), build=build)  # build(args, client, wallet) -> SignedTx

    for name, (summary, fetch) in _QUERIES.items():
        p = command(name, summary)
        if name in ("tx", "warrant", "allocations"):
            p.add_argument("id")
        elif name == "block":
            p.add_argument("ref", metavar="HEIGHT|HASH")
        elif name in ("account", "holdings", "documents"):
            p.add_argument("address")
            if name == "documents":
                p.add_argument("--limit", type=int, default=100, help="at most this many (1-500)")
                p.add_argument("--after", help="document id: continue after it (the `next` of the previous page)")
        elif name == "document":
            p.add_argument("id", nargs="?")
            p.add_argument("--type", choices=DOC_TYPES)
            p.add_argument("--number")
            p.add_argument("--issuer-reg-id")
            p.add_argument("--reg-kind", choices=REG_KINDS, help="default: inferred from the id")
        elif name == "credit":
            p.add_argument("--financier", required=True)
            p.add_argument("--core", required=True)
        p.set_defaults(func=_query(fetch))

    p = command("trace", "print a warrant's lineage as a tree")
    p.add_argument("id")
    p.set_defaults(func=cmd_trace)

    proof = command("proof", "export or verify a warrant's proof bundle").add_subparsers(
        dest="proof_command", required=True, metavar="SUBCOMMAND")
    p = command("export", "fetch a warrant's proof bundle from the node", proof)
    p.add_argument("id")
    p.add_argument("--out", required=True, type=Path)
    p.set_defaults(func=cmd_proof_export)
    p = command("verify", "verify a proof bundle offline, trusting only the genesis file", proof)
    p.add_argument("file", type=Path)
    p.add_argument("--genesis", required=True, type=Path)
    p.add_argument("--allow-pending", action="store_true",
                   help="accept a bundle whose newest transactions' outcomes are not yet certified")
    p.set_defaults(func=cmd_proof_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CliError as exc:
        print(f"warrant: {exc}", file=sys.stderr)
        return exc.status
    except WarrantChainError as exc:  # key files, genesis files, local payload checks
        print(f"warrant: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
