// One record expanded: a table of every field (with filter for / against and add as
// column), a JSON view, copy as JSON, and the way to its surrounding lines.

import { h, copyText, toast } from './dom.js';
import { formatRecordTime } from './time.js';

const TOP = ['@timestamp', 'host', 'container', 'container_id', 'image', 'stream', 'level', 'message', '_source_id', '_seq'];

/** [name, value] for every field, `fields.*` and `labels.*` flattened with dots. */
export function flatten(rec) {
  const out = [];
  for (const k of TOP) if (rec[k] !== undefined) out.push([k, rec[k]]);
  const walk = (prefix, obj) => {
    for (const [k, v] of Object.entries(obj || {})) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(`${prefix}.${k}`, v);
      else out.push([`${prefix}.${k}`, v]);
    }
  };
  walk('fields', rec.fields);
  walk('labels', rec.labels);
  for (const [k, v] of Object.entries(rec)) if (!TOP.includes(k) && k !== 'fields' && k !== 'labels' && !k.startsWith('_')) out.push([k, v]);
  return out;
}

/** A record's value for a column name such as `fields.latency_ms`. */
export function valueOf(rec, name) {
  if (name in rec && typeof rec[name] !== 'object') return rec[name];
  let v = rec;
  for (const part of name.split('.')) {
    if (v == null) return undefined;
    if (part in v) { v = v[part]; continue; }
    // Label keys contain dots (com.docker.compose.service): take the rest whole.
    const rest = name.slice(name.indexOf(part));
    return v[rest];
  }
  return v;
}

/** A value as a table cell shows it: objects as JSON, nothing as empty. */
export const cellText = v => (v == null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

const filterable = v => v != null && typeof v !== 'object';

/**
 * The expanded view. `actions`: {onFilter(field, value, neg), onToggleColumn(field),
 * onSurrounding(rec), isColumn(field)}.
 */
export function recordDetail(rec, actions, tz) {
  const rows = flatten(rec).map(([k, v]) => h('tr', { dataset: { field: k } },
    h('td.fname', k),
    h('td.factions',
      filterable(v) ? h('button.icon', { type: 'button', title: `filter for ${k}`, 'data-act': 'for', onclick: () => actions.onFilter(k, v, false) }, '⊕') : null,
      filterable(v) ? h('button.icon', { type: 'button', title: `filter against ${k}`, 'data-act': 'against', onclick: () => actions.onFilter(k, v, true) }, '⊖') : null,
      k !== '@timestamp' && k !== 'message' ? h('button.icon', { type: 'button', title: actions.isColumn(k) ? 'remove column' : 'add as column', 'data-act': 'column', onclick: () => actions.onToggleColumn(k) }, '▥') : null),
    h('td.fvalue', k === '@timestamp' ? `${v}  (${formatRecordTime(v, tz)})` : typeof v === 'object' ? JSON.stringify(v) : String(v))));
  const table = h('table.kv', h('tbody', rows));
  const json = h('pre.json', { hidden: true }, JSON.stringify(rec, null, 2));
  const tab = (name, show) => h('button.tab', {
    type: 'button', 'data-tab': name,
    onclick: ev => {
      table.hidden = show !== table;
      json.hidden = show !== json;
      for (const b of ev.target.parentNode.querySelectorAll('.tab')) b.classList.toggle('active', b === ev.target);
    },
  }, name);
  const tabs = h('div.tabs', tab('Table', table), tab('JSON', json),
    h('span.spacer'),
    h('button', { type: 'button', 'data-act': 'copy', onclick: async () => { await copyText(JSON.stringify(rec)); toast('Copied the record as JSON'); } }, 'Copy as JSON'),
    h('button', { type: 'button', 'data-act': 'surrounding', onclick: () => actions.onSurrounding(rec) }, 'Surrounding lines'));
  tabs.firstChild.classList.add('active');
  return h('div.record-detail', tabs, table, json);
}
