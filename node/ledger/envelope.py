"""The envelope check: chain id and expiry window, the one home of both.

The mempool runs it against this node's clock at admission, the ledger against the block time at
execution (``dispatch.apply``), so a transaction the mempool admits fails at execution only if
time moved past its expiry meanwhile. The ledger's wording is part of committed results (a
replica re-executing old blocks must produce the same bytes): it must never change; ``clock`` only
names which clock the message talks about.
"""

from __future__ import annotations

from node import fmt
from node.kernel.chain import TxBody
from node.ledger.codes import Code, LedgerError

__all__ = ["BLOCK_TIME", "NODE_CLOCK", "check_envelope"]

BLOCK_TIME = "block time"  # execution: the header's time
NODE_CLOCK = "node clock"  # admission: the mempool's clock


def check_envelope(body: TxBody, chain_id: str, time_ms: int, max_ttl_ms: int, clock: str = BLOCK_TIME) -> None:
    """Raise LedgerError (WRONG_CHAIN, TX_EXPIRED, TX_TTL_TOO_LONG) unless ``body`` is for
    ``chain_id`` and ``time_ms`` lies in its window: not after ``expires``, at most ``max_ttl_ms``
    before it."""
    if body.chain_id != chain_id:
        raise LedgerError(Code.WRONG_CHAIN, f"transaction is for chain {body.chain_id!r}, this is {chain_id!r}")
    if time_ms > body.expires:
        raise LedgerError(Code.TX_EXPIRED, f"transaction expired at {fmt.when(body.expires, time_ms)}; "
                          f"{clock} is {fmt.when(time_ms)}; sign it again")
    if body.expires - time_ms > max_ttl_ms:
        raise LedgerError(
            Code.TX_TTL_TOO_LONG,
            f"expires {fmt.when(body.expires, time_ms)}, more than {max_ttl_ms // 1000:,} seconds "
            f"after the {clock} {fmt.when(time_ms)}",
        )
