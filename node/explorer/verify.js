// Proof bundles verified in the browser, trusting only the genesis file: the same checks, in the
// same order, as node/bundles.py verify_bundle (docs/PROTOCOL.md section 10), versions 1 and 2 (a
// bundle that carries the epoch changes its headers need, checked by epochs.js), so the two agree
// on every bundle, altered or not (tests/explorer/test_pages.py and test_epochs.py compare them).
//
// Bytes in, verdict out; the primitives (JSON, canonical bytes, schemas, hashes, ECDSA) are canon.js.

import {
  ProofError, parseJson, checkValue, canonical, convert, INT64_MIN, INT64_MAX, utf8, U63, HEX32, ADDRESS, PUBKEY, SIG,
  NAME, DICT, opt, unset, list, struct, hexToBytes, toHex, concat, sha256, NULL_DIGEST_HEX, verifyMerkle, decompress,
  ecdsaVerify, addressOf, u64be,
} from './canon.js';
import { GOVERNANCE_PAYLOADS, checkValidatorChange, establishEpochs, epochOf, validatorSetOf } from './epochs.js';

// ---- schemas (the msgspec Structs of node/kernel/chain.py, node/bundles.py, node/ledger/payloads.py) -------

const AMOUNT = { int: [1n, INT64_MAX] };
const CURRENCY = { str: /^[A-Z]{3}$/ };
const ROLE = { oneOf: ['core', 'supplier', 'financier', 'regulator'] };
const MERKLE_PATH = struct({ index: U63, size: U63, path: list(HEX32) });
const TX_BODY = struct({
  chain_id: { str: /^[a-z0-9][a-z0-9-]{0,62}$/ }, type: { str: /^[a-z][a-z_]{0,31}$/ }, sender: ADDRESS,
  nonce: U63, expires: U63, payload: DICT,
});
const TX_ENVELOPE = struct({ body: TX_BODY, pubkey: PUBKEY, sig: SIG });
const HEADER = struct({
  chain_id: { str: /^[a-z0-9][a-z0-9-]{0,62}$/ }, height: U63, time_ms: U63, parent: HEX32, proposer: U63,
  tx_count: U63, tx_root: HEX32, state_root: HEX32, results_root: HEX32,
});
const CERTIFICATE = struct({ height: U63, view: U63, block_hash: HEX32, signatures: list({ tuple: [U63, SIG] }) });
const TX_ENTRY = struct({
  height: U63, tx: TX_ENVELOPE, tx_proof: MERKLE_PATH, result: opt(DICT), result_proof: opt(MERKLE_PATH),
}, { result: null, result_proof: null });
const BUNDLE = struct({
  version: { int: [INT64_MIN * 4n, INT64_MAX * 4n] }, chain_id: { str: /^/ }, genesis_hash: HEX32, warrant: HEX32,
  transactions: list(TX_ENTRY),
  headers: list(struct({ header: HEADER, certificate: CERTIFICATE })),
  epochs: list(TX_ENTRY), // version 2: the enacting transaction of each epoch change (epochs.js)
}, { epochs: [] });
export const BUNDLE_VERSION = 1n; // without epoch changes; a bundle that carries them is EPOCHS_VERSION
export const EPOCHS_VERSION = 2n;

const WARRANT_REF = struct({ warrant: HEX32 });
const FREEZE = struct({ warrant: HEX32, reason: { str: /^/, len: [1, 256] } });
const DOC_REASON = struct({ doc: HEX32, reason: { str: /^/, len: [1, 256] } });
export const PAYLOADS = {
  register_account: struct({ address: ADDRESS, role: ROLE, name: NAME }),
  set_role: struct({ address: ADDRESS, role: ROLE }),
  set_credit_line: struct({ core: ADDRESS, currency: CURRENCY, limit: U63 }),
  anchor_document: struct({
    doc_type: { oneOf: ['invoice', 'contract', 'delivery_note', 'warehouse_receipt'] }, number: NAME, issuer_reg_id: NAME,
    issuer_reg_kind: { oneOf: ['uscc', 'lei', 'other'] }, hash: HEX32, total: AMOUNT, currency: CURRENCY,
    seller: ADDRESS, buyer: ADDRESS,
  }),
  confirm_document: struct({ doc: HEX32 }),
  dispute_document: DOC_REASON,
  undispute_document: DOC_REASON,
  issue: struct({
    to: ADDRESS, amount: AMOUNT, currency: CURRENCY, maturity: U63, credit_line: ADDRESS,
    documents: list(struct({ doc: HEX32, amount: AMOUNT }), [1, 32]), offer_expires: U63,
  }),
  accept: WARRANT_REF,
  reject: WARRANT_REF,
  transfer: struct({ warrant: HEX32, to: ADDRESS, amount: AMOUNT, offer_expires: U63 }),
  split: struct({ warrant: HEX32, amounts: list(AMOUNT, [2, 64]) }),
  request_financing: struct({
    warrant: HEX32, financier: ADDRESS, mode: { oneOf: ['transfer', 'pledge'] }, discount_bps: { int: [0n, 10000n] },
    advance: AMOUNT, recourse: { bool: true },
  }),
  approve_financing: WARRANT_REF,
  reject_financing: WARRANT_REF,
  release_pledge: WARRANT_REF,
  settle: struct({ warrant: HEX32, amount: opt(AMOUNT) }, { amount: null }),
  mark_overdue: WARRANT_REF,
  freeze: FREEZE,
  unfreeze: FREEZE,
  ...GOVERNANCE_PAYLOADS,
};
// Checks beyond the schema (node.ledger.payloads.check_payload).
const PAYLOAD_CHECKS = { propose_validator_change: checkValidatorChange };

// ---- the genesis file -------------------------------------------------------------------------------

const PARAM_DEFAULTS = {
  max_block_txs: 2000n, max_block_bytes: 2097152n, max_tx_ttl_ms: 86400000n, max_clock_drift_ms: 2000n,
  max_block_delay_ms: 10000n, overdue_grace_ms: 259200000n, checkpoint_interval: 10n,
};
const POSITIVE = { int: [1n, INT64_MAX] };
const GENESIS_ACCOUNT = struct({ name: NAME, address: ADDRESS, pubkey: PUBKEY, role: ROLE }, { role: 'supplier' });
// Admins have no role (node.kernel.genesis refuses a file that gives them one).
const GENESIS_ADMIN = struct({ name: NAME, address: ADDRESS, pubkey: PUBKEY });
const GENESIS = struct({
  chain_id: { str: /^[a-z0-9][a-z0-9-]{0,62}$/ }, genesis_time_ms: U63,
  validators: list(struct({ name: { str: /^/ }, pubkey: PUBKEY, address: ADDRESS })),
  admins: list(GENESIS_ADMIN), accounts: list(GENESIS_ACCOUNT),
  params: struct({
    max_block_txs: POSITIVE, max_block_bytes: POSITIVE, max_tx_ttl_ms: POSITIVE, max_clock_drift_ms: POSITIVE,
    max_block_delay_ms: POSITIVE, overdue_grace_ms: { int: [INT64_MIN, INT64_MAX] }, checkpoint_interval: POSITIVE,
    // Left out it means 1 and stays out of the hash (a file from before governance keeps its hash).
    governance_quorum: unset(POSITIVE),
  }, PARAM_DEFAULTS),
}, { accounts: [], params: null });

/**
 * Parse a genesis file as node.kernel.genesis.parse_genesis does: its chain id, validators (and
 * their set's quorum), admin addresses, checkpoint interval and hash (of every default filled in).
 */
export async function loadGenesis(bytes) {
  let g;
  try {
    g = convert(parseJson(bytes), GENESIS);
  } catch (e) {
    throw new ProofError(`genesis file: ${e.message.replace('malformed proof bundle: ', '')}`);
  }
  if (g.params === null) g.params = convert(Object.create(null), GENESIS.struct.params);
  let set;
  try {
    set = await validatorSetOf({ validators: g.validators });
  } catch (e) {
    throw new ProofError(`genesis file: ${e.message}`);
  }
  if (!g.admins.length) throw new ProofError('genesis file: at least one alliance admin is required');
  const required = g.params.governance_quorum ?? 1n;
  if (required > BigInt(g.admins.length)) {
    throw new ProofError(`genesis file: governance_quorum ${required} is more than the ${g.admins.length} alliance admins`);
  }
  const seen = new Set();
  for (const account of [...g.admins, ...g.accounts]) {
    if (decompress(hexToBytes(account.pubkey)) === null) throw new ProofError(`genesis file: account ${account.name}: key is not a P-256 point`);
    if (await addressOf(account.pubkey) !== account.address) throw new ProofError(`genesis file: account ${account.name}: address does not match its public key`);
    if (seen.has(account.address)) throw new ProofError(`genesis file: account ${account.address} is listed twice`);
    seen.add(account.address);
  }
  return {
    chainId: g.chain_id, validators: g.validators, quorum: set.quorum, admins: new Set(g.admins.map((a) => a.address)),
    checkpointInterval: g.params.checkpoint_interval, hash: toHex(await sha256(canonical(g))),
  };
}

// ---- the bundle -------------------------------------------------------------------------------------

const u16be = (i) => Uint8Array.of((i >> 8) & 0xff, i & 0xff);
async function warrantId(txId, index) { return toHex(await sha256(concat(txId, u16be(index)))); }
export async function documentId(type, number, issuer) { return toHex(await sha256(canonical([type, number, issuer]))); }

// Canonical business keys (node/ledger/keys.py): the id of an anchoring that names its
// registration kind hashes the canonical forms. A committed anchoring passed the ledger's checks,
// so only the forms are computed here, not the refusals.
const EXTRA_DASHES = new Set(['\u2212', '\u02d7', '\u2796', '\ufe63', '\uff0d', '\u2043']);
function foldLayout(value) {
  const text = Array.from(value.normalize('NFKC'))
    .filter((ch) => !/\p{Cf}/u.test(ch))
    .map((ch) => (EXTRA_DASHES.has(ch) || /\p{Pd}/u.test(ch) ? '-' : ch)).join('');
  return text.replace(/\s+/gu, ' ').trim();
}
// Python's str.casefold, closely: upper then lower folds ß, ſ and friends; final sigma as σ.
const casefold = (text) => text.toUpperCase().toLowerCase().replace(/ς/g, 'σ');
export function canonicalText(value) {
  return casefold(foldLayout(value)).normalize('NFKC').replace(/\s+/gu, ' ').trim();
}
export function canonicalRegId(value, kind) {
  if (kind === 'other') return canonicalText(value);
  return foldLayout(value).replace(/ /g, '').replace(/-/g, '').toUpperCase();
}
/** The id of the document an anchor_document payload registers, in either protocol version. */
export async function anchoredDocumentId(p) {
  if (p.issuer_reg_kind === undefined) return documentId(p.doc_type, p.number, p.issuer_reg_id);
  return documentId(p.doc_type, canonicalText(p.number), canonicalRegId(p.issuer_reg_id, p.issuer_reg_kind));
}
/**
 * Verify a proof bundle (its file's bytes) against a genesis (from loadGenesis).
 * Returns {ok, reason, steps, warrant, amount, lineage, transactions, headers, signatures, unproven, epochs};
 * ``epochs`` counts the validator set changes since genesis the bundle proves (``epochRecords`` lists them).
 * ``steps`` lists each check as it passed, for the page to show. Never throws for a bad bundle.
 */
export async function verifyBundle(bytes, genesis) {
  const report = {
    ok: false, reason: '', steps: [], lineage: [], transactions: [], headers: 0, signatures: 0, unproven: [], epochs: 0, epochRecords: [],
  };
  const step = (what, detail = '') => report.steps.push({ what, detail });
  try {
    await verify(bytes, genesis, report, step);
    report.ok = true;
  } catch (e) {
    if (!(e instanceof ProofError)) throw e;
    report.reason = e.message;
  }
  return report;
}

async function verify(bytes, genesis, report, step) {
  const bundle = convert(parseJson(bytes), BUNDLE);
  step('shape', `${bundle.transactions.length} transactions, ${bundle.headers.length} headers, ${bundle.epochs.length} epoch changes; no unknown or missing field`);
  if (bundle.version !== (bundle.epochs.length ? EPOCHS_VERSION : BUNDLE_VERSION)) {
    throw new ProofError(`bundle version ${bundle.version} is not supported here (this verifier reads ${BUNDLE_VERSION} without epoch changes and ${EPOCHS_VERSION} with them)`);
  }
  if (bundle.genesis_hash !== genesis.hash || bundle.chain_id !== genesis.chainId) {
    throw new ProofError(`bundle is for chain ${JSON.stringify(bundle.chain_id)} with genesis ${bundle.genesis_hash.slice(0, 16)}, not for ${JSON.stringify(genesis.chainId)} with genesis ${genesis.hash.slice(0, 16)}`);
  }
  step('chain', `chain ${genesis.chainId}, genesis ${genesis.hash.slice(0, 16)}…`);
  const headers = await checkHeaders(bundle.headers, genesis.chainId);
  step('headers', `${headers.size} headers hash to the blocks their certificates sign`);
  const txs = await checkTransactions(bundle.transactions, headers, genesis.chainId, step);
  report.warrant = bundle.warrant;
  report.headers = headers.size;
  report.transactions = txs.map((t) => t.verified);
  report.unproven = report.transactions.filter((t) => t.ok === null).map((t) => t.id);
  const [lineage, amount] = await checkLineage(bundle.warrant, txs);
  report.lineage = lineage;
  report.amount = amount;
  step('lineage', `${lineage.length} warrants from the issuance to ${bundle.warrant.slice(0, 12)}…, amount ${amount} fen`);
  const changes = await checkTransactions(bundle.epochs, headers, genesis.chainId, step);
  // Signatures last: they are the expensive checks. Each epoch change is proven under the set
  // before it; then every other header under the set of its own height.
  const verifyHeader = async (height, set) => {
    await checkCertificate(headers.get(height), height, set, genesis.chainId);
    report.signatures += headers.get(height).entry.certificate.signatures.length;
  };
  const { records, sets, verified } = await establishEpochs(changes, genesis, (height) => certifyingHeights(headers, height),
    verifyHeader, verifyTx);
  report.epochs = records.length - 1;
  report.epochRecords = records;
  if (records.length > 1) {
    step('epochs', records.slice(1).map((r) => `epoch ${r.epoch} (${r.validators.length} validators) from block ${r.first_height}`).join('; ') +
      ', each proven by the validators before it');
  }
  for (const height of [...headers.keys()].filter((h) => !verified.has(h)).sort((a, b) => (a < b ? -1 : 1))) {
    await verifyHeader(height, sets[Number(epochOf(records, height).epoch)]);
  }
  step('certificates', `${report.signatures} validator signatures checked against the validator set of each block's epoch, from the genesis file`);
  for (const t of txs) await verifyTx(t);
  step('signatures', `${txs.length + changes.length} transaction signatures and sender keys checked`);
}

/** ``height`` and the headers after it up to the first certified by its own hash (the ones that prove its result). */
function certifyingHeights(headers, height) {
  const out = [height];
  for (;;) {
    const found = headers.get(out[out.length - 1] + 1n);
    if (!found) return out;
    out.push(out[out.length - 1] + 1n);
    if (found.digest !== NULL_DIGEST_HEX) return out;
  }
}

/** consensus.proofs.certificate_problem: 2f+1 (the set's quorum) distinct valid signatures of ``set`` on the block. */
async function checkCertificate({ entry, digest }, height, set, chainId) {
  const cert = entry.certificate;
  if (cert.height !== height || cert.block_hash !== digest) {
    throw new ProofError(`certificate is for block ${cert.height}/${cert.block_hash.slice(0, 12)}, not ${height}/${digest.slice(0, 12)}`);
  }
  const message = concat(utf8.encode(chainId), utf8.encode('/commit/'), u64be(cert.view), u64be(cert.height), hexToBytes(digest));
  const signers = new Set();
  for (const [index, sig] of cert.signatures) {
    if (index >= BigInt(set.n) || signers.has(index)) {
      throw new ProofError(`certificate for block ${height}: unknown or repeated validator ${index}`);
    }
    if (!await ecdsaVerify(set.validators[Number(index)].pubkey, sig, message)) {
      throw new ProofError(`certificate for block ${height}: signature of validator ${index} is invalid`);
    }
    signers.add(index);
  }
  if (signers.size < set.quorum) {
    throw new ProofError(`certificate for block ${height} has ${signers.size} signatures; ${set.quorum} are needed`);
  }
}

/** A transaction's signature and that its key is its sender's (SignedTx.verify). */
async function verifyTx({ verified, envelope, body }) {
  const address = decompress(hexToBytes(envelope.pubkey)) === null ? null : await addressOf(envelope.pubkey);
  if (address === null) throw new ProofError(`transaction ${verified.id}: public key is not a valid P-256 point`);
  if (address !== envelope.body.sender) {
    throw new ProofError(`transaction ${verified.id}: public key belongs to ${address}, not to sender ${envelope.body.sender}`);
  }
  if (!await ecdsaVerify(envelope.pubkey, envelope.sig, body)) {
    throw new ProofError(`transaction ${verified.id}: signature does not match the body and public key`);
  }
}

async function checkHeaders(entries, chainId) {
  const byHeight = new Map();
  for (const entry of entries) {
    const header = entry.header;
    if (byHeight.has(header.height)) throw new ProofError(`header ${header.height} appears twice`);
    if (header.chain_id !== chainId) throw new ProofError(`header ${header.height} is for chain ${JSON.stringify(header.chain_id)}`);
    const hash = toHex(await sha256(canonical(header)));
    let digest = hash;
    if (entry.certificate.block_hash === NULL_DIGEST_HEX) digest = NULL_DIGEST_HEX;
    else if (entry.certificate.block_hash !== hash) throw new ProofError(`header ${header.height} does not hash to the block its certificate signs`);
    if (entry.certificate.height !== header.height) {
      throw new ProofError(`certificate of header ${header.height} is for height ${entry.certificate.height}`);
    }
    byHeight.set(header.height, { entry, digest, hash });
  }
  for (const [height, { entry, digest, hash }] of byHeight) {
    if (digest !== NULL_DIGEST_HEX) continue;
    const successor = byHeight.get(height + 1n);
    if (!successor || successor.entry.header.parent !== hash) {
      throw new ProofError(`null block ${height} is not linked to a following header by its parent hash`);
    }
    if (entry.header.tx_count !== 0n) throw new ProofError(`null block ${height} claims ${entry.header.tx_count} transactions`);
  }
  return byHeight;
}

async function checkPath(leaf, proof, size, root, what) {
  if (proof.size !== size) throw new ProofError(`${what}: proof is for a tree of ${proof.size} leaves; the header says ${size}`);
  if (!await verifyMerkle(leaf, proof.index, size, proof.path.map(hexToBytes), hexToBytes(root))) {
    throw new ProofError(`${what}: Merkle proof does not lead to the header's root`);
  }
}

async function checkTransactions(entries, headers, chainId, step) {
  const out = [];
  const seen = new Set();
  for (const entry of entries) {
    const envelope = entry.tx;
    let body;
    let raw;
    try {
      checkValue(envelope.body.payload, '$.body.payload');
      body = canonical(envelope.body);
      raw = canonical(envelope);
      const schema = Object.hasOwn(PAYLOADS, envelope.body.type) ? PAYLOADS[envelope.body.type] : null;
      if (!schema) throw new ProofError(`unknown transaction type ${JSON.stringify(envelope.body.type)}`);
      const payload = convert(envelope.body.payload, schema, '$');
      if (Object.hasOwn(PAYLOAD_CHECKS, envelope.body.type)) await PAYLOAD_CHECKS[envelope.body.type](payload);
    } catch (e) {
      throw new ProofError(`transaction at height ${entry.height}: ${e.message}`);
    }
    const txId = await sha256(body);
    const id = toHex(txId);
    const what = `transaction ${id} at height ${entry.height}`;
    if (seen.has(id)) throw new ProofError(`${what} appears twice`);
    seen.add(id);
    if (envelope.body.chain_id !== chainId) throw new ProofError(`${what} is for chain ${JSON.stringify(envelope.body.chain_id)}`);
    const block = headers.get(entry.height);
    if (!block || block.digest === NULL_DIGEST_HEX) throw new ProofError(`${what}: the bundle has no certified header at that height`);
    const header = block.entry.header;
    await checkPath(raw, entry.tx_proof, header.tx_count, header.tx_root, what);
    let ok = null;
    if ((entry.result === null) !== (entry.result_proof === null)) throw new ProofError(`${what}: a result needs its proof and a proof its result`);
    if (entry.result !== null) {
      const following = headers.get(entry.height + 1n);
      if (!following) throw new ProofError(`${what}: its result needs header ${entry.height + 1n}, which the bundle lacks`);
      if (entry.result_proof.index !== entry.tx_proof.index) throw new ProofError(`${what}: the result proof is for another transaction of the block`);
      let resultBytes;
      try { resultBytes = canonical(entry.result); } catch (e) { throw new ProofError(`${what}: result: ${e.message}`); }
      await checkPath(resultBytes, entry.result_proof, header.tx_count, following.entry.header.results_root, `${what} (result)`);
      ok = entry.result.ok === true;
      if (!ok) throw new ProofError(`${what} failed (${entry.result.code}); a warrant's history holds only successes`);
    }
    step(`transaction ${envelope.body.type}`, `${id.slice(0, 12)}… in block ${entry.height}: Merkle path to tx_root${ok ? ', result to the next header\'s results_root' : ''}`);
    out.push({
      txId, envelope, body, result: entry.result,
      verified: {
        id, type: envelope.body.type, sender: envelope.body.sender, height: entry.height, index: entry.tx_proof.index,
        timeMs: header.time_ms, payload: envelope.body.payload, ok,
      },
    });
  }
  return out;
}

async function created(t, amounts) {
  const { type, payload } = t.verified;
  if (type === 'issue') return [[await warrantId(t.txId, 0), null, payload.amount]];
  const parent = typeof payload.warrant === 'string' ? payload.warrant : '';
  if (type === 'split') return Promise.all(payload.amounts.map(async (a, i) => [await warrantId(t.txId, i), parent, a]));
  if (type === 'transfer') {
    const out = [[await warrantId(t.txId, 0), parent, payload.amount]];
    const remainder = (amounts.get(parent) ?? 0n) - payload.amount;
    if (remainder > 0n) out.push([await warrantId(t.txId, 1), parent, remainder]);
    return out;
  }
  return [];
}

const DOCUMENT_STEPS = new Set(['confirm_document', 'dispute_document', 'undispute_document']);

async function checkLineage(warrant, txs) {
  const parents = new Map(); const amounts = new Map(); const documents = new Set(); const backing = [];
  const cmp = (x, y) => (x < y ? -1 : x > y ? 1 : 0);
  const ordered = [...txs].sort((a, b) => cmp(a.verified.height, b.verified.height) || cmp(a.verified.index, b.verified.index));
  for (const t of ordered) {
    const p = t.verified.payload;
    if (t.verified.type === 'anchor_document') { documents.add(await anchoredDocumentId(p)); continue; }
    if (DOCUMENT_STEPS.has(t.verified.type)) continue;
    if (t.verified.type === 'issue') backing.push(...p.documents.map((d) => d.doc));
    for (const [child, parent, amount] of await created(t, amounts)) { parents.set(child, parent); amounts.set(child, amount); }
  }
  const chain = [warrant];
  for (;;) {
    const last = chain[chain.length - 1];
    if (!parents.has(last)) throw new ProofError(`no transaction in the bundle creates warrant ${last}: the history is broken`);
    const parent = parents.get(last);
    if (parent === null) break;
    chain.push(parent);
    if (chain.length > txs.length + 1) throw new ProofError('the lineage loops');
  }
  chain.reverse();
  const missing = backing.filter((d) => !documents.has(d));
  if (missing.length) throw new ProofError(`the issuance is backed by document ${missing[0]}, whose anchoring is not in the bundle`);
  const inLineage = new Set(chain);
  for (const t of txs) {
    if (t.verified.type === 'anchor_document') continue;
    if (DOCUMENT_STEPS.has(t.verified.type)) {
      if (!backing.includes(t.verified.payload.doc)) throw new ProofError(`transaction ${t.verified.id} (${t.verified.type}) concerns no document backing this issuance`);
      continue;
    }
    const ref = t.verified.type === 'issue' ? await warrantId(t.txId, 0) : t.verified.payload.warrant;
    if (!inLineage.has(ref)) throw new ProofError(`transaction ${t.verified.id} (${t.verified.type}) does not concern this warrant's lineage`);
  }
  return [chain, amounts.get(warrant)];
}
