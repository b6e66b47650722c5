"""The ledger's error codes: one stable string per reason a transaction is refused.

A refused transaction is recorded in its block as failed, with its code and a message a person can
act on; a code never changes meaning once released. Each code also has a number in 4000-4999 for
JSON-RPC errors (the RPC maps a :class:`LedgerError` to ``{"code": number, "message": ...,
"data": {"reason": code}}``). The list is repeated in docs/LEDGER.md.
"""

from __future__ import annotations

from enum import Enum

from node.errors import WarrantChainError

__all__ = ["Code", "LedgerError", "number_of"]


class Code(str, Enum):
    """Stable reason codes. The value is what goes into results and RPC errors."""

    OK = "OK"
    # envelope and schema (4000-4099): stateless, the mempool can check these
    UNKNOWN_TX_TYPE = "UNKNOWN_TX_TYPE"
    INVALID_PAYLOAD = "INVALID_PAYLOAD"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    WRONG_CHAIN = "WRONG_CHAIN"
    TX_EXPIRED = "TX_EXPIRED"
    TX_TTL_TOO_LONG = "TX_TTL_TOO_LONG"
    DUPLICATE_TX = "DUPLICATE_TX"
    # accounts and authorization (4100-4199)
    NOT_ADMIN = "NOT_ADMIN"
    UNKNOWN_SENDER = "UNKNOWN_SENDER"
    UNKNOWN_ACCOUNT = "UNKNOWN_ACCOUNT"
    ACCOUNT_EXISTS = "ACCOUNT_EXISTS"
    WRONG_ROLE = "WRONG_ROLE"
    NOT_HOLDER = "NOT_HOLDER"
    NOT_RECIPIENT = "NOT_RECIPIENT"
    NOT_ISSUER = "NOT_ISSUER"
    NOT_FINANCIER = "NOT_FINANCIER"
    SELF_TRANSFER = "SELF_TRANSFER"
    # documents and credit (4200-4299)
    DOCUMENT_EXISTS = "DOCUMENT_EXISTS"
    UNKNOWN_DOCUMENT = "UNKNOWN_DOCUMENT"
    DOCUMENT_OVER_ALLOCATED = "DOCUMENT_OVER_ALLOCATED"
    ALLOCATION_MISMATCH = "ALLOCATION_MISMATCH"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    UNKNOWN_CREDIT_LINE = "UNKNOWN_CREDIT_LINE"
    CREDIT_LINE_EXCEEDED = "CREDIT_LINE_EXCEEDED"
    CREDIT_LIMIT_BELOW_USED = "CREDIT_LIMIT_BELOW_USED"
    # warrants (4300-4399)
    UNKNOWN_WARRANT = "UNKNOWN_WARRANT"
    WARRANT_NOT_ACTIVE = "WARRANT_NOT_ACTIVE"
    WARRANT_NOT_PENDING = "WARRANT_NOT_PENDING"
    WARRANT_TERMINAL = "WARRANT_TERMINAL"
    WARRANT_FROZEN = "WARRANT_FROZEN"
    WARRANT_NOT_FROZEN = "WARRANT_NOT_FROZEN"
    WARRANT_PLEDGED = "WARRANT_PLEDGED"
    FINANCING_PENDING = "FINANCING_PENDING"
    WARRANT_MATURED = "WARRANT_MATURED"
    MATURITY_IN_PAST = "MATURITY_IN_PAST"
    OFFER_EXPIRY_INVALID = "OFFER_EXPIRY_INVALID"
    OFFER_EXPIRED = "OFFER_EXPIRED"
    AMOUNT_EXCEEDS_WARRANT = "AMOUNT_EXCEEDS_WARRANT"
    SPLIT_SUM_MISMATCH = "SPLIT_SUM_MISMATCH"
    # financing (4400-4499)
    NO_FINANCING_REQUEST = "NO_FINANCING_REQUEST"
    ADVANCE_EXCEEDS_AMOUNT = "ADVANCE_EXCEEDS_AMOUNT"
    NOT_PLEDGED = "NOT_PLEDGED"
    # settlement and overdue (4500-4599)
    NOT_MATURED = "NOT_MATURED"
    AMOUNT_EXCEEDS_OUTSTANDING = "AMOUNT_EXCEEDS_OUTSTANDING"
    NOTHING_TO_SETTLE = "NOTHING_TO_SETTLE"
    NOT_YET_OVERDUE = "NOT_YET_OVERDUE"


_NUMBERS: dict[Code, int] = {
    Code.OK: 0,
    Code.UNKNOWN_TX_TYPE: 4000,
    Code.INVALID_PAYLOAD: 4001,
    Code.AMOUNT_OUT_OF_RANGE: 4002,
    Code.WRONG_CHAIN: 4003,
    Code.TX_EXPIRED: 4004,
    Code.TX_TTL_TOO_LONG: 4005,
    Code.DUPLICATE_TX: 4006,
    Code.NOT_ADMIN: 4100,
    Code.UNKNOWN_SENDER: 4101,
    Code.UNKNOWN_ACCOUNT: 4102,
    Code.ACCOUNT_EXISTS: 4103,
    Code.WRONG_ROLE: 4104,
    Code.NOT_HOLDER: 4105,
    Code.NOT_RECIPIENT: 4106,
    Code.NOT_ISSUER: 4107,
    Code.NOT_FINANCIER: 4108,
    Code.SELF_TRANSFER: 4109,
    Code.DOCUMENT_EXISTS: 4200,
    Code.UNKNOWN_DOCUMENT: 4201,
    Code.DOCUMENT_OVER_ALLOCATED: 4202,
    Code.ALLOCATION_MISMATCH: 4203,
    Code.CURRENCY_MISMATCH: 4204,
    Code.UNKNOWN_CREDIT_LINE: 4205,
    Code.CREDIT_LINE_EXCEEDED: 4206,
    Code.CREDIT_LIMIT_BELOW_USED: 4207,
    Code.UNKNOWN_WARRANT: 4300,
    Code.WARRANT_NOT_ACTIVE: 4301,
    Code.WARRANT_NOT_PENDING: 4302,
    Code.WARRANT_TERMINAL: 4303,
    Code.WARRANT_FROZEN: 4304,
    Code.WARRANT_NOT_FROZEN: 4305,
    Code.WARRANT_PLEDGED: 4306,
    Code.FINANCING_PENDING: 4307,
    Code.WARRANT_MATURED: 4308,
    Code.MATURITY_IN_PAST: 4309,
    Code.OFFER_EXPIRY_INVALID: 4310,
    Code.OFFER_EXPIRED: 4311,
    Code.AMOUNT_EXCEEDS_WARRANT: 4312,
    Code.SPLIT_SUM_MISMATCH: 4313,
    Code.NO_FINANCING_REQUEST: 4400,
    Code.ADVANCE_EXCEEDS_AMOUNT: 4401,
    Code.NOT_PLEDGED: 4402,
    Code.NOT_MATURED: 4500,
    Code.AMOUNT_EXCEEDS_OUTSTANDING: 4501,
    Code.NOTHING_TO_SETTLE: 4502,
    Code.NOT_YET_OVERDUE: 4503,
}


def number_of(code: Code | str) -> int:
    """The JSON-RPC error number of ``code`` (4000-4999; 0 for OK)."""
    return _NUMBERS[Code(code)]


class LedgerError(WarrantChainError):
    """A transaction is refused: ``code`` is stable, ``message`` says what to change."""

    def __init__(self, code: Code, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message

    @property
    def number(self) -> int:
        return _NUMBERS[self.code]
