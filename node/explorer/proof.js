// The proof page: drop (or pick) a proof bundle and the genesis file; verify.js checks the bundle
// entirely in this browser and shows each step and the verdict. With a warrant id, the page also
// offers that warrant's bundle from this node, as the same bytes `warrant proof export` writes.

import { h, put, section, amount, time, short, link } from './dom.js';
import { call } from './rpc.js';
import { canonical } from './canon.js';
import { loadGenesis, verifyBundle } from './verify.js';

export async function proofPage(main, id) {
  const files = { bundle: null, genesis: null };
  const verdict = h('div', { id: 'verdict', class: 'verdict waiting' }, 'Give a proof bundle and the genesis file.');
  const steps = h('ol', { id: 'steps', class: 'steps' });
  const details = h('div', { id: 'proof-details' });
  const picked = { bundle: h('span', { class: 'picked', id: 'bundle-name' }, 'none'), genesis: h('span', { class: 'picked', id: 'genesis-name' }, 'none') };

  let latest = 0; // a newer file makes an older, slower check's verdict moot

  async function run() {
    if (!files.bundle || !files.genesis) return;
    const mine = ++latest;
    verdict.className = 'verdict waiting';
    verdict.textContent = 'Verifying…';
    steps.replaceChildren();
    details.replaceChildren();
    let genesis;
    try {
      genesis = await loadGenesis(files.genesis);
    } catch (e) {
      if (mine !== latest) return;
      verdict.className = 'verdict invalid';
      verdict.textContent = `Cannot use this genesis file: ${e.message}`;
      return;
    }
    let report;
    try {
      report = await verifyBundle(files.bundle, genesis);
    } catch (e) { // no WebCrypto (not a secure page), or a bug: not a verdict on the bundle
      if (mine !== latest) return;
      verdict.className = 'verdict waiting';
      verdict.textContent = `Could not verify here: ${e.message}`;
      return;
    }
    if (mine !== latest) return;
    for (const st of report.steps) steps.append(h('li', { class: 'ok' }, h('b', {}, st.what), ': ', st.detail));
    if (!report.ok) {
      steps.append(h('li', { class: 'bad' }, h('b', {}, 'failed'), ': ', report.reason));
      verdict.className = 'verdict invalid';
      verdict.textContent = `INVALID: ${report.reason}`;
      return;
    }
    const incomplete = report.unproven.length > 0;
    verdict.className = incomplete ? 'verdict incomplete' : 'verdict valid';
    verdict.textContent = incomplete
      ? `VALID but INCOMPLETE: the outcome of ${report.unproven.length} transaction(s) is not yet certified by a later block`
      : `VALID: warrant ${report.warrant} of ${amount(report.amount)} on chain ${genesis.chainId}`;
    put(details,
      h('p', {}, `Lineage: ${report.lineage.map(short).join(' → ')}; ${report.transactions.length} signed transactions, ${report.headers} headers, ${report.signatures} validator signatures checked`,
        report.epochs ? `; ${report.epochs} validator set change${report.epochs > 1 ? 's' : ''} since genesis, each proven by the set before it.` : '.'),
      h('table', { class: 'list' }, h('thead', {}, h('tr', {}, ['Block', 'Time', 'Transaction', 'Sender', 'Outcome'].map((x) => h('th', {}, x)))),
        h('tbody', {}, report.transactions.map((t) => h('tr', {}, h('td', {}, `#${t.height}`), h('td', {}, time(t.timeMs)), h('td', {}, t.type),
          h('td', { class: 'id' }, t.sender), h('td', {}, t.ok ? 'ok (result proven)' : 'outcome not yet certified'))))));
  }

  const take = async (kind, file) => {
    if (!file) return;
    files[kind] = new Uint8Array(await file.arrayBuffer());
    picked[kind].textContent = `${file.name} (${files[kind].length} bytes)`;
    run();
  };
  const input = (kind) => {
    const el = h('input', { type: 'file', id: `${kind}-file`, accept: '.json,application/json' });
    el.addEventListener('change', () => take(kind, el.files[0]));
    return el;
  };
  const drop = h('div', { class: 'drop', id: 'drop' }, 'Drop the bundle and the genesis file here (a file with "validators" in it is taken as the genesis).');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', async (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    for (const file of e.dataTransfer.files) {
      const text = await file.text();
      take(text.includes('"validators"') ? 'genesis' : 'bundle', file);
    }
  });

  let offer = null;
  if (id) {
    const bundle = await call('warrant_proof', { id });
    const bytes = new Uint8Array([...canonical(bundle), 0x0a]);
    const url = URL.createObjectURL(new Blob([bytes], { type: 'application/json' }));
    offer = section('This node’s bundle',
      h('p', {}, 'The proof bundle of warrant ', link(`warrant/${id}`, short(id)), ` as this node builds it (${bytes.length} bytes). `,
        h('a', { href: url, download: `proof-${id.slice(0, 12)}.json`, id: 'download' }, 'Download it'), ', or ',
        h('button', { id: 'use-node-bundle', type: 'button', onclick: () => { files.bundle = bytes; picked.bundle.textContent = 'from this node'; run(); } }, 'verify it here'),
        '. Trust comes only from the genesis file you give: get it from your consortium, not from this node.'));
  }
  put(main,
    h('h1', {}, 'Verify a proof bundle'),
    h('p', {}, 'Everything is checked in this browser, trusting only the genesis file: the shape of the bundle, each transaction’s Merkle path to its block header, each result’s path to the next header, the lineage from the issuance to the warrant, every header’s commit certificate (a quorum of signatures, ECDSA P-256, of the validator set of its epoch: the genesis set, or a set whose change the bundle proves with signatures of the set before it) and every transaction’s signature. Nothing is sent anywhere. The same checks as ',
      h('code', {}, 'warrant proof verify'), '.'),
    offer,
    section('Files', h('p', {}, h('label', {}, 'Proof bundle: ', input('bundle')), ' ', picked.bundle),
      h('p', {}, h('label', {}, 'Genesis file: ', input('genesis')), ' ', picked.genesis), drop),
    section('Verdict', verdict, steps, details));
}
