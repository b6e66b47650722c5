// What the explorer knows about the whole chain, from scanning its blocks: every transaction with
// its id, the accounts' names, the issuances, credit lines and financing requests. The node has no
// "list everything" call, so the pages that need lists (account history, risk) read blocks, in
// batches, newest first, at most MAX_SCAN blocks or until MAX_TXS transactions, and then only the
// blocks that arrived since.

import { call, getBlocks, many } from './rpc.js';
import { canonical, sha256, toHex } from './canon.js';
import { short } from './dom.js';

export const MAX_SCAN = 5000;
export const MAX_TXS = 20_000;
const BLOCK_BATCH = 5; // blocks can be large: few per request

export const chain = {
  from: 0, // first height scanned
  height: 0, // last height scanned
  timeMs: 0, // time of the last block scanned: the clock of the risk view
  txs: [], // {id, height, index, type, sender, payload}
  byId: new Map(),
  names: new Map(), // address -> account name (or "validator vN")
  roles: new Map(), // address -> role
};

let running = null;

/** Bring the index up to the chain's head (one scan at a time). */
export function refresh() {
  if (!running) running = scan().finally(() => { running = null; });
  return running;
}

async function scan() {
  const status = await call('chain_status');
  if (!chain.names.size) {
    for (const v of await call('chain_validators')) chain.names.set(v.address, `validator ${v.name}`);
  }
  const top = status.height;
  const blocks = [];
  const fetch = async (heights) => {
    for (const block of await getBlocks(heights, BLOCK_BATCH)) if (block) blocks.push(block);
  };
  if (!chain.height) { // first scan: newest first, within the bounds
    let next = top;
    let txs = 0;
    while (next >= 1 && top - next < MAX_SCAN && txs < MAX_TXS) {
      const heights = [];
      for (; heights.length < BLOCK_BATCH && next >= 1 && top - next < MAX_SCAN; next--) heights.push(next);
      const before = blocks.length;
      await fetch(heights);
      for (const b of blocks.slice(before)) txs += b.txs.length;
    }
    chain.from = next + 1;
  } else {
    for (let h = chain.height + 1; h <= top; h += BLOCK_BATCH) {
      const heights = [];
      for (let k = h; k < h + BLOCK_BATCH && k <= top; k++) heights.push(k);
      await fetch(heights);
    }
  }
  const seen = new Set();
  for (const block of blocks) {
    chain.height = Math.max(chain.height, block.header.height);
    chain.timeMs = Math.max(chain.timeMs, block.header.time_ms);
    for (const [index, tx] of block.txs.entries()) {
      const id = toHex(await sha256(canonical(tx.body)));
      const record = { id, height: block.header.height, index, type: tx.body.type, sender: tx.body.sender, payload: tx.body.payload };
      chain.txs.push(record);
      chain.byId.set(id, record);
      seen.add(tx.body.sender);
      for (const value of Object.values(tx.body.payload)) if (typeof value === 'string' && /^wc[0-9a-f]{40}$/.test(value)) seen.add(value);
    }
  }
  chain.txs.sort((a, b) => (a.height - b.height) || (a.index - b.index));
  const unknown = [...seen].filter((a) => !chain.names.has(a));
  const accounts = await many(unknown.map((address) => ['account_get', { address }]));
  unknown.forEach((address, i) => {
    const account = accounts[i].result;
    if (account) {
      chain.names.set(address, account.name || account.role);
      chain.roles.set(address, account.role);
    }
  });
  return chain;
}

/** A person's name for an address (the account's name, else a short address). */
export const nameOf = (address) => (address ? chain.names.get(address) || short(address) : '—');

/** Transactions of a type, newest last. */
export const ofType = (...types) => chain.txs.filter((t) => types.includes(t.type));

/** The id of the k-th warrant a transaction created: sha256(tx id || k as 2 bytes). */
export async function createdWarrant(txId, k) {
  const bytes = new Uint8Array(34);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(txId.substr(i * 2, 2), 16);
  bytes[32] = (k >> 8) & 0xff;
  bytes[33] = k & 0xff;
  return toHex(await sha256(bytes));
}
