// A warrant's lineage drawn as SVG: one box per warrant of the issuance's tree (warrant_trace),
// with its amount, holder and status shown by colour and shape; click a box to open the warrant.

import { s, amount } from './dom.js';
import { nameOf } from './index.js';

const W = 250; const H = 70; const GAP_X = 24; const GAP_Y = 46;

/** The status a box shows: the warrant's own, refined by financing and freeze. */
export function shownStatus(w) {
  if (w.frozen && ['pending', 'active', 'overdue'].includes(w.status)) return 'frozen';
  if (w.status === 'active' && w.financing) {
    if (w.financing.status === 'pledged') return 'pledged';
    if (w.financing.status === 'approved') return 'financed';
  }
  return w.status;
}

export const LEGEND = [
  ['pending', 'pending: offered, not yet accepted (dashed)'],
  ['active', 'active'],
  ['financed', 'financed: factored, the financier holds it'],
  ['pledged', 'pledged: locked for a financier (double border)'],
  ['frozen', 'frozen by the regulator (thick border)'],
  ['overdue', 'overdue: past maturity and grace (notched corners)'],
  ['consumed', 'consumed: split or transferred into children (faded)'],
  ['settled', 'settled: paid by the issuer (rounded)'],
  ['rejected', 'rejected (faded, struck)'],
];

function shape(status) {
  const base = { class: `box st-${status}`, width: W, height: H };
  if (status === 'settled') return s('rect', { ...base, rx: 22, ry: 22 });
  if (status === 'overdue') {
    const c = 12;
    return s('polygon', { class: `box st-${status}`, points: `${c},0 ${W - c},0 ${W},${c} ${W},${H - c} ${W - c},${H} ${c},${H} 0,${H - c} 0,${c}` });
  }
  return s('rect', { ...base, rx: 4, ry: 4 });
}

/** The SVG of a trace tree; ``current`` is outlined. Each box is <g class="lnode" data-id data-holder>. */
export function lineageSvg(tree, current, onOpen) {
  const placed = [];
  let leaf = 0;
  (function layout(node, depth) {
    const children = node.children || [];
    let x;
    if (!children.length) x = leaf++;
    else {
      const xs = children.map((c) => layout(c, depth + 1));
      x = (xs[0] + xs[xs.length - 1]) / 2;
    }
    placed.push({ node, depth, x });
    return x;
  }(tree, 0));
  const depth = Math.max(...placed.map((p) => p.depth));
  const width = Math.max(leaf, 1) * (W + GAP_X) + GAP_X;
  const height = (depth + 1) * (H + GAP_Y) + GAP_Y;
  const pos = new Map(placed.map((p) => [p.node.id, [GAP_X + p.x * (W + GAP_X), GAP_Y / 2 + p.depth * (H + GAP_Y)]]));
  const svg = s('svg', { class: 'lineage', width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `lineage of ${placed.length} warrants` });
  for (const { node } of placed) {
    const [x, y] = pos.get(node.id);
    for (const child of node.children || []) {
      const [cx, cy] = pos.get(child.id);
      svg.append(s('path', { class: 'edge', d: `M${x + W / 2},${y + H} C${x + W / 2},${y + H + GAP_Y / 2} ${cx + W / 2},${cy - GAP_Y / 2} ${cx + W / 2},${cy}` }));
    }
  }
  for (const { node } of placed) {
    const [x, y] = pos.get(node.id);
    const status = shownStatus(node);
    const holder = nameOf(node.holder);
    const label = holder.length > 34 ? `${holder.slice(0, 33)}…` : holder;
    const g = s('g', {
      class: `lnode${node.id === current ? ' current' : ''}`, transform: `translate(${x},${y})`, tabindex: 0, role: 'link',
      'data-id': node.id, 'data-holder': node.holder, 'data-status': status,
    },
    s('title', {}, `${holder} holds warrant ${node.id}: ${amount(node.amount, node.currency)}, ${status}`),
    shape(status),
    status === 'pledged' ? s('rect', { class: 'inner', x: 4, y: 4, width: W - 8, height: H - 8, rx: 3 }) : null,
    status === 'rejected' ? s('line', { class: 'strike', x1: 8, y1: H / 2, x2: W - 8, y2: H / 2 }) : null,
    s('text', { class: 'amount', x: 12, y: 22 }, amount(node.amount, node.currency)),
    s('text', { class: 'holder', x: 12, y: 42 }, label),
    s('text', { class: 'status', x: 12, y: 60 }, `${status}${node.paid ? ` · paid ${amount(node.paid, node.currency)}` : ''}`));
    const open = () => onOpen(node.id);
    g.addEventListener('click', open);
    g.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
    svg.append(g);
  }
  return svg;
}

/** Every warrant of a trace tree, depth first. */
export function flatten(tree) {
  const out = [];
  (function walk(n) { out.push(n); (n.children || []).forEach(walk); }(tree));
  return out;
}
