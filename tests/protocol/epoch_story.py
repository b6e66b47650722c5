"""Warrant histories across validator set changes, committed in-process (tests.protocol.inprocess),
and the forger's tools: the proof bundle tests (tests/protocol/test_proofs_epochs*.py) and the
browser verifier's (tests/explorer/test_epochs.py) use the same chains and the same alterations.

Two stories, K = 2 (checkpoint interval), three admins of whom two must approve:

- ``two_epochs``: a warrant issued in epoch 0 and transferred in epoch 1 (validator v4 added,
  approved at height 7, the new set certifies from height 9).
- ``three_epochs``: the same, then v0 removed (approved at height 12, epoch 2 from height 15), and
  the transferred warrant split in epoch 2; its bundle carries both epoch changes.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from consensus.messages import commit_signing_bytes
from node.bundles import build_proof
from node.kernel import codec, crypto, merkle
from node.kernel.chain import BlockHeader
from node.kernel.genesis import ChainParams
from node.ledger.epochs import EpochRecord, record_hash
from node.sdk.client import Wallet
from tests.protocol.inprocess import Chain

CHAIN_ID = "proof-epochs"
DAY = 86_400_000
K = 2
Json = dict[str, Any]


@dataclass
class Story:
    chain: Chain
    bundle: Json  # of the newest warrant
    warrant: str

    @property
    def genesis(self) -> bytes:
        return self.chain.genesis.encode()


def propose(c: Chain, admin: int, payload: Json) -> str:
    proposal = c.admins[admin].build("propose_validator_change", {**payload, "expires": int(time.time() * 1000) + DAY})
    c.commit(proposal)
    return proposal.id_hex


def enact(c: Chain, admin: int, proposal: str) -> Json:
    """Approve (alone in its block, so a forger's tests can rebuild its results root)."""
    results = c.commit(c.admins[admin].build("approve_validator_change", {"proposal": proposal}))
    record: Json = results[0]["events"][-1]["epoch"]
    return record


def _filler(c: Chain, name: str) -> None:
    c.commit(c.admin.register_account(crypto.generate_key().address, "supplier", name))


def build_story(path: Path, epochs: int) -> Story:
    """A chain whose newest warrant's history spans ``epochs`` (2 or 3) validator sets."""
    c = Chain(path, CHAIN_ID, params=ChainParams(checkpoint_interval=K, governance_quorum=2), admins=3, spare_keys=1)
    core, supplier, other, bank = (Wallet(crypto.generate_key(), CHAIN_ID) for _ in range(4))
    c.commit(*(c.admin.register_account(w.address, role, role) for w, role in
               [(core, "core"), (supplier, "supplier"), (other, "supplier"), (bank, "financier")]))  # 1
    c.commit(bank.set_credit_line(core.address, 10**9))  # 2
    doc = c.commit(core.anchor_document("invoice", "E-1", "R-1", "ef" * 32, 10**6, seller=supplier.address,
                                        buyer=core.address, issuer_reg_kind="other"))[0]["events"][0]["document"]  # 3
    now = int(time.time() * 1000)
    warrant = c.commit(core.issue(supplier.address, 10**6, now + 10 * DAY, bank.address,
                                  [{"doc": doc, "amount": 10**6}], now + DAY))[0]["events"][0]["warrant"]  # 4
    c.commit(supplier.accept(warrant))  # 5
    new = c.keys[4]
    added = propose(c, 0, {"action": "add", "address": new.address, "pubkey": new.public_key.hex(), "name": "v4",
                            "endpoint": "127.0.0.1:26604"})  # 6: one approval of two
    assert enact(c, 1, added)["first_height"] == 9  # 7
    _filler(c, "filler-8")
    child = c.commit(supplier.transfer(warrant, other.address, 400_000, now + DAY))[0]["events"][0]["children"][0]  # 9
    c.commit(other.accept(child))  # 10, epoch 1: signed by validators 1-4 (the new one among them)
    newest = child
    if epochs == 3:
        removed = propose(c, 1, {"action": "remove", "address": c.keys[0].address})  # 11
        assert enact(c, 2, removed)["first_height"] == 15  # 12
        _filler(c, "filler-13")
        _filler(c, "filler-14")
        newest = c.commit(other.split(child, [100_000, 300_000]))[0]["events"][0]["children"][0]  # 15, epoch 2
    _filler(c, "filler-last")
    bundle = build_proof(c.store, c.genesis, newest)
    assert bundle is not None and len(bundle["epochs"]) == epochs - 1
    return Story(c, bundle, newest)


# -- alterations ---------------------------------------------------------------------------------

def flip(hex_text: str) -> str:
    return hex_text[:10] + ("0" if hex_text[10] != "0" else "1") + hex_text[11:]


def altered(bundle: Json, path: tuple[Any, ...], change: Callable[[Any], Any]) -> Json:
    out = copy.deepcopy(bundle)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = change(target[path[-1]])
    return out


def signature_paths(bundle: Json) -> list[tuple[Any, ...]]:
    """Every validator signature and every transaction signature of a bundle."""
    paths: list[tuple[Any, ...]] = []
    for i, header in enumerate(bundle["headers"]):
        for j in range(len(header["certificate"]["signatures"])):
            paths.append(("headers", i, "certificate", "signatures", j, 1))
    for section in ("transactions", "epochs"):
        for i in range(len(bundle[section])):
            paths.append((section, i, "tx", "sig"))
    return paths


def record_paths(record: Json) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = [(key,) for key in record if key != "validators"]
    paths += [("validators", i, key) for i, member in enumerate(record["validators"]) for key in member]
    return paths


def change(value: Any) -> Any:
    """Another value of the same kind (a number + 1, a hash or key with one digit changed, a name + "x")."""
    if isinstance(value, int):
        return value + 1
    if len(value) == 64 or value.startswith(("02", "03", "wc")):
        return flip(value)
    return value + "x"


def header_index(bundle: Json, height: int) -> int:
    return next(i for i, h in enumerate(bundle["headers"]) if h["header"]["height"] == height)


def certify(story: Story, height: int, header: Json, signers: list[tuple[int, crypto.SigningKey]] | None = None) -> Json:
    """A commit certificate of ``header`` by ``signers`` (default: the quorum the chain used there)."""
    digest = codec.convert(header, BlockHeader).hash()
    message = commit_signing_bytes(CHAIN_ID.encode(), 0, height, digest)
    chosen = story.chain.signers(height) if signers is None else signers
    return {"height": height, "view": 0, "block_hash": digest.hex(),
            "signatures": [[i, key.sign(message).hex()] for i, key in chosen]}


def reforge(story: Story, index: int, mutate: Callable[[Json], None]) -> Json:
    """The bundle with epoch change ``index``'s record rewritten by ``mutate`` and made consistent
    again by someone who holds the old set's keys: the event's hash recomputed, the result's Merkle
    root put into the next header, and that header certified anew by the set before the change.
    What is left to refuse it is the succession rule itself."""
    out = copy.deepcopy(story.bundle)
    entry = out["epochs"][index]
    assert entry["result_proof"]["size"] == 1  # the enacting approval is alone in its block (enact)
    event = entry["result"]["events"][-1]
    mutate(event["epoch"])
    event["hash"] = record_hash(codec.convert(event["epoch"], EpochRecord)).hex()
    at = header_index(out, entry["height"] + 1)
    header = out["headers"][at]["header"]
    header["results_root"] = merkle.merkle_root([codec.canonical(entry["result"])]).hex()
    out["headers"][at]["certificate"] = certify(story, entry["height"] + 1, header)
    return out


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Json], None]:
    def mutate(record: Json) -> None:
        target = record
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value(target[path[-1]]) if callable(value) else value
    return mutate


def _stranger_set(record: Json) -> None:
    for member in record["validators"][1:]:
        key = crypto.generate_key()
        member.update(pubkey=key.public_key.hex(), address=key.address)


def forgeries(story: Story) -> list[tuple[str, Json, str]]:
    """(what, altered bundle, words of the Python verifier's reason) for the ``three_epochs`` story:
    the adversary's bundles, each of which must be refused by every verifier."""
    b = story.bundle
    keys = story.chain.keys
    epoch_1 = header_index(b, 9)  # certified by 4 of epoch 1's 5 validators
    epoch_2 = header_index(b, 15)  # certified by 3 of epoch 2's 4 (v0 removed)
    header_15 = b["headers"][epoch_2]["header"]
    out = [
        ("an epoch record that skips an epoch", reforge(story, 0, _set(("epoch",), 2)), "does not follow epoch 0"),
        ("a record whose predecessor hash is wrong", reforge(story, 0, _set(("previous",), flip)), "as its predecessor"),
        ("the second record's predecessor hash wrong", reforge(story, 1, _set(("previous",), flip)), "as its predecessor"),
        ("a record starting later than the boundary", reforge(story, 0, _set(("first_height",), 11)), "must start at 9"),
        ("a new set certifying its own change", reforge(story, 0, _set(("first_height",), 8)), "must start at 9"),
        ("a record naming another proposal", reforge(story, 0, _set(("proposal",), flip)), "does not enact proposal"),
        ("a record approved at another height", reforge(story, 0, _set(("approved_height",), 6)), "does not enact proposal"),
        # A quorum of the old set could sign a forged set: the next record's predecessor hash still
        # names the real one, and the newest's later headers are signed by the real set.
        ("a forged validator set re-signed by the old set", reforge(story, 0, _stranger_set), "as its predecessor"),
        ("a forged newest validator set re-signed by the old set", reforge(story, 1, _stranger_set),
         "certificate for block 15: signature of validator 1 is invalid"),
        ("an empty validator set", reforge(story, 0, _set(("validators",), [])), "at least one validator"),
        ("a validator set with one key twice",
         reforge(story, 0, _set(("validators", 4), lambda _: dict(b["epochs"][0]["result"]["events"][-1]["epoch"]["validators"][0]))),
         "same key twice"),
        ("a forged validator set by an outsider (no keys)", _outsiders_set(b), "Merkle proof"),
        ("the first epoch change left out (skips epoch 1)", {**b, "epochs": b["epochs"][1:]}, "does not follow epoch 0"),
        ("epoch changes out of order", {**b, "epochs": b["epochs"][::-1]}, "does not follow epoch 0"),
        ("the same epoch change twice", {**b, "epochs": [b["epochs"][0], *b["epochs"]]}, "appears twice"),
        ("the newest epoch change left out", {**b, "epochs": b["epochs"][:1]}, "is invalid"),
        ("no epoch changes in a version 2 bundle", {**b, "epochs": []}, "not supported"),
        ("epoch changes in a version 1 bundle", {**b, "version": 1}, "not supported"),
        ("an epoch change that is not a governance transaction",
         {**b, "epochs": [next(t for t in b["transactions"] if t["tx"]["body"]["type"] == "accept"), b["epochs"][1]]},
         "not a governance transaction"),
        ("an epoch change without its proven result",
         altered(b, ("epochs", 0), lambda e: {k: v for k, v in e.items() if k not in ("result", "result_proof")}),
         "no proven result"),
        ("one validator's signature counted twice",
         altered(b, ("headers", epoch_1, "certificate", "signatures"), lambda s: [*s[:3], s[0]]), "repeated validator"),
        ("a repeated signature on top of a quorum",
         altered(b, ("headers", epoch_1, "certificate", "signatures"), lambda s: [*s, s[1]]), "repeated validator"),
        ("2f + 1 = 3 signatures where 5 validators need 4",
         altered(b, ("headers", epoch_1, "certificate", "signatures"), lambda s: s[:3]), "3 signatures; 4 are needed"),
        ("a removed validator signing after its removal, in its old place",
         altered(b, ("headers", epoch_2, "certificate"),
                 lambda _: certify(story, 15, header_15, [(0, keys[0]), (2, keys[3]), (3, keys[4])])),
         "signature of validator 0 is invalid"),
        ("a removed validator signing after its removal, as a fifth member",
         altered(b, ("headers", epoch_2, "certificate"),
                 lambda _: certify(story, 15, header_15, [(2, keys[3]), (3, keys[4]), (4, keys[0])])),
         "unknown or repeated validator 4"),
    ]
    assert len({what for what, _, _ in out}) == len(out)
    return out


def _outsiders_set(bundle: Json) -> Json:
    """The first change's record with a set of the outsider's keys and its hash recomputed, but
    no key to certify the header that proves the result."""
    out = copy.deepcopy(bundle)
    event = out["epochs"][0]["result"]["events"][-1]
    _stranger_set(event["epoch"])
    event["hash"] = record_hash(codec.convert(event["epoch"], EpochRecord)).hex()
    return out
