// The add / edit panel dialog: a form over one panel's settings, with the index's field
// names offered as suggestions.

import { h } from './dom.js';
import { KINDS } from './panels.js';
import { fields } from './api.js';

const STATS = [['count', 'Count'], ['share', 'Share of all records (%)'], ['avg', 'Average'], ['min', 'Minimum'], ['max', 'Maximum'], ['sum', 'Sum'],
  ['p50', 'Median (p50)'], ['p90', 'p90'], ['p95', 'p95'], ['p99', 'p99'], ['cardinality', 'Distinct values']];

/** Opens the dialog; `onSave(panel)` gets the edited copy. */
export function editPanel(panel, { onSave, timeParams }) {
  const p = { type: 'count_over_time', title: '', query: '', ...panel };
  const input = (name, attrs = {}) => h('input', { name, value: p[name] ?? '', ...attrs });
  const list = h('datalist', { id: 'field-names' });
  fields({ ...timeParams, sample: 0, top: 0 }).then(r => list.replaceChildren(...r.fields.map(f => h('option', { value: f.name })))).catch(() => {});
  const type = h('select', { name: 'type' }, Object.entries(KINDS).map(([k, l]) => h('option', { value: k, selected: k === p.type }, l)));
  const style = h('select', { name: 'style' }, [['line', 'Lines'], ['area', 'Stacked area']].map(([k, l]) => h('option', { value: k, selected: k === (p.style || 'line') }, l)));
  const stat = h('select', { name: 'stat' }, STATS.map(([k, l]) => h('option', { value: k, selected: k === (p.stat || 'count') }, l)));
  const forecast = h('input', { type: 'checkbox', name: 'forecast', checked: !!p.forecast });
  const err = h('div.field-error');
  const row = (label, control, kinds) => h('label.form-row', { dataset: { kinds: kinds || '' } }, h('span', label), control);
  const form = h('form.panel-form', {
    onsubmit: ev => {
      ev.preventDefault();
      const fd = new FormData(form);
      const out = { id: p.id || '', type: fd.get('type'), title: fd.get('title').trim(), query: fd.get('query').trim() };
      const field = (fd.get('field') || '').trim();
      if (field) out.field = field;
      const size = Number(fd.get('size'));
      if (size) out.size = size;
      const width = Number(fd.get('width'));
      if (width) out.width = width;
      if (out.type === 'count_over_time') { out.style = fd.get('style'); out.forecast = !!fd.get('forecast'); }
      if (out.type === 'metric') out.stat = fd.get('stat');
      if (out.type === 'latest') {
        const cols = (fd.get('columns') || '').split(',').map(s => s.trim()).filter(Boolean);
        if (cols.length) out.columns = cols;
      }
      const needsField = out.type === 'top_values' || out.type === 'percentiles_over_time' || (out.type === 'metric' && !['count', 'share'].includes(out.stat));
      if (needsField && !out.field) { err.textContent = 'This kind of panel needs a field (for example level, container or latency_ms).'; return; }
      if (!out.title) out.title = KINDS[out.type] + (out.field ? ` of ${out.field}` : '');
      dialog.remove();
      onSave(out);
    },
  },
  row('Type', type),
  row('Title', input('title', { placeholder: 'shown above the panel' })),
  row('Query', input('query', { placeholder: 'ANDed with the dashboard query, e.g. level:error' })),
  row('Field', input('field', { list: 'field-names', placeholder: 'split by / values of / statistic of' }), 'count_over_time top_values percentiles_over_time metric'),
  row('Values', input('size', { type: 'number', min: 1, max: 50, placeholder: 'top values (default 5 or 10)' }), 'count_over_time top_values latest top_patterns'),
  row('Style', style, 'count_over_time'),
  row('Forecast', h('span', forecast, ' band for the next period, anomalies marked'), 'count_over_time'),
  row('Statistic', stat, 'metric'),
  row('Columns', input('columns', { value: (p.columns || []).join(', '), placeholder: 'fields.latency_ms, host' }), 'latest'),
  row('Width', h('select', { name: 'width' }, [['', 'default'], [3, '¼'], [4, '⅓'], [6, '½'], [8, '⅔'], [12, 'full']].map(([k, l]) => h('option', { value: k, selected: String(k) === String(p.width || '') }, l)))),
  list, err,
  h('div.form-actions', h('button', { type: 'button', onclick: () => dialog.remove() }, 'Cancel'), h('button.primary', { type: 'submit', id: 'panel-save' }, 'Save panel')));
  const showRows = () => {
    for (const r of form.querySelectorAll('.form-row')) r.hidden = !!r.dataset.kinds && !r.dataset.kinds.split(' ').includes(type.value);
  };
  type.addEventListener('change', showRows);
  showRows();
  const dialog = h('div.modal', { id: 'panel-editor', role: 'dialog' }, h('div.modal-box', h('h3', panel.id ? 'Edit panel' : 'Add panel'), form));
  document.body.append(dialog);
  form.querySelector('[name=title]').focus();
}
