// SVG charts drawn by hand: stacked time bars (the Discover histogram), time lines and
// stacked areas with a forecast band and anomaly marks (dashboards), horizontal bars
// (top values). Each chart fills its container and redraws when the container resizes.

import { h, num } from './dom.js';
import { ticks, tickLabel, formatFull } from './time.js';

const NS = 'http://www.w3.org/2000/svg';
const M = { top: 8, right: 12, bottom: 22, left: 48 };

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    // The CSP refuses style attributes; presentation attributes (fill, stroke) pass.
    if (k === 'style') throw new TypeError('SVG style attributes are blocked by the CSP; use a class or a presentation attribute');
    if (v != null) el.setAttribute(k, v);
  }
  for (const c of children) if (c != null) el.append(c);
  return el;
}

/** A round step (1/2/5×10^k, at least 1 for counts) giving about four grid lines. */
function niceScale(v, integer) {
  const raw = (v > 0 ? v : 1) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 5, 10].map(m => m * p).find(x => x >= raw);
  if (integer) step = Math.max(1, Math.round(step));
  return { max: step * Math.max(1, Math.ceil((v > 0 ? v : 1) / step)), step };
}

const compact = v => (Math.abs(v) >= 1e6 ? +(v / 1e6).toFixed(1) + 'M' : Math.abs(v) >= 1e3 ? +(v / 1e3).toFixed(1) + 'k' : +v.toFixed(2) + '');

const observer = new ResizeObserver(entries => {
  for (const e of entries) {
    const el = e.target;
    const w = Math.round(e.contentRect.width);
    if (el._chart && w && w !== el._chartWidth) el._chart();
  }
});

/** Remembers how to redraw `el` and draws it now. */
function mount(el, draw) {
  el._chart = () => { el._chartWidth = Math.round(el.clientWidth); draw(); };
  observer.observe(el);
  el._chart();
}

/** Axes, grid and scales shared by the time charts. */
function frame(el, { t0, t1, yMax: top, tz, height, yFormat = compact, integer = true }) {
  const { max: yMax, step: yStep } = niceScale(top, integer);
  const W = Math.max(200, el.clientWidth || 600);
  const H = height || el.clientHeight || 160;
  const x = t => M.left + ((t - t0) / Math.max(1, t1 - t0)) * (W - M.left - M.right);
  const y = v => H - M.bottom - (v / yMax) * (H - M.top - M.bottom);
  const svg = s('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, class: 'chart' });
  const grid = s('g', { class: 'grid' });
  for (let v = 0; v <= yMax + yStep / 2; v += yStep) {
    grid.append(s('line', { x1: M.left, x2: W - M.right, y1: y(v), y2: y(v) }),
      s('text', { x: M.left - 6, y: y(v) + 4, 'text-anchor': 'end' }, yFormat(v)));
  }
  const { step, ticks: ts } = ticks(t0, t1, Math.max(2, Math.floor((W - M.left) / 110)), tz);
  for (const t of ts) {
    grid.append(s('line', { x1: x(t), x2: x(t), y1: H - M.bottom, y2: H - M.bottom + 4 }),
      s('text', { x: x(t), y: H - 6, 'text-anchor': 'middle' }, tickLabel(t, step, tz)));
  }
  svg.append(grid);
  return { svg, x, y, W, H, plot: { x0: M.left, x1: W - M.right, y0: M.top, y1: H - M.bottom } };
}

function tooltip(el) {
  let tip = el.querySelector(':scope > .chart-tip');
  if (!tip) { tip = h('div.chart-tip', { hidden: true }); el.append(tip); }
  return {
    show(ev, content) {
      tip.hidden = false;
      tip.replaceChildren(...content);
      const r = el.getBoundingClientRect();
      const left = ev.clientX - r.left + 12;
      tip.style.left = Math.min(left, r.width - tip.offsetWidth - 4) + 'px';
      tip.style.top = Math.max(0, ev.clientY - r.top - tip.offsetHeight - 8) + 'px';
    },
    hide() { tip.hidden = true; },
  };
}

/** Dragging across the plot selects a span; a click without movement is a click. */
function brush(svg, f, { onSelect, onClick }) {
  const sel = s('rect', { class: 'brush', y: f.plot.y0, height: f.plot.y1 - f.plot.y0, width: 0, visibility: 'hidden' });
  svg.append(sel);
  let from = null;
  const px = ev => {
    const r = svg.getBoundingClientRect();
    return Math.min(f.plot.x1, Math.max(f.plot.x0, ev.clientX - r.left));
  };
  svg.addEventListener('mousedown', ev => { if (ev.button === 0) { from = px(ev); ev.preventDefault(); } });
  svg.addEventListener('mousemove', ev => {
    if (from == null) return;
    const to = px(ev);
    sel.setAttribute('x', Math.min(from, to));
    sel.setAttribute('width', Math.abs(to - from));
    sel.setAttribute('visibility', Math.abs(to - from) > 3 ? 'visible' : 'hidden');
  });
  const end = ev => {
    if (from == null) return;
    const to = px(ev);
    const a = from;
    from = null;
    sel.setAttribute('visibility', 'hidden');
    if (Math.abs(to - a) > 4 && onSelect) onSelect(Math.min(a, to), Math.max(a, to));
    else if (onClick) onClick(ev);
  };
  svg.addEventListener('mouseup', end);
  svg.addEventListener('mouseleave', () => { from = null; sel.setAttribute('visibility', 'hidden'); });
}

/**
 * Stacked bars over time. `buckets`: [{t, counts: {key: n}}], each `interval` ms long;
 * `series`: [{key, label, color}] bottom to top. `onClick(bucket)` and
 * `onSelect(t0, t1)` (drag) zoom.
 */
export function timeBars(el, opts) {
  mount(el, () => {
    const { buckets, series, interval, tz } = opts;
    const t0 = opts.t0 ?? buckets[0]?.t ?? Date.now();
    const t1 = opts.t1 ?? (buckets.length ? buckets[buckets.length - 1].t + interval : t0 + 1);
    const total = b => series.reduce((a, se) => a + (b.counts[se.key] || 0), 0);
    const yMax = Math.max(0, ...buckets.map(total));
    const f = frame(el, { t0, t1, yMax, tz, height: opts.height });
    const bars = s('g', { class: 'bars' });
    const bw = Math.max(1, f.x(t0 + interval) - f.x(t0) - 1);
    for (const b of buckets) {
      let acc = 0;
      const g = s('g', { class: 'bar', 'data-t': b.t });
      for (const se of series) {
        const v = b.counts[se.key] || 0;
        if (!v) continue;
        g.append(s('rect', { x: f.x(b.t) + 0.5, width: bw, y: f.y(acc + v), height: Math.max(0.5, f.y(acc) - f.y(acc + v)), fill: se.color }));
        acc += v;
      }
      // A transparent full-height target so that small bars are easy to click.
      g.prepend(s('rect', { class: 'hit', x: f.x(b.t), width: bw + 1, y: f.plot.y0, height: f.plot.y1 - f.plot.y0 }));
      g._bucket = b;
      bars.append(g);
    }
    f.svg.append(bars);
    const tip = tooltip(el);
    const bucketAt = ev => {
      const r = f.svg.getBoundingClientRect();
      const t = t0 + ((ev.clientX - r.left - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0);
      return buckets.find(b => t >= b.t && t < b.t + interval);
    };
    f.svg.addEventListener('mousemove', ev => {
      const b = bucketAt(ev);
      if (!b) return tip.hide();
      tip.show(ev, [h('b', formatFull(b.t, tz).slice(0, 19)), h('div', `${num(total(b))} records`),
        ...series.filter(se => b.counts[se.key]).reverse().map(se => h('div', h('i.swatch', { style: { background: se.color } }), `${se.label}: ${num(b.counts[se.key])}`))]);
    });
    f.svg.addEventListener('mouseleave', () => tip.hide());
    brush(f.svg, f, {
      onSelect: (a, b) => opts.onSelect?.(t0 + ((a - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0), t0 + ((b - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0)),
      onClick: ev => { const b = bucketAt(ev); if (b) opts.onClick?.(b); },
    });
    el.querySelector(':scope > svg')?.remove();
    el.prepend(f.svg);
  });
}

/**
 * Lines (or stacked areas) over time with an optional forecast. `series`: [{key, label,
 * color, points: [[t, v|null]], dashed}]; `forecast`: {points: [[t, v, lower, upper]],
 * anomalies: [{t, v, expected, lower, upper}]}.
 */
export function timeLines(el, opts) {
  mount(el, () => {
    const { series, style, tz, forecast } = opts;
    const stacked = style === 'area';
    const all = series.flatMap(se => se.points.map(p => p[0]));
    const fpts = forecast?.points || [];
    const t0 = opts.t0 ?? Math.min(...all, ...fpts.map(p => p[0]));
    const t1 = opts.t1 ?? Math.max(...all, ...fpts.map(p => p[0]));
    // Stacking adds each series onto the ones below it.
    const base = new Map();
    const layers = series.map(se => se.points.map(([t, v]) => {
      const b = stacked ? base.get(t) || 0 : 0;
      const top = v == null ? null : b + v;
      if (stacked && v != null) base.set(t, top);
      return [t, b, top];
    }));
    const yMax = (Math.max(0, ...layers.flat().map(p => p[2] ?? 0), ...fpts.map(p => p[3] ?? p[1] ?? 0),
      ...(opts.extraY || [])));
    const f = frame(el, { t0, t1, yMax, tz, height: opts.height, yFormat: opts.yFormat, integer: opts.integer !== false });
    if (fpts.length) {
      const band = forecast.band || fpts;
      const up = band.map(p => `${f.x(p[0])},${f.y(p[3])}`);
      const lo = band.map(p => `${f.x(p[0])},${f.y(Math.max(0, p[2]))}`).reverse();
      f.svg.append(s('polygon', { class: 'band', points: up.concat(lo).join(' ') }),
        s('polyline', { class: 'forecast-line', points: fpts.map(p => `${f.x(p[0])},${f.y(p[1])}`).join(' ') }));
    }
    layers.forEach((pts, i) => {
      const se = series[i];
      const segs = [];
      let cur = [];
      for (const p of pts) { if (p[2] == null) { if (cur.length) segs.push(cur); cur = []; } else cur.push(p); }
      if (cur.length) segs.push(cur);
      for (const seg of segs) {
        if (stacked) {
          const top = seg.map(p => `${f.x(p[0])},${f.y(p[2])}`);
          const bot = seg.map(p => `${f.x(p[0])},${f.y(p[1])}`).reverse();
          f.svg.append(s('polygon', { points: top.concat(bot).join(' '), fill: se.color, 'fill-opacity': 0.55, stroke: se.color, 'stroke-width': 1 }));
        } else {
          f.svg.append(s('polyline', { points: seg.map(p => `${f.x(p[0])},${f.y(p[2])}`).join(' '), fill: 'none', stroke: se.color, 'stroke-width': 1.6, 'stroke-dasharray': se.dashed ? '4 3' : null }));
        }
      }
    });
    for (const a of forecast?.anomalies || []) {
      f.svg.append(s('circle', { class: 'anomaly', cx: f.x(a.t), cy: f.y(a.v), r: 4.5 },
        s('title', {}, `anomaly at ${formatFull(a.t, tz).slice(0, 19)}: ${num(a.v)} (expected ${num(Math.round(a.expected))}, band ${num(Math.round(a.lower))}–${num(Math.round(a.upper))})`)));
    }
    const tip = tooltip(el);
    const times = [...new Set(all.concat(fpts.map(p => p[0])))].sort((a, b) => a - b);
    f.svg.addEventListener('mousemove', ev => {
      const r = f.svg.getBoundingClientRect();
      const t = t0 + ((ev.clientX - r.left - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0);
      let best = times[0];
      for (const c of times) if (Math.abs(c - t) < Math.abs(best - t)) best = c;
      if (best == null) return;
      const rows = series.map(se => [se, se.points.find(p => p[0] === best)?.[1]]).filter(([, v]) => v != null);
      const fp = fpts.find(p => p[0] === best);
      tip.show(ev, [h('b', formatFull(best, tz).slice(0, 19)),
        ...rows.reverse().map(([se, v]) => h('div', h('i.swatch', { style: { background: se.color } }), `${se.label}: ${(opts.valueFormat || num)(v)}`)),
        fp ? h('div.muted', `forecast ${num(Math.round(fp[1]))} (${num(Math.round(fp[2]))}–${num(Math.round(fp[3]))})`) : null]);
    });
    f.svg.addEventListener('mouseleave', () => tip.hide());
    if (opts.onSelect) {
      brush(f.svg, f, { onSelect: (a, b) => opts.onSelect(t0 + ((a - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0), t0 + ((b - f.plot.x0) / (f.plot.x1 - f.plot.x0)) * (t1 - t0)) });
    }
    el.querySelector(':scope > svg')?.remove();
    el.prepend(f.svg);
  });
}

/** Horizontal bars: `items` [{label, value}], `onClick(item)`. */
export function hbars(el, { items, onClick, color = 'var(--accent)' }) {
  mount(el, () => {
    const W = Math.max(200, el.clientWidth || 300);
    const rowH = 22;
    const H = Math.max(rowH, items.length * rowH + 4);
    const max = Math.max(1, ...items.map(i => i.value));
    const labelW = Math.min(160, W * 0.4);
    const svg = s('svg', { width: W, height: H, class: 'chart hbars' });
    items.forEach((it, i) => {
      const y = i * rowH + 2;
      const w = ((W - labelW - 70) * it.value) / max;
      const g = s('g', { class: 'hbar', 'data-value': String(it.label) },
        s('text', { x: labelW - 6, y: y + 14, 'text-anchor': 'end', class: 'hbar-label' }, String(it.label).length > 24 ? String(it.label).slice(0, 23) + '…' : String(it.label)),
        s('rect', { x: labelW, y: y + 3, width: Math.max(1, w), height: rowH - 7, fill: it.color || color, rx: 2 }),
        s('text', { x: labelW + w + 6, y: y + 14, class: 'hbar-value' }, num(it.value)),
        s('title', {}, `${it.label}: ${num(it.value)}`));
      if (onClick) { g.style.cursor = 'pointer'; g.addEventListener('click', () => onClick(it)); }
      svg.append(g);
    });
    el.replaceChildren(svg);
  });
}
