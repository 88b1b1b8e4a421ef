// The document table: newest first, time with its zone, container, level, chosen field
// columns, the message with the query's terms highlighted. Rows expand into the record
// view. A sentinel below the last row asks for the next page (infinite scroll); live
// records go on top and the table keeps at most `maxRows` rows in the DOM.

import { h, highlight } from './dom.js';
import { formatRecordTime, zoneLabel } from './time.js';
import { levelBadge } from './histogram.js';
import { recordDetail, valueOf, cellText } from './record.js';

/** The table; `actions` as for recordDetail plus `onMore()` for the next page. */
export function createTable(actions) {
  const head = h('thead');
  const body = h('tbody', { id: 'rows' });
  const sentinel = h('div.sentinel', { id: 'more' });
  const footer = h('div.table-foot');
  const el = h('div.doc-table', h('table.docs', head, body), footer, sentinel);
  let cols = [];
  let tz = 'local';
  let pattern = null;
  let hasMore = false;
  let loading = false;
  const records = new WeakMap();

  new IntersectionObserver(async entries => {
    if (!entries.some(e => e.isIntersecting) || !hasMore || loading) return;
    loading = true;
    try { await actions.onMore(); } finally { loading = false; }
  }, { rootMargin: '400px' }).observe(sentinel);

  // Built from nodes, so that every value from a log is text whatever it contains.
  function makeRow(rec) {
    const tr = h('tr.row',
      h('td.caret', '▸'),
      h('td.t', formatRecordTime(rec['@timestamp'], tz)),
      h('td.c', rec.container ?? rec.host ?? ''),
      h('td.l', rec.level ? levelBadge(rec.level) : null),
      cols.map(c => h('td.col', cellText(valueOf(rec, c)))),
      h('td.m', highlight(rec.message ?? '', pattern)));
    records.set(tr, rec);
    return tr;
  }

  body.addEventListener('click', ev => {
    const tr = ev.target.closest('tr.row');
    if (!tr || ev.target.closest('a,button') || getSelection().toString()) return;
    toggle(tr);
  });

  function toggle(tr) {
    const next = tr.nextElementSibling;
    if (next?.classList.contains('detail')) {
      next.remove();
      tr.classList.remove('open');
      return;
    }
    tr.classList.add('open');
    const td = h('td', { colspan: 5 + cols.length }, recordDetail(records.get(tr), actions, tz));
    tr.after(h('tr.detail', td));
  }

  return {
    el,
    body,
    /** Starts over with new columns, zone and highlight pattern. */
    reset(opts) {
      ({ cols, tz, pattern } = opts);
      head.replaceChildren(h('tr', h('th'), h('th.t', `Time (${zoneLabel(tz)})`), h('th', 'container'), h('th', 'level'),
        cols.map(c => h('th.col', c, h('button.icon', { type: 'button', title: 'remove column', onclick: () => actions.onToggleColumn(c) }, '×'))),
        h('th', 'message')));
      body.replaceChildren();
      footer.textContent = '';
      hasMore = false;
    },
    /** Adds older records at the bottom. */
    append(hits, more) {
      const frag = document.createDocumentFragment();
      for (const r of hits) frag.append(makeRow(r));
      body.append(frag);
      hasMore = more;
      footer.textContent = more ? 'Loading more…' : body.rows.length ? 'No more records in this range.' : '';
    },
    /**
     * Adds newer records on top (given oldest first); drops rows beyond `maxRows` from
     * the bottom and returns how many it dropped.
     */
    prepend(recs, maxRows) {
      // Rows that would be trimmed at once are never built.
      let dropped = Math.max(0, recs.length - maxRows);
      const frag = document.createDocumentFragment();
      for (let i = recs.length - 1; i >= dropped; i--) frag.append(makeRow(recs[i]));
      body.prepend(frag);
      while (body.rows.length > maxRows) {
        const last = body.lastElementChild;
        if (!last.classList.contains('detail')) dropped++;
        last.remove();
      }
      return dropped;
    },
    rowCount: () => body.querySelectorAll('tr.row').length,
    setFooter(text) { footer.textContent = text; },
    setMore(more) { hasMore = more; },
  };
}
