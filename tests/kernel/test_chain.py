"""node.kernel.chain: transactions, blocks and certificates: ids, signatures, roots, and refusal of bad input."""

from __future__ import annotations

import hashlib

import pytest

from consensus.messages import commit_signing_bytes
from node.errors import ChainError
from node.kernel import chain, codec, crypto, merkle

from .conftest import CHAIN_ID, tx_body


def test_tx_id_is_hash_of_body_without_signature(key: crypto.SigningKey) -> None:
    tx = chain.sign_tx(key, tx_body(key))
    assert tx.id == hashlib.sha256(codec.canonical(tx_body(key))).digest()
    tx.verify()
    # Re-signing gives a different (randomised) signature but the same id.
    again = chain.sign_tx(key, tx_body(key))
    assert again.sig != tx.sig and again.id == tx.id


def test_tx_decodes_from_its_wire_bytes(key: crypto.SigningKey) -> None:
    tx = chain.sign_tx(key, tx_body(key))
    back = chain.decode_tx(tx.raw)
    assert (back.id, back.sig, back.pubkey, back.raw) == (tx.id, tx.sig, tx.pubkey, tx.raw)
    back.verify()


@pytest.mark.parametrize("payload", [
    {}, {"amount": 100, "to": "x"}, {"note": "發票 \u00e9 \"quoted\" back\\slash\n\u0001", "nested": [{"b": 1, "a": None}]},
    {"z": True, "a": [1, -2, 2**63 - 1], "m": {"y": "", "x": "\U0001f600"}},
])
def test_tx_raw_is_the_canonical_envelope(key: crypto.SigningKey, payload: dict) -> None:
    """SignedTx builds its wire bytes around the body's instead of encoding the envelope: the
    same bytes as the canonical encoder's, whatever the payload holds."""
    tx = chain.sign_tx(key, {**tx_body(key), "payload": payload})
    assert tx.raw == codec.encode(tx.envelope()) == codec.canonical(codec.decode(tx.raw))
    assert chain.decode_tx(tx.raw).raw == tx.raw


def test_tx_signature_covers_chain_id(key: crypto.SigningKey) -> None:
    tx = chain.sign_tx(key, tx_body(key))
    forged = chain.SignedTx(chain.TxBody(**{**tx_body(key), "chain_id": "other-chain"}), tx.pubkey, tx.sig)
    with pytest.raises(ChainError, match="signature does not match"):
        forged.verify()


def test_tx_from_wrong_key_is_refused(key: crypto.SigningKey) -> None:
    other = crypto.generate_key()
    tx = chain.sign_tx(other, tx_body(key))  # sender is `key`, signed by `other`
    with pytest.raises(ChainError, match="belongs to"):
        tx.verify()


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda b: b.replace(b'"nonce":7', b'"nonce":7.5'), "body.nonce: expected a whole number, got a number with a fraction"),
        (lambda b: b.replace(b'"nonce":7', b'"nonce":-1'), "body.nonce: expected a whole number at least 0"),
        (lambda b: b.replace(b'"type":"transfer"', b'"type":"Transfer!"'), "type"),
        (lambda b: b.replace(b'"chain_id":"wc-test"', b'"chain_id":"WC TEST"'), "chain_id"),
        (lambda b: b.replace(b'"sig":"', b'"sig":"zz'), "sig"),
        (lambda b: b.replace(b'"pubkey":"0', b'"pubkey":"4'), "pubkey"),
        (lambda b: b.replace(b'"body":{', b'"body":{"version":2,'), "body.version: unknown field"),
        (lambda b: b[:-5], "malformed"),
        (lambda b: b"[]", "expected an object, got a list"),
        (lambda b: b.replace(b'"amount":40000000', b'"amount":1.0'), "floating-point"),
        (lambda b: b.replace(b'"amount":40000000', b'"amount":99999999999999999999'), "64-bit"),
    ],
)
def test_malformed_transactions_raise_chain_error(key: crypto.SigningKey, mutate, fragment: str) -> None:
    raw = chain.sign_tx(key, tx_body(key)).raw
    with pytest.raises(ChainError, match=fragment):
        chain.decode_tx(mutate(raw))


def test_oversized_transaction_is_refused(key: crypto.SigningKey) -> None:
    with pytest.raises(ChainError, match="limit"):
        chain.decode_tx(b" " * (chain.MAX_TX_BYTES + 1))


def test_sign_tx_refuses_bad_bodies(key: crypto.SigningKey) -> None:
    with pytest.raises(ChainError, match="sender"):
        chain.sign_tx(key, tx_body(key, sender="nobody"))
    with pytest.raises(Exception, match="floating-point"):
        chain.sign_tx(key, tx_body(key, payload={"amount": 0.5}))


def test_check_chain_id() -> None:
    assert chain.check_chain_id("warrant-main-1") == "warrant-main-1"
    for bad in ["", "-x", "UPPER", "a" * 64, 5, None]:
        with pytest.raises(ChainError):
            chain.check_chain_id(bad)


def _block(key: crypto.SigningKey, count: int = 3, height: int = 1) -> chain.Block:
    txs = [chain.sign_tx(key, tx_body(key, nonce=i)) for i in range(count)]
    return chain.make_block(
        chain_id=CHAIN_ID, height=height, time_ms=1_700_000_000_000, parent=b"\x11" * 32, proposer=0,
        txs=txs, state_root=b"\x22" * 32, results_root=b"\x33" * 32,
    )


def test_block_round_trip_and_tx_proofs(key: crypto.SigningKey) -> None:
    block = _block(key, 5)
    back = chain.decode_block(block.raw)
    assert back.hash == block.hash == hashlib.sha256(codec.encode(block.header)).digest()
    assert [t.id for t in back.txs] == [t.id for t in block.txs]
    assert codec.decode(block.raw) == codec.decode(codec.canonical(codec.decode(block.raw)))
    assert codec.canonical(codec.decode(block.raw)) == block.raw  # the spliced encoding is canonical
    root = bytes.fromhex(block.header.tx_root)
    for i, tx in enumerate(block.txs):
        assert merkle.verify_proof(tx.raw, i, len(block.txs), block.tx_proof(i), root)


def test_empty_block(key: crypto.SigningKey) -> None:
    block = _block(key, 0)
    assert chain.decode_block(block.raw).txs == []


def test_block_with_tampered_transactions_is_refused(key: crypto.SigningKey) -> None:
    block = _block(key, 3)
    tampered = block.raw.replace(b'"nonce":1', b'"nonce":9')
    with pytest.raises(ChainError, match="tx_root"):
        chain.decode_block(tampered)
    wire = codec.decode(block.raw)
    wire["txs"].pop()
    with pytest.raises(ChainError, match="header says 3"):
        chain.decode_block(codec.canonical(wire))
    for junk in [b"", b"{}", b"\x00\x01", b'{"header":{},"txs":[]}']:
        with pytest.raises(ChainError, match="malformed block"):
            chain.decode_block(junk)


def test_make_block_refuses_out_of_range_fields(key: crypto.SigningKey) -> None:
    with pytest.raises(ChainError):
        chain.make_block(
            chain_id=CHAIN_ID, height=-1, time_ms=0, parent=b"\x00" * 32, proposer=0, txs=[],
            state_root=b"\x00" * 32, results_root=b"\x00" * 32,
        )


def _certificate(validator_keys, block: chain.Block, signers, view: int = 0) -> chain.Certificate:
    message = commit_signing_bytes(CHAIN_ID.encode(), view, block.height, block.hash)
    return chain.Certificate(
        height=block.height, view=view, block_hash=block.hash.hex(),
        signatures=[(i, validator_keys[i].sign(message).hex()) for i in signers],
    )


def test_certificate_with_quorum_verifies(key, validator_keys, validators) -> None:
    block = _block(key)
    cert = _certificate(validator_keys, block, [0, 2, 3], view=4)
    cert.verify(validators, CHAIN_ID, block.hash, block.height)
    assert chain.Certificate.decode(cert.encode()) == cert


def test_certificate_failures(key, validator_keys, validators) -> None:
    block = _block(key)
    with pytest.raises(ChainError, match="3 are needed"):
        _certificate(validator_keys, block, [0, 1]).verify(validators, CHAIN_ID, block.hash, 1)
    with pytest.raises(ChainError, match="repeated"):
        _certificate(validator_keys, block, [0, 1, 1]).verify(validators, CHAIN_ID, block.hash, 1)
    with pytest.raises(ChainError, match="unknown"):
        _certificate(validator_keys + [crypto.generate_key()], block, [0, 1, 4]).verify(
            validators, CHAIN_ID, block.hash, 1
        )
    cert = _certificate(validator_keys, block, [0, 1, 2])
    with pytest.raises(ChainError, match="invalid"):
        cert.verify(validators, "another-chain", block.hash, 1)
    with pytest.raises(ChainError, match="not"):
        cert.verify(validators, CHAIN_ID, b"\x00" * 32, 1)
    with pytest.raises(ChainError, match="not"):
        cert.verify(validators, CHAIN_ID, block.hash, 2)
    forged = chain.Certificate(
        height=1, view=0, block_hash=block.hash.hex(),
        signatures=[(i, "00" * 32 + "11" * 32) for i in range(3)],
    )
    with pytest.raises(ChainError, match="invalid"):
        forged.verify(validators, CHAIN_ID, block.hash, 1)
    for junk in [b"", b"{}", b'{"height":1,"view":0,"block_hash":"xy","signatures":[]}']:
        with pytest.raises(ChainError, match="malformed certificate"):
            chain.Certificate.decode(junk)


def test_validator_set_checks(validator_keys) -> None:
    good = [
        chain.Validator(name=f"v{i}", pubkey=k.public_key.hex(), address=k.address)
        for i, k in enumerate(validator_keys)
    ]
    vs = chain.ValidatorSet(good)
    assert (len(vs), vs.f, vs.quorum) == (4, 1, 3)
    assert vs.index_of(validator_keys[2].address) == 2 and vs.index_of("wc" + "0" * 40) is None
    with pytest.raises(ChainError, match="twice"):
        chain.ValidatorSet([good[0], good[0]])
    with pytest.raises(ChainError, match="does not match"):
        chain.ValidatorSet([chain.Validator(name="x", pubkey=good[0].pubkey, address=good[1].address)])
    with pytest.raises(ChainError, match="at least one"):
        chain.ValidatorSet([])
    with pytest.raises(ChainError, match="not a valid P-256 point"):
        chain.ValidatorSet([chain.Validator(name="x", pubkey="02" + "ff" * 32, address=good[0].address)])


def test_decode_block_takes_held_transactions_only_when_their_bytes_match(key: crypto.SigningKey) -> None:
    block = _block(key, 4)
    held = {tx.id: tx for tx in block.txs}
    back = chain.decode_block(block.raw, held.get)
    assert all(mine is theirs for mine, theirs in zip(back.txs, block.txs))  # no second decode
    assert back.hash == block.hash and back.raw == block.raw
    # The same body with the other valid signature (s -> n - s) has the same id: the block's own
    # bytes must win over what the caller holds under that id.
    first = block.txs[0]
    s = int.from_bytes(first.sig[32:], "big")
    other = chain.SignedTx(first.body, first.pubkey, first.sig[:32] + (crypto._N - s).to_bytes(32, "big"))
    assert other.id == first.id and other.raw != first.raw
    swapped = chain.make_block(
        chain_id=CHAIN_ID, height=1, time_ms=1_700_000_000_000, parent=b"\x11" * 32, proposer=0,
        txs=[other, *block.txs[1:]], state_root=b"\x22" * 32, results_root=b"\x33" * 32,
    )
    decoded = chain.decode_block(swapped.raw, held.get)
    assert decoded.txs[0] is not first and decoded.txs[0].sig == other.sig
    assert all(mine is theirs for mine, theirs in zip(decoded.txs[1:], block.txs[1:]))


def test_quorums_of_any_size_intersect_in_a_correct_validator() -> None:
    """Governance makes sizes other than 3f+1: a quorum must still overlap any other in more than
    f validators (2f+1 of 5 would let two disjoint-enough groups of 3 certify conflicting blocks)."""
    keys = [crypto.generate_key() for _ in range(10)]
    expected = {1: 1, 2: 2, 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 6, 9: 6, 10: 7}
    for n, quorum in expected.items():
        vs = chain.ValidatorSet(chain.Validator(name=f"v{i}", pubkey=k.public_key.hex(), address=k.address)
                                for i, k in enumerate(keys[:n]))
        assert vs.quorum == quorum, n
        assert 2 * vs.quorum - n > vs.f and vs.quorum <= n - vs.f  # safe, and live with f silent
