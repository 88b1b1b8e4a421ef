// The query bar: the Lucene-style query input with errors shown at their position, and
// the filter pills (for / against a value, enable, disable, invert, remove). It also
// turns query + filters into the one query string the API gets, and the query's terms
// into a highlighting pattern.

import { h } from './dom.js';

/** A value as the query language writes it: numbers and booleans bare, text quoted. */
export function quoteValue(v) {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '"' + String(v).replace(/[\\"]/g, c => '\\' + c) + '"';
}

/** One filter as a query clause. */
export const filterClause = f => (f.neg ? 'NOT ' : '') + f.field + ':' + quoteValue(f.value);

/**
 * The query sent to the API, and where the user's own text starts in it (so that an
 * error position can be mapped back onto the input).
 */
export function effectiveQuery(q, filters = []) {
  const text = (q || '').trim();
  const on = filters.filter(f => !f.off).map(filterClause);
  if (!on.length) return { query: text, offset: 0 };
  if (!text || text === '*') return { query: on.join(' AND '), offset: -1 };
  return { query: `(${text}) AND ${on.join(' AND ')}`, offset: 1 };
}

/** ANDs queries, leaving out empty ones. */
export function andQueries(...qs) {
  const parts = qs.map(q => (q || '').trim()).filter(q => q && q !== '*');
  if (parts.length <= 1) return parts[0] || '';
  return parts.map(q => `(${q})`).join(' AND ');
}

/** A case-insensitive RegExp for the free-text terms of `q` (null when there are none). */
export function termsPattern(q) {
  const out = [];
  const re = /(-|\+)?(?:([\w.@-]+):)?("(?:[^"\\]|\\.)*"|\/(?:[^/\\]|\\.)+\/|\((?:[^()])*\)|[^\s()]+)/g;
  for (const m of (q || '').matchAll(re)) {
    const [, sign, field, value] = m;
    if (sign === '-' || (field && field !== 'message')) continue;
    if (/^(AND|OR|NOT|TO)$/.test(value)) continue;
    if (value.startsWith('"')) out.push(escapeRe(value.slice(1, -1).replace(/\\(.)/g, '$1')));
    else if (value.startsWith('/')) out.push(value.slice(1, -1));
    else if (value.startsWith('(')) continue;
    else if (value !== '*') out.push(value.split(/([*?])/).map(p => (p === '*' ? '\\S*' : p === '?' ? '\\S' : escapeRe(p))).join(''));
  }
  if (!out.length) return null;
  try { return new RegExp(out.map(p => `(?:${p})`).join('|'), 'gi'); } catch { return null; }
}

const escapeRe = s => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The bar. `onSubmit(q)` runs when Enter is pressed; `onFilters(filters)` when a pill
 * changes. `withFilters: false` hides the pills (dashboards). `describe(filter)` may
 * add a line to a pill's tooltip (text).
 */
export function createQueryBar({ onSubmit, onFilters, withFilters = true, placeholder, describe }) {
  const input = h('input', {
    id: 'q', type: 'search', autocomplete: 'off', spellcheck: 'false',
    placeholder: placeholder || 'Search… e.g. level:error AND container:web, "connection reset"  (press / to focus)',
    'aria-label': 'query',
  });
  const error = h('div.query-error', { id: 'query-error', role: 'alert', hidden: true });
  const form = h('form.query-form', {
    onsubmit: ev => { ev.preventDefault(); onSubmit(input.value); },
  }, input, h('button.primary', { type: 'submit', id: 'run' }, 'Search'));
  const pills = h('div.pills', { id: 'pills' });
  let filters = [];

  const addForm = h('form.add-filter', {
    hidden: true,
    onsubmit: ev => {
      ev.preventDefault();
      const f = addForm.querySelector('[name=field]').value.trim();
      const raw = addForm.querySelector('[name=value]').value;
      if (!f) return;
      const value = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
      addForm.hidden = true;
      onFilters([...filters, { field: f, value, neg: false, off: false }]);
    },
  }, h('input', { name: 'field', placeholder: 'field, e.g. container' }),
  h('input', { name: 'value', placeholder: 'value' }),
  h('button', { type: 'submit' }, 'Add'));

  function renderPills() {
    pills.replaceChildren(...filters.map((f, i) => {
      const change = patch => onFilters(filters.map((g, j) => (j === i ? { ...g, ...patch } : g)));
      return h('span.pill' + (f.neg ? '.neg' : '') + (f.off ? '.off' : ''), { dataset: { field: f.field } },
        h('span.pill-label', { title: [filterClause(f), describe?.(f)].filter(Boolean).join('\n') }, (f.neg ? 'NOT ' : '') + f.field + ': ' + String(f.value)),
        h('button.pill-btn', { type: 'button', title: f.neg ? 'include these (filter for)' : 'exclude these (filter against)', 'data-act': 'invert', onclick: () => change({ neg: !f.neg }) }, '⇄'),
        h('button.pill-btn', { type: 'button', title: f.off ? 'enable' : 'disable', 'data-act': 'toggle', onclick: () => change({ off: !f.off }) }, f.off ? '⊙' : '⊘'),
        h('button.pill-btn', { type: 'button', title: 'remove', 'data-act': 'remove', onclick: () => onFilters(filters.filter((_, j) => j !== i)) }, '×'));
    }), h('button.link', { type: 'button', onclick: () => { addForm.hidden = !addForm.hidden; addForm.querySelector('input').focus(); } }, '+ Add filter'), addForm);
  }

  const el = h('div.query-bar', form, error, withFilters ? pills : null);
  return {
    el,
    input,
    set(q, fs = []) {
      if (document.activeElement !== input || input.value !== q) input.value = q;
      filters = fs;
      if (withFilters) renderPills();
    },
    /** Shows an API error; query errors get a marker under the offending character. */
    showError(err, eff) {
      error.hidden = false;
      error.replaceChildren();
      const pos = err.position;
      const reason = err.message.replace(/^invalid query "(?:[^"\\]|\\.)*": /, '');
      if (pos != null && eff && eff.offset >= 0) {
        const chars = Array.from(input.value.trim());
        const at = pos - eff.offset;
        if (at >= 1 && at <= chars.length + 1) {
          const before = chars.slice(0, at - 1).join('');
          const ch = chars[at - 1] ?? ' ';
          error.append(h('pre.query-echo', before, h('mark.err-at', ch), chars.slice(at).join('')));
          const offsetUnits = before.length + (input.value.length - input.value.trimStart().length);
          input.setSelectionRange(offsetUnits, offsetUnits + ch.length);
        }
      }
      error.append(h('span.err-text', reason));
      input.classList.add('invalid');
    },
    clearError() {
      error.hidden = true;
      input.classList.remove('invalid');
    },
  };
}
