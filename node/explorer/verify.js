// Proof bundles verified in the browser, trusting only the genesis file: the same checks, in the
// same order, as node/bundles.py verify_bundle (docs/PROTOCOL.md section 10), so the two agree on
// every bundle, altered or not (tests/explorer/test_proof_page.py compares them).
//
// Bytes in, verdict out. The file is parsed here rather than with JSON.parse because a bundle's
// integers (nonces) exceed 2^53 and must stay exact, and because the parser must refuse and accept
// exactly what Python's json.loads does. Hashing and ECDSA use WebCrypto (crypto.subtle), which a
// browser offers only in a secure context: https, or http on localhost / 127.0.0.1.

export class ProofError extends Error {}

// ---- JSON, as Python's json.loads reads it ---------------------------------------------------------

/** A JSON number with a fraction or exponent (or NaN/Infinity): never canonical, always refused. */
export class JsonFloat {
  constructor(text) { this.text = text; }
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/** Parse UTF-8 bytes; integers become BigInt, objects null-prototype (duplicate keys: last wins). */
export function parseJson(bytes) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new ProofError('the file is not UTF-8 text');
  }
  let at = 0;
  const fail = (what) => { throw new ProofError(`not a JSON proof bundle: ${what} at character ${at}`); };
  const skip = () => { while (at < text.length && WS.has(text.charCodeAt(at))) at++; };
  const depthLimit = 900; // Python's recursion limit refuses deeper nesting too
  function value(depth) {
    if (depth > depthLimit) fail('nesting too deep');
    skip();
    const c = text[at];
    if (c === '{') {
      at++;
      const obj = Object.create(null);
      skip();
      if (text[at] === '}') { at++; return obj; }
      for (;;) {
        skip();
        if (text[at] !== '"') fail('expected a property name');
        const key = string();
        skip();
        if (text[at] !== ':') fail("expected ':'");
        at++;
        obj[key] = value(depth + 1);
        skip();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === '}') { at++; return obj; }
        fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      at++;
      const list = [];
      skip();
      if (text[at] === ']') { at++; return list; }
      for (;;) {
        list.push(value(depth + 1));
        skip();
        if (text[at] === ',') { at++; continue; }
        if (text[at] === ']') { at++; return list; }
        fail("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [word, v] of [['true', true], ['false', false], ['null', null],
      ['NaN', new JsonFloat('NaN')], ['Infinity', new JsonFloat('Infinity')], ['-Infinity', new JsonFloat('-Infinity')]]) {
      if (text.startsWith(word, at)) { at += word.length; return v; }
    }
    const m = /^-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/.exec(text.slice(at, at + 400));
    if (!m) fail('expected a value');
    at += m[0].length;
    return (m[1] || m[2]) ? new JsonFloat(m[0]) : BigInt(m[0]);
  }
  function string() {
    at++; // the opening quote
    let out = '';
    for (;;) {
      if (at >= text.length) fail('unterminated string');
      const code = text.charCodeAt(at);
      if (code === 0x22) { at++; return out; }
      if (code < 0x20) fail('control character in a string');
      if (code !== 0x5c) { out += text[at++]; continue; }
      const e = text[at + 1];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) { out += simple; at += 2; continue; }
      if (e !== 'u' || !/^[0-9a-fA-F]{4}$/.test(text.slice(at + 2, at + 6))) fail('invalid escape');
      out += String.fromCharCode(parseInt(text.slice(at + 2, at + 6), 16));
      at += 6;
    }
  }
  const result = value(0);
  skip();
  if (at !== text.length) fail('extra data');
  return result;
}

// ---- canonical encoding (docs/PROTOCOL.md section 1) ------------------------------------------------

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const utf8 = new TextEncoder();

function hasLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

function byCodePoint(a, b) {
  const x = Array.from(a); const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0) - y[i].codePointAt(0);
    if (d) return d;
  }
  return x.length - y.length;
}

const SHORT = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

function quote(s) {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (c < 0x20) out += SHORT[c] || '\\u' + c.toString(16).padStart(4, '0');
    else out += ch;
  }
  return out + '"';
}

/** Throw ProofError unless ``v`` is canonical-encodable (codec.check_value). */
export function checkValue(v, path = '$', depth = 0) {
  if (depth > 32) throw new ProofError(`value nested deeper than 32 levels at ${path}`);
  if (typeof v === 'string') {
    if (hasLoneSurrogate(v)) throw new ProofError(`text at ${path} is not valid Unicode (lone surrogate)`);
  } else if (typeof v === 'bigint') {
    if (v < INT64_MIN || v > INT64_MAX) throw new ProofError(`integer at ${path} is outside the signed 64-bit range`);
  } else if (typeof v === 'number') {
    // Only from the node's own JSON (a bundle's file is parsed into BigInt): a safe integer.
    if (!Number.isSafeInteger(v)) throw new ProofError(`number at ${path} is not an exact integer`);
  } else if (v instanceof JsonFloat) {
    throw new ProofError(`floating-point number at ${path}: amounts are integers in minor units (fen)`);
  } else if (Array.isArray(v)) {
    v.forEach((item, i) => checkValue(item, `${path}[${i}]`, depth + 1));
  } else if (v !== null && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      if (hasLoneSurrogate(k)) throw new ProofError(`text at ${path} is not valid Unicode (lone surrogate)`);
      checkValue(v[k], `${path}.${k}`, depth + 1);
    }
  } else if (v !== null && typeof v !== 'boolean') {
    throw new ProofError(`value at ${path} has no canonical encoding`);
  }
}

function encodeText(v) {
  if (v === null) return 'null';
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return BigInt(v).toString();
  if (typeof v === 'string') return quote(v);
  if (Array.isArray(v)) return '[' + v.map(encodeText).join(',') + ']';
  return '{' + Object.keys(v).sort(byCodePoint).map((k) => quote(k) + ':' + encodeText(v[k])).join(',') + '}';
}

/** The canonical bytes of a checked value. */
export function canonical(v) {
  checkValue(v);
  return utf8.encode(encodeText(v));
}

// ---- schemas (the msgspec Structs of node/kernel/chain.py, node/bundles.py, node/ledger/payloads.py) -------

const U63 = { int: [0n, INT64_MAX] };
const AMOUNT = { int: [1n, INT64_MAX] };
const HEX32 = { str: /^[0-9a-f]{64}$/ };
const ADDRESS = { str: /^wc[0-9a-f]{40}$/ };
const PUBKEY = { str: /^0[23][0-9a-f]{64}$/ };
const SIG = { str: /^[0-9a-f]{128}$/ };
const CURRENCY = { str: /^[A-Z]{3}$/ };
const ROLE = { oneOf: ['core', 'supplier', 'financier', 'regulator'] };
const NAME = { str: /^/, len: [1, 128] };
const ANY = { any: true };
const DICT = { dict: true };
const opt = (t) => ({ optional: t });
const list = (t, len) => ({ list: t, len });
const struct = (fields, defaults = {}) => ({ struct: fields, defaults });

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
const BUNDLE = struct({
  version: { int: [INT64_MIN * 4n, INT64_MAX * 4n] }, chain_id: { str: /^/ }, genesis_hash: HEX32, warrant: HEX32,
  transactions: list(struct({
    height: U63, tx: TX_ENVELOPE, tx_proof: MERKLE_PATH, result: opt(DICT), result_proof: opt(MERKLE_PATH),
  }, { result: null, result_proof: null })),
  headers: list(struct({ header: HEADER, certificate: CERTIFICATE })),
});

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
};

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonFloat);
const codePoints = (s) => Array.from(s).length;

/** Check ``v`` against ``schema`` strictly (no coercion, unknown fields refused); return it with defaults filled. */
export function convert(v, schema, path = '$') {
  const bad = (what) => { throw new ProofError(`malformed proof bundle: ${what} - at \`${path}\``); };
  if (schema.optional) return v === null ? null : convert(v, schema.optional, path);
  if (schema.anyOf) { // one of the protocol's versions of a record (the first one's error if none fits)
    let first = null;
    for (const option of schema.anyOf) {
      try { return convert(v, option, path); } catch (e) { if (!(e instanceof ProofError)) throw e; first = first || e; }
    }
    throw first;
  }
  if (schema.any) return v;
  if (schema.dict) { if (!isObject(v)) bad('Expected `object`'); return v; }
  if (schema.int) {
    if (typeof v !== 'bigint') bad('Expected `int`');
    if (v < schema.int[0] || v > schema.int[1]) bad('Expected `int` in range');
    return v;
  }
  if (schema.bool) { if (typeof v !== 'boolean') bad('Expected `bool`'); return v; }
  if (schema.oneOf) { if (!schema.oneOf.includes(v)) bad(`Invalid enum value`); return v; }
  if (schema.str) {
    if (typeof v !== 'string') bad('Expected `str`');
    if (!schema.str.test(v)) bad('Expected `str` matching the pattern');
    if (schema.len && (codePoints(v) < schema.len[0] || codePoints(v) > schema.len[1])) bad('Expected `str` of a length in range');
    return v;
  }
  if (schema.list) {
    if (!Array.isArray(v)) bad('Expected `array`');
    if (schema.len && (v.length < schema.len[0] || v.length > schema.len[1])) bad('Expected `array` of a length in range');
    return v.map((item, i) => convert(item, schema.list, `${path}[${i}]`));
  }
  if (schema.tuple) {
    if (!Array.isArray(v) || v.length !== schema.tuple.length) bad(`Expected \`array\` of length ${schema.tuple.length}`);
    return v.map((item, i) => convert(item, schema.tuple[i], `${path}[${i}]`));
  }
  if (schema.struct) {
    if (!isObject(v)) bad('Expected `object`');
    const out = Object.create(null);
    for (const key of Object.keys(v)) if (!Object.hasOwn(schema.struct, key)) bad(`Object contains unknown field \`${key}\``);
    for (const [key, sub] of Object.entries(schema.struct)) {
      if (key in v) out[key] = convert(v[key], sub, `${path}.${key}`);
      else if (Object.hasOwn(schema.defaults, key)) out[key] = schema.defaults[key];
      else bad(`Object missing required field \`${key}\``);
    }
    return out;
  }
  throw new Error('unknown schema');
}

// ---- hashes, Merkle paths (RFC 6962), ECDSA P-256 -------------------------------------------------

export function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}
export const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
const concat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

function subtle() {
  if (!globalThis.crypto || !globalThis.crypto.subtle) {
    throw new Error('this browser offers WebCrypto only on a secure page: open the explorer over https or on localhost');
  }
  return globalThis.crypto.subtle;
}
export async function sha256(bytes) { return new Uint8Array(await subtle().digest('SHA-256', bytes)); }
const NULL_DIGEST_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

async function leafHash(data) { return sha256(concat(Uint8Array.of(0), data)); }
async function nodeHash(l, r) { return sha256(concat(Uint8Array.of(1), l, r)); }

/** node.kernel.merkle.verify_proof */
export async function verifyMerkle(item, index, size, proof, root) {
  if (!(index >= 0n && index < size)) return false;
  let node = await leafHash(item);
  let position = index; let last = size - 1n; let k = 0;
  while (last > 0n) {
    if (position % 2n === 1n) {
      if (k >= proof.length) return false;
      node = await nodeHash(proof[k++], node);
    } else if (position < last) {
      if (k >= proof.length) return false;
      node = await nodeHash(node, proof[k++]);
    }
    position /= 2n; last /= 2n;
  }
  return k === proof.length && equal(node, root);
}

// P-256 (FIPS 186-4 D.1.2.3). WebCrypto imports only uncompressed points reliably, so a compressed
// key is decompressed here: y = sqrt(x^3 - 3x + b) mod p, and p = 3 mod 4 makes sqrt a power.
const P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;
function modpow(base, exp, mod) {
  let result = 1n; base %= mod;
  while (exp > 0n) { if (exp & 1n) result = (result * base) % mod; base = (base * base) % mod; exp >>= 1n; }
  return result;
}
const bigFrom = (bytes) => BigInt('0x' + (toHex(bytes) || '0'));
const bigTo32 = (n) => hexToBytes(n.toString(16).padStart(64, '0'));

/** The 65-byte uncompressed point of a 33-byte compressed one, or null if it is not on the curve. */
export function decompress(key) {
  if (key.length !== 33 || (key[0] !== 2 && key[0] !== 3)) return null;
  const x = bigFrom(key.slice(1));
  if (x >= P) return null;
  const rhs = (((x * x) % P) * x - 3n * x + B) % P;
  const r = ((rhs % P) + P) % P;
  let y = modpow(r, (P + 1n) / 4n, P);
  if ((y * y) % P !== r) return null;
  if ((y & 1n) !== BigInt(key[0] & 1)) y = P - y;
  return concat(Uint8Array.of(4), bigTo32(x), bigTo32(y));
}

const keyCache = new Map();
async function importKey(hex) {
  if (!keyCache.has(hex)) {
    const point = decompress(hexToBytes(hex));
    keyCache.set(hex, point === null ? null
      : await subtle().importKey('raw', point, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']));
  }
  return keyCache.get(hex);
}

/** ECDSA P-256 / SHA-256 over ``message`` with a raw r||s signature; false if the key is no point. */
export async function ecdsaVerify(pubkeyHex, sigHex, message) {
  const key = await importKey(pubkeyHex);
  if (key === null) return false;
  return subtle().verify({ name: 'ECDSA', hash: 'SHA-256' }, key, hexToBytes(sigHex), message);
}

export async function addressOf(pubkeyHex) {
  return 'wc' + toHex((await sha256(hexToBytes(pubkeyHex))).slice(0, 20));
}

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
  }, PARAM_DEFAULTS),
}, { accounts: [], params: null });

/** Parse a genesis file: its chain id, validator keys, quorum and hash (of every default filled in). */
export async function loadGenesis(bytes) {
  let g;
  try {
    g = convert(parseJson(bytes), GENESIS);
  } catch (e) {
    throw new ProofError(`genesis file: ${e.message.replace('malformed proof bundle: ', '')}`);
  }
  if (g.params === null) g.params = convert(Object.create(null), GENESIS.struct.params);
  const n = g.validators.length;
  if (n < 1) throw new ProofError('genesis file: no validators');
  for (const v of g.validators) {
    if (decompress(hexToBytes(v.pubkey)) === null) throw new ProofError(`genesis file: validator ${v.name}: key is not a P-256 point`);
    if (await addressOf(v.pubkey) !== v.address) throw new ProofError(`genesis file: validator ${v.name}: address does not match its key`);
  }
  const f = Math.floor((n - 1) / 3);
  return {
    chainId: g.chain_id, validators: g.validators, quorum: 2 * f + 1,
    hash: toHex(await sha256(canonical(g))),
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
function u64be(n) {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = Number(n & 0xffn); n >>= 8n; }
  return out;
}

/**
 * Verify a proof bundle (its file's bytes) against a genesis (from loadGenesis).
 * Returns {ok, reason, steps, warrant, amount, lineage, transactions, headers, signatures, unproven};
 * ``steps`` lists each check as it passed, for the page to show. Never throws for a bad bundle.
 */
export async function verifyBundle(bytes, genesis) {
  const report = { ok: false, reason: '', steps: [], lineage: [], transactions: [], headers: 0, signatures: 0, unproven: [] };
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
  step('shape', `${bundle.transactions.length} transactions, ${bundle.headers.length} headers; no unknown or missing field`);
  if (bundle.version !== 1n) throw new ProofError(`bundle version ${bundle.version} is not supported (this verifier reads 1)`);
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
  const domain = utf8.encode(genesis.chainId);
  for (const [height, { entry, digest }] of [...headers.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const cert = entry.certificate;
    if (cert.height !== height || cert.block_hash !== digest) {
      throw new ProofError(`certificate is for block ${cert.height}/${cert.block_hash.slice(0, 12)}, not ${height}/${digest.slice(0, 12)}`);
    }
    const message = concat(domain, utf8.encode('/commit/'), u64be(cert.view), u64be(cert.height), hexToBytes(digest));
    const signers = new Set();
    for (const [index, sig] of cert.signatures) {
      if (index >= BigInt(genesis.validators.length) || signers.has(index)) {
        throw new ProofError(`certificate for block ${height}: unknown or repeated validator ${index}`);
      }
      if (!await ecdsaVerify(genesis.validators[Number(index)].pubkey, sig, message)) {
        throw new ProofError(`certificate for block ${height}: signature of validator ${index} is invalid`);
      }
      signers.add(index);
    }
    if (signers.size < genesis.quorum) {
      throw new ProofError(`certificate for block ${height} has ${signers.size} signatures; ${genesis.quorum} are needed`);
    }
    report.signatures += cert.signatures.length;
  }
  step('certificates', `${report.signatures} validator signatures checked against the genesis validator set`);
  for (const { verified, envelope, body } of txs) {
    const address = decompress(hexToBytes(envelope.pubkey)) === null ? null : await addressOf(envelope.pubkey);
    if (address === null) throw new ProofError(`transaction ${verified.id}: public key is not a valid P-256 point`);
    if (address !== envelope.body.sender) {
      throw new ProofError(`transaction ${verified.id}: public key belongs to ${address}, not to sender ${envelope.body.sender}`);
    }
    if (!await ecdsaVerify(envelope.pubkey, envelope.sig, body)) {
      throw new ProofError(`transaction ${verified.id}: signature does not match the body and public key`);
    }
  }
  step('signatures', `${txs.length} transaction signatures and sender keys checked`);
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
      convert(envelope.body.payload, schema, '$');
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
      txId, envelope, body,
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
