"""Credit lines: a financier sets how much a core enterprise may have outstanding in warrants."""

from __future__ import annotations

from node import fmt
from node.ledger import model, payloads
from node.ledger.codes import Code
from node.ledger.context import Exec
from node.ledger.model import CreditLine
from node.ledger.rules import fail, require_account, require_sender

__all__ = ["handle_set_credit_line", "load_credit", "restore_credit", "use_credit"]


def handle_set_credit_line(ex: Exec, p: payloads.SetCreditLine) -> None:
    require_sender(ex, "financier")
    require_account(ex.state, p.core, "core", what="core enterprise")
    key = model.key_credit(p.core, ex.sender)
    raw = ex.state.get(key)
    used = 0
    if raw is not None:
        line: CreditLine = model.load(raw, CreditLine)
        if line.currency != p.currency:
            raise fail(Code.CURRENCY_MISMATCH, f"the credit line is in {line.currency}; it can't change to {p.currency}")
        used = line.used
    if p.limit < used:
        raise fail(
            Code.CREDIT_LIMIT_BELOW_USED,
            f"{fmt.amount(used, line.currency)} of this line are used by outstanding warrants; "
            f"the limit can't go below that ({fmt.amount(p.limit, p.currency)} asked)",
        )
    line = CreditLine(core=p.core, financier=ex.sender, currency=p.currency, limit=p.limit, used=used,
                      set_tx=ex.tx_hex, set_height=ex.height)
    ex.state.put(key, model.dump(line))
    ex.emit("credit_line_set", accounts=[p.core], warrants=(), core=p.core, financier=ex.sender, currency=p.currency, limit=p.limit, used=used)


def load_credit(ex: Exec, core: str, financier: str) -> CreditLine:
    raw = ex.state.get(model.key_credit(core, financier))
    if raw is None:
        raise fail(Code.UNKNOWN_CREDIT_LINE, f"financier {financier} has set no credit line for {core}")
    return model.load(raw, CreditLine)  # type: ignore[no-any-return]


def use_credit(ex: Exec, core: str, financier: str, currency: str, amount: int) -> None:
    line = load_credit(ex, core, financier)
    if line.currency != currency:
        raise fail(Code.CURRENCY_MISMATCH, f"the credit line is in {line.currency}, the warrant in {currency}")
    if line.used + amount > line.limit:
        raise fail(
            Code.CREDIT_LINE_EXCEEDED,
            f"credit line of {financier} for {core} has {fmt.amount(line.limit - line.used, currency)} free; "
            f"{fmt.amount(amount, currency)} asked",
        )
    line.used += amount
    ex.state.put(model.key_credit(core, financier), model.dump(line))


def restore_credit(ex: Exec, core: str, financier: str, amount: int) -> None:
    """Give back ``amount`` to the line (issuance rejected, or settled)."""
    line = load_credit(ex, core, financier)
    line.used -= amount
    ex.state.put(model.key_credit(core, financier), model.dump(line))
