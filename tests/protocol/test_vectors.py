"""The test vectors of docs/PROTOCOL.md section 14, checked against the node's code and against the
independent `ecdsa` implementation: if the document and the code ever disagree, this fails."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import ecdsa
import msgspec
import pytest
from ecdsa.util import sigdecode_string, sigencode_string_canonize

from consensus.messages import commit_signing_bytes
from node.kernel import codec, crypto, merkle
from node.kernel.chain import Certificate, SignedTx, TxBody, decode_tx, sign_tx
from node.kernel.genesis import parse_genesis
from node.ledger import Code, LedgerError
from node.ledger.keys import canonical_reg_id, document_id, lei_valid, uscc_check_char
from node.ledger.epochs import EpochRecord, check_succession, genesis_epoch, next_first_height, record_hash
from node.ledger.model import warrant_id
from node.ledger.payloads import check_payload
from node.observer.feed import FeedBlocks, FeedEntry, FeedRequest, decode_feed, encode_blocks, encode_request
from node.rpc.api import VERSION

DOC = Path(__file__).resolve().parents[2] / "docs" / "PROTOCOL.md"
_BLOCK = re.compile(r"^```(\w+) vector:([\w-]+)\n(.*?)\n```$", re.DOTALL | re.MULTILINE)


def _vectors() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for kind, name, text in _BLOCK.findall(DOC.read_text(encoding="utf-8")):
        assert name not in found, f"vector {name} appears twice"
        found[name] = json.loads(text) if kind == "json" else text
    return found


VECTORS = _vectors()


def test_the_document_has_every_vector() -> None:
    assert set(VECTORS) == {"key", "tx-1", "tx-1-canonical", "tx-1-encoded", "tx-2", "document-id", "reg-ids", "merkle",
                            "commit-signing-bytes", "genesis", "epoch-records", "epoch-boundary", "feed-frames"}


def test_key_vector() -> None:
    v = VECTORS["key"]
    assert bytes.fromhex(v["private_scalar"]) == hashlib.sha256(b"WarrantChain test vector key 1").digest()
    key = crypto.SigningKey.from_private_bytes(bytes.fromhex(v["private_scalar"]))
    assert key.public_key.hex() == v["public_key"]
    assert key.address == v["address"] == crypto.address_of(bytes.fromhex(v["public_key"]))
    independent = ecdsa.SigningKey.from_string(bytes.fromhex(v["private_scalar"]), curve=ecdsa.NIST256p)
    assert independent.get_verifying_key().to_string("compressed").hex() == v["public_key"]


@pytest.mark.parametrize("name", ["tx-1", "tx-2"])
def test_transaction_vector(name: str) -> None:
    v = VECTORS[name]
    key = VECTORS["key"]
    canonical = codec.canonical(v["body"])
    assert canonical.hex() == v["canonical_hex"]
    assert hashlib.sha256(canonical).hexdigest() == v["id"]
    check_payload(v["body"]["type"], v["body"]["payload"])  # the vectors are valid transactions
    # The node accepts the documented signature...
    tx = SignedTx(codec.convert(v["body"], TxBody), bytes.fromhex(key["public_key"]), bytes.fromhex(v["signature"]))
    tx.verify()
    assert tx.id_hex == v["id"]
    assert warrant_id(tx.id, 0) == v["warrant_id_0"]
    # ... which is RFC 6979 deterministic with low S, as `ecdsa` computes it,
    independent = ecdsa.SigningKey.from_string(bytes.fromhex(key["private_scalar"]), curve=ecdsa.NIST256p,
                                               hashfunc=hashlib.sha256)
    assert independent.sign_deterministic(canonical, sigencode=sigencode_string_canonize).hex() == v["signature"]
    # ... and a randomised signature by the node's own code verifies with `ecdsa`.
    own = sign_tx(crypto.SigningKey.from_private_bytes(bytes.fromhex(key["private_scalar"])), v["body"])
    assert own.id_hex == v["id"]
    assert independent.get_verifying_key().verify(own.sig, canonical, sigdecode=sigdecode_string)


def test_canonical_and_encoded_text_of_transaction_1() -> None:
    v = VECTORS["tx-1"]
    assert VECTORS["tx-1-canonical"].encode("utf-8").hex() == v["canonical_hex"]
    encoded = VECTORS["tx-1-encoded"].encode("utf-8")
    tx = decode_tx(encoded)
    tx.verify()
    assert tx.raw == encoded and tx.id_hex == v["id"] and tx.sig.hex() == v["signature"]


def test_document_id_vector() -> None:
    v = VECTORS["document-id"]
    kind = v["issuer_reg_kind"]
    assert document_id(v["doc_type"], v["number"], v["issuer_reg_id"], kind) == v["id"]
    assert hashlib.sha256(codec.canonical(v["canonical"])).hexdigest() == v["id"]
    for number in v["same_numbers"]:
        assert document_id(v["doc_type"], number, v["issuer_reg_id"], kind) == v["id"], number
    for reg_id in v["same_reg_ids"]:
        assert document_id(v["doc_type"], v["number"], reg_id, kind) == v["id"], reg_id
        assert document_id(v["doc_type"], v["number"], reg_id) == v["id"]  # the kind inferred, as look-ups do
    for number in v["refused_numbers"]:
        with pytest.raises(LedgerError) as refused:
            document_id(v["doc_type"], number, v["issuer_reg_id"], kind)
        assert refused.value.code is Code.INVALID_BUSINESS_KEY


def test_registration_id_vector() -> None:
    v = VECTORS["reg-ids"]
    for code in v["uscc_valid"]:
        assert canonical_reg_id(code, "uscc") == code
    for code in v["uscc_refused"]:
        with pytest.raises(LedgerError) as refused:
            canonical_reg_id(code, "uscc")
        assert refused.value.code is Code.INVALID_REG_ID
    for first17, check in v["uscc_check"].items():
        assert uscc_check_char(first17) == check
    assert all(lei_valid(code) for code in v["lei_valid"]) and not any(lei_valid(code) for code in v["lei_refused"])


def test_protocol_version_is_the_documents() -> None:
    assert f"**Protocol version {VERSION}**" in DOC.read_text(encoding="utf-8")


def test_merkle_vector() -> None:
    v = VECTORS["merkle"]
    leaves = [bytes.fromhex(leaf) for leaf in v["leaves"]]
    root = merkle.merkle_root(leaves)
    assert root.hex() == v["root"]
    for index, path in v["proofs"].items():
        assert [h.hex() for h in merkle.merkle_proof(leaves, int(index))] == path
        assert merkle.verify_proof(leaves[int(index)], int(index), len(leaves), [bytes.fromhex(h) for h in path], root)
    assert merkle.merkle_root([]).hex() == v["empty_root"]


def test_commit_signing_bytes_vector() -> None:
    v = VECTORS["commit-signing-bytes"]
    data = commit_signing_bytes(v["chain_id"].encode(), v["view"], v["height"], bytes.fromhex(v["block_hash"]))
    assert data.hex() == v["bytes"]


def test_genesis_vector() -> None:
    v = VECTORS["genesis"]
    genesis = parse_genesis(json.dumps(v["file"]))
    assert genesis.hash().hex() == v["hash"]


def test_epoch_record_vectors() -> None:
    v = VECTORS["epoch-records"]
    genesis = parse_genesis(json.dumps(VECTORS[v["genesis_vector"]]["file"]))
    epoch_0 = genesis_epoch(genesis.validators)
    assert codec.encode(epoch_0).decode() == v["epoch_0"]
    assert hashlib.sha256(v["epoch_0"].encode()).hexdigest() == record_hash(epoch_0).hex() == v["epoch_0_hash"]
    epoch_1 = codec.decode(v["epoch_1"], EpochRecord)
    assert codec.encode(epoch_1).decode() == v["epoch_1"]  # the text is canonical
    assert record_hash(epoch_1).hex() == v["epoch_1_hash"]
    check_succession(epoch_0, epoch_1, v["checkpoint_interval"])  # previous hash, boundary, keys
    second_key = crypto.SigningKey.from_private_bytes(hashlib.sha256(b"WarrantChain test vector key 2").digest())
    assert epoch_1.validators[1].pubkey == second_key.public_key.hex()


def test_epoch_boundary_vector() -> None:
    for approval, interval, previous_first, first in VECTORS["epoch-boundary"]:
        previous = msgspec.structs.replace(genesis_epoch([]), first_height=previous_first)
        assert next_first_height(previous, approval, interval) == first, (approval, interval, previous_first)


def test_feed_frame_vectors() -> None:
    v = VECTORS["feed-frames"]
    request = bytes.fromhex(v["request"]["frame"])
    assert encode_request(v["request"]["from_height"]) == request
    assert decode_feed(request[1:]) == FeedRequest(v["request"]["from_height"])
    b = v["blocks"]
    entry = FeedEntry(bytes.fromhex(b["block"]), Certificate(**{**b["certificate"], "signatures": [tuple(s) for s in b["certificate"]["signatures"]]}))
    frame = bytes.fromhex(b["frame"])
    assert encode_blocks(b["tip"], [entry]) == frame
    assert decode_feed(frame[1:]) == FeedBlocks(b["tip"], (entry,))
