// Building the page. Every value from the chain goes in as a text node or an attribute value,
// never as HTML: names, document numbers and reasons are user input (a test greps this folder
// for innerHTML and friends, and checks an account named like markup shows as text).

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: h('a', {href: '#/x', class: 'id'}, 'text', otherNode). */
export const h = (tag, attrs, ...children) => build(document.createElement(tag), attrs, children);
/** An SVG element. */
export const s = (tag, attrs, ...children) => build(document.createElementNS(SVG_NS, tag), attrs, children);

/** Replace the children of ``el``. */
export function put(el, ...children) {
  el.replaceChildren();
  return build(el, {}, children);
}

// ---- formatting ----------------------------------------------------------------------------------

/** 123456789 fen -> "1,234,567.89 CNY" (amounts are integers in fen; BigInt-safe). */
export function amount(fen, currency = 'CNY') {
  if (fen === null || fen === undefined) return '—';
  let n = BigInt(fen);
  const sign = n < 0n ? '-' : '';
  if (n < 0n) n = -n;
  const whole = (n / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${sign}${whole}.${(n % 100n).toString().padStart(2, '0')} ${currency}`;
}

/** Milliseconds since the epoch -> ISO 8601 in the viewer's zone with its offset, e.g. 2026-12-02T11:40:45+08:00. */
export function time(ms) {
  if (ms === null || ms === undefined) return '—';
  const d = new Date(Number(ms));
  const pad = (x, n = 2) => String(x).padStart(n, '0');
  const off = -d.getTimezoneOffset();
  const zone = off === 0 ? 'Z' : `${off > 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${zone}`;
}

export const short = (id) => (typeof id === 'string' && id.length > 16 ? `${id.slice(0, 10)}…` : String(id ?? '—'));

/** A link to an explorer page. */
export const link = (route, label, attrs = {}) => h('a', { href: `#/${route}`, ...attrs }, label);

/** A two-column table of [label, value] rows. */
export function fields(rows) {
  return h('table', { class: 'fields' },
    h('tbody', {}, rows.filter(Boolean).map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))));
}

/** A table with a header row. */
export function table(head, rows, attrs = {}) {
  return h('table', { class: 'list', ...attrs },
    h('thead', {}, h('tr', {}, head.map((x) => h('th', {}, x)))),
    h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((x) => h('td', {}, x)))))));
}

/** Any JSON value, shown generically (for fields this explorer does not know yet). */
export function generic(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value !== 'object') return String(value);
  return h('pre', { class: 'json' }, JSON.stringify(value, (k, v) => (typeof v === 'bigint' ? v.toString() : v), 2));
}

export const section = (title, ...children) => h('section', {}, h('h2', {}, title), ...children);
export const badge = (status) => h('span', { class: `badge st-${String(status).replace(/[^a-z_]/g, '')}` }, String(status));
