"""``warrant governance``: alliance admins propose and approve validator set changes; anyone lists
the proposals and the validator sets (docs/PROTOCOL.md, "Command line"; docs/LEDGER.md 10.1).

    warrant governance propose add --pubkey HEX --name NAME [--endpoint HOST:PORT] [--expires +7d] --key admin.pem
    warrant governance propose remove --address wc… --key admin.pem
    warrant governance propose rotate --address wc… --pubkey NEW_HEX --key admin.pem
    warrant governance approve PROPOSAL_ID --key admin2.pem
    warrant governance list [--status open|enacted|expired]
    warrant governance validators [--height H]
    warrant governance history

A proposal's id is the proposing transaction's id (``committed tx …``); the proposer's signature
is its first approval. Which fields an action needs is checked before signing (the ledger's own
payload check), so a wrong combination is refused here with the reason.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from node.cli import passphrase
from node.cli.common import TIME, CliError, now_ms
from node.errors import CryptoError
from node.kernel import crypto
from node.kernel.chain import SignedTx
from node.sdk.client import Client, Wallet

__all__ = ["add_commands"]

DEFAULT_PROPOSAL_MS = 7 * 24 * 3600 * 1000

Builder = Callable[[argparse.Namespace, Client, Wallet], Awaitable[SignedTx]]
Fetch = Callable[[argparse.Namespace, Client], Awaitable[Any]]
Command = Callable[..., argparse.ArgumentParser]


async def _propose(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
    address = args.address
    if address is None and args.action == "add" and args.pubkey:
        try:  # an added validator's address is its key's
            address = crypto.address_of(bytes.fromhex(args.pubkey))
        except (ValueError, CryptoError) as exc:
            raise CliError(f"--pubkey: {exc}", 2) from None
    if address is None:
        raise CliError(f"propose {args.action}: give --address (the validator's current address)", 2)
    expires = args.expires if args.expires is not None else now_ms() + DEFAULT_PROPOSAL_MS
    return wallet.propose_validator_change(args.action, address, expires, pubkey=args.pubkey, name=args.name,
                                           endpoint=args.endpoint)


async def _approve(args: argparse.Namespace, client: Client, wallet: Wallet) -> SignedTx:
    return wallet.approve_validator_change(args.proposal)


def add_commands(command: Command, run_tx: Callable[[Builder], Callable[[argparse.Namespace], int]],
                 query: Callable[[Fetch], Callable[[argparse.Namespace], int]]) -> None:
    """Add ``governance`` and its subcommands with the main parser's ``command`` factory and its
    transaction and query runners (node.cli.warrant)."""
    sub = command("governance", "validator set changes: propose, approve, list; the validator sets").add_subparsers(
        dest="governance_command", required=True, metavar="SUBCOMMAND")

    def signed(name: str, help: str, build: Builder) -> argparse.ArgumentParser:
        p = command(name, help, sub)
        p.add_argument("--key", required=True, type=Path, help="an alliance admin's key file (PEM)")
        passphrase.add_arguments(p)
        p.set_defaults(func=run_tx(build), build=build)
        return p

    p = signed("propose", "propose adding, removing or rotating the key of a validator (alliance admin)", _propose)
    p.add_argument("action", choices=["add", "remove", "rotate"])
    p.add_argument("--address", help="remove / rotate: the validator's address; add: derived from --pubkey")
    p.add_argument("--pubkey", help="add: the new validator's public key; rotate: its new key (compressed, hex)")
    p.add_argument("--name", help="add: the validator's name; rotate: a new name (optional)")
    p.add_argument("--endpoint", help="HOST:PORT where the mesh reaches it (optional)")
    p.add_argument("--expires", type=TIME, help="the quorum must approve by then (default +7d; at most +30d)")
    p = signed("approve", "approve a proposal (another alliance admin; each admin counts once)", _approve)
    p.add_argument("proposal", help="the proposal id (the proposing transaction's id)")

    p = command("list", "the proposals, newest last", sub)
    p.add_argument("--status", choices=["open", "enacted", "expired"])
    p.add_argument("--limit", type=int, default=100, help="at most this many (1-100)")
    p.set_defaults(func=query(lambda a, c: c.governance_proposals(a.status, a.limit)))
    p = command("validators", "the validator set that certifies a height (default: the next block)", sub)
    p.add_argument("--height", type=int)
    p.set_defaults(func=query(lambda a, c: c.validator_set(a.height)))
    p = command("history", "every validator set since genesis", sub)
    p.set_defaults(func=query(lambda a, c: c.validator_history()))
