// Log patterns (GET /api/v1/patterns): Discover's "Patterns" tab and the dashboards'
// "top patterns" panel share the rows drawn here. A row is one message template with
// its count, a sparkline of its trend, "new" and "surging" badges, and actions to
// filter for it or against it (`pattern:ID`, `NOT pattern:ID`).
//
// Templates, samples and groups come from the logs: they are only ever text nodes
// (the placeholders the miner writes, `<*>`, `<num>`, …, are matched exactly and put in
// their own <span>, as text too; anything else that looks like markup stays text).

import { patterns as fetchPatterns } from './api.js';
import { h, num } from './dom.js';
import { formatFull, humanSpan, intervalMs } from './time.js';

const NS = 'http://www.w3.org/2000/svg';

/** Patterns the Discover tab lists. */
const LIMIT = 200;

/** The placeholders the miner writes (`skein-patterns`' mask), and nothing else. */
const PLACEHOLDER = /<(?:\*|num|hex|ip|uuid|path|url|time|quoted|name|id|other)>/g;

/** A template as nodes: literal text, and each placeholder in a `span.ph`. */
export function templateNodes(template) {
  const s = String(template ?? '');
  const out = [];
  let last = 0;
  PLACEHOLDER.lastIndex = 0;
  for (let m = PLACEHOLDER.exec(s); m; m = PLACEHOLDER.exec(s)) {
    if (m.index > last) out.push(s.slice(last, m.index));
    out.push(h('span.ph', { title: m[0] === '<*>' ? 'varies' : `a variable: ${m[0].slice(1, -1)}` }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < s.length) out.push(s.slice(last));
  return out;
}

/**
 * A small bar chart of `trend` (counts per bucket starting at `buckets`, epoch ms),
 * `interval` ms each; each bar's <title> says when and how many.
 */
export function sparkline(trend, { buckets = [], interval = 0, tz = 'local', width = 120, height = 22 } = {}) {
  const n = Math.max(1, trend.length);
  const max = Math.max(1, ...trend);
  const bw = width / n;
  const svg = document.createElementNS(NS, 'svg');
  for (const [k, v] of Object.entries({ width, height, viewBox: `0 0 ${width} ${height}`, class: 'spark', role: 'img' })) svg.setAttribute(k, v);
  svg.setAttribute('aria-label', `trend: ${trend.join(', ')}`);
  trend.forEach((v, i) => {
    const hgt = v ? Math.max(1.5, (v / max) * (height - 2)) : 0.75;
    const r = document.createElementNS(NS, 'rect');
    r.setAttribute('x', (i * bw + 0.5).toFixed(2));
    r.setAttribute('width', Math.max(0.5, bw - 1).toFixed(2));
    r.setAttribute('y', (height - hgt).toFixed(2));
    r.setAttribute('height', hgt.toFixed(2));
    r.setAttribute('class', v ? 'on' : 'off');
    const t = buckets[i];
    const title = document.createElementNS(NS, 'title');
    title.textContent = (t != null ? `${formatFull(t, tz).slice(0, 19)}${interval ? ` (+${humanSpan(interval)})` : ''}: ` : '') + `${num(v)} record${v === 1 ? '' : 's'}`;
    r.append(title);
    svg.append(r);
  });
  return svg;
}

/** The API's answer with times as epoch ms (bucket starts) and the interval in ms. */
export async function loadPatterns(params, signal) {
  const r = await fetchPatterns(params, signal);
  return { ...r, bucketMs: (r.buckets || []).map(b => Date.parse(b)), intervalMs: intervalMs(r.interval) || 0 };
}

const badges = p => [
  p.new ? h('span.badge.new', { title: 'first seen in this time range' }, 'new') : null,
  p.surging ? h('span.badge.surging', { title: 'far more records in this range than its own history forecasts' }, 'surging') : null,
];

/**
 * One table row per pattern of `r` (an answer of loadPatterns). `actions`:
 * {onFilter(pattern, neg)}; a click on the row filters for it. `compact` leaves out the
 * group and first/last columns (dashboard panels).
 */
export function patternRows(r, { tz, actions, compact = false }) {
  const total = Math.max(1, r.total);
  return r.patterns.map(p => {
    const share = (100 * p.count) / total;
    const tr = h('tr.pattern', { dataset: { id: p.id, count: String(p.count) }, title: p.sample ? `e.g. ${p.sample}` : null },
      h('td.pcount', h('span.pc', num(p.count)), h('span.pshare.muted', `${share >= 10 ? Math.round(share) : share.toFixed(1)}%`)),
      h('td.ptrend', sparkline(p.trend || [], { buckets: r.bucketMs, interval: r.intervalMs, tz })),
      h('td.ptemplate', h('span.tpl', templateNodes(p.template || `(pattern ${p.id}; template not known to this server)`)), badges(p)),
      compact ? null : h('td.pgroup', p.group || ''),
      h('td.pacts',
        h('button.icon', { type: 'button', title: 'show only these records (pattern:ID)', 'data-act': 'for', onclick: () => actions.onFilter(p, false) }, '⊕'),
        h('button.icon', { type: 'button', title: 'leave these records out (NOT pattern:ID)', 'data-act': 'against', onclick: () => actions.onFilter(p, true) }, '⊖')));
    tr.addEventListener('click', ev => {
      if (ev.target.closest('button') || getSelection().toString()) return;
      actions.onFilter(p, false);
    });
    return tr;
  });
}

/** The header row matching patternRows. */
export const patternHead = (compact = false) => h('thead', h('tr',
  h('th.pcount', 'Count'), h('th', 'Trend'), h('th', 'Pattern'), compact ? null : h('th', 'Group'), h('th')));

/**
 * Discover's Patterns tab. `actions`: {onFilter(pattern, neg), onSort(sort)}.
 * `load({q, start, end, sort, tz}, signal)` asks the server and draws.
 */
export function createPatternsView(actions) {
  const info = h('div.patterns-info', { id: 'patterns-info' });
  const sort = h('select', { id: 'patterns-sort', title: 'order of the patterns', onchange: () => actions.onSort(sort.value) },
    h('option', { value: '' }, 'most records first'), h('option', { value: 'recent' }, 'latest record first'));
  const table = h('table.patterns', { id: 'patterns' });
  const foot = h('div.table-foot');
  const el = h('div.patterns-view', { id: 'patterns-view' }, h('div.patterns-head', info, h('span.spacer'), sort), table, foot);
  let seq = 0;
  const known = new Map();

  return {
    el,
    /** id → template of the patterns drawn so far (for the filter pills' titles). */
    known,
    async load({ q, start, end, sort: order, tz }, signal) {
      const mine = ++seq;
      sort.value = order || '';
      el.classList.add('loading');
      try {
        const r = await loadPatterns({ q, start, end, limit: LIMIT, sort: order || 'count' }, signal);
        if (mine !== seq || signal?.aborted) return null;
        for (const p of r.patterns) known.set(p.id, p.template);
        info.replaceChildren(h('span',
          // At the limit there are more: the ones listed are the top ones of the order.
          r.patterns.length === LIMIT && r.other ? (order === 'recent' ? 'the latest ' : 'the top ') : '',
          h('b', { id: 'patterns-count' }, num(r.patterns.length)), ` pattern${r.patterns.length === 1 ? '' : 's'} in `,
          h('b', num(r.total)), ` record${r.total === 1 ? '' : 's'}`,
          r.patterns.some(p => p.new) ? h('span', ' · ', h('span.badge.new', 'new'), ` ${r.patterns.filter(p => p.new).length}`) : null,
          r.patterns.some(p => p.surging) ? h('span', ' · ', h('span.badge.surging', 'surging'), ` ${r.patterns.filter(p => p.surging).length}`) : null,
          h('span.muted', ` · trend in ${humanSpan(r.intervalMs)} buckets · ${r.took_ms} ms on the server`)));
        table.replaceChildren(patternHead(), h('tbody', patternRows(r, { tz, actions })));
        const notes = [];
        if (r.other) notes.push(`${num(r.other)} more record${r.other === 1 ? '' : 's'} in patterns not listed (or without one).`);
        if (r.timed_out) notes.push('The time limit cut the work short: counts are partial.');
        if (!r.patterns.length) notes.push('No patterns: no records match in this range.');
        foot.textContent = notes.join(' ');
        el.dataset.total = String(r.total);
        el.classList.add('ready');
        return r;
      } finally {
        if (mine === seq) el.classList.remove('loading');
      }
    },
  };
}

/**
 * The dashboards' "top patterns" panel: the panel's `size` (10) most frequent
 * templates for its query and the dashboard's range; a click opens Discover on them.
 */
export async function topPatternsPanel(panel, body, base, ctx) {
  const r = await loadPatterns({ ...base, limit: panel.size || 10, sort: 'count' }, ctx.signal);
  if (!r.patterns.length) { body.replaceChildren(h('div.empty', 'No records in this range.')); return; }
  const actions = {
    onFilter: (p, neg) => ctx.onDiscover(panel.query, [{ field: 'pattern', value: p.id, neg, off: false }]),
  };
  body.replaceChildren(
    h('div.patterns-scroll', h('table.patterns.compact', patternHead(true), h('tbody', patternRows(r, { tz: ctx.tz, actions, compact: true })))),
    h('div.panel-foot.muted', `${num(r.total)} records in ${num(r.patterns.length)} pattern${r.patterns.length === 1 ? '' : 's'} shown`,
      r.other ? ` · ${num(r.other)} in others` : '', ` · ${humanSpan(r.intervalMs)} buckets`));
}
