"""node.mempool: admission with stable codes, bounded size, in-flight batches, and signatures verified once."""

from __future__ import annotations

from typing import Any

import pytest

from node import chain, crypto
from node.ledger.payloads import check_payload
from node.mempool import Mempool, MempoolError, VerifiedCache

CHAIN = "wc-test"
NOW = 1_800_000_000_000
HOUR = 3_600_000


def _tx(key: crypto.SigningKey, nonce: int = 1, **body: Any) -> chain.SignedTx:
    fields: dict[str, Any] = {
        "chain_id": CHAIN, "type": "split", "sender": key.address, "nonce": nonce, "expires": NOW + HOUR,
        "payload": {"warrant": "ab" * 32, "amounts": [1, 2]},
    }
    fields.update(body)
    return chain.sign_tx(key, fields)


def _pool(committed: set[bytes] | None = None, max_txs: int = 10) -> Mempool:
    done = committed if committed is not None else set()
    return Mempool(
        chain_id=CHAIN, max_txs=max_txs, max_bytes=1 << 20, max_ttl_ms=24 * HOUR,
        is_committed=done.__contains__, check_payload=check_payload,
    )


@pytest.fixture(scope="module")
def key() -> crypto.SigningKey:
    return crypto.generate_key()


def test_admits_once_and_reports_duplicates(key) -> None:
    pool = _pool()
    tx = _tx(key)
    first, new = pool.add(tx.raw, NOW)
    again, new_again = pool.add(tx, NOW)
    assert new and not new_again and again is first
    assert len(pool) == 1 and tx.id in pool and pool.size_bytes == len(tx.raw)


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda k: b"{not json", "MALFORMED_TX"),
        (lambda k: _tx(k, chain_id="other-chain"), "WRONG_CHAIN"),
        (lambda k: _tx(k, expires=NOW - 1), "TX_EXPIRED"),
        (lambda k: _tx(k, expires=NOW + 25 * HOUR), "TX_TTL_TOO_LONG"),
        (lambda k: _tx(k, type="teleport"), "UNKNOWN_TX_TYPE"),
        (lambda k: _tx(k, payload={"warrant": "ab" * 32, "amounts": [0, 1]}), "AMOUNT_OUT_OF_RANGE"),
        (lambda k: _tx(k, payload={"warrant": "zz", "amounts": [1, 1]}), "INVALID_PAYLOAD"),
        (lambda k: chain.sign_tx(crypto.generate_key(), _tx(k).body), "BAD_SIGNATURE"),
    ],
)
def test_refusals_have_stable_codes(key, make, code: str) -> None:
    item = make(key)
    with pytest.raises(MempoolError) as refused:
        _pool().add(item if isinstance(item, bytes) else item.raw, NOW)
    assert refused.value.code == code and refused.value.message


def test_forged_signature_is_refused(key) -> None:
    tx = _tx(key)
    forged = chain.SignedTx(tx.body, tx.pubkey, bytes(64 - 1) + b"\x01")
    with pytest.raises(MempoolError) as refused:
        _pool().add(forged, NOW)
    assert refused.value.code == "BAD_SIGNATURE"


def test_replay_of_a_committed_transaction(key) -> None:
    tx = _tx(key)
    with pytest.raises(MempoolError) as refused:
        _pool(committed={tx.id}).add(tx, NOW)
    assert refused.value.code == "TX_ALREADY_COMMITTED"


def test_full_for_clients_with_headroom_for_relays(key) -> None:
    pool = _pool(max_txs=3)
    for nonce in range(3):
        pool.add(_tx(key, nonce), NOW)
    with pytest.raises(MempoolError) as refused:
        pool.add(_tx(key, 99), NOW)
    assert refused.value.code == "MEMPOOL_FULL"
    pool.add(_tx(key, 100), NOW, relayed=True)  # what a peer admitted is still taken
    assert len(pool) == 4


def test_take_marks_in_flight_and_release_makes_them_proposable_again(key) -> None:
    pool = _pool()
    txs = [pool.add(_tx(key, n), NOW)[0] for n in range(5)]
    first = pool.take(3, 1 << 20, NOW)
    assert [t.id for t in first] == [t.id for t in txs[:3]]  # arrival order
    assert [t.id for t in pool.take(10, 1 << 20, NOW)] == [t.id for t in txs[3:]]
    assert pool.take(10, 1 << 20, NOW) == [] and pool.pending() == 0
    pool.remove_committed(first)
    pool.release_in_flight()  # the view changed before txs[3:] committed
    assert [t.id for t in pool.take(10, 1 << 20, NOW)] == [t.id for t in txs[3:]]
    assert len(pool) == 2


def test_take_respects_byte_limits_and_drops_expired(key) -> None:
    pool = _pool()
    short = pool.add(_tx(key, 1, expires=NOW + 10), NOW)[0]
    kept = [pool.add(_tx(key, n), NOW)[0] for n in range(2, 5)]
    batch = pool.take(10, len(kept[0].raw) * 2, NOW + 11)
    assert [t.id for t in batch] == [t.id for t in kept[:2]]
    assert short.id not in pool


def test_verified_cache_verifies_each_signature_once(key, monkeypatch) -> None:
    cache = VerifiedCache(limit=2)
    calls = []
    original = chain.SignedTx.verify
    monkeypatch.setattr(chain.SignedTx, "verify", lambda self: (calls.append(self.id), original(self))[1])
    a, b, c = (_tx(key, n) for n in range(3))
    cache.check(a)
    cache.check(a)
    assert calls == [a.id]
    cache.check(b)
    cache.check(c)  # evicts a
    cache.check(a)
    assert calls == [a.id, b.id, c.id, a.id]
