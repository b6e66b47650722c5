"""Executing transactions: ``apply`` one, ``execute_block`` a whole block.

``apply`` runs the checks every transaction shares (replay, chain id, expiry window, payload
schema), then the handler for its type from :data:`HANDLERS`, inside a savepoint: a refused
transaction changes nothing except the record that its id was included (so it can never be
included again). The result is canonical JSON (docs/LEDGER.md)::

    {"code":"OK","events":[{...},...],"ok":true}
    {"code":"WARRANT_FROZEN","message":"...","ok":false}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from node.kernel import codec, merkle
from node.kernel.chain import SignedTx
from node.ledger import accounts, credit, documents, financing, governance, model, regulation, settlement, warrants
from node.ledger.codes import Code, LedgerError
from node.ledger.context import BlockContext, Exec
from node.ledger.envelope import check_envelope
from node.ledger.housekeeping import run_housekeeping
from node.ledger.payloads import check_payload
from node.ledger.state import Overlay, StateReaderLike

__all__ = ["HANDLERS", "BlockOutcome", "TxResult", "apply", "execute_block"]

_OK = Code.OK.value  # an Enum member's .value costs a descriptor call (~0.3 us); once per transaction

HANDLERS: dict[str, Callable[[Exec, Any], None]] = {
    "register_account": accounts.handle_register_account,
    "set_role": accounts.handle_set_role,
    "set_credit_line": credit.handle_set_credit_line,
    "anchor_document": documents.handle_anchor_document,
    "confirm_document": documents.handle_confirm_document,
    "dispute_document": documents.handle_dispute_document,
    "undispute_document": documents.handle_undispute_document,
    "issue": warrants.handle_issue,
    "accept": warrants.handle_accept,
    "reject": warrants.handle_reject,
    "transfer": warrants.handle_transfer,
    "split": warrants.handle_split,
    "request_financing": financing.handle_request_financing,
    "approve_financing": financing.handle_approve_financing,
    "reject_financing": financing.handle_reject_financing,
    "release_pledge": financing.handle_release_pledge,
    "settle": settlement.handle_settle,
    "mark_overdue": settlement.handle_mark_overdue,
    "freeze": regulation.handle_freeze,
    "unfreeze": regulation.handle_unfreeze,
    "propose_validator_change": governance.handle_propose,
    "approve_validator_change": governance.handle_approve,
}


class TxResult(msgspec.Struct, frozen=True):
    """Outcome of one transaction: success with events, or a stable code and a message.

    A Struct rather than a frozen dataclass: made once per transaction on every node, and a frozen
    dataclass's ``__init__`` (one ``object.__setattr__`` per field) costs eight times as much."""

    ok: bool
    code: str
    message: str = ""
    events: list[dict[str, Any]] = msgspec.field(default_factory=list)

    def encode(self) -> bytes:
        if self.ok:
            return codec.encode({"code": self.code, "events": self.events, "ok": True})
        return codec.encode({"code": self.code, "message": self.message, "ok": False})

    @classmethod
    def failure(cls, error: LedgerError) -> TxResult:
        return cls(False, error.code.value, error.message)


@dataclass
class BlockOutcome:
    """What the daemon hands to ``Store.commit_block``, plus for subscribers and metrics the
    housekeeping events and each transaction's result as a value (``tx_results[i]`` is what
    ``results[i]`` encodes), so nobody decodes what was just encoded."""

    results: list[bytes]
    writes: dict[bytes, bytes | None]
    state_root: bytes
    results_root: bytes
    housekeeping: list[dict[str, Any]] = field(default_factory=list)
    tx_results: list[TxResult] = field(default_factory=list)


def apply(state: Overlay, tx: SignedTx, ctx: BlockContext) -> TxResult:
    """Execute ``tx`` (signature already verified) on ``state``; never raises LedgerError."""
    tx_key = model.key_tx(tx.id)
    if state.get(tx_key) is not None:
        return TxResult(False, Code.DUPLICATE_TX.value, f"transaction {tx.id_hex} was already included in a block")
    body = tx.body
    ex = Exec(state, tx.id, body.sender, ctx)
    state.savepoint()
    try:
        check_envelope(body, ctx.chain_id, ctx.time_ms, ctx.params.max_tx_ttl_ms)
        payload = tx.typed if tx.typed is not None else check_payload(body.type, body.payload)
        HANDLERS[body.type](ex, payload)
    except LedgerError as error:
        state.rollback()
        result = TxResult.failure(error)
    else:
        state.release()
        result = TxResult(True, _OK, "", ex.events)
    state.put(tx_key, b"%d" % ctx.height)
    return result


def execute_block(reader: StateReaderLike, txs: Sequence[SignedTx], ctx: BlockContext) -> BlockOutcome:
    """Run block-start housekeeping, then every transaction in order, on top of committed state."""
    state = Overlay(reader)
    housekeeping = run_housekeeping(state, ctx)
    tx_results = [apply(state, tx, ctx) for tx in txs]
    results = [result.encode() for result in tx_results]
    writes, state_root = state.finish()
    return BlockOutcome(results, writes, state_root, merkle.merkle_root(results), housekeeping, tx_results)
