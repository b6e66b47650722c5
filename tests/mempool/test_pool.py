"""node.mempool.pool: admission with stable codes (registered senders only, a per-sender share), bounded
size, fair batches, in-flight batches, and signatures verified once."""

from __future__ import annotations

from typing import Any

import pytest

from node.kernel import chain, crypto
from node.ledger.payloads import check_payload
from node.mempool.pool import Mempool, MempoolError, VerifiedCache

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


def _pool(
    committed: set[bytes] | None = None, max_txs: int = 10, registered: set[str] | None = None,
    max_per_sender: int = 1000,
) -> Mempool:
    done = committed if committed is not None else set()
    return Mempool(
        chain_id=CHAIN, max_txs=max_txs, max_bytes=1 << 20, max_ttl_ms=24 * HOUR,
        is_committed=done.__contains__, check_payload=check_payload,
        is_registered=(lambda address: True) if registered is None else registered.__contains__,
        max_per_sender=max_per_sender,
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
    batch = pool.take(10, (len(kept[0].raw) + 1) * 2, NOW + 11)  # each costs its bytes and a separator
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


def test_unregistered_sender_is_refused_before_any_signature_check(key, monkeypatch) -> None:
    calls: list[bytes] = []
    monkeypatch.setattr(chain.SignedTx, "verify", lambda self: calls.append(self.id))
    pool = _pool(registered={"wc" + "0" * 40})
    with pytest.raises(MempoolError) as refused:
        pool.add(_tx(key), NOW)
    assert refused.value.code == "UNKNOWN_SENDER" and "register" in refused.value.message
    with pytest.raises(MempoolError):
        pool.add(_tx(key, 2), NOW, relayed=True)  # a peer can't bring them in either
    assert calls == [] and len(pool) == 0


def test_admins_and_registered_accounts_may_submit(tmp_path) -> None:
    from node.app import sender_registered
    from node.ledger import DictReader
    from node.ledger.model import key_account, key_admin

    admin, member, stranger = (crypto.generate_key().address for _ in range(3))
    state = DictReader({key_admin(admin): b"1", key_account(member): b"{}"})
    assert sender_registered(state, admin) and sender_registered(state, member)
    assert not sender_registered(state, stranger)


def test_per_sender_cap_leaves_room_for_others(key) -> None:
    other = crypto.generate_key()
    pool = _pool(max_txs=100, max_per_sender=3)
    for nonce in range(3):
        pool.add(_tx(key, nonce), NOW)
    with pytest.raises(MempoolError) as refused:
        pool.add(_tx(key, 3), NOW)
    assert refused.value.code == "SENDER_PENDING_LIMIT" and pool.pending_of(key.address) == 3
    pool.add(_tx(other, 1), NOW)  # another account is not affected
    pool.add(_tx(key, 4), NOW, relayed=True)  # peers' admissions get the same headroom as the pool's
    batch = pool.take(3, 1 << 20, NOW)
    pool.remove_committed(batch)
    assert pool.pending_of(key.address) == 2  # two of its four committed, so one more fits
    pool.add(_tx(key, 5), NOW)


def test_take_is_round_robin_over_senders_and_keeps_arrival_order() -> None:
    busy, quiet, late = (crypto.generate_key() for _ in range(3))
    pool = _pool(max_txs=1000)
    flood = [pool.add(_tx(busy, n), NOW)[0] for n in range(50)]
    few = [pool.add(_tx(quiet, n), NOW)[0] for n in range(3)]
    last = pool.add(_tx(late, 1), NOW)[0]
    batch = pool.take(7, 1 << 20, NOW)
    # three rounds (busy, quiet, late; busy, quiet; busy, quiet) then busy: every sender is served
    assert {t.id for t in batch} == {t.id for t in flood[:3] + few + [last]}
    assert [t.id for t in batch] == [t.id for t in flood[:3] + few + [last]]  # in arrival order
    # the next batch starts with the sender that was not served last time: busy has the rest
    assert [t.id for t in pool.take(100, 1 << 20, NOW)] == [t.id for t in flood[3:]]


def test_a_sender_whose_next_transaction_does_not_fit_is_skipped_not_reordered() -> None:
    big, small = crypto.generate_key(), crypto.generate_key()
    pool = _pool(max_txs=100)
    large = pool.add(_tx(big, 1, payload={"warrant": "ab" * 32, "amounts": [10**17 + i for i in range(64)]}), NOW)[0]
    after = pool.add(_tx(big, 2), NOW)[0]
    tiny = [pool.add(_tx(small, n), NOW)[0] for n in range(3)]
    budget = sum(len(t.raw) + 1 for t in tiny)
    assert len(large.raw) + 1 > budget
    batch = pool.take(100, budget, NOW)
    assert [t.id for t in batch] == [t.id for t in tiny]  # big's second one never overtakes its first
    assert after.id not in {t.id for t in batch}


def test_give_back_returns_transactions_in_arrival_order(key) -> None:
    pool = _pool()
    txs = [pool.add(_tx(key, n), NOW)[0] for n in range(4)]
    batch = pool.take(4, 1 << 20, NOW)
    pool.give_back(batch[2:])
    assert pool.pending() == 2
    assert [t.id for t in pool.take(4, 1 << 20, NOW)] == [t.id for t in txs[2:]]
