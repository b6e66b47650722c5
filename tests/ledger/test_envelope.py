"""Checks every transaction goes through before its handler: replay, chain, expiry, schema."""

from __future__ import annotations

import pytest

from node.errors import EncodingError
from node.kernel import codec, merkle
from node.ledger import PAYLOADS, Code, LedgerError, check_payload, number_of
from node.ledger.codes import _NUMBERS
from tests.ledger.world import HOUR, World


@pytest.fixture
def w() -> World:
    return World()


def test_every_code_has_a_unique_number_in_range() -> None:
    assert set(_NUMBERS) == set(Code)
    numbers = [n for c, n in _NUMBERS.items() if c is not Code.OK]
    assert len(set(numbers)) == len(numbers)
    assert all(4000 <= n <= 4999 for n in numbers)
    assert number_of("WARRANT_FROZEN") == 4304
    assert LedgerError(Code.WARRANT_FROZEN, "x").number == 4304


def test_success_result_shape(w: World) -> None:
    result = w.do("bank", "set_credit_line", core=w.addr("core"), currency="CNY", limit=5)
    assert result == {"ok": True, "code": "OK", "events": [
        {"type": "credit_line_set", "core": w.addr("core"), "financier": w.addr("bank"), "currency": "CNY",
         "limit": 5, "used": 0, "accounts": sorted([w.addr("core"), w.addr("bank")]), "warrants": []}]}
    raw = w.last_outcome.results[0]
    assert raw == codec.canonical(result)
    assert w.last_outcome.results_root == merkle.merkle_root(w.last_outcome.results)


def test_failure_result_shape(w: World) -> None:
    result = w.do("sup1", "set_credit_line", core=w.addr("core"), currency="CNY", limit=5)
    assert set(result) == {"ok", "code", "message"}
    assert result["code"] == "WRONG_ROLE" and "financier" in result["message"]


def test_wrong_chain(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5}, chain_id="other")
    w.fails_tx("WRONG_CHAIN", tx)


def test_expired(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5},
              expires=w.time - 1)
    w.fails_tx("TX_EXPIRED", tx)


def test_expires_exactly_at_block_time_is_accepted(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5}, expires=w.time)
    assert w.block([tx])[0]["ok"]


def test_ttl_too_long(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5},
              expires=w.time + w.params.max_tx_ttl_ms + 1)
    w.fails_tx("TX_TTL_TOO_LONG", tx)


def test_duplicate_in_a_later_block(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5})
    assert w.block([tx])[0]["ok"]
    w.fails_tx("DUPLICATE_TX", tx)


def test_duplicate_in_the_same_block(w: World) -> None:
    tx = w.tx("bank", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5})
    first, second = w.block([tx, tx])
    assert first["ok"] and second["code"] == "DUPLICATE_TX"


def test_failed_transaction_is_also_never_replayed(w: World) -> None:
    tx = w.tx("sup1", "set_credit_line", {"core": w.addr("core"), "currency": "CNY", "limit": 5})
    assert w.block([tx])[0]["code"] == "WRONG_ROLE"
    w.fails_tx("DUPLICATE_TX", tx)


def test_unknown_type(w: World) -> None:
    w.fails("UNKNOWN_TX_TYPE", "sup1", "mint_money", amount=5)
    with pytest.raises(LedgerError) as err:
        check_payload("mint_money", {})
    assert err.value.code is Code.UNKNOWN_TX_TYPE


def test_unknown_field(w: World) -> None:
    message = w.fails("INVALID_PAYLOAD", "bank", "set_credit_line", core=w.addr("core"), currency="CNY", limit=5,
                      extra=1)
    assert "extra" in message


def test_malformed_address(w: World) -> None:
    w.fails("INVALID_PAYLOAD", "bank", "set_credit_line", core="nobody", currency="CNY", limit=5)


@pytest.mark.parametrize("amount", [0, -1])
def test_amount_zero_or_negative(w: World, amount: int) -> None:
    wid = w.issue()
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "transfer", warrant=wid, to=w.addr("sup2"), amount=amount,
            offer_expires=w.time + HOUR)
    w.fails("AMOUNT_OUT_OF_RANGE", "sup1", "split", warrant=wid, amounts=[amount, 1_000_000])


def test_amount_over_int64() -> None:
    payload = {"warrant": "ab" * 32, "to": "wc" + "00" * 20, "amount": 2**63, "offer_expires": 1}
    with pytest.raises(LedgerError) as err:
        check_payload("transfer", payload)
    assert err.value.code is Code.AMOUNT_OUT_OF_RANGE
    payload["amount"] = 2**63 - 1
    assert check_payload("transfer", payload).amount == 2**63 - 1
    # and such a value can't even be put in a signed transaction
    with pytest.raises(EncodingError):
        codec.canonical({"amount": 2**63})


def test_float_amount_refused() -> None:
    with pytest.raises(LedgerError) as err:
        check_payload("settle", {"warrant": "ab" * 32, "amount": 1.5})
    assert err.value.code is Code.INVALID_PAYLOAD


def test_document_allocation_amount_out_of_range() -> None:
    payload = {"to": "wc" + "00" * 20, "amount": 5, "currency": "CNY", "maturity": 9, "credit_line": "wc" + "11" * 20,
               "documents": [{"doc": "ab" * 32, "amount": 0}], "offer_expires": 5}
    with pytest.raises(LedgerError) as err:
        check_payload("issue", payload)
    assert err.value.code is Code.AMOUNT_OUT_OF_RANGE


def test_payload_types_are_listed() -> None:
    assert {"issue", "accept", "reject", "transfer", "split", "request_financing", "approve_financing",
            "reject_financing", "release_pledge", "settle", "mark_overdue", "freeze", "unfreeze",
            "register_account", "set_role", "set_credit_line", "anchor_document", "confirm_document", "dispute_document",
            "undispute_document", "propose_validator_change", "approve_validator_change"} == set(PAYLOADS)
