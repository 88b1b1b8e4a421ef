// The field sidebar: every field with its type; a click shows its top 10 values (from
// the newest records) with counts and filter buttons, and adds or removes it as a column.

import { fields as fetchFields } from './api.js';
import { h, num } from './dom.js';

const TYPE_ICON = { date: '◷', keyword: 'k', text: 't', long: '#', double: '#', boolean: '⊤', mixed: '?' };

/** The sidebar; `actions`: {onFilter(field, value, neg), onToggleColumn(field), isColumn(field)}. */
export function createSidebar(actions) {
  const search = h('input.field-search', { type: 'search', placeholder: 'Filter field names' });
  const list = h('ul.field-list', { id: 'fields' });
  const note = h('div.muted.small');
  const el = h('aside.sidebar', h('div.side-title', 'Fields'), search, list, note);
  let all = [];
  let sampled = 0;
  const open = new Set();

  search.addEventListener('input', render);

  function render() {
    const f = search.value.trim().toLowerCase();
    list.replaceChildren(...all.filter(x => !f || x.name.toLowerCase().includes(f)).map(fd => {
      const isOpen = open.has(fd.name);
      const li = h('li.field' + (isOpen ? '.open' : '') + (actions.isColumn(fd.name) ? '.chosen' : ''), { dataset: { field: fd.name } },
        h('div.field-row', {
          onclick: () => { isOpen ? open.delete(fd.name) : open.add(fd.name); render(); },
        },
        h('span.ftype', { title: (fd.types || [fd.type]).join(', ') }, TYPE_ICON[fd.type] || '?'),
        h('span.fname', fd.name),
        fd.name !== '@timestamp' && fd.name !== 'message' ? h('button.icon.add-col', {
          type: 'button', title: actions.isColumn(fd.name) ? 'remove column' : 'add as column',
          onclick: ev => { ev.stopPropagation(); actions.onToggleColumn(fd.name); },
        }, actions.isColumn(fd.name) ? '−' : '+') : null));
      if (isOpen) {
        const top = fd.top || [];
        const total = Math.max(1, fd.count || sampled || 1);
        li.append(h('div.top-values',
          h('div.muted.small', top.length ? `Top ${top.length} of ${num(fd.count)} sampled records` : 'No values in the sample'),
          top.map(t => h('div.top-value', { dataset: { value: String(t.value) } },
            h('div.tv-bar', { style: { '--w': `${Math.round((t.count / total) * 100)}%` } },
              h('span.tv-label', String(t.value)), h('span.tv-count', `${num(t.count)} (${Math.round((t.count / total) * 100)}%)`)),
            h('button.icon', { type: 'button', title: `filter for ${fd.name}: ${t.value}`, 'data-act': 'for', onclick: () => actions.onFilter(fd.name, t.value, false) }, '⊕'),
            h('button.icon', { type: 'button', title: `filter against ${fd.name}: ${t.value}`, 'data-act': 'against', onclick: () => actions.onFilter(fd.name, t.value, true) }, '⊖')))));
      }
      return li;
    }));
  }

  return {
    el,
    render,
    async load(params, signal) {
      const r = await fetchFields({ ...params, top: 10, sample: 500 }, signal);
      all = r.fields;
      sampled = r.sampled;
      note.textContent = `Top values from the newest ${num(r.sampled)} matching records.`;
      render();
    },
  };
}
