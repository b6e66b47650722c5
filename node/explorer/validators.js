// The validator set and its history (#/validators): the epoch that certifies the next block (names,
// addresses, keys, endpoints, n, f, quorum, first height), a change scheduled for a later height,
// the governance proposals still open, and every epoch since genesis with the proposal that made
// it, linked to its blocks. Read from validator_set, validator_history and governance_proposals
// (docs/PROTOCOL.md section 9.3); each record's link to its predecessor's hash is recomputed here.

import { h, put, link, fields, table, section, badge, time, short } from './dom.js';
import { call, RpcError } from './rpc.js';
import { refresh, nameOf } from './index.js';
import { recordHash } from './epochs.js';

const RECORD_FIELDS = ['approved_height', 'epoch', 'first_height', 'previous', 'proposal', 'validators'];
const record = (e) => Object.fromEntries(RECORD_FIELDS.map((k) => [k, e[k]]));
const id = (text, attrs = {}) => h('span', { class: 'id', title: text, ...attrs }, short(text));
const block = (height) => link(`block/${height}`, `#${height}`);
const proposalLink = (pid) => (pid ? link(`tx/${pid}`, short(pid), { class: 'id', title: pid }) : 'genesis');
const names = (addresses) => (addresses || []).map((a, i) => [i ? ', ' : '', link(`account/${a}`, nameOf(a))]);

/** The epoch record that certifies ``height`` ({epoch, validators, n, f, quorum, ...}), or null
 * from a node without governance (then its genesis set, chain_validators, is the only one). */
export async function epochAt(height = null) {
  try {
    return (await call('validator_set', height === null ? {} : { height })).epoch;
  } catch (e) {
    if (e instanceof RpcError) return null;
    throw e;
  }
}

/** What changed from ``before`` to ``after`` (two records), in words. */
export function change(before, after) {
  if (!before) return 'the genesis validators';
  const was = new Set(before.validators.map((v) => v.address));
  const now = new Set(after.validators.map((v) => v.address));
  const added = after.validators.filter((v) => !was.has(v.address));
  const removed = before.validators.filter((v) => !now.has(v.address));
  const at = (v) => after.validators.findIndex((x) => x.address === v.address);
  if (added.length === 1 && removed.length === 1 && at(added[0]) === before.validators.indexOf(removed[0])) {
    return [`rotates the key of ${removed[0].name}: `, id(removed[0].address), ' → ', id(added[0].address)];
  }
  const parts = [...added.map((v) => ['adds ', String(v.name), ' ', id(v.address)]),
    ...removed.map((v) => ['removes ', String(v.name), ' ', id(v.address)])];
  return parts.length ? parts.map((p, i) => [i ? '; ' : '', p]) : 'the same validators';
}

/** A proposal ({action, address, name, pubkey, endpoint}) in words, naming a validator of ``current`` by name. */
function proposed(p, current) {
  const member = current.validators.find((v) => v.address === p.address);
  const who = member ? `${member.name} ` : '';
  if (p.action === 'add') return ['add ', String(p.name), ' ', id(p.address), p.endpoint ? ` at ${p.endpoint}` : ''];
  if (p.action === 'remove') return ['remove ', who, id(p.address)];
  return ['rotate the key of ', who, id(p.address), ' to ', id(p.pubkey)];
}

const members = (validators, tableId) => table(['#', 'Name', 'Address', 'Public key', 'Mesh endpoint'],
  validators.map((v, i) => [String(i), String(v.name), h('span', { class: 'id' }, v.address), h('span', { class: 'id' }, v.pubkey),
    v.endpoint ? String(v.endpoint) : h('span', { class: 'note' }, 'in each node’s config (genesis)')]), { id: tableId });

export async function validatorsPage(main) {
  const [now, history, governance] = await Promise.all([
    call('validator_set'), call('validator_history'), call('governance_proposals', { limit: 100 }), refresh().catch(() => {})]);
  const epochs = history.epochs;
  const byId = new Map(governance.proposals.map((p) => [p.id, p]));
  const e = now.epoch;
  const chained = await Promise.all(epochs.map(async (r, i) => i === 0 || r.previous === await recordHash(record(epochs[i - 1]))));
  const open = governance.proposals.filter((p) => p.status === 'open');
  const pending = now.pending;
  put(main,
    h('h1', {}, 'Validators'),
    fields([
      ['Epoch', h('span', { id: 'epoch-now' }, `epoch ${e.epoch}`), ' ', badge('active'), ` (certifies block #${now.height}, the next one)`],
      ['Certifies from block', block(e.first_height)],
      ['Validators (n)', h('span', { id: 'epoch-n' }, String(e.n))],
      ['Faults tolerated (f)', h('span', { id: 'epoch-f' }, String(e.f))],
      ['Commit quorum', h('span', { id: 'epoch-quorum' }, `${e.quorum} signatures of ${e.n}`)],
      ['Made by', e.proposal ? ['proposal ', proposalLink(e.proposal), ', approved in block ', block(e.approved_height)] : 'the genesis file'],
      ['Record hash', h('span', { class: 'id' }, e.hash)],
      ['Final', now.final ? 'yes: no later block can change the set of the next block'
        : 'not yet: a block before it could still schedule a change that starts at or below it'],
    ].map(([k, ...v]) => [k, v])),
    section('Current validators', members(e.validators, 'current-validators')),
    section('Scheduled change', pending
      ? [h('p', { id: 'pending-change' }, `Epoch ${pending.epoch} takes effect at block `, block(pending.first_height),
        ` (${pending.n} validators, f = ${pending.f}, quorum ${pending.quorum}): it `, change(e, pending),
        '; proposal ', proposalLink(pending.proposal), ', approved in block ', block(pending.approved_height), '.'),
      members(pending.validators, 'pending-validators')]
      : h('p', { id: 'pending-change' }, 'None: the next epoch starts only after a proposal reaches the admins’ quorum.')),
    section('Open proposals', open.length
      ? table(['Proposal', 'Change', 'Proposed', 'Approvals', 'Expires'], open.map((p) => [proposalLink(p.id), h('span', {}, proposed(p, e)),
        ['block ', block(p.proposed_height), ' by ', link(`account/${p.proposer}`, nameOf(p.proposer))],
        [`${p.approvals.length} of ${governance.required}: `, names(p.approvals)], time(p.expires)]), { id: 'open-proposals' })
      : h('p', { id: 'open-proposals' }, `None open. A change needs the approval of ${governance.required} alliance admin(s).`)),
    section('History', h('p', { class: 'note' }, 'Every validator set since genesis, newest first. Each record names the hash of the one before it (checked in this browser); a certificate of a block is checked against the set of its epoch.'),
      table(['Epoch', 'Status', 'From block', 'Change', 'Proposal', 'Approved', 'Approved by', 'n / f / quorum', 'Validators', 'Chained'],
        epochs.map((r, i) => [String(r.epoch), badge(r.status), block(r.first_height), h('span', {}, change(epochs[i - 1], r)),
          proposalLink(r.proposal), r.approved_height ? block(r.approved_height) : '—',
          byId.has(r.proposal) ? names(byId.get(r.proposal).approvals) : (r.proposal ? h('span', { class: 'note' }, 'not among the newest 100 proposals') : '—'),
          `${r.n} / ${r.f} / ${r.quorum}`, r.validators.map((v) => v.name).join(', '),
          chained[i] ? h('span', { class: 'ok' }, i ? `names epoch ${epochs[i - 1].epoch}’s hash` : 'genesis')
            : h('span', { class: 'bad' }, `does not name epoch ${epochs[i - 1].epoch}’s hash`)]).reverse(), { id: 'epoch-history' })));
}
