// The primitives of proof checking in the browser, as the node computes them: JSON as Python's
// json.loads reads it, the canonical encoding (docs/PROTOCOL.md section 1), strict schemas (the
// msgspec Structs' rules), SHA-256, RFC 6962 Merkle paths and ECDSA P-256. verify.js (bundles,
// genesis) and epochs.js (validator set changes) build on them.
//
// The file is parsed here rather than with JSON.parse because a bundle's integers (nonces) exceed
// 2^53 and must stay exact, and because the parser must refuse and accept exactly what Python's
// json.loads does. Hashing and ECDSA use WebCrypto (crypto.subtle), which a browser offers only in
// a secure context: https, or http on localhost / 127.0.0.1.

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

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const utf8 = new TextEncoder();

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

// ---- schemas: the msgspec rules, strictly (no coercion, unknown fields refused) ---------------------

export const U63 = { int: [0n, INT64_MAX] };
export const HEX32 = { str: /^[0-9a-f]{64}$/ };
export const ADDRESS = { str: /^wc[0-9a-f]{40}$/ };
export const PUBKEY = { str: /^0[23][0-9a-f]{64}$/ };
export const SIG = { str: /^[0-9a-f]{128}$/ };
export const NAME = { str: /^/, len: [1, 128] };
export const ANY = { any: true };
export const DICT = { dict: true };
export const opt = (t) => ({ optional: t }); // null, or a value of t
export const unset = (t) => ({ unset: t }); // a struct field that may be left out (msgspec UNSET): then absent, not null
export const list = (t, len) => ({ list: t, len });
export const struct = (fields, defaults = {}) => ({ struct: fields, defaults });

export const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof JsonFloat);
const codePoints = (s) => Array.from(s).length;

/** Check ``v`` against ``schema`` strictly (no coercion, unknown fields refused); return it with defaults filled. */
export function convert(v, schema, path = '$') {
  const bad = (what) => { throw new ProofError(`malformed proof bundle: ${what} - at \`${path}\``); };
  if (schema.optional) return v === null ? null : convert(v, schema.optional, path);
  if (schema.unset) return convert(v, schema.unset, path);
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
      else if (sub.unset) continue;
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
export const concat = (...parts) => {
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
export const NULL_DIGEST_HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

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

export function u64be(n) {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = Number(n & 0xffn); n >>= 8n; }
  return out;
}

