// The risk view's figures, from chain data only: the issuances' trees (warrant_trace), the credit
// lines (credit_get) and the documents backing the issuances (document_get). "Now" is the time of
// the newest block, not the viewer's clock, so two people looking at one height see one answer.

import { many } from './rpc.js';
import { chain, ofType, createdWarrant } from './index.js';
import { flatten } from './lineage.js';

const DAY = 86_400_000;
export const BUCKETS = [
  ['overdue', 'past maturity'],
  ['d30', 'due within 30 days'],
  ['d90', 'due in 31–90 days'],
  ['d180', 'due in 91–180 days'],
  ['later', 'due after 180 days'],
];
const LIVE = new Set(['pending', 'active', 'overdue']);

export const DEFINITIONS = [
  ['Outstanding', 'amount − paid of every live warrant (pending, active or overdue) descending from the core enterprise’s issuances; consumed, settled and rejected warrants carry no value.'],
  ['Maturity bucket', 'days from the newest block’s time to the issuance’s maturity; “past maturity” includes warrants not yet marked overdue.'],
  ['Credit line, used', 'the limits financiers granted the core enterprise (set_credit_line) and the part its outstanding issuances use (credit_get).'],
  ['Overdue', 'outstanding of warrants whose status is overdue (past maturity plus the grace period, not settled).'],
  ['Frozen', 'outstanding of live warrants a regulator has frozen.'],
  ['Disputed', 'outstanding of live warrants whose issuance is backed by a document marked disputed (when the ledger records disputes).'],
  ['Financed share', 'outstanding of live warrants under approved factoring or a pledge, divided by all outstanding.'],
  ['Exposure (financier)', 'outstanding of live warrants the financier holds (factoring) plus those pledged to it.'],
];

const disputed = (doc) => Boolean(doc && (doc.disputed || doc.dispute || doc.status === 'disputed'));

/** {cores: [...], financiers: [...], asOf, warrants, unread: [{id, reason}]} computed from the scanned chain. */
export async function riskFigures() {
  const roots = await Promise.all(ofType('issue').map((t) => createdWarrant(t.id, 0)));
  const traces = await many(roots.map((id) => ['warrant_trace', { id }]));
  const lines = new Map();
  for (const t of ofType('set_credit_line')) lines.set(`${t.payload.core}/${t.sender}`, { core: t.payload.core, financier: t.sender });
  const credit = await many([...lines.values()].map((l) => ['credit_get', l]));
  const docIds = new Set();
  for (const answer of traces) for (const d of answer.result?.documents || []) docIds.add(d.ref);
  const docs = await many([...docIds].map((id) => ['document_get', { id }]));
  const docById = new Map([...docIds].map((id, i) => [id, docs[i].result]));

  const cores = new Map();
  const financiers = new Map();
  const core = (address) => {
    if (!cores.has(address)) {
      cores.set(address, { address, limit: 0n, used: 0n, outstanding: 0n, buckets: Object.fromEntries(BUCKETS.map(([k]) => [k, 0n])),
        overdue: 0n, frozen: 0n, disputed: 0n, financed: 0n, warrants: 0 });
    }
    return cores.get(address);
  };
  const financier = (address) => {
    if (!financiers.has(address)) financiers.set(address, { address, held: 0n, pledged: 0n, exposure: 0n, granted: 0n, used: 0n });
    return financiers.get(address);
  };
  for (const answer of credit) {
    const line = answer.result;
    if (!line) continue;
    const [limit, used] = [BigInt(line.limit), BigInt(line.used)];
    core(line.core).limit += limit; core(line.core).used += used;
    financier(line.financier).granted += limit; financier(line.financier).used += used;
  }
  let warrants = 0;
  // Issuances whose tree the node would not answer (1006: too large or too deep to read in one
  // call) are left out of the figures, and the page says which.
  const unread = roots.flatMap((id, i) => (traces[i].error ? [{ id, reason: traces[i].error.message }] : []));
  for (const answer of traces) {
    const tree = answer.result;
    if (!tree) continue;
    const c = core(tree.issuer);
    const isDisputed = (tree.documents || []).some((d) => disputed(docById.get(d.ref)));
    for (const w of flatten(tree)) {
      if (!LIVE.has(w.status)) continue;
      const out = BigInt(w.amount) - BigInt(w.paid);
      warrants++;
      c.warrants++;
      c.outstanding += out;
      const days = (Number(w.maturity) - chain.timeMs) / DAY;
      const bucket = days < 0 ? 'overdue' : days <= 30 ? 'd30' : days <= 90 ? 'd90' : days <= 180 ? 'd180' : 'later';
      c.buckets[bucket] += out;
      if (w.status === 'overdue') c.overdue += out;
      if (w.frozen) c.frozen += out;
      if (isDisputed) c.disputed += out;
      const f = w.financing;
      if (f && (f.status === 'approved' || f.status === 'pledged')) {
        c.financed += out;
        if (f.status === 'pledged') financier(f.financier).pledged += out;
      }
      if (chain.roles.get(w.holder) === 'financier') financier(w.holder).held += out;
    }
  }
  for (const f of financiers.values()) f.exposure = f.held + f.pledged;
  return { cores: [...cores.values()], financiers: [...financiers.values()], asOf: chain.timeMs, height: chain.height, warrants, unread };
}
