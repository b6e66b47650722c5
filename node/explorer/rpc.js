// The node's JSON-RPC (POST /rpc) and WebSocket (/ws), from the page that node served.
//
// Read-only: only query methods are called (READ_ONLY below; tx_submit never is). The node's
// limits are respected: at most MAX_IN_FLIGHT requests at a time, batches of at most BATCH calls,
// and an answer that says "busy" or "too many requests" (HTTP 429/503, JSON-RPC BUSY 1004 or
// LIMIT_EXCEEDED 1006) is retried after a growing pause rather than hammered; a query too large
// for the node (1006 QUERY_TOO_LARGE, TRACE_TOO_DEEP, RESPONSE_TOO_LARGE) is not retried at all.

export const READ_ONLY = new Set([
  'chain_status', 'chain_getBlock', 'chain_validators', 'tx_get', 'warrant_get', 'warrant_trace', 'warrant_proof',
  'account_get', 'account_holdings', 'document_get', 'credit_get', 'document_allocations', 'account_documents',
  'validator_set', 'validator_history', 'governance_proposals',
]);
const MAX_IN_FLIGHT = 4;
export const BATCH = 20;
const RETRIABLE = new Set([1004, 1006]);
// Limits that asking again won't change: the same question reads as much and answers as large.
const FINAL = new Set(['QUERY_TOO_LARGE', 'TRACE_TOO_DEEP', 'RESPONSE_TOO_LARGE']);
const retriable = (error) => Boolean(error) && !FINAL.has(error.data && error.data.reason)
  && (RETRIABLE.has(error.code) || /RATE|BUSY/.test((error.data && error.data.reason) || ''));

export class RpcError extends Error {
  constructor(error) {
    super(error.message);
    this.code = error.code;
    this.data = error.data || {};
  }
}

// Integers beyond 2^53 (nonces) stay exact as BigInt, so a transaction's canonical bytes, and so
// its id, can be recomputed from what the node sent (JSON.parse source text access).
function reviver(key, value, context) {
  if (typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?\d+$/.test(context.source)) {
    return BigInt(context.source);
  }
  return value;
}
export const parse = (text) => JSON.parse(text, reviver);

let inFlight = 0;
const waiting = [];
async function slot() {
  if (inFlight < MAX_IN_FLIGHT) { inFlight++; return; }
  await new Promise((resolve) => waiting.push(resolve));
  inFlight++;
}
function release() {
  inFlight--;
  const next = waiting.shift();
  if (next) next();
}
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let nextId = 1;

async function post(body) {
  for (let attempt = 0; ; attempt++) {
    await slot();
    let response;
    try {
      response = await fetch('/rpc', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
    } finally {
      release();
    }
    const retryable = response.status === 429 || response.status === 503;
    if (retryable && attempt < 6) {
      const after = Number(response.headers.get('Retry-After')) * 1000;
      await pause(after > 0 ? Math.min(after, 10_000) : 250 * 2 ** attempt);
      continue;
    }
    const text = await response.text();
    let answer;
    try {
      answer = parse(text);
    } catch (e) {
      throw new RpcError({ code: response.status, message: `the node answered HTTP ${response.status}: ${text.slice(0, 200)}` });
    }
    const busy = Array.isArray(answer) ? answer.some((a) => retriable(a.error)) : retriable(answer.error);
    if (busy && attempt < 6) { await pause(250 * 2 ** attempt); continue; }
    return answer;
  }
}

/** One call; its result, or throw RpcError. */
export async function call(method, params = {}) {
  if (!READ_ONLY.has(method)) throw new Error(`the explorer does not call ${method}`);
  const answer = await post(JSON.stringify({ jsonrpc: '2.0', id: nextId++, method, params }));
  if (answer.error) throw new RpcError(answer.error);
  return answer.result;
}

/** The same call if it exists, null if the node says NOT_FOUND (1001). */
export async function find(method, params) {
  try {
    return await call(method, params);
  } catch (e) {
    if (e instanceof RpcError && e.code === 1001) return null;
    throw e;
  }
}

let batchSize = BATCH; // lowered for good if the node's max_batch (or max_body) is smaller

/** Many calls, in batches; each answer is {result} or {error} in the order asked. */
export async function many(calls, most = BATCH) {
  const out = [];
  for (let i = 0; i < calls.length;) {
    const size = Math.min(batchSize, most);
    const chunk = calls.slice(i, i + size).map(([method, params]) => {
      if (!READ_ONLY.has(method)) throw new Error(`the explorer does not call ${method}`);
      return { jsonrpc: '2.0', id: nextId++, method, params };
    });
    const answer = await post(JSON.stringify(chunk));
    if (!Array.isArray(answer)) {
      // The whole batch was refused (too many calls, or too large a body): try smaller ones.
      if (chunk.length > 1) { batchSize = Math.max(1, Math.floor(chunk.length / 2)); continue; }
      throw new RpcError(answer.error || { code: 0, message: 'unexpected answer' });
    }
    const byId = new Map(answer.map((a) => [a.id, a]));
    for (const req of chunk) out.push(byId.get(req.id) || { error: { code: 0, message: 'no answer' } });
    i += chunk.length;
  }
  return out;
}

/** Subscribe to new blocks over /ws; ``onBlock(summary)`` per block. Reconnects; returns a stop function. */
export function subscribeBlocks(onBlock, onState = () => {}) {
  let ws = null;
  let stopped = false;
  let delay = 500;
  const open = () => {
    if (stopped) return;
    ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`);
    ws.onopen = () => {
      delay = 500;
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'subscribe', params: { topic: 'blocks' } }));
    };
    ws.onmessage = (event) => {
      const msg = parse(event.data);
      if (msg.method === 'subscription' && msg.params) onBlock(msg.params.result);
      else if (msg.id === 1 && msg.result) onState('live'); // the node counts the subscription from here on
      else if (msg.id === 1 && msg.error) onState(`refused: ${msg.error.message}`);
    };
    ws.onclose = () => {
      onState('reconnecting…');
      if (!stopped) setTimeout(open, delay);
      delay = Math.min(delay * 2, 15_000);
    };
  };
  open();
  return () => { stopped = true; if (ws) ws.close(); };
}

// Blocks. Nodes since protocol 0.2 answer chain_getBlock with transaction ids unless asked for
// `full` transactions, a page at a time (`next_offset`); older nodes refuse `full` and send the
// whole block. Found out once, with the first block asked for.
let paged = null;

async function firstPage(params) {
  if (paged !== false) {
    try {
      const block = await find('chain_getBlock', { ...params, full: true });
      paged = true;
      return block;
    } catch (e) {
      if (!(e instanceof RpcError && e.code === -32602 && paged === null)) throw e;
      paged = false;
    }
  }
  return find('chain_getBlock', params);
}

async function rest(block, params) {
  let next = block.next_offset;
  while (next !== undefined && next !== null) {
    const page = await call('chain_getBlock', { ...params, full: true, offset: next });
    block.txs.push(...page.txs);
    next = page.next_offset;
  }
  return block;
}

/** A block ({hash, header, txs: full transactions, certificate}) by {height} or {hash}, or null. */
export async function getBlock(params) {
  const block = await firstPage(params);
  return block && rest(block, params);
}

/** Blocks by height, in batches; null where there is none. */
export async function getBlocks(heights, most = BATCH) {
  if (!heights.length) return [];
  const first = await getBlock({ height: heights[0] });
  const answers = await many(heights.slice(1).map((height) => ['chain_getBlock', paged ? { height, full: true } : { height }]), most);
  const out = [first];
  for (const [i, answer] of answers.entries()) out.push(answer.result ? await rest(answer.result, { height: heights[i + 1] }) : null);
  return out;
}
