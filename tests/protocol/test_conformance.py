"""A client written from docs/PROTOCOL.md alone: `ecdsa`, `hashlib`, `json` and `urllib` only.

Nothing here imports the project's signing or encoding code (node.kernel.crypto, node.kernel.codec, node.kernel.chain,
node.sdk.client); only the cluster harness (the `cluster` fixture) is the project's. If this client's
transactions are accepted and committed, the document is precise enough for another team, and
the format is plain standard ECDSA.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import urllib.request
from typing import Any

import ecdsa
from ecdsa.util import sigencode_string, sigencode_string_canonize

from node.sdk.localnet import LocalNet

CHAIN_ID = "warrant-local"  # PROTOCOL.md: chain_id comes from chain_status (or the genesis file)


# -- the protocol, as the document states it -------------------------------------------------------

def canonical(value: Any) -> bytes:
    """PROTOCOL.md "Canonical encoding": sorted keys, no white space, UTF-8, only control chars escaped."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Account:
    def __init__(self, key: ecdsa.SigningKey) -> None:
        self.key = key
        self.pubkey = key.get_verifying_key().to_string("compressed")  # SEC1 compressed, 33 bytes
        self.address = "wc" + hashlib.sha256(self.pubkey).digest()[:20].hex()

    @classmethod
    def new(cls) -> Account:
        return cls(ecdsa.SigningKey.generate(curve=ecdsa.NIST256p, hashfunc=hashlib.sha256))

    def sign(self, tx_type: str, payload: dict[str, Any], *, chain_id: str = CHAIN_ID, randomized: bool = False) -> dict[str, Any]:
        body = {
            "chain_id": chain_id,
            "type": tx_type,
            "sender": self.address,
            "nonce": secrets.randbits(63),
            "expires": int(time.time() * 1000) + 600_000,
            "payload": payload,
        }
        message = canonical(body)
        if randomized:  # plain r||s with a random k, S not normalised: verifiers accept both forms
            sig = self.key.sign(message, hashfunc=hashlib.sha256, sigencode=sigencode_string)
        else:  # RFC 6979 deterministic, low S
            sig = self.key.sign_deterministic(message, hashfunc=hashlib.sha256, sigencode=sigencode_string_canonize)
        return {"body": body, "pubkey": self.pubkey.hex(), "sig": sig.hex()}


def tx_id(tx: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(tx["body"])).hexdigest()


def rpc(url: str, method: str, **params: Any) -> Any:
    request = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    http = urllib.request.Request(url, data=json.dumps(request).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(http, timeout=30) as answer:
        reply = json.loads(answer.read())
    if "error" in reply:
        raise AssertionError(f"{method} failed: {reply['error']}")
    return reply["result"]


def submit(url: str, tx: dict[str, Any]) -> dict[str, Any]:
    result = rpc(url, "tx_submit", tx=tx, wait=True, timeout_ms=20_000)
    assert result["status"] == "committed", result
    assert result["id"] == tx_id(tx)
    assert result["result"]["ok"], result["result"]
    return result  # type: ignore[no-any-return]


def load_admin(cluster: LocalNet) -> Account:
    with open(cluster.directory / "admin.pem", "rb") as handle:  # PKCS#8 PEM, as warrantd writes it
        return Account(ecdsa.SigningKey.from_pem(handle.read(), hashfunc=hashlib.sha256))


# -- the test ------------------------------------------------------------------------------------

def test_a_client_built_from_the_document_gets_its_transactions_committed(cluster: LocalNet) -> None:
    url = cluster.rpc_url(1)
    assert rpc(url, "chain_status")["chain_id"] == CHAIN_ID
    admin = load_admin(cluster)
    core, supplier, financier = Account.new(), Account.new(), Account.new()

    for account, role, name in [(core, "core", "核心企业 Core Ltd"), (supplier, "supplier", "Supplier \"A\"\n"),
                                (financier, "financier", "Bank")]:
        submit(url, admin.sign("register_account", {"address": account.address, "role": role, "name": name}))
    submit(url, financier.sign("set_credit_line", {"core": core.address, "currency": "CNY", "limit": 10_000_000_00}))
    anchored = submit(url, core.sign("anchor_document", {
        "doc_type": "invoice", "number": "INV-2026-0001", "issuer_reg_id": "91310000MA1FL0001R", "issuer_reg_kind": "uscc",
        "hash": hashlib.sha256(b"invoice file").hexdigest(), "total": 400_000_00, "currency": "CNY",
        "seller": supplier.address, "buyer": core.address,
    }))
    # PROTOCOL.md: document id = sha256(canonical([doc_type, canonical number, canonical reg id])); the
    # canonical number is case folded, the USCC upper case. Anchored by its buyer, it is confirmed.
    doc = hashlib.sha256(canonical(["invoice", "inv-2026-0001", "91310000MA1FL0001R"])).hexdigest()
    assert anchored["result"]["events"][0]["document"] == doc
    assert anchored["result"]["events"][0]["status"] == "confirmed"

    now = int(time.time() * 1000)
    issue = core.sign("issue", {
        "to": supplier.address, "amount": 400_000_00, "currency": "CNY", "maturity": now + 90 * 86_400_000,
        "credit_line": financier.address, "documents": [{"doc": doc, "amount": 400_000_00}],
        "offer_expires": now + 86_400_000,
    }, randomized=True)
    issued = submit(url, issue)
    # PROTOCOL.md: warrant id = sha256(tx id || index as 2 bytes big-endian).
    warrant = hashlib.sha256(bytes.fromhex(tx_id(issue)) + (0).to_bytes(2, "big")).hexdigest()
    assert issued["result"]["events"][0]["warrant"] == warrant
    submit(url, supplier.sign("accept", {"warrant": warrant}))

    # The transport JSON need not be canonical: the node hashes the canonical form of the body.
    spaced = supplier.sign("split", {"warrant": warrant, "amounts": [100_000_00, 300_000_00]})
    loose = json.loads(json.dumps(spaced, indent=3))
    submit(url, loose)

    state = rpc(url, "warrant_get", id=warrant)
    assert (state["status"], state["holder"], state["amount"]) == ("consumed", supplier.address, 400_000_00)
    # The node stores and returns exactly the transaction we signed.
    assert rpc(url, "tx_get", id=tx_id(issue))["tx"] == issue


def test_a_signature_made_by_the_node_verifies_with_ecdsa(cluster: LocalNet) -> None:
    url = cluster.rpc_url(0)
    other = Account.new()
    committed = submit(url, load_admin(cluster).sign("register_account", {"address": other.address, "role": "supplier",
                                                                          "name": "verifier"}))
    block = rpc(url, "chain_getBlock", height=committed["height"], full=True)
    tx = block["txs"][committed["index"]]
    key = ecdsa.VerifyingKey.from_string(bytes.fromhex(tx["pubkey"]), curve=ecdsa.NIST256p, hashfunc=hashlib.sha256)
    assert key.verify(bytes.fromhex(tx["sig"]), canonical(tx["body"]), sigdecode=ecdsa.util.sigdecode_string)
    # Header hash and commit signatures (PROTOCOL.md "Blocks" and "Commit certificates").
    assert hashlib.sha256(canonical(block["header"])).hexdigest() == block["hash"]
    validators = rpc(url, "chain_validators")
    cert = block["certificate"]
    message = (CHAIN_ID.encode() + b"/commit/" + cert["view"].to_bytes(8, "big") + cert["height"].to_bytes(8, "big")
               + bytes.fromhex(block["hash"]))
    for index, sig in cert["signatures"]:
        signer = ecdsa.VerifyingKey.from_string(bytes.fromhex(validators[index]["pubkey"]), curve=ecdsa.NIST256p,
                                                hashfunc=hashlib.sha256)
        assert signer.verify(bytes.fromhex(sig), message, sigdecode=ecdsa.util.sigdecode_string)
    assert len(cert["signatures"]) >= 3
