// All view state lives in the URL, so a link reproduces the view exactly. This module
// reads the state from `location.search`, writes it back (push for changes the user may
// want to undo with Back, replace for the rest) and tells listeners on Back/Forward.

const KEYS = ['view', 'id', 'q', 'start', 'end', 'refresh', 'cols', 'live', 'tab', 'psort', 'tz', 'theme'];

/** The state described by a query string. */
export function parse(search = location.search) {
  const p = new URLSearchParams(search);
  const s = {
    view: p.get('view') || 'discover',
    id: p.get('id') || '',
    q: p.get('q') || '',
    start: p.get('start'),
    end: p.get('end') || '',
    refresh: p.get('refresh') || '',
    cols: (p.get('cols') || '').split(',').filter(Boolean),
    live: p.get('live') === '1',
    // Discover's tab under the histogram: '' (documents) or 'patterns', and the
    // patterns' order ('' by count, or 'recent').
    tab: p.get('tab') === 'patterns' ? 'patterns' : '',
    psort: p.get('psort') === 'recent' ? 'recent' : '',
    tz: p.get('tz') === 'utc' ? 'utc' : 'local',
    theme: p.get('theme') || '',
    filters: p.getAll('f').map(decodeFilter).filter(Boolean),
  };
  return s;
}

/** `~-field:"value"`: `~` when disabled, `-` when negated, the value as JSON. */
export function encodeFilter(f) {
  return (f.off ? '~' : '') + (f.neg ? '-' : '') + f.field + ':' + JSON.stringify(f.value);
}

function decodeFilter(s) {
  const m = /^(~?)(-?)([^:]+):(.*)$/.exec(s);
  if (!m) return null;
  let value;
  try { value = JSON.parse(m[4]); } catch { value = m[4]; }
  return { field: m[3], value, neg: !!m[2], off: !!m[1] };
}

/** The query string of a state (defaults left out). */
export function serialize(s) {
  const p = new URLSearchParams();
  for (const k of KEYS) {
    const v = s[k];
    if (k === 'view' && v === 'discover') continue;
    if (k === 'cols') { if (v?.length) p.set(k, v.join(',')); continue; }
    if (k === 'live') { if (v) p.set(k, '1'); continue; }
    if (k === 'tz') { if (v === 'utc') p.set(k, 'utc'); continue; }
    if (v != null && v !== '') p.set(k, v);
  }
  for (const f of s.filters || []) p.append('f', encodeFilter(f));
  const q = p.toString();
  return q ? '?' + q : location.pathname;
}

const listeners = [];
let current = parse();

/** The current state. */
export const get = () => current;

/** Applies a change; `push` makes a history entry (Back undoes it). */
export function update(change, { push = true } = {}) {
  current = { ...current, ...change };
  const url = serialize(current);
  if (url !== location.search && !(url === location.pathname && !location.search)) {
    history[push ? 'pushState' : 'replaceState'](null, '', url);
  }
  for (const fn of listeners) fn(current, change);
}

/** Calls `fn(state, change)` after each update and on Back/Forward (change = null). */
export function subscribe(fn) {
  listeners.push(fn);
}

window.addEventListener('popstate', () => {
  current = parse();
  for (const fn of listeners) fn(current, null);
});
