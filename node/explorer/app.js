// The explorer's pages, one per route (#/chain, #/block/H, #/tx/ID, #/account/A, #/document/ID,
// #/warrant/ID, #/search/Q, #/risk, #/validators, #/proof[/ID]). Read-only: every call goes through rpc.js,
// which refuses anything but queries.

import { h, put, link, fields, table, generic, section, badge, amount, time, short } from './dom.js';
import { call, find, many, subscribeBlocks, getBlock, getBlocks, RpcError } from './rpc.js';
import { chain, refresh, nameOf, MAX_SCAN, MAX_TXS } from './index.js';
import { describe, outcome } from './describe.js';
import { lineageSvg, LEGEND } from './lineage.js';
import { riskFigures, BUCKETS, DEFINITIONS } from './risk.js';
import { proofPage } from './proof.js';
import { validatorsPage, epochAt } from './validators.js';
import { canonical, sha256, toHex } from './canon.js';
import { anchoredDocumentId } from './verify.js';

const main = document.getElementById('main');
let stopLive = null;

const who = (address) => (address ? link(`account/${address}`, nameOf(address), { class: 'who' }) : '—');
const wlink = (id) => link(`warrant/${id}`, short(id), { class: 'id', title: id });
const HEX64 = /^[0-9a-f]{64}$/;
const ADDRESS = /^wc[0-9a-f]{40}$/;

// ---- chain ----------------------------------------------------------------------------------------

async function chainPage() {
  const [status, validators, epoch] = await Promise.all([call('chain_status'), call('chain_validators'), epochAt()]);
  const top = status.height;
  const heights = [];
  for (let x = top; x >= Math.max(1, top - 14); x--) heights.push(x);
  const blocks = (await getBlocks(heights)).filter(Boolean);
  const heightEl = h('span', { id: 'height' }, String(top));
  const liveEl = h('span', { id: 'live', class: 'live-state' }, 'connecting…');
  const row = (b) => h('tr', { 'data-height': b.height },
    h('td', {}, link(`block/${b.height}`, `#${b.height}`)), h('td', {}, time(b.time_ms)), h('td', {}, String(b.txs)),
    h('td', {}, h('span', { class: 'id', title: b.hash }, short(b.hash))));
  const body = h('tbody', { id: 'blocks' }, blocks.map((b) => row({ height: b.header.height, time_ms: b.header.time_ms, txs: b.txs.length, hash: b.hash })));
  put(main,
    h('h1', {}, 'The chain'),
    fields([
      ['Chain', status.chain_id], ['Height', heightEl], ['Head block', h('span', { class: 'id' }, status.block_hash)],
      ['State root', h('span', { class: 'id' }, status.state_root)], ['View', String(status.view)],
      ['This node', `${status.in_sync ? 'in sync' : 'catching up'}, ${status.peers} peer link(s), ${status.mempool_size} transaction(s) waiting`],
      epoch ? ['Validator set', link('validators', `epoch ${epoch.epoch}: ${epoch.n} validators, f = ${epoch.f}, quorum ${epoch.quorum}`, { id: 'chain-epoch' })] : null,
      ['Live blocks', liveEl],
    ]),
    section('Validators this node links to', table(['#', 'Name', 'Address', 'Link from this node'], validators.map((v) => [
      String(v.index), v.name, h('span', { class: 'id' }, v.address),
      v.self ? 'this node' : v.connected ? h('span', { class: 'ok' }, 'connected') : h('span', { class: 'bad' }, 'not connected')]))),
    section('Latest blocks', h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Height', 'Time', 'Transactions', 'Hash'].map((x) => h('th', {}, x)))), body)));
  stopLive = subscribeBlocks((b) => {
    if (body.querySelector(`tr[data-height="${b.height}"]`)) return;
    const tr = row(b);
    tr.classList.add('fresh');
    body.prepend(tr);
    while (body.children.length > 30) body.lastChild.remove();
    heightEl.textContent = String(b.height);
  }, (state) => { liveEl.textContent = state === 'live' ? 'live over the WebSocket' : state; });
}

// ---- block and transaction -------------------------------------------------------------------------

async function txIds(txs) {
  return Promise.all(txs.map(async (tx) => toHex(await sha256(canonical(tx.body)))));
}

async function blockPage(key) {
  const block = await getBlock(HEX64.test(key) ? { hash: key } : { height: Number(key) });
  if (!block) return notFound(`block ${key}`);
  await refresh().catch(() => {});
  const hd = block.header;
  // The set of the block's epoch: its proposer and signers are indexes into it.
  const epoch = await epochAt(hd.height);
  const validators = epoch ? epoch.validators : await call('chain_validators');
  const ids = await txIds(block.txs);
  const shown = block.txs.slice(0, 500);
  const results = await many(ids.slice(0, 500).map((id) => ['tx_get', { id }]));
  const cert = block.certificate;
  put(main,
    h('h1', {}, `Block #${hd.height}`),
    fields([
      ['Hash', h('span', { class: 'id' }, block.hash)], ['Time', time(hd.time_ms)],
      ['Parent', hd.height > 1 ? link(`block/${hd.height - 1}`, hd.parent, { class: 'id' }) : h('span', { class: 'id' }, `${hd.parent} (genesis)`)],
      ['Proposer', validators[hd.proposer] ? `${validators[hd.proposer].name} (#${hd.proposer})` : String(hd.proposer)],
      ['Transactions', String(hd.tx_count)], ['Transaction root', h('span', { class: 'id' }, hd.tx_root)],
      ['State root (after its parent)', h('span', { class: 'id' }, hd.state_root)],
      ['Results root (of its parent)', h('span', { class: 'id' }, hd.results_root)],
      epoch ? ['Certified by', [link('validators', `epoch ${epoch.epoch}`, { id: 'block-epoch' }), ` (${epoch.n} validators from block #${epoch.first_height}, quorum ${epoch.quorum})`]] : null,
      ['Next block', link(`block/${hd.height + 1}`, `#${hd.height + 1}`)],
    ]),
    section('Commit certificate', cert ? [
      h('p', {}, `View ${cert.view}; ${cert.signatures.length} of ${validators.length} validators signed ${cert.block_hash === block.hash ? 'this block’s hash' : 'the null request'}.`),
      table(['Validator', 'Signature'], cert.signatures.map(([i, sig]) => [validators[i] ? `${validators[i].name} (#${i})` : `#${i}`, h('span', { class: 'id sig' }, sig)])),
    ] : h('p', {}, 'No certificate stored.')),
    section('Transactions', table(['#', 'Type', 'What', 'Outcome'], shown.map((tx, i) => {
      const r = results[i].result;
      return [link(`tx/${ids[i]}`, String(i)), tx.body.type, h('span', {}, describe(tx.body.type, tx.body.payload, tx.body.sender)),
        h('span', { class: r && r.result && r.result.ok ? 'ok' : 'bad' }, outcome(r && r.result))];
    })), block.txs.length > shown.length ? h('p', {}, `… and ${block.txs.length - shown.length} more.`) : null));
}

async function txPage(id) {
  const tx = await find('tx_get', { id });
  if (!tx) return notFound(`transaction ${id}`);
  await refresh().catch(() => {});
  if (tx.status !== 'committed') {
    return put(main, h('h1', {}, 'Transaction'), fields([['Id', h('span', { class: 'id' }, id)], ['Status', 'pending: waiting to be ordered into a block']]));
  }
  const body = tx.tx.body;
  const r = tx.result;
  put(main,
    h('h1', {}, `Transaction: ${body.type}`),
    h('p', { class: 'words' }, describe(body.type, body.payload, body.sender)),
    fields([
      ['Id', h('span', { class: 'id' }, id)],
      ['Outcome', h('span', { class: r.ok ? 'ok' : 'bad' }, outcome(r))],
      ['Block', link(`block/${tx.height}`, `#${tx.height}`)], ['Position in block', String(tx.index)],
      ['Sender', who(body.sender)], ['Nonce', String(body.nonce)], ['Expires', time(body.expires)],
      ['Public key', h('span', { class: 'id' }, tx.tx.pubkey)], ['Signature', h('span', { class: 'id sig' }, tx.tx.sig)],
    ]),
    section('Payload', fields(Object.entries(body.payload).map(([k, v]) => [k, valueView(k, v)]))),
    r.events && r.events.length ? section('Events', r.events.map((e) => generic(e))) : null);
}

/** A payload or record value, linked where it names something. */
function valueView(key, v) {
  if (typeof v === 'string' && ADDRESS.test(v)) return who(v);
  if (typeof v === 'string' && HEX64.test(v) && (key === 'warrant' || key === 'ref' || key === 'root' || key === 'parent')) return wlink(v);
  if (typeof v === 'string' && HEX64.test(v) && key === 'doc') return link(`document/${v}`, short(v), { class: 'id' });
  if (['amount', 'total', 'limit', 'advance', 'paid', 'allocated', 'used', 'available', 'principal', 'outstanding'].includes(key) && v !== null && typeof v !== 'object') return amount(v);
  if (['maturity', 'offer_expires', 'issued_at', 'time', 'expires'].includes(key) && typeof v !== 'object') return time(v);
  // A record the explorer does not know (e.g. a document's parties or dispute): its fields, linked.
  if (v && typeof v === 'object' && !Array.isArray(v)) return fields(Object.entries(v).map(([k, x]) => [k, valueView(k, x)]));
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return h('span', {}, v.map((x, i) => [i ? ', ' : '', valueView(key, x)]));
  return generic(v);
}

// ---- account ---------------------------------------------------------------------------------------

async function accountPage(address) {
  const account = await find('account_get', { address });
  if (!account) return notFound(`account ${address}`);
  const [holdings] = await Promise.all([find('account_holdings', { address }), refresh().catch(() => {})]);
  const mentions = (t) => t.sender === address || Object.values(t.payload).some((v) => v === address);
  const history = chain.txs.filter(mentions).slice(-200).reverse();
  const requests = chain.txs.filter((t) => t.type === 'request_financing' && t.payload.financier === address);
  const requested = (await many(requests.map((t) => ['warrant_get', { id: t.payload.warrant }])))
    .map((a) => a.result).filter((w) => w && w.financing && w.financing.status === 'requested' && w.financing.financier === address);
  const lines = new Map();
  for (const t of chain.txs) {
    if (t.type === 'set_credit_line' && (t.sender === address || t.payload.core === address)) lines.set(`${t.payload.core}/${t.sender}`, { core: t.payload.core, financier: t.sender });
  }
  const credit = (await many([...lines.values()].map((l) => ['credit_get', l]))).map((a) => a.result).filter(Boolean);
  const warrantRows = (list) => list.map((w) => [wlink(w.id), amount(w.amount - w.paid, w.currency), badge(w.status), time(w.maturity), who(w.issuer)]);
  put(main,
    h('h1', {}, h('span', { id: 'account-name' }, account.name || `(${account.role})`)),
    fields([
      ['Address', h('span', { class: 'id' }, address)], ['Role', account.role],
      ['Registered', account.registered_by === 'genesis' ? 'in genesis' : ['in block ', link(`block/${account.registered_height}`, `#${account.registered_height}`), ' by ', who(account.registered_by)]],
      holdings ? ['Holds', `${amount(holdings.held_outstanding)} outstanding in ${holdings.held.length} warrant(s)`] : null,
    ]),
    credit.length ? section('Credit lines', table(['Core enterprise', 'Financier', 'Limit', 'Used', 'Available'],
      credit.map((c) => [who(c.core), who(c.financier), amount(c.limit, c.currency), amount(c.used, c.currency), amount(c.available, c.currency)]))) : null,
    section('Holdings', holdings && holdings.held.length ? table(['Warrant', 'Outstanding', 'Status', 'Maturity', 'Issuer'], warrantRows(holdings.held)) : h('p', {}, 'None.')),
    section('Offers waiting for it', holdings && holdings.incoming.length ? table(['Warrant', 'Amount', 'Status', 'Maturity', 'Issuer'], warrantRows(holdings.incoming)) : h('p', {}, 'None.')),
    account.role === 'financier' ? section('Financing requests waiting for this bank', requested.length
      ? table(['Warrant', 'Applicant', 'Mode', 'Advance', 'Discount'], requested.map((w) => [wlink(w.id), who(w.financing.applicant), w.financing.mode, amount(w.financing.advance), `${(w.financing.discount_bps / 100).toFixed(2)}%`]))
      : h('p', {}, 'None.')) : null,
    section('History', history.length ? table(['Block', 'Transaction', 'What'], history.map((t) => [link(`block/${t.height}`, `#${t.height}`), link(`tx/${t.id}`, t.type), h('span', {}, describe(t.type, t.payload, t.sender))]))
      : h('p', {}, 'No transactions in the scanned blocks.'), scanNote()));
}

const scanNote = () => h('p', { class: 'note' }, `From blocks ${chain.from}–${chain.height} (the explorer reads at most the newest ${MAX_SCAN} blocks or ${MAX_TXS.toLocaleString('en')} transactions).`);

// ---- document ----------------------------------------------------------------------------------------

const DOC_KNOWN = ['id', 'doc_type', 'number', 'issuer_reg_id', 'hash', 'total', 'currency', 'allocated', 'anchored_by', 'anchored_tx', 'anchored_height', 'allocations'];

async function documentPage(id) {
  const doc = await find('document_get', { id });
  if (!doc) return notFound(`document ${id}`);
  await refresh().catch(() => {});
  const extra = Object.keys(doc).filter((k) => !DOC_KNOWN.includes(k));
  put(main,
    h('h1', {}, `${doc.doc_type} “`, String(doc.number), '”'),
    fields([
      ['Business key', `${doc.doc_type} / ${doc.number} / ${doc.issuer_reg_id}`], ['Document id', h('span', { class: 'id' }, doc.id)],
      ['File hash (SHA-256)', h('span', { class: 'id' }, doc.hash)], ['Total', amount(doc.total, doc.currency)],
      ['Allocated to warrants', amount(doc.allocated, doc.currency)],
      ['Anchored', ['by ', who(doc.anchored_by), ' in block ', link(`block/${doc.anchored_height}`, `#${doc.anchored_height}`), ', ', link(`tx/${doc.anchored_tx}`, 'transaction')]],
    ]),
    // Parties, confirmation and dispute, and anything else the ledger records, as it records them.
    extra.length ? section('Parties, confirmation, dispute and other records', fields(extra.map((k) => [k, valueView(k, doc[k])]))) : null,
    section('Allocations', (doc.allocations || []).length ? table(['Warrant', 'Amount'], doc.allocations.map((a) => [wlink(a.ref), amount(a.amount, doc.currency)])) : h('p', {}, 'None yet.')));
}

// ---- warrant -----------------------------------------------------------------------------------------

async function warrantPage(id) {
  const w = await find('warrant_get', { id });
  if (!w) return notFound(`warrant ${id}`);
  // A tree too large or too deep for the node to answer (1006) still leaves the warrant's own page.
  const [tree] = await Promise.all([call('warrant_trace', { id }).catch((e) => {
    if (e instanceof RpcError && e.code === 1006) return { refused: e.message };
    throw e;
  }), refresh().catch(() => {})]);
  const documents = tree.refused ? ((w.root === id ? w : await find('warrant_get', { id: w.root })) || {}).documents : tree.documents;
  const f = w.financing;
  put(main,
    h('h1', {}, `Warrant ${short(id)}`, ' ', badge(w.status)),
    fields([
      ['Id', h('span', { class: 'id' }, id)], ['Amount', amount(w.amount, w.currency)], ['Paid', amount(w.paid, w.currency)],
      ['Outstanding', ['pending', 'active', 'overdue'].includes(w.status) ? amount(w.outstanding, w.currency) : `none (${w.status})`],
      ['Holder', who(w.holder)],
      w.pending_to ? ['Offered to', [who(w.pending_to), `, until ${time(w.offer_expires)}`]] : null,
      ['Issuer', who(w.issuer)], ['Original payee', who(w.payee)], ['Credit line of', who(w.credit_line)],
      ['Issued', time(w.issued_at)], ['Maturity', time(w.maturity)],
      ['Issuance', w.root === id ? 'this warrant' : wlink(w.root)], w.parent ? ['Parent', wlink(w.parent)] : null,
      f ? ['Financing', [`${f.mode === 'pledge' ? 'pledge' : 'factoring'} at `, who(f.financier), `, ${f.status}; principal ${amount(f.principal)}, advance ${amount(f.advance)}, discount ${(f.discount_bps / 100).toFixed(2)}%, ${f.recourse ? 'with' : 'without'} recourse`]] : null,
      w.frozen ? ['Frozen', ['by ', who(w.frozen.by), ' in block ', link(`block/${w.frozen.height}`, `#${w.frozen.height}`), ': “', String(w.frozen.reason), '”']] : null,
    ]),
    tree.refused
      ? section('Lineage', h('p', { class: 'note', id: 'lineage-refused' }, `The node does not draw this issuance's tree: ${tree.refused}.`),
        h('p', {}, 'Follow it warrant by warrant: ', w.parent ? ['the parent is ', wlink(w.parent)] : 'this is the issuance',
          (w.children || []).length ? ['; the children are ', ...w.children.flatMap((c, i) => [i ? ', ' : '', wlink(c)])] : '', '.'))
      : section('Lineage', h('p', { class: 'note' }, 'The whole tree of its issuance; this warrant is outlined. Click a warrant to open it.'),
        h('div', { class: 'tree', id: 'lineage' }, lineageSvg(tree, id, (wid) => { location.hash = `#/warrant/${wid}`; })),
        h('ul', { class: 'legend' }, LEGEND.map(([st, text]) => h('li', {}, h('span', { class: `swatch st-${st}` }), text)))),
    section('Backing documents', (documents || []).length
      ? table(['Document', 'Allocated to the issuance'], documents.map((d) => [link(`document/${d.ref}`, short(d.ref), { class: 'id' }), amount(d.amount, w.currency)]))
      : h('p', {}, 'None recorded.')),
    section('History', table(['Block', 'Time', 'Event', 'From', 'To', 'Amount'], (w.history || []).map((e) => [
      link(`block/${e.height}`, `#${e.height}`), time(e.time), e.tx ? link(`tx/${e.tx}`, e.type) : `${e.type} (block housekeeping)`,
      who(e.from), who(e.to), e.amount ? amount(e.amount, w.currency) : ''])),
      w.history_truncated ? h('p', { class: 'note' }, `The first ${w.history.length} entries: the node answers no more. The proof bundle lists every transaction.`) : null),
    section('Proof', h('p', {}, link(`proof/${id}`, 'Get this warrant’s proof bundle and verify it in the browser'))));
}

// ---- search ------------------------------------------------------------------------------------------

async function searchPage(q) {
  const query = q.trim();
  const go = (route) => { location.replace(`#/${route}`); };
  if (/^\d+$/.test(query)) return go(`block/${query}`);
  if (ADDRESS.test(query)) return go(`account/${query}`);
  const hex = query.toLowerCase();
  if (HEX64.test(hex)) {
    const [tx, w, doc, block] = await many([['tx_get', { id: hex }], ['warrant_get', { id: hex }], ['document_get', { id: hex }], ['chain_getBlock', { hash: hex }]]);
    if (w.result) return go(`warrant/${hex}`);
    if (tx.result) return go(`tx/${hex}`);
    if (doc.result) return go(`document/${hex}`);
    if (block.result) return go(`block/${hex}`);
  }
  const parts = query.split(/\s*[/|]\s*/);
  if (parts.length === 3) {
    const doc = await find('document_get', { doc_type: parts[0], number: parts[1], issuer_reg_id: parts[2] });
    if (doc) return go(`document/${doc.id}`);
  }
  await refresh().catch(() => {});
  const needle = query.toLowerCase();
  const accounts = [...chain.names.entries()].filter(([, name]) => name.toLowerCase().includes(needle));
  const docs = await Promise.all(chain.txs.filter((t) => t.type === 'anchor_document' && String(t.payload.number).toLowerCase().includes(needle))
    .map(async (t) => ({ ...t.payload, id: await anchoredDocumentId(t.payload) })));
  put(main, h('h1', {}, 'Search: “', query, '”'),
    h('p', { class: 'note' }, 'Takes a block height or hash, a transaction, warrant or document id, an address, a business key (type / number / issuer registration id), or part of a name or document number.'),
    section('Accounts', accounts.length ? h('ul', {}, accounts.map(([a, name]) => h('li', {}, link(`account/${a}`, name)))) : h('p', {}, 'None.')),
    section('Documents', docs.length ? h('ul', {}, [...new Map(docs.map((d) => [d.id, d])).values()].map((d) => h('li', {}, link(`document/${d.id}`, `${d.doc_type} ${d.number} of ${d.issuer_reg_id}`)))) : h('p', {}, 'None.')));
}

// ---- risk ----------------------------------------------------------------------------------------------

async function riskPage() {
  put(main, h('h1', {}, 'Risk'), h('p', {}, 'Reading the chain…'));
  await refresh();
  const r = await riskFigures();
  const share = (c) => (c.outstanding ? `${(Number((c.financed * 10000n + c.outstanding / 2n) / c.outstanding) / 100).toFixed(2)}%` : '—');
  put(main,
    h('h1', {}, 'Risk'),
    h('p', {}, `As of block #${r.height} (${time(r.asOf)}), from ${r.warrants} live warrant(s) on the chain. `, scanNote()),
    r.unread.length ? h('div', { class: 'note', id: 'risk-unread' },
      h('p', {}, `Left out: ${r.unread.length} issuance(s) whose tree the node would not answer; the figures below do not count them.`),
      h('ul', {}, r.unread.map((u) => h('li', {}, wlink(u.id), `: ${u.reason}`)))) : null,
    section('Core enterprises', table(['Core enterprise', 'Credit lines', 'Used', 'Outstanding', ...BUCKETS.map(([, t]) => t), 'Overdue', 'Frozen', 'Disputed', 'Financed share'],
      r.cores.map((c) => [who(c.address), amount(c.limit), amount(c.used), amount(c.outstanding), ...BUCKETS.map(([k]) => amount(c.buckets[k])),
        amount(c.overdue), amount(c.frozen), amount(c.disputed), share(c)]), { id: 'risk-cores' })),
    section('Financiers', table(['Financier', 'Exposure', 'Held (factoring)', 'Pledged to it', 'Credit granted', 'Credit used'],
      r.financiers.map((f) => [who(f.address), amount(f.exposure), amount(f.held), amount(f.pledged), amount(f.granted), amount(f.used)]), { id: 'risk-financiers' })),
    section('Definitions', h('dl', { class: 'defs' }, DEFINITIONS.map(([t, d]) => [h('dt', {}, t), h('dd', {}, d)]))));
}

// ---- routing -------------------------------------------------------------------------------------------

function notFound(what) {
  put(main, h('h1', {}, 'Not found'), h('p', {}, `This node has no ${what}.`));
}

const ROUTES = {
  '': chainPage, chain: chainPage, block: blockPage, tx: txPage, account: accountPage, document: documentPage,
  warrant: warrantPage, search: searchPage, risk: riskPage, proof: (id) => proofPage(main, id), validators: () => validatorsPage(main),
};

async function route() {
  if (stopLive) { stopLive(); stopLive = null; }
  const [, name = '', ...rest] = (location.hash || '#/').slice(1).split('/');
  const page = Object.hasOwn(ROUTES, name) ? ROUTES[name] : () => notFound(`page ${name}`);
  document.body.dataset.page = name || 'chain';
  document.body.dataset.ready = 'no';
  try {
    await page(decodeURIComponent(rest.join('/')));
  } catch (e) {
    put(main, h('h1', {}, 'Something went wrong'), h('p', { class: 'bad' }, e instanceof RpcError ? `The node answered: ${e.message} (code ${e.code})` : String(e.message || e)));
  }
  document.body.dataset.route = location.hash || '#/'; // which page is ready (tests wait for it)
  document.body.dataset.ready = 'yes';
}

document.getElementById('search').addEventListener('submit', (e) => {
  e.preventDefault();
  const q = document.getElementById('q').value.trim();
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
});
window.addEventListener('hashchange', route);
route();
