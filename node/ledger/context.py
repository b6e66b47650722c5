"""What a handler runs with: the block context (from the header) and the per-transaction view."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from node.kernel.genesis import ChainParams
from node.ledger.state import Overlay

__all__ = ["BlockContext", "Exec"]


@dataclass(frozen=True)
class BlockContext:
    """The block a transaction executes in. ``time_ms`` is the header's time: the ledger's only clock."""

    height: int
    time_ms: int
    chain_id: str
    params: ChainParams


class Exec:
    """One transaction's execution: the state, who signed, and the events it produced so far."""

    __slots__ = ("events", "height", "params", "sender", "state", "time", "tx_hex", "tx_id")

    def __init__(self, state: Overlay, tx_id: bytes, sender: str, ctx: BlockContext) -> None:
        self.state = state
        self.tx_id = tx_id
        self.tx_hex = tx_id.hex() if tx_id else ""
        self.sender = sender
        self.height = ctx.height
        self.time = ctx.time_ms
        self.params = ctx.params
        self.events: list[dict[str, Any]] = []

    def emit(self, kind: str, *, accounts: Iterable[str | None], warrants: Iterable[str], **fields: Any) -> None:
        """Record an event that concerns ``accounts`` and ``warrants`` (every party, by name).

        The sender is always one of its accounts. Subscriptions are routed by these two lists and
        nothing else, so a handler names every party: holder, recipient, payee, financier, pledgee,
        issuer, whoever the event moves value to or from.
        """
        parties: set[Any] = set(accounts)  # then without the empty names: cheaper than a filtering comprehension
        parties.discard(None)
        parties.discard("")
        if self.sender:
            parties.add(self.sender)
        fields["type"] = kind
        fields["accounts"] = sorted(parties)
        fields["warrants"] = sorted(set(warrants))
        self.events.append(fields)
