"""What every ``warrant`` command shares: input formats, output, and talking to the node."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from node import fmt
from node.cli import passphrase
from node.errors import WarrantChainError
from node.kernel import crypto
from node.sdk.client import Client, RpcCallError

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


def argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` that reports our parse errors as usage errors, before any RPC."""
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except CliError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__
    return convert


def allocation(text: str) -> tuple[str, int | None]:
    doc, _, part = text.partition(":")
    return doc, parse_amount(part) if part else None


AMOUNT = argument(parse_amount)
TIME = argument(parse_time)
ALLOCATION = argument(allocation)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True))


short = fmt.short


def addresses(value: Any, out: set[str]) -> set[str]:
    """Every account address inside ``value`` (to look up the names shown beside them)."""
    if isinstance(value, str) and value.startswith("wc") and len(value) == 42:
        out.add(value)
    elif isinstance(value, dict):
        for item in value.values():
            addresses(item, out)
    elif isinstance(value, list):
        for item in value:
            addresses(item, out)
    return out


async def lookup_names(client: Client, value: Any, limit: int = 32) -> dict[str, str]:
    """The names the chain knows for the addresses in ``value`` (at most ``limit`` look-ups)."""
    names: dict[str, str] = {}
    for address in sorted(addresses(value, set()))[:limit]:
        try:
            name = (await client.account(address)).get("name", "")
        except RpcCallError:
            continue
        if name:
            names[address] = name
    return names


def now_ms() -> int:
    return int(time.time() * 1000)


# -- talking to the node ---------------------------------------------------------------------------

def rpc_failure(exc: RpcCallError) -> CliError:
    reason = f" [{exc.reason}]" if exc.reason else ""
    status = 3 if exc.code in _NODE_FAILURES else 2 if exc.code in _INPUT_ERRORS else 1
    return CliError(f"{exc.message} (code {exc.code}){reason}", status)


async def with_client(args: argparse.Namespace, work: Callable[[Client], Awaitable[int]]) -> int:
    async with Client(args.rpc, timeout=args.timeout) as client:
        try:
            return await work(client)
        except RpcCallError as exc:
            raise rpc_failure(exc) from None


def load_key(args: argparse.Namespace) -> crypto.SigningKey:
    return passphrase.load_key(args.key, args.passphrase_prompt)
