// A transaction's payload in words, with links to what it names.

import { amount, link, time, short } from './dom.js';
import { nameOf } from './index.js';

const who = (address) => (address ? link(`account/${address}`, nameOf(address)) : '—');
const warrant = (id) => link(`warrant/${id}`, `warrant ${short(id)}`);

/** [text or node, ...] describing ``payload`` of a ``type`` transaction sent by ``sender``. */
export function describe(type, payload, sender) {
  const p = payload || {};
  const by = who(sender);
  switch (type) {
    case 'register_account': return [by, ' registers ', who(p.address), ` as ${p.role}, named “`, String(p.name), '”'];
    case 'set_role': return [by, ' sets the role of ', who(p.address), ` to ${p.role}`];
    case 'set_credit_line': return [by, ' grants ', who(p.core), ` a credit line of ${amount(p.limit, p.currency)}`];
    case 'anchor_document': return [by, ` anchors ${p.doc_type} “`, String(p.number), '” of ', String(p.issuer_reg_id),
      ` for ${amount(p.total, p.currency)} (file hash ${short(p.hash)})`,
      p.seller ? [', owed to ', who(p.seller), ' by ', who(p.buyer)] : ''];
    case 'confirm_document': return [by, ' confirms ', link(`document/${p.doc}`, `document ${short(p.doc)}`), ' as its debt'];
    case 'dispute_document': return [by, ' disputes ', link(`document/${p.doc}`, `document ${short(p.doc)}`), ': “', String(p.reason), '”'];
    case 'undispute_document': return [by, ' lifts the dispute on ', link(`document/${p.doc}`, `document ${short(p.doc)}`), ': “', String(p.reason), '”'];
    case 'issue': return [by, ` issues ${amount(p.amount, p.currency)} to `, who(p.to), `, maturing ${time(p.maturity)}, on the credit line of `,
      who(p.credit_line), `, backed by ${(p.documents || []).length} document(s)`];
    case 'accept': return [by, ' accepts ', warrant(p.warrant)];
    case 'reject': return [by, ' rejects ', warrant(p.warrant)];
    case 'transfer': return [by, ` transfers ${amount(p.amount)} of `, warrant(p.warrant), ' to ', who(p.to),
      ` (offer open until ${time(p.offer_expires)})`];
    case 'split': return [by, ' splits ', warrant(p.warrant), ` into ${(p.amounts || []).map((a) => amount(a)).join(' + ')}`];
    case 'request_financing': return [by, ` asks `, who(p.financier), ` to finance `, warrant(p.warrant),
      ` by ${p.mode === 'pledge' ? 'pledge' : 'factoring (transfer)'}: advance ${amount(p.advance)}, discount ${(Number(p.discount_bps) / 100).toFixed(2)}%, ${p.recourse ? 'with' : 'without'} recourse`];
    case 'approve_financing': return [by, ' approves the financing of ', warrant(p.warrant)];
    case 'reject_financing': return [by, ' rejects the financing of ', warrant(p.warrant)];
    case 'release_pledge': return [by, ' releases the pledge on ', warrant(p.warrant)];
    case 'settle': return [by, ' settles ', warrant(p.warrant), p.amount == null ? ' (everything outstanding)' : ` for ${amount(p.amount)}`];
    case 'mark_overdue': return [by, ' marks ', warrant(p.warrant), ' overdue'];
    case 'freeze': return [by, ' freezes ', warrant(p.warrant), ': “', String(p.reason), '”'];
    case 'unfreeze': return [by, ' unfreezes ', warrant(p.warrant), ': “', String(p.reason), '”'];
    case 'propose_validator_change': return [by, ' proposes to ', p.action === 'add' ? [`add validator “`, String(p.name), '” ', short(p.address)]
      : p.action === 'remove' ? ['remove validator ', short(p.address)] : ['rotate the key of validator ', short(p.address), ' to ', short(p.pubkey)],
    ` (open until ${time(p.expires)}); `, link('validators', 'the validator set')];
    case 'approve_validator_change': return [by, ' approves validator change proposal ', link(`tx/${p.proposal}`, short(p.proposal))];
    default: return [by, ` sends a ${type} transaction`];
  }
}

/** An outcome ({ok, code, message}) in words. */
export function outcome(result) {
  if (!result) return 'pending';
  return result.ok ? 'OK' : `failed: ${result.code}${result.message ? ` — ${result.message}` : ''}`;
}
