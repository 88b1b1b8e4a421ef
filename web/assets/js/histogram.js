// Discover's histogram: matching records over time stacked by level in Grafana's level
// colours. A click on a bar zooms to it, a drag zooms to a span (the caller pushes
// the new range into the URL, so Back undoes it).

import { aggregate } from './api.js';
import { timeBars } from './chart.js';
import { h, num } from './dom.js';
import { intervalMs, humanSpan } from './time.js';

/** Grafana's log level colours (its logs panel), and a grey for records without one. */
export const LEVEL_COLORS = {
  trace: '#6ed0e0', debug: '#1f78c1', info: '#7eb26d', warn: '#eab839',
  error: '#e24d42', fatal: '#705da0', unknown: '#8e8e8e',
};
/** A record's level as a badge in its colour. */
export const levelBadge = level => h('span.lvl', { style: { '--lvl': (Object.hasOwn(LEVEL_COLORS, level) && LEVEL_COLORS[level]) || LEVEL_COLORS.unknown } }, level);

const ORDER = ['trace', 'debug', 'info', 'unknown', 'warn', 'error', 'fatal'];

/** The last nanosecond before `t` (epoch ms) as RFC 3339, for inclusive range ends. */
export function endBefore(t) {
  return new Date(t - 1).toISOString().replace(/(\.\d{3})Z$/, '$1999999Z');
}

/** The histogram; `onZoom(start, end)` with RFC 3339 strings. */
export function createHistogram({ onZoom }) {
  const info = h('div.hist-info');
  const chart = h('div.hist-chart', { id: 'histogram' });
  const legend = h('div.legend');
  const el = h('section.histogram', h('div.hist-head', info, legend), chart);

  async function load({ q, start, end, t0, t1, tz }, signal) {
    el.classList.add('loading');
    const body = {
      q, start, end,
      aggs: { h: { date_histogram: { field: '@timestamp', fixed_interval: 'auto', buckets: 60 },
        aggs: { lv: { terms: { field: 'level', size: 10, missing: 'unknown' } } } } },
    };
    try {
      const r = await aggregate(body, signal);
      const agg = r.aggregations.h;
      const interval = intervalMs(agg.interval) || (agg.buckets[1]?.key - agg.buckets[0]?.key) || 60e3;
      const buckets = agg.buckets.map(b => {
        const counts = {};
        let known = 0;
        for (const l of b.lv.buckets) {
          const k = LEVEL_COLORS[l.key] ? l.key : 'unknown';
          counts[k] = (counts[k] || 0) + l.doc_count;
          known += l.doc_count;
        }
        if (b.doc_count > known) counts.unknown = (counts.unknown || 0) + b.doc_count - known;
        return { t: b.key, counts, total: b.doc_count };
      });
      const present = ORDER.filter(k => buckets.some(b => b.counts[k]));
      const series = present.map(k => ({ key: k, label: k, color: LEVEL_COLORS[k] }));
      info.textContent = `${num(r.total)} records · ${humanSpan(interval)} per bar`;
      legend.replaceChildren(...series.map(se => h('span.legend-item', h('i.swatch', { style: { background: se.color } }), se.label)));
      timeBars(chart, {
        buckets, series, interval, tz,
        t0: Math.min(t0, buckets[0]?.t ?? t0), t1: Math.max(t1, buckets.length ? buckets[buckets.length - 1].t + interval : t1),
        height: 140,
        onClick: b => onZoom(new Date(Math.max(b.t, t0)).toISOString(), endBefore(Math.min(b.t + interval, t1 + 1))),
        onSelect: (a, b) => onZoom(new Date(Math.max(a, t0)).toISOString(), endBefore(Math.min(b, t1 + 1))),
      });
      performance.mark('skein:histogram');
      return r;
    } finally {
      el.classList.remove('loading');
    }
  }
  return { el, load };
}
