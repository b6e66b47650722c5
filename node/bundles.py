"""Proof bundles: a warrant's history, verifiable offline by anyone who holds the genesis file.

A bundle (format in docs/PROTOCOL.md, "Proof bundles") carries, for one warrant:

- every transaction in the history of the warrant and of its ancestors back to the issuance, and
  every transaction in the history of the documents backing that issuance (``anchor_document``,
  ``confirm_document``, ``dispute_document``, ``undispute_document``), each with its block
  height, index, and RFC 6962 audit path to the block header's ``tx_root``;
- the transaction's result with an audit path to the ``results_root`` of the *next* header
  (execution lags one block: header h+1 commits to the results of block h), when that header
  exists;
- each header needed, with its commit certificate (2f+1 validator signatures).

:func:`build_proof` reads a node's Store; :func:`verify_bundle` is pure and trusts only the genesis.

Null blocks. When a view change fills a gap, consensus commits PBFT's *null request* at that height:
the certificate signs ``sha256(b"")``, not a header, and every node derives the same empty header
(node.app). Such a header is authenticated through its successor instead: the next header
names it as ``parent``. So where a result's header h+1 is a null block, the bundle also carries
h+2, ... up to the first header certified by its own hash, and the verifier checks the parent links.

What a bundle does *not* prove: the warrant's current state record (holder, status) — state has no
inclusion proofs (docs/LEDGER.md section 13) — and block-start housekeeping (offer expiry,
automatic overdue), which is not a transaction. It proves which signed transactions were committed,
where, with which outcome, and that they chain from the issuance and its documents to the warrant.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from node.bundle_epochs import certifying_heights, enacting_index, epochs_to_prove, establish_epochs
from node.kernel import codec, merkle
from node.kernel.chain import (
    Block,
    BlockHeader,
    Certificate,
    SignedTx,
    TxEnvelope,
    ValidatorSet,
    tx_from_envelope,
)
from node.errors import ChainError, EncodingError, WarrantChainError
from node.kernel.genesis import Genesis
from node.ledger import model
from node.ledger.budget import ReadBudget
from node.ledger.epochs import epoch_history, epoch_of, validator_set_of
from node.ledger.keys import document_id
from node.ledger.model import DocEntry, Document, HistoryEntry, Warrant
from node.ledger.payloads import check_payload
from node.ledger.state import StateReaderLike
from node.store.leveldb import Store

__all__ = ["BUNDLE_VERSION", "EPOCHS_VERSION", "ProofError", "VerifiedTx", "VerifyReport", "build_proof", "verify_bundle"]

BUNDLE_VERSION = 1  # a bundle with no epoch changes; one that carries them is EPOCHS_VERSION
EPOCHS_VERSION = 2
NULL_DIGEST = hashlib.sha256(b"").digest()
_Hex32 = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$")]
_U63 = Annotated[int, msgspec.Meta(ge=0, le=codec.INT64_MAX)]
Json = dict[str, Any]


class ProofError(ChainError):
    """A proof bundle is malformed, or one of its claims does not verify."""


# -- wire format (strict: unknown fields refused, so no byte of a bundle goes unchecked) --------

class _MerklePath(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    index: _U63
    size: _U63
    path: list[_Hex32]


class _TxEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    height: _U63
    tx: TxEnvelope
    tx_proof: _MerklePath
    result: dict[str, Any] | None = None  # present only with result_proof
    result_proof: _MerklePath | None = None


class _HeaderEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    header: BlockHeader
    certificate: Certificate


class _Bundle(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    version: int
    chain_id: str
    genesis_hash: _Hex32
    warrant: _Hex32
    transactions: list[_TxEntry]
    headers: list[_HeaderEntry]
    epochs: list[_TxEntry] = []  # version 2: the enacting transaction of each epoch change (node.bundle_epochs)


# -- building ------------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    return codec.decode(codec.encode(value))


class _Reader:
    """Blocks, certificates and results of a Store, each read once, charged to ``budget``."""

    def __init__(self, store: Store, budget: ReadBudget) -> None:
        self.store = store
        self.budget = budget
        self.blocks: dict[int, Block] = {}
        self.headers: dict[int, Json] = {}
        self._results: dict[int, list[bytes] | None] = {}
        # Built once per block: a bundle may prove thousands of one block's transactions (a
        # warrant split that often), and each path or index lookup would otherwise be O(block).
        self._positions: dict[int, dict[bytes, int]] = {}
        self._trees: dict[tuple[int, str], list[list[bytes]]] = {}

    def block(self, height: int) -> Block:
        if height not in self.blocks:
            self.budget.charge()
            block = self.store.block(height)
            if block is None:
                raise ProofError(f"block {height} is not in the store")
            self.budget.charge(len(block.txs))  # decoding one of its transactions costs about a record
            self.blocks[height] = block
        return self.blocks[height]

    def position(self, height: int, tx_id: bytes) -> int | None:
        """The index of ``tx_id`` in block ``height``, or None if it is not there."""
        positions = self._positions.get(height)
        if positions is None:
            positions = self._positions[height] = {}
            for index, tx in enumerate(self.block(height).txs):
                positions.setdefault(tx.id, index)  # the first, as a linear search would find
        return positions.get(tx_id)

    def path(self, height: int, kind: str, index: int) -> Json:
        """The audit path of leaf ``index`` of block ``height``'s ``kind`` tree: "txs", or "results"
        (which must be available: :meth:`results`)."""
        levels = self._trees.get((height, kind))
        if levels is None:
            leaves = [tx.raw for tx in self.block(height).txs] if kind == "txs" else self.results(height)
            assert leaves is not None
            levels = self._trees[(height, kind)] = merkle.merkle_levels(leaves)
        return {"index": index, "size": len(levels[0]), "path": [h.hex() for h in merkle.path_in(levels, index)]}

    def add_header(self, height: int) -> Certificate:
        cert = self.store.certificate(height)
        if cert is None:
            raise ProofError(f"block {height} has no stored certificate")
        self.headers[height] = {"header": _plain(self.block(height).header), "certificate": _plain(cert)}
        return cert

    def results(self, height: int) -> list[bytes] | None:
        """The stored results of block ``height``, or None if one is not available.

        Results are stored per transaction id; if a faulty primary had a committed transaction
        included again (recorded as DUPLICATE_TX), the index points at the later block and the
        first result is gone, so that block's results can't be proven (the bundle says so).
        """
        if height not in self._results:
            out: list[bytes] = []
            for tx in self.block(height).txs:
                self.budget.charge()
                location = self.store.tx_location(tx.id)
                if location is None or location.height != height:
                    break
                out.append(bytes(location.result))
            self._results[height] = out if len(out) == len(self.block(height).txs) else None
        return self._results[height]

    def certify_results(self, height: int) -> bool:
        """Add the headers that authenticate block ``height``'s results; False if none exist yet."""
        top = self.store.meta.height
        added = []
        for successor in range(height + 1, top + 1):
            self.budget.charge()
            cert = self.add_header(successor)
            added.append(successor)
            if bytes.fromhex(cert.block_hash) != NULL_DIGEST:
                return True
        for successor in added:  # only null blocks so far: nothing certifies their roots yet
            self.headers.pop(successor, None)
        return False


def _history_txs(state: StateReaderLike, warrant_id: str) -> list[tuple[str, int]] | None:
    """(tx id, height) of every transaction the warrant and its ancestors record, and of the
    anchoring of the issuance's documents; None if the warrant does not exist."""
    raw = state.get(model.key_warrant(warrant_id))
    if raw is None:
        return None
    found: dict[str, int] = {}
    warrant = model.load_warrant(state.get, raw)
    while True:
        for entry in model.history_of(state, warrant.history, model.history_prefix(warrant.id), HistoryEntry)[0]:
            if entry.tx:  # "" marks block-start housekeeping, which has no transaction
                found.setdefault(entry.tx, entry.height)
        if warrant.parent is None:
            break
        parent = state.get(model.key_warrant(warrant.parent))
        if parent is None:
            raise ProofError(f"warrant {warrant.id} names a parent {warrant.parent} that is not in state")
        warrant = model.load_warrant(state.get, parent)
    for allocation in warrant.documents:
        doc_raw = state.get(model.key_document(allocation.ref))
        if doc_raw is None:
            raise ProofError(f"issuance {warrant.id} is backed by document {allocation.ref}, which is not in state")
        document: Document = model.load(doc_raw, Document)
        steps = model.history_of(state, document.history, model.doc_history_prefix(document.id), DocEntry)[0]
        for step in steps:  # anchoring, confirmation, disputes: what the paper is worth
            found.setdefault(step.tx, step.height)
    return sorted(found.items(), key=lambda item: item[1])


def build_proof(store: Store, genesis: Genesis, warrant_id: str, budget: ReadBudget | None = None) -> Json | None:
    """The proof bundle of ``warrant_id`` from committed data, or None if there is no such warrant.

    Positions come from the warrants' history entries (tx id and height), not from the store's tx
    index, so a later duplicate inclusion of a transaction can't move it. ``budget`` bounds the
    reading (the RPC's ``max_query_reads``); without one it is unbounded (audits, tests).
    """
    if budget is None:
        budget = ReadBudget(store.state, sys.maxsize)
    history = _history_txs(budget, warrant_id)
    if history is None:
        return None
    reader = _Reader(store, budget)
    entries: list[Json] = []
    for tx_hex, height in history:
        index = reader.position(height, bytes.fromhex(tx_hex))
        if index is None:
            raise ProofError(f"transaction {tx_hex} is recorded at height {height} but is not in that block")
        entries.append(_entry(reader, height, index))
    entries.sort(key=lambda e: (e["height"], e["tx_proof"]["index"]))
    epochs = _epoch_entries(reader, max(reader.headers, default=0))
    bundle: Json = {
        "version": EPOCHS_VERSION if epochs else BUNDLE_VERSION,
        "chain_id": genesis.chain_id,
        "genesis_hash": genesis.hash().hex(),
        "warrant": warrant_id,
        "transactions": entries,
        "headers": [reader.headers[h] for h in sorted(reader.headers)],
    }
    if epochs:
        bundle["epochs"] = epochs
    return bundle


def _entry(reader: _Reader, height: int, index: int) -> Json:
    """A transaction's entry with its inclusion proof and, once certified, its result's."""
    reader.add_header(height)
    raw = reader.block(height).txs[index].raw
    entry: Json = {"height": height, "tx": codec.decode(raw), "tx_proof": reader.path(height, "txs", index)}
    results = reader.results(height)
    if results is not None and reader.certify_results(height):
        entry["result"] = codec.decode(results[index])
        entry["result_proof"] = reader.path(height, "results", index)
    return entry


def _epoch_entries(reader: _Reader, top: int) -> list[Json]:
    """The enacting transaction of every epoch change up to ``top``, with its proven result."""
    out = []
    for record in epochs_to_prove(epoch_history(reader.budget), top):
        height = record.approved_height
        results = reader.results(height)
        index = None if results is None else enacting_index(results, record.epoch)
        if index is None:
            raise ProofError(f"epoch {record.epoch}: block {height} holds no proven result that schedules it")
        entry = _entry(reader, height, index)
        if "result" not in entry:
            raise ProofError(f"epoch {record.epoch}: the result of block {height} is not certified yet")
        out.append(entry)
    return out


# -- verifying -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class VerifiedTx:
    """A transaction the bundle proves was committed (and, if ``ok`` is not None, with what outcome)."""

    id: str
    type: str
    sender: str
    height: int
    index: int
    time_ms: int
    payload: Json
    ok: bool | None  # None: no later certified header commits to its result yet


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_bundle`. ``ok`` False means the bundle must not be trusted."""

    ok: bool
    reason: str = ""
    warrant: str = ""
    chain_id: str = ""
    amount: int | None = None  # the warrant's amount as derived from the proven transactions
    lineage: list[str] = field(default_factory=list)  # issuance first, the warrant last
    transactions: list[VerifiedTx] = field(default_factory=list)
    headers: int = 0
    signatures: int = 0
    unproven: list[str] = field(default_factory=list)  # tx ids whose outcome is not yet certified
    epochs: int = 0  # validator set changes since genesis the bundle proves
    # backing documents disputed after the bundle's last dispute/undispute: id -> reason
    document_disputes: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every transaction's successful outcome is proven, not only its inclusion."""
        return self.ok and not self.unproven


def verify_bundle(bundle: Any, genesis: Genesis) -> VerifyReport:
    """Check a bundle (parsed JSON) against ``genesis`` alone; never raises for a bad bundle.

    Checks, cheapest first so that a tampered bundle is refused quickly: shape; chain id and
    genesis hash; header hashes against certificates and parent links of null blocks; Merkle paths
    of transactions and results; that every proven outcome is a success and the transactions chain
    from the issuance (and its anchored documents) to the warrant; then every certificate signature
    against the genesis validator set and every transaction signature.
    """
    try:
        return _verify(bundle, genesis)
    except WarrantChainError as exc:  # ProofError, or a certificate's / signature's ChainError
        return VerifyReport(ok=False, reason=str(exc))


def _verify(raw: Any, genesis: Genesis) -> VerifyReport:
    try:
        bundle = codec.convert(raw, _Bundle)
    except EncodingError as exc:
        raise ProofError(f"malformed proof bundle: {exc}") from None
    if bundle.version != (EPOCHS_VERSION if bundle.epochs else BUNDLE_VERSION):
        raise ProofError(f"bundle version {bundle.version} is not supported here (this verifier reads {BUNDLE_VERSION} "
                         f"without epoch changes and {EPOCHS_VERSION} with them)")
    if bundle.genesis_hash != genesis.hash().hex() or bundle.chain_id != genesis.chain_id:
        raise ProofError(
            f"bundle is for chain {bundle.chain_id!r} with genesis {bundle.genesis_hash[:16]}, not for "
            f"{genesis.chain_id!r} with genesis {genesis.hash().hex()[:16]}"
        )
    headers = _check_headers(bundle.headers, genesis.chain_id)
    txs = _check_transactions(bundle.transactions, headers, genesis.chain_id)
    report = VerifyReport(ok=True, warrant=bundle.warrant, chain_id=genesis.chain_id, headers=len(headers))
    report.transactions = [verified for verified, _ in txs]
    report.unproven = [v.id for v in report.transactions if v.ok is None]
    report.lineage, report.amount = _check_lineage(bundle.warrant, txs)
    report.document_disputes = _document_disputes(txs)
    changes = _check_transactions(bundle.epochs, headers, genesis.chain_id)
    # Signatures last: they are the expensive checks. Each epoch change is proven under the set
    # before it; then every other header under the set of its own height.
    def verify_header(height: int, validators: ValidatorSet) -> None:
        entry, certified = headers[height]
        entry.certificate.verify(validators, genesis.chain_id, certified, height)
        report.signatures += len(entry.certificate.signatures)

    records, done = establish_epochs(
        [(v.height, tx, entry.result) for (v, tx), entry in zip(changes, bundle.epochs, strict=True)],
        genesis, lambda height: certifying_heights(headers, height, NULL_DIGEST), verify_header)
    sets = [validator_set_of(record) for record in records]
    for height in sorted(set(headers) - done):
        verify_header(height, sets[epoch_of(records, height).epoch])
    for _, tx in txs:
        tx.verify()
    report.epochs = len(records) - 1
    return report


def _check_headers(entries: list[_HeaderEntry], chain_id: str) -> dict[int, tuple[_HeaderEntry, bytes]]:
    """Headers by height with the digest their certificate must sign (the hash, or the null digest).

    A null block's header is authenticated by the next header's ``parent`` link, so it must be
    followed in the bundle by headers leading to one certified by its own hash.
    """
    by_height: dict[int, tuple[_HeaderEntry, bytes]] = {}
    for entry in entries:
        header = entry.header
        if header.height in by_height:
            raise ProofError(f"header {header.height} appears twice")
        if header.chain_id != chain_id:
            raise ProofError(f"header {header.height} is for chain {header.chain_id!r}")
        digest = header.hash()
        if bytes.fromhex(entry.certificate.block_hash) == NULL_DIGEST:
            digest = NULL_DIGEST
        elif entry.certificate.block_hash != digest.hex():
            raise ProofError(f"header {header.height} does not hash to the block its certificate signs")
        if entry.certificate.height != header.height:
            raise ProofError(f"certificate of header {header.height} is for height {entry.certificate.height}")
        by_height[header.height] = (entry, digest)
    for height, (entry, digest) in by_height.items():
        if digest != NULL_DIGEST:
            continue
        successor = by_height.get(height + 1)
        if successor is None or successor[0].header.parent != entry.header.hash().hex():
            raise ProofError(f"null block {height} is not linked to a following header by its parent hash")
        if entry.header.tx_count != 0:
            raise ProofError(f"null block {height} claims {entry.header.tx_count} transactions")
    return by_height


def _check_path(leaf: bytes, proof: Any, size: int, root: str, what: str) -> None:
    if proof.size != size:
        raise ProofError(f"{what}: proof is for a tree of {proof.size} leaves; the header says {size}")
    path = [bytes.fromhex(h) for h in proof.path]
    if not merkle.verify_proof(leaf, proof.index, size, path, bytes.fromhex(root)):
        raise ProofError(f"{what}: Merkle proof does not lead to the header's root")


def _check_transactions(
    entries: list[_TxEntry], headers: dict[int, tuple[_HeaderEntry, bytes]], chain_id: str
) -> list[tuple[VerifiedTx, SignedTx]]:
    out: list[tuple[VerifiedTx, SignedTx]] = []
    seen: set[bytes] = set()
    for entry in entries:
        try:
            tx = tx_from_envelope(entry.tx)
            check_payload(tx.body.type, tx.body.payload)  # the lineage below reads its fields
        except WarrantChainError as exc:
            raise ProofError(f"transaction at height {entry.height}: {exc}") from None
        what = f"transaction {tx.id_hex} at height {entry.height}"
        if tx.id in seen:
            raise ProofError(f"{what} appears twice")
        seen.add(tx.id)
        if tx.body.chain_id != chain_id:
            raise ProofError(f"{what} is for chain {tx.body.chain_id!r}")
        block = headers.get(entry.height)
        if block is None or block[1] == NULL_DIGEST:
            raise ProofError(f"{what}: the bundle has no certified header at that height")
        header = block[0].header
        _check_path(tx.raw, entry.tx_proof, header.tx_count, header.tx_root, what)
        ok: bool | None = None
        if (entry.result is None) != (entry.result_proof is None):
            raise ProofError(f"{what}: a result needs its proof and a proof its result")
        if entry.result is not None and entry.result_proof is not None:
            following = headers.get(entry.height + 1)
            if following is None:
                raise ProofError(f"{what}: its result needs header {entry.height + 1}, which the bundle lacks")
            if entry.result_proof.index != entry.tx_proof.index:
                raise ProofError(f"{what}: the result proof is for another transaction of the block")
            try:
                result_bytes = codec.canonical(entry.result)
            except EncodingError as exc:
                raise ProofError(f"{what}: result: {exc}") from None
            _check_path(result_bytes, entry.result_proof, header.tx_count, following[0].header.results_root,
                        f"{what} (result)")
            ok = entry.result.get("ok") is True
            if not ok:
                raise ProofError(f"{what} failed ({entry.result.get('code')}); a warrant's history holds only successes")
        verified = VerifiedTx(
            id=tx.id_hex, type=tx.body.type, sender=tx.body.sender, height=entry.height, index=entry.tx_proof.index,
            time_ms=header.time_ms, payload=tx.body.payload, ok=ok,
        )
        out.append((verified, tx))
    return out


def _created(tx: SignedTx, payload: Json, amounts: dict[str, int]) -> dict[str, tuple[str | None, int]]:
    """Warrants a transaction creates: id -> (parent id, amount), derived from its payload.

    Ids are ``sha256(tx id || index as 2 bytes)`` (docs/LEDGER.md); the verifier recomputes them.
    """
    kind = tx.body.type
    if kind == "issue":
        return {model.warrant_id(tx.id, 0): (None, int(payload["amount"]))}
    parent = str(payload.get("warrant", ""))
    if kind == "split":
        return {model.warrant_id(tx.id, i): (parent, int(a)) for i, a in enumerate(payload["amounts"])}
    if kind == "transfer":
        out: dict[str, tuple[str | None, int]] = {model.warrant_id(tx.id, 0): (parent, int(payload["amount"]))}
        remainder = amounts.get(parent, 0) - int(payload["amount"])
        if remainder > 0:
            out[model.warrant_id(tx.id, 1)] = (parent, remainder)
        return out
    return {}


_DOCUMENT_STEPS = frozenset({"confirm_document", "dispute_document", "undispute_document"})


def _document_disputes(txs: list[tuple[VerifiedTx, SignedTx]]) -> dict[str, str]:
    """Backing documents left disputed by the bundle's dispute / undispute transactions, in order."""
    disputes: dict[str, str] = {}
    for verified, _ in sorted(txs, key=lambda item: (item[0].height, item[0].index)):
        if verified.type == "dispute_document":
            disputes[str(verified.payload["doc"])] = str(verified.payload["reason"])
        elif verified.type == "undispute_document":
            disputes.pop(str(verified.payload["doc"]), None)
    return disputes


def _check_lineage(warrant_id: str, txs: list[tuple[VerifiedTx, SignedTx]]) -> tuple[list[str], int]:
    """The chain issuance -> ... -> warrant, derived from the transactions; raise if it breaks."""
    parents: dict[str, str | None] = {}
    amounts: dict[str, int] = {}
    documents: set[str] = set()
    backing: list[str] = []
    for verified, tx in sorted(txs, key=lambda item: (item[0].height, item[0].index)):
        payload = verified.payload
        if verified.type == "anchor_document":
            documents.add(document_id(payload["doc_type"], payload["number"], payload["issuer_reg_id"],
                                      payload["issuer_reg_kind"]))
            continue
        if verified.type in _DOCUMENT_STEPS:
            continue
        if verified.type == "issue":
            backing.extend(str(part["doc"]) for part in payload["documents"])
        for child, (parent, amount) in _created(tx, payload, amounts).items():
            parents[child] = parent
            amounts[child] = amount
    chain = [warrant_id]
    while True:
        if chain[-1] not in parents:
            raise ProofError(f"no transaction in the bundle creates warrant {chain[-1]}: the history is broken")
        parent = parents[chain[-1]]
        if parent is None:
            break
        chain.append(parent)
    chain.reverse()
    missing = [doc for doc in backing if doc not in documents]
    if missing:
        raise ProofError(f"the issuance is backed by document {missing[0]}, whose anchoring is not in the bundle")
    lineage = set(chain)
    for verified, tx in txs:
        if verified.type == "anchor_document":
            continue
        if verified.type in _DOCUMENT_STEPS:
            if verified.payload.get("doc") not in backing:
                raise ProofError(f"transaction {verified.id} ({verified.type}) concerns no document backing this issuance")
            continue
        ref = model.warrant_id(tx.id, 0) if verified.type == "issue" else verified.payload.get("warrant")
        if ref not in lineage:
            raise ProofError(f"transaction {verified.id} ({verified.type}) does not concern this warrant's lineage")
    return chain, amounts[warrant_id]
