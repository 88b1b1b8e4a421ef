// Dashboard panels: each kind turned into API requests and drawn. Count over time can
// carry the server's forecast (a band for the next period, anomalies marked); top
// patterns are drawn by patterns.js.

import { aggregate, search, ApiError } from './api.js';
import { timeLines, hbars } from './chart.js';
import { h, num } from './dom.js';
import { andQueries } from './query-bar.js';
import { LEVEL_COLORS, levelBadge } from './histogram.js';
import { formatRecordTime, humanSpan, intervalMs } from './time.js';
import { valueOf, cellText } from './record.js';
import { topPatternsPanel } from './patterns.js';

/** Grafana's classic palette for split series. */
const PALETTE = ['#7eb26d', '#eab839', '#6ed0e0', '#ef843c', '#e24d42', '#1f78c1', '#ba43a9', '#705da0', '#508642', '#cca300', '#447ebc', '#c15c17'];
const BUCKETS = 48;

/** What each kind is called in the editor. */
export const KINDS = {
  count_over_time: 'Count over time',
  percentiles_over_time: 'Percentiles over time',
  top_values: 'Top values',
  metric: 'Metric',
  latest: 'Latest records',
  top_patterns: 'Top patterns',
};

const histogram = (extra = {}) => ({ date_histogram: { field: '@timestamp', fixed_interval: 'auto', buckets: BUCKETS, ...extra } });
const color = (field, key, i) => (field === 'level' && LEVEL_COLORS[key]) || PALETTE[i % PALETTE.length];

/**
 * Draws `panel` into `body`. `ctx`: {q (the dashboard's), start, end, t0, t1, tz,
 * signal, onDiscover(q, filters)}.
 */
export async function renderPanel(panel, body, ctx) {
  const q = andQueries(ctx.q, panel.query);
  const base = { q, start: ctx.start, end: ctx.end };
  switch (panel.type) {
    case 'count_over_time': return countOverTime(panel, body, base, ctx);
    case 'percentiles_over_time': return percentilesOverTime(panel, body, base, ctx);
    case 'top_values': return topValues(panel, body, base, ctx);
    case 'metric': return metric(panel, body, ctx);
    case 'latest': return latest(panel, body, base, ctx);
    case 'top_patterns': return topPatternsPanel(panel, body, base, ctx);
    default: body.replaceChildren(h('div.muted', `unknown panel type ${panel.type}`));
  }
}

async function countOverTime(panel, body, base, ctx) {
  const aggs = { total: histogram() };
  if (panel.forecast) aggs.total.date_histogram.forecast = { periods: Math.round(BUCKETS / 4), season: 'auto', confidence: 0.95 };
  if (panel.field) aggs.split = { terms: { field: panel.field, size: panel.size || 5 }, aggs: { t: histogram() } };
  let r;
  let note = null;
  try {
    r = await aggregate({ ...base, aggs }, ctx.signal);
  } catch (e) {
    // A server without forecasts still draws the counts, and says why the band is missing.
    if (!(e instanceof ApiError) || !panel.forecast || !/forecast/i.test(e.message)) throw e;
    delete aggs.total.date_histogram.forecast;
    note = `forecast unavailable: ${e.message}`;
    r = await aggregate({ ...base, aggs }, ctx.signal);
  }
  const total = r.aggregations.total;
  const series = [];
  if (panel.field) {
    const split = r.aggregations.split.buckets;
    const sums = new Map();
    split.forEach((sb, i) => {
      series.push({ key: String(sb.key), label: String(sb.key), color: color(panel.field, sb.key, i), points: sb.t.buckets.map(b => [b.key, b.doc_count]) });
      for (const b of sb.t.buckets) sums.set(b.key, (sums.get(b.key) || 0) + b.doc_count);
    });
    const other = total.buckets.map(b => [b.key, b.doc_count - (sums.get(b.key) || 0)]);
    if (other.some(p => p[1] > 0)) series.push({ key: '__other', label: 'other', color: '#8e8e8e', points: other });
    if (panel.style !== 'area') series.push({ key: '__total', label: 'total', color: 'var(--fg-muted)', dashed: true, points: total.buckets.map(b => [b.key, b.doc_count]) });
  } else {
    series.push({ key: 'count', label: 'count', color: 'var(--accent)', points: total.buckets.map(b => [b.key, b.doc_count]) });
  }
  const fc = total.forecast;
  const forecast = fc ? {
    points: fc.buckets.map(b => [b.key, b.value, b.lower, b.upper]),
    // The model's one-step band over the history shows why a point is an anomaly.
    band: (fc.fitted || []).concat(fc.buckets).map(b => [b.key, b.value, b.lower, b.upper]),
    anomalies: (fc.anomalies || []).map(a => ({ t: a.key, v: a.doc_count, expected: a.expected, lower: a.lower, upper: a.upper })),
  } : null;
  const chart = h('div.panel-chart');
  const foot = h('div.panel-foot.muted',
    `${num(r.total)} records · ${humanSpan(intervalMs(total.interval) || 0)} buckets`,
    fc ? ` · forecast: ${fc.model}${fc.season_buckets ? `, season ${fc.season_buckets} buckets` : ''}` : '',
    forecast?.anomalies.length ? h('span.anomaly-count', ` · ${forecast.anomalies.length} anomal${forecast.anomalies.length === 1 ? 'y' : 'ies'}`) : '',
    note ? h('div.note', note) : null);
  const legend = h('div.legend', series.map(se => h('span.legend-item', h('i.swatch', { style: { background: se.color } }), se.label)),
    forecast ? h('span.legend-item', h('i.swatch.band-swatch'), 'forecast (95%)') : null);
  body.replaceChildren(legend, chart, foot);
  timeLines(chart, { series, style: panel.style || 'line', tz: ctx.tz, forecast, t0: ctx.t0, t1: Math.max(ctx.t1, ...(forecast?.points.map(p => p[0]) || [])), height: 180, onSelect: ctx.onZoom });
}

async function percentilesOverTime(panel, body, base, ctx) {
  const percents = [50, 95, 99];
  const aggs = { t: { ...histogram(), aggs: { p: { percentiles: { field: panel.field, percents } } } } };
  const r = await aggregate({ ...base, aggs }, ctx.signal);
  const buckets = r.aggregations.t.buckets;
  const value = (b, p) => {
    const vals = b.p?.values || {};
    const k = Object.keys(vals).find(k => Number.parseFloat(k) === p);
    const v = k == null ? null : vals[k];
    return v == null || Number.isNaN(v) ? null : v;
  };
  const series = percents.map((p, i) => ({ key: 'p' + p, label: 'p' + p, color: ['#7eb26d', '#eab839', '#e24d42'][i], points: buckets.map(b => [b.key, b.doc_count ? value(b, p) : null]) }));
  if (!series.some(se => se.points.some(p => p[1] != null))) {
    body.replaceChildren(h('div.empty', `No ${panel.field} values in this range (the field is not present).`));
    return;
  }
  const chart = h('div.panel-chart');
  body.replaceChildren(h('div.legend', series.map(se => h('span.legend-item', h('i.swatch', { style: { background: se.color } }), se.label))), chart);
  timeLines(chart, { series, style: 'line', tz: ctx.tz, t0: ctx.t0, t1: ctx.t1, height: 180, integer: false, valueFormat: v => num(Math.round(v * 10) / 10), onSelect: ctx.onZoom });
}

async function topValues(panel, body, base, ctx) {
  const r = await aggregate({ ...base, aggs: { v: { terms: { field: panel.field, size: panel.size || 10 } } } }, ctx.signal);
  const items = r.aggregations.v.buckets.map((b, i) => ({ label: b.key, value: b.doc_count, color: color(panel.field, b.key, i) }));
  if (!items.length) { body.replaceChildren(h('div.empty', 'No records in this range.')); return; }
  const chart = h('div.panel-chart');
  body.replaceChildren(chart);
  hbars(chart, { items, onClick: it => ctx.onDiscover(panel.query, [{ field: panel.field, value: it.label, neg: false, off: false }]) });
}

/** One statistic over [start, end] for the metric tile. */
async function stat(panel, q, start, end, signal) {
  const s = panel.stat || 'count';
  if (s === 'count') return (await search({ q: andQueries(q, panel.query), start, end, limit: 0 }, signal)).total;
  if (s === 'share') {
    const [part, all] = await Promise.all([
      search({ q: andQueries(q, panel.query), start, end, limit: 0 }, signal),
      search({ q, start, end, limit: 0 }, signal),
    ]);
    return all.total ? (100 * part.total) / all.total : null;
  }
  const q2 = andQueries(q, panel.query);
  if (/^p\d+$/.test(s)) {
    const r = await aggregate({ q: q2, start, end, aggs: { m: { percentiles: { field: panel.field, percents: [Number(s.slice(1))] } } } }, signal);
    const v = Object.values(r.aggregations.m.values || {})[0];
    return v == null || Number.isNaN(v) ? null : v;
  }
  if (s === 'cardinality') return (await aggregate({ q: q2, start, end, aggs: { m: { cardinality: { field: panel.field } } } }, signal)).aggregations.m.value;
  const r = await aggregate({ q: q2, start, end, aggs: { m: { stats: { field: panel.field } } } }, signal);
  return r.aggregations.m[s] ?? null;
}

async function metric(panel, body, ctx) {
  const span = ctx.t1 - ctx.t0;
  const iso = t => new Date(t).toISOString();
  const [cur, prev] = await Promise.all([
    stat(panel, ctx.q, iso(ctx.t0), iso(ctx.t1), ctx.signal),
    stat(panel, ctx.q, iso(ctx.t0 - span), iso(ctx.t0 - 1), ctx.signal),
  ]);
  const pct = panel.stat === 'share';
  const fmt = v => (v == null ? '–' : pct ? num(Math.round(v * 100) / 100) + '%' : num(Math.round(v * 100) / 100));
  let change = h('span.muted', 'no previous value');
  if (cur != null && prev != null) {
    if (pct) {
      const d = cur - prev;
      change = h('span.change' + (d > 0 ? '.up' : d < 0 ? '.down' : ''), `${d > 0 ? '▲' : d < 0 ? '▼' : '='} ${num(Math.abs(Math.round(d * 100) / 100))} pts`);
    } else if (prev !== 0) {
      const d = ((cur - prev) / prev) * 100;
      change = h('span.change' + (d > 0 ? '.up' : d < 0 ? '.down' : ''), `${d > 0 ? '▲' : d < 0 ? '▼' : '='} ${num(Math.abs(Math.round(d * 10) / 10))}%`);
    }
  }
  body.replaceChildren(h('div.metric',
    h('div.metric-value', { 'data-value': cur == null ? '' : String(cur) }, fmt(cur)),
    h('div.metric-change', change, h('span.muted', ` vs previous ${humanSpan(span)} (${fmt(prev)})`))));
}

async function latest(panel, body, base, ctx) {
  const r = await search({ ...base, limit: panel.size || 10 }, ctx.signal);
  const cols = panel.columns || [];
  if (!r.hits.length) { body.replaceChildren(h('div.empty', 'No records in this range.')); return; }
  const t = h('table.docs.compact',
    h('thead', h('tr', h('th', 'Time'), h('th', 'container'), h('th', 'level'), cols.map(c => h('th', c)), h('th', 'message'))),
    h('tbody', r.hits.map(rec => h('tr',
      h('td.t', formatRecordTime(rec['@timestamp'], ctx.tz)),
      h('td', rec.container ?? ''),
      h('td', rec.level ? levelBadge(rec.level) : null),
      cols.map(c => h('td', cellText(valueOf(rec, c)))),
      h('td.m', rec.message ?? '')))));
  body.replaceChildren(t, h('div.panel-foot.muted', `${num(r.total)} matching records`));
}
