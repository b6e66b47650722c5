"""The warrant ledger: a deterministic state machine over the node's key-value state.

Entry points for the daemon and RPC (docs/LEDGER.md):

- ``genesis_state(genesis) -> (writes, state_root)``;
- ``execute_block(reader, txs, ctx) -> BlockOutcome`` with ``ctx = BlockContext(height, time_ms,
  chain_id, params)``;
- ``check_payload(tx_type, payload)`` / ``PAYLOADS`` for stateless mempool checks;
- ``queries``: ``get_warrant``, ``lineage``, ``holdings``, ``get_account``, ``get_document``,
  ``get_credit_line``.
"""

from __future__ import annotations

from node.ledger.codes import Code, LedgerError, number_of
from node.ledger.context import BlockContext
from node.ledger.dispatch import HANDLERS, BlockOutcome, TxResult, apply, check_envelope, execute_block
from node.ledger.housekeeping import next_due
from node.ledger.initial import genesis_state
from node.ledger.payloads import PAYLOADS, check_payload
from node.ledger.state import DictReader, Overlay

__all__ = [
    "HANDLERS",
    "PAYLOADS",
    "BlockContext",
    "BlockOutcome",
    "Code",
    "DictReader",
    "LedgerError",
    "Overlay",
    "TxResult",
    "apply",
    "check_envelope",
    "check_payload",
    "execute_block",
    "genesis_state",
    "next_due",
    "number_of",
]
