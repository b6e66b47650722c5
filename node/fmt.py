"""How values read to a person: one module for the command line, the demo and error messages.

The chain keeps amounts in fen and times in epoch milliseconds; people read ``1,234,567.89 CNY``
and ``2026-03-31T08:00:00.000Z (in 3 days)``. Everything here is pure and deterministic given its
arguments (no clock is read unless the caller passes none), so the ledger may use it in the
messages it records: every validator writes the same bytes.

Schema errors from msgspec name a regex (``Expected `str` matching regex '^wc[0-9a-f]{40}$'``);
:func:`explain_validation` says the same in words (``expected an account address (wc and 40
lowercase hex digits)``).
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Mapping
from typing import Any

__all__ = [
    "AMOUNT_FIELDS",
    "TIME_FIELDS",
    "amount",
    "describe_event",
    "explain_validation",
    "party",
    "relative",
    "render",
    "short",
    "when",
]

# Field names whose integer values are amounts in minor units, or times in epoch milliseconds.
AMOUNT_FIELDS = frozenset({
    "amount", "total", "advance", "limit", "used", "available", "outstanding", "paid", "principal", "allocated",
    "held_outstanding", "incoming_outstanding", "free",
})
TIME_FIELDS = frozenset({
    "time", "time_ms", "maturity", "issued_at", "offer_expires", "expires", "genesis_time_ms", "due",
})


def amount(fen: int, currency: str = "CNY") -> str:
    """``123456789`` -> ``"1,234,567.89 CNY"`` (integer arithmetic: minor units are hundredths)."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole:,}.{cents:02d} {currency}"


def when(ms: int, now_ms: int | None = None) -> str:
    """ISO 8601 in UTC with its zone, and how far from ``now_ms`` it is when that is given:
    ``2026-03-31T08:00:00.000Z (in 3 days)``."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return text if now_ms is None else f"{text} ({relative(ms, now_ms)})"


def relative(ms: int, now_ms: int | None = None) -> str:
    """``"in 3 days"``, ``"5 minutes ago"``, ``"now"``: the largest whole unit of the distance."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    delta = ms - now
    span = abs(delta)
    if span < 1000:
        return "now"
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000)):
        if span >= size:
            count = span // size
            words = f"{count} {unit}{'' if count == 1 else 's'}"
            return f"in {words}" if delta > 0 else f"{words} ago"
    return "now"  # unreachable: span >= 1000 matches "second"


def short(text: str | None, width: int = 12) -> str:
    """An id or address cut to ``width`` characters with an ellipsis (``-`` for none)."""
    return "-" if not text else text[:width] + ("…" if len(text) > width else "")


def party(address: str | None, names: Mapping[str, str] | None = None) -> str:
    """``"Delta Seats Co. (wc1a2b3c4d…)"`` when the chain knows the name, else the address."""
    if not address:
        return "-"
    name = (names or {}).get(address)
    return f"{name} ({short(address)})" if name else address


# -- schema errors in words -------------------------------------------------------------------------

_PATTERNS = {
    "^wc[0-9a-f]{40}$": "an account address (wc and 40 lowercase hex digits)",
    "^[0-9a-f]{64}$": "64 lowercase hex digits (an id or a SHA-256 hash)",
    "^[A-Z]{3}$": "a three-letter currency code such as CNY",
    "^0[23][0-9a-f]{64}$": "a compressed public key (66 lowercase hex digits starting 02 or 03)",
    r"^[^:\s]+:\d{1,5}$": "host:port, e.g. 127.0.0.1:26600",
    "^[0-9a-f]{128}$": "a signature: 128 lowercase hex digits (r and s, 32 bytes each)",
    "^[a-z0-9][a-z0-9-]{0,62}$": "a chain id: lowercase letters, digits and dashes, at most 63",
    "^[a-z][a-z_]{0,31}$": "a lowercase word of letters and underscores, at most 32 (e.g. invoice)",
}
_TYPES = {"int": "a whole number", "str": "text", "bool": "true or false", "array": "a list", "object": "an object",
          "null": "nothing", "float": "a number with a fraction"}
_MSGSPEC = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _type_words(name: str) -> str:
    return _TYPES.get(name, name)


def _what_in_words(what: str) -> str:
    regex = re.fullmatch(r"Expected `str` matching regex '(.*)'", what)
    if regex:
        pattern = regex[1]
        if pattern in _PATTERNS:
            return f"expected {_PATTERNS[pattern]}"
        if pattern.startswith("^[a-z]"):
            return "expected a lowercase word (letters and underscores, e.g. invoice)"
        return "expected text in a different format (see docs/PROTOCOL.md for the field)"
    bound = re.fullmatch(r"Expected `(\w+)` (>=|<=|>|<) (-?\d+)", what)
    if bound:
        kind, op, limit = bound[1], bound[2], int(bound[3])
        words = {">=": "at least", "<=": "at most", ">": "greater than", "<": "less than"}[op]
        limit_text = "2^63-1" if limit == 2**63 - 1 else f"{limit:,}" if abs(limit) >= 10_000 else str(limit)
        return f"expected {_type_words(kind)} {words} {limit_text}"
    length = re.fullmatch(r"Expected `(\w+)` of length (>=|<=) (\d+)", what)
    if length:
        words = "at least" if length[2] == ">=" else "at most"
        unit = ("character" if length[3] == "1" else "characters") if length[1] == "str" else (
            "item" if length[3] == "1" else "items")
        return f"expected {_type_words(length[1])} of {words} {length[3]} {unit}"
    got = re.fullmatch(r"Expected `(.+?)`, got `(\w+)`", what)
    if got:
        wanted = " or ".join(_type_words(t.strip()) for t in got[1].split("|"))
        return f"expected {wanted}, got {_type_words(got[2])}"
    choice = re.fullmatch(r"Invalid enum value (.*)", what)
    if choice:
        return f"{choice[1]} is not an allowed value"
    return what.replace("`", "")


def explain_validation(text: str, root: str = "") -> tuple[str, str]:
    """A msgspec ValidationError's text as (field path, message in words).

    ``'Expected `str` matching regex '^wc[0-9a-f]{40}$' - at `$.to`'`` with ``root="payload"`` ->
    ``("payload.to", "payload.to: expected an account address (wc and 40 lowercase hex digits)")``.
    """
    match = _MSGSPEC.match(text)
    assert match is not None  # the pattern matches any text
    what, path = match["what"], match["path"] or ""
    unknown = re.match(r"Object contains unknown field `(.*)`$", what)
    if unknown:  # msgspec reports the object's path; name the field itself
        path, what = f"{path}.{unknown[1]}", "unknown field"
    missing = re.match(r"Object missing required field `(.*)`$", what)
    if missing:
        path, what = f"{path}.{missing[1]}", "required field missing"
    words = _what_in_words(what)
    field = (root + path) if root else path.lstrip(".")
    message = f"{field}: {words[:1].lower()}{words[1:]}" if field else words
    return field, message


# -- whole values, for the command line -------------------------------------------------------------

def _scalar(key: str, value: Any, currency: str, names: Mapping[str, str], now_ms: int | None) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "-"}[value]
    if isinstance(value, int):
        if key in AMOUNT_FIELDS:
            return amount(value, currency)
        if key in TIME_FIELDS and value > 0:
            return when(value, now_ms)
        return str(value)
    text = str(value)
    if text.startswith("wc") and len(text) == 42:
        return party(text, names)
    return text


def render(value: Any, names: Mapping[str, str] | None = None, now_ms: int | None = None,
           currency: str = "CNY", indent: int = 0) -> list[str]:
    """A query's answer as indented ``key: value`` lines: amounts with their currency, times in ISO
    8601 with the distance from now, names beside addresses, lists one item per line."""
    names = names or {}
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        cur = value.get("currency", currency) if isinstance(value.get("currency"), str) else currency
        for key, item in value.items():
            label = (key[:-3] if key.endswith("_ms") else key).replace("_", " ")
            if isinstance(item, Mapping):
                lines.append(f"{pad}{label}:" + ("" if item else " -"))
                lines.extend(render(item, names, now_ms, cur, indent + 1))
            elif isinstance(item, list) and any(isinstance(x, (Mapping, list)) for x in item):
                lines.append(f"{pad}{label}: ({len(item)})")
                for entry in item:
                    sub = render(entry, names, now_ms, cur, indent + 2)
                    if sub:
                        first = sub[0].lstrip()
                        lines.append(f"{pad}  - {first}")
                        lines.extend(sub[1:])
            elif isinstance(item, list):
                shown = ", ".join(_scalar(key, x, cur, names, now_ms) for x in item)
                lines.append(f"{pad}{label}: {shown or '-'}")
            else:
                lines.append(f"{pad}{label}: {_scalar(key, item, cur, names, now_ms)}")
    elif isinstance(value, list):
        for entry in value:
            lines.extend(render(entry, names, now_ms, currency, indent))
    else:
        lines.append(f"{pad}{_scalar('', value, currency, names, now_ms)}")
    return lines


# -- ledger events in words -------------------------------------------------------------------------

_SKIP = frozenset({"type", "accounts", "warrants", "tx", "height"})
_PROPOSAL_LINES = {  # governance events (docs/LEDGER.md 10.1)
    "validator_change_proposed": "proposal {proposal}: {action} validator {who}, {approvals} of {required} approvals, "
                                 "open until {until}",
    "validator_change_approved": "proposal {proposal} approved: {approvals} of {required} approvals",
    "validator_change_expired": "proposal {proposal} expired: {approvals} of {required} approvals",
}


def describe_event(event: Mapping[str, Any], names: Mapping[str, str] | None = None, currency: str = "CNY",
                   now_ms: int | None = None) -> list[str]:
    """A ledger event (docs/LEDGER.md) as one or more lines a person reads.

    Warrant ids stay whole (they are what the next command takes); addresses show their names."""
    names = names or {}
    cur = str(event.get("currency", currency))
    kind = str(event.get("type", "event"))

    def a(key: str) -> str:
        return amount(int(event[key]), cur)

    def p(key: str) -> str:
        return party(event.get(key), names)

    wid = event.get("warrant", "")
    if kind == "account_registered":
        return [f"registered {event['name']} ({event['address']}) as {event['role']}"]
    if kind == "role_changed":
        return [f"{p('address')} now has role {event['role']} (was {event['previous']})"]
    if kind == "credit_line_set":
        return [f"{p('financier')} gives {p('core')} a credit line of {a('limit')} ({a('used')} used)"]
    if kind == "warrant_issued":
        return [f"issued warrant {wid} of {a('amount')} to {p('to')}, maturing {when(int(event['maturity']), now_ms)}; "
                "pending until the payee accepts"]
    if kind == "warrant_accepted":
        return [f"{p('holder')} accepted warrant {wid} ({a('amount')})"]
    if kind in ("offer_rejected", "offer_expired"):
        how = "rejected by" if kind == "offer_rejected" else "expired unanswered by"
        return [f"the offer of warrant {wid} was {how} {p('recipient')}; it is {event['status']}, held by {p('holder')}"]
    if kind == "warrant_transferred":
        lines = [f"{a('amount')} of warrant {wid} offered to {p('to')} as warrant {event.get('offered', '-')}"]
        if event.get("kept"):
            lines.append(f"the rest stays with the sender as warrant {event['kept']}")
        return lines
    if kind == "warrant_split":
        parts = ", ".join(f"{child} ({amount(int(part), cur)})"
                          for child, part in zip(event.get("children", []), event.get("amounts", [])))
        return [f"warrant {wid} split into {parts}"]
    if kind == "financing_requested":
        return [f"asked {p('financier')} to finance warrant {wid} by {event['mode']}, advance {a('advance')}"]
    if kind == "financing_approved":
        return [f"{p('financier')} approved the {event['mode']} financing of warrant {wid}, advance {a('advance')}; "
                f"holder {p('holder')}"]
    if kind in ("financing_rejected", "pledge_released"):
        what = "rejected the financing request of" if kind == "financing_rejected" else "released its pledge on"
        return [f"{p('financier')} {what} warrant {wid}"]
    if kind == "warrant_settled":
        lines = [f"settled {a('amount')} of warrant {wid}:"]
        for pay in event.get("payments", []):
            pledge = f", pledged to {party(pay['pledgee'], names)}" if pay.get("pledgee") else ""
            lines.append(f"  paid {amount(int(pay['amount']), cur)} to {party(pay['holder'], names)} "
                         f"(warrant {pay['warrant']}, now {pay['status']}{pledge})")
        return lines
    if kind == "warrant_overdue":
        return [f"warrant {wid} is overdue: {a('outstanding')} outstanding from {p('issuer')} to {p('holder')}"]
    if kind in _PROPOSAL_LINES:
        return [_PROPOSAL_LINES[kind].format_map({**event, "who": p("address"), "until": when(int(event.get("expires", 0)), now_ms)})]
    if kind == "epoch_scheduled":
        epoch = event["epoch"]
        return [f"epoch {epoch['epoch']} scheduled: {len(epoch['validators'])} validators certify blocks from height "
                f"{epoch['first_height']} (record {short(str(event['hash']), 16)})"]
    if kind in ("warrant_frozen", "warrant_unfrozen"):
        return [f"warrant {wid} {'frozen' if kind == 'warrant_frozen' else 'unfrozen'}: {event.get('reason', '')}"]
    fields = "; ".join(f"{key.replace('_', ' ')} {_scalar(key, value, cur, names, now_ms)}"
                       for key, value in event.items() if key not in _SKIP and not isinstance(value, (list, dict)))
    return [f"{kind.replace('_', ' ')}: {fields}"]
