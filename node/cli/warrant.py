"""``warrant``: the command line of enterprises, banks and regulators.

Keys stay on the user's machine: every operation is signed locally (node.sdk.client.Wallet) with the
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
import hashlib
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from node import fmt
from node.cli import governance_commands as governance
from node.cli import passphrase
from node.cli.common import (
    ALLOCATION,
    AMOUNT,
    DEFAULT_OFFER_MS,
    DEFAULT_RPC,
    TIME,
    CliError,
    Json,
    format_amount,
    load_key,
    lookup_names,
    now_ms,
    parse_amount,
    parse_time,
    print_json,
    with_client,
)
from node.cli.inspect import cmd_address, cmd_keygen, cmd_proof_export, cmd_proof_verify, cmd_trace, render_tree
from node.errors import WarrantChainError
from node.kernel.chain import SignedTx
from node.kernel.genesis import ROLES
from node.ledger.codes import LedgerError
from node.ledger.keys import DOC_TYPES, REG_KINDS
from node.sdk.client import Client, RpcCallError, Wallet

# parse_amount, parse_time, format_amount and render_tree are re-exported for the tests and SDK users.
__all__ = ["CliError", "build_parser", "format_amount", "main", "parse_amount", "parse_time", "render_tree"]

async def _submit(args: argparse.Namespace, client: Client, tx: SignedTx) -> int:
    result = await client.submit(tx, wait=True, timeout_ms=int(args.timeout * 1000))
    if args.json:
        print_json(result)
    outcome = result["result"]
    if not outcome["ok"]:
        raise CliError(
            f"refused at height {result['height']} (tx {tx.id_hex}): {outcome['code']}: {outcome.get('message', '')}", 1
        )
    if not args.json:
        events = outcome.get("events", [])
        names = await lookup_names(client, events)
        currency = await _currency(client, events)
        print(f"committed tx {tx.id_hex} at height {result['height']} (index {result['index']}): OK")
        for event in events:
            for line in fmt.describe_event(event, names, currency, now_ms()):
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
        p.add_argument("--limit", required=True, type=AMOUNT, help="amount, e.g. 5000000.00")
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
        p.add_argument("--total", required=True, type=AMOUNT, help="amount, e.g. 400000.00")
        p.add_argument("--file", help="the document file (its SHA-256 is anchored)")
        p.add_argument("--hash", help="SHA-256 of the file, hex")
    if name == "issue":
        p.add_argument("--to", required=True, help="the supplier's address")
        p.add_argument("--amount", required=True, type=AMOUNT)
        p.add_argument("--maturity", required=True, type=TIME, help="+90d, 2027-03-31, or epoch ms")
        p.add_argument("--credit-line", required=True, help="address of the financier whose line is used")
        p.add_argument("--doc", action="append", required=True, type=ALLOCATION, metavar="DOC_ID[:AMOUNT]",
                       help="backing document and the amount allocated from it (default: the whole amount)")
    if name in ("issue", "transfer"):
        p.add_argument("--offer-expires", type=TIME, help="default: maturity or 7 days, whichever is first")
    if name == "transfer":
        p.add_argument("--to", required=True)
        p.add_argument("--amount", required=True, type=AMOUNT)
    if name == "split":
        p.add_argument("amounts", nargs="+", type=AMOUNT, help="the parts; they must add up to the warrant's amount")
    if name == "finance-request":
        p.add_argument("--financier", required=True)
        p.add_argument("--mode", required=True, choices=["transfer", "pledge"])
        p.add_argument("--advance", required=True, type=AMOUNT)
        p.add_argument("--discount-bps", type=int, default=0, help="discount rate in basis points (0-10000)")
        p.add_argument("--recourse", action="store_true", help="the financier has recourse to the applicant")
    if name == "settle":
        p.add_argument("--amount", type=AMOUNT, help="default: everything outstanding")
    if name in ("freeze", "unfreeze"):
        p.add_argument("--reason", required=True)


def _run_tx(build: Builder) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        key = load_key(args)

        async def work(client: Client) -> int:
            wallet = Wallet(key, await client.chain_id())
            try:
                tx = await build(args, client, wallet)
            except LedgerError as exc:  # the payload check Wallet runs before signing
                raise CliError(f"not sent: {exc}") from None
            return await _submit(args, client, tx)

        return asyncio.run(with_client(args, work))
    return run


# -- queries --------------------------------------------------------------------------------------

def _query(fetch: Callable[[argparse.Namespace, Client], Awaitable[Any]]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def work(client: Client) -> int:
            answer = await fetch(args, client)
            if args.json:
                print_json(answer)
                return 0
            for line in fmt.render(answer, await lookup_names(client, answer), now_ms()):
                print(line)
            return 0
        return asyncio.run(with_client(args, work))
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
    "descendants": ("a page of a warrant's subtree, flat, in the trace's order (for trees too deep to trace)",
                    lambda a, c: c.descendants(a.id, a.after, a.limit)),
    "account": ("an account", lambda a, c: c.account(a.address)),
    "holdings": ("the warrants an account holds and is offered", lambda a, c: c.holdings(a.address)),
    "document": ("an anchored document, by id or business key (any spelling)", _document),
    "documents": ("the documents naming an account as seller or buyer",
                  lambda a, c: c.account_documents(a.address, a.limit, a.after)),
    "allocations": ("the warrants a document backs, and how much each", lambda a, c: c.document_allocations(a.id)),
    "credit": ("a credit line", lambda a, c: c.credit(a.financier, a.core)),
}


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
        if name in ("tx", "warrant", "allocations", "descendants"):
            p.add_argument("id")
            if name == "descendants":
                p.add_argument("--limit", type=int, default=100, help="at most this many (1-1000)")
                p.add_argument("--after", help="warrant id: continue after it (the `next` of the previous page)")
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

    governance.add_commands(command, _run_tx, _query)

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
