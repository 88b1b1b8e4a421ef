// Times: resolving the API's date math in the browser, formatting in the browser zone
// or UTC (always with the offset), and round tick steps for time axes.

const UNIT = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3, M: 30 * 86400e3, y: 365 * 86400e3 };

/** Quick ranges offered by the time picker. */
export const QUICK = [
  ['now-15m', 'Last 15 minutes'],
  ['now-1h', 'Last 1 hour'],
  ['now-24h', 'Last 24 hours'],
  ['now-7d', 'Last 7 days'],
  ['now-30d', 'Last 30 days'],
];

/**
 * Epoch milliseconds of an API time expression: `now`, `now-15m`, `now-1d/d`, an RFC
 * 3339 time or a date; `fallback` when empty. Rounding (`/d`) is done in UTC as the
 * server does.
 */
export function resolve(expr, fallback = Date.now(), now = Date.now()) {
  const s = String(expr ?? '').trim();
  if (!s) return fallback;
  const m = /^now((?:[+-]\d+[smhdwMy])*)(?:\/([smhdwMy]))?$/.exec(s);
  if (m) {
    let t = now;
    for (const [, sign, n, u] of m[1].matchAll(/([+-])(\d+)([smhdwMy])/g)) t += (sign === '-' ? -1 : 1) * Number(n) * UNIT[u];
    if (m[2]) t = Math.floor(t / UNIT[m[2]]) * UNIT[m[2]];
    return t;
  }
  const t = Date.parse(/^\d{4}-\d\d-\d\d$/.test(s) ? s + 'T00:00:00Z' : s);
  return Number.isNaN(t) ? fallback : t;
}

/** Whether a range end follows the clock (empty or `now…`). */
export const isRelative = expr => !expr || /^now/.test(String(expr).trim());

/** The zone offset in minutes east of UTC for `t` in zone `tz` ('utc' or 'local'). */
export function offsetMinutes(t, tz) {
  return tz === 'utc' ? 0 : -new Date(t).getTimezoneOffset();
}

/** `+01:00` style offset. */
export function offsetLabel(t, tz) {
  const o = offsetMinutes(t, tz);
  const a = Math.abs(o);
  return (o < 0 ? '-' : '+') + String(Math.floor(a / 60)).padStart(2, '0') + ':' + String(a % 60).padStart(2, '0');
}

/** The zone as shown in headings: `UTC` or `UTC+01:00`. */
export const zoneLabel = (tz, t = Date.now()) => (tz === 'utc' ? 'UTC' : 'UTC' + offsetLabel(t, tz));

function parts(t, tz) {
  const d = new Date(t + offsetMinutes(t, tz) * 60e3);
  const p = n => String(n).padStart(2, '0');
  return {
    date: `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}`,
    time: `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`,
    ms: String(d.getUTCMilliseconds()).padStart(3, '0'),
  };
}

/** `2026-11-20 10:00:00.123 +01:00`: a record's time with its offset. */
export function formatFull(t, tz) {
  const x = parts(t, tz);
  return `${x.date} ${x.time}.${x.ms} ${offsetLabel(t, tz)}`;
}

/** A record's RFC 3339 time (nanoseconds) to epoch ms plus the sub-ms digits. */
export function parseTs(ts) {
  const m = /\.(\d+)/.exec(ts);
  return { ms: Date.parse(ts), frac: m ? m[1] : '' };
}

/** Formats an RFC 3339 record time in the zone, keeping the digits past milliseconds. */
export function formatRecordTime(ts, tz) {
  const { ms, frac } = parseTs(ts);
  if (Number.isNaN(ms)) return String(ts);
  const x = parts(ms, tz);
  const digits = (frac + '000').slice(0, Math.max(3, frac.length));
  return `${x.date} ${x.time}.${digits} ${offsetLabel(ms, tz)}`;
}

/** A short axis label for a tick at `t` given the tick step. */
export function tickLabel(t, step, tz) {
  const x = parts(t, tz);
  if (step >= UNIT.d) return x.date.slice(5);
  if (step >= UNIT.m) return (x.time.startsWith('00:00') ? x.date.slice(5) + ' ' : '') + x.time.slice(0, 5);
  return x.time;
}

const STEPS = [1, 2, 5, 10, 15, 30].map(n => n * UNIT.s)
  .concat([1, 2, 5, 10, 15, 30].map(n => n * UNIT.m))
  .concat([1, 2, 3, 6, 12].map(n => n * UNIT.h))
  .concat([1, 2, 7, 14, 30, 90, 365].map(n => n * UNIT.d));

/** Round tick times between t0 and t1, about `want` of them, aligned in the zone. */
export function ticks(t0, t1, want, tz) {
  const span = Math.max(1, t1 - t0);
  const step = STEPS.find(s => span / s <= want) || STEPS[STEPS.length - 1];
  const off = offsetMinutes(t0, tz) * 60e3;
  const out = [];
  for (let t = Math.ceil((t0 + off) / step) * step - off; t <= t1; t += step) out.push(t);
  return { step, ticks: out };
}

/** `30s`, `5m`, `1h`, `1d` to milliseconds (the aggregation's `interval`). */
export function intervalMs(s) {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(String(s || ''));
  if (!m) return null;
  return Number(m[1]) * (m[2] === 'ms' ? 1 : UNIT[m[2]]);
}

/** A compact duration: `15m`, `2h`, `3d`. */
export function humanSpan(ms) {
  for (const [u, v] of [['d', UNIT.d], ['h', UNIT.h], ['m', UNIT.m], ['s', UNIT.s]]) if (ms >= v && ms % v === 0) return ms / v + u;
  for (const [u, v] of [['d', UNIT.d], ['h', UNIT.h], ['m', UNIT.m], ['s', UNIT.s]]) if (ms >= v) return (ms / v).toFixed(1) + u;
  return ms + 'ms';
}

/** How the time picker's button names a range. */
export function rangeLabel(start, end, tz) {
  const q = QUICK.find(([k]) => k === start);
  if (q && isRelative(end) && (!end || end === 'now')) return q[1];
  const fmt = e => (/^now/.test(e) ? e : formatFull(resolve(e), tz).slice(0, 19));
  return `${fmt(start || 'now-15m')} → ${end ? fmt(end) : 'now'}`;
}

/** An absolute time for the URL (RFC 3339, UTC, milliseconds). */
export const iso = t => new Date(t).toISOString();
