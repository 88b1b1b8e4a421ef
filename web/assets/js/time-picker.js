// The time picker: quick ranges, absolute start/end (RFC 3339 or date math, read in
// the zone shown), and auto-refresh every 5 s / 30 s / 1 min.

import { h } from './dom.js';
import { QUICK, rangeLabel, formatFull, resolve, iso } from './time.js';

/** Refresh choices: URL value and label. */
export const REFRESH = [['', 'Off'], ['5s', '5 s'], ['30s', '30 s'], ['1m', '1 min']];
/** Milliseconds of a refresh choice. */
export const refreshMs = r => ({ '5s': 5e3, '30s': 30e3, '1m': 60e3 }[r] || 0);

/** Reads `2026-11-20 10:00:00` as a time in the zone shown; date math and RFC 3339 pass. */
function readAbsolute(text, tz) {
  const s = text.trim();
  if (!s || /^now/.test(s)) return s;
  const m = /^(\d{4}-\d\d-\d\d)(?:[ T](\d\d:\d\d(?::\d\d(?:\.\d+)?)?))?$/.exec(s);
  if (m) {
    const local = `${m[1]}T${m[2] || '00:00:00'}`;
    // Without a zone, JavaScript reads a date-time as the browser's local time.
    return iso(tz === 'utc' ? Date.parse(local + 'Z') : new Date(local).getTime());
  }
  return Number.isNaN(Date.parse(s)) ? null : s;
}

/** The picker; `onChange({start, end})` and `onRefresh(refresh)`. */
export function createTimePicker({ onChange, onRefresh }) {
  let state = { start: 'now-15m', end: '', refresh: '', tz: 'local' };
  const button = h('button.time-button', { type: 'button', id: 'time-button', 'aria-haspopup': 'true' });
  const startIn = h('input', { name: 'start', placeholder: 'now-15m or 2026-11-20 10:00' });
  const endIn = h('input', { name: 'end', placeholder: 'now' });
  const err = h('div.field-error');
  const refreshSel = h('select', { id: 'refresh', title: 'auto-refresh', onchange: () => onRefresh(refreshSel.value) },
    REFRESH.map(([v, l]) => h('option', { value: v }, '⟳ ' + l)));
  const pop = h('div.popover.time-pop', { hidden: true, id: 'time-pop' },
    h('div.pop-col',
      h('div.pop-title', 'Quick ranges'),
      QUICK.map(([v, l]) => h('button.link.quick', { type: 'button', dataset: { range: v }, onclick: () => { close(); onChange({ start: v, end: '' }); } }, l))),
    h('form.pop-col', {
      onsubmit: ev => {
        ev.preventDefault();
        const s = readAbsolute(startIn.value, state.tz);
        const e = readAbsolute(endIn.value, state.tz);
        if (s == null || e == null) { err.textContent = 'Write a time as 2026-11-20 10:00:00, RFC 3339, or date math like now-2h'; return; }
        close();
        onChange({ start: s || 'now-15m', end: e });
      },
    },
    h('div.pop-title', 'Absolute range'),
    h('label', 'Start', startIn), h('label', 'End', endIn), err,
    h('button.primary', { type: 'submit', id: 'time-apply' }, 'Apply')));

  const close = () => { pop.hidden = true; };
  button.addEventListener('click', () => {
    pop.hidden = !pop.hidden;
    if (!pop.hidden) {
      const show = v => (!v || /^now/.test(v) ? v : formatFull(resolve(v), state.tz).slice(0, 23));
      startIn.value = show(state.start);
      endIn.value = show(state.end);
      err.textContent = '';
    }
  });
  document.addEventListener('click', ev => { if (!pop.hidden && !el.contains(ev.target)) close(); });

  const el = h('div.time-picker', button, refreshSel, pop);
  return {
    el,
    close,
    set(s) {
      state = { ...state, ...s };
      button.textContent = rangeLabel(state.start, state.end, state.tz);
      refreshSel.value = state.refresh || '';
    },
  };
}
