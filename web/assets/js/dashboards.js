// Dashboards: the list, and one dashboard with its query, time range, auto-refresh and
// panels (add / edit / remove / reorder, saved on the server at once).

import * as urlState from './url-state.js';
import { dashboards as api } from './api.js';
import { h, toast, copyText } from './dom.js';
import { createQueryBar, andQueries } from './query-bar.js';
import { createTimePicker, refreshMs } from './time-picker.js';
import { renderPanel, KINDS } from './panels.js';
import { editPanel } from './panel-editor.js';
import { resolve } from './time.js';

const DEFAULT_WIDTH = { metric: 3, top_values: 4, count_over_time: 8, percentiles_over_time: 6, latest: 12, top_patterns: 6 };

export function createDashboards() {
  let state = null;
  let dash = null;
  let ctl = null;
  let timer = null;
  const el = h('div.dashboards');

  async function showList() {
    const { dashboards } = await api.list();
    const title = h('input', { name: 'title', placeholder: 'New dashboard name', required: true });
    el.replaceChildren(h('div.page',
      h('h2', 'Dashboards'),
      h('ul.dash-list', { id: 'dash-list' }, dashboards.map(d => h('li',
        h('a', { href: `?view=dashboard&id=${encodeURIComponent(d.id)}`, 'data-id': d.id }, d.title),
        h('span.muted', ` ${d.panels} panels · saved ${d.updated.slice(0, 16).replace('T', ' ')} UTC`)))),
      h('form.inline-form', {
        id: 'new-dashboard',
        onsubmit: async ev => {
          ev.preventDefault();
          try {
            const d = await api.create({ title: title.value, panels: [] });
            urlState.update({ view: 'dashboard', id: d.id, q: '', start: null, end: '', refresh: '' });
          } catch (e) { toast(`Not created: ${e.message}`); }
        },
      }, title, h('button.primary', { type: 'submit' }, 'Create'))));
  }

  const bar = createQueryBar({ withFilters: false, onSubmit: q => urlState.update({ q }), placeholder: 'Dashboard query, ANDed with every panel\'s own' });
  const picker = createTimePicker({
    onChange: ({ start, end }) => urlState.update({ start, end }),
    onRefresh: refresh => urlState.update({ refresh }, { push: false }),
  });
  const grid = h('div.grid', { id: 'panels' });
  const titleEl = h('h2.dash-title');
  const head = h('div.dash-head', titleEl, h('span.spacer'),
    h('button', { type: 'button', id: 'add-panel', onclick: () => editPanel({}, { onSave: p => save({ ...dash, panels: [...dash.panels, p] }), timeParams: times() }) }, '+ Add panel'),
    h('button', { type: 'button', title: 'make this query, time range and refresh the dashboard\'s defaults', onclick: async () => { if (await save({ ...dash, query: state.q, start: state.start, end: state.end, refresh: state.refresh })) toast('Saved as the dashboard\'s defaults'); } }, 'Save view as default'),
    h('button', { type: 'button', onclick: async () => { await copyText(location.href); toast('Link copied'); } }, 'Copy link'),
    h('button.danger', { type: 'button', onclick: async () => {
      if (!confirm(`Delete dashboard “${dash.title}”?`)) return;
      try {
        await api.remove(dash.id);
        urlState.update({ view: 'dashboards', id: '' });
      } catch (e) { toast(`Not deleted: ${e.message}`); }
    } }, 'Delete'));
  const view = h('div.dash', head, h('div.toolbar', bar.el, picker.el), grid);

  const times = () => ({ start: state.start || dash.start || 'now-24h', end: state.end || '' });

  /** Saves and redraws; false (after saying why) when the server refused. */
  async function save(next) {
    try {
      dash = await api.put(dash.id, next);
      drawPanels();
      return true;
    } catch (e) {
      toast(`Not saved: ${e.message}`);
      return false;
    }
  }

  function move(i, by) {
    const panels = dash.panels.slice();
    const j = i + by;
    if (j < 0 || j >= panels.length) return;
    [panels[i], panels[j]] = [panels[j], panels[i]];
    save({ ...dash, panels });
  }

  function drawPanels() {
    ctl?.abort();
    ctl = new AbortController();
    const { start, end } = times();
    const now = Date.now();
    const ctx = {
      q: state.q, start, end, tz: state.tz, signal: ctl.signal,
      t0: resolve(start, now - 86400e3, now), t1: resolve(end, now, now),
      onDiscover: (q, filters) => urlState.update({ view: 'discover', id: '', q: andQueries(state.q, q), filters, start, end, tab: '' }),
      onZoom: (a, b) => urlState.update({ start: new Date(a).toISOString(), end: new Date(b).toISOString() }),
    };
    titleEl.textContent = dash.title;
    document.title = `${dash.title} · skein`;
    grid.replaceChildren(...dash.panels.map((p, i) => {
      const body = h('div.panel-body', h('div.muted', 'Loading…'));
      const card = h('section.panel', { dataset: { id: p.id, type: p.type }, style: { 'grid-column': `span ${p.width || DEFAULT_WIDTH[p.type] || 6}` } },
        h('div.panel-head', h('span.panel-title', p.title || KINDS[p.type]),
          h('span.panel-menu',
            h('button.icon', { type: 'button', title: 'move earlier', 'data-act': 'left', onclick: () => move(i, -1) }, '◀'),
            h('button.icon', { type: 'button', title: 'move later', 'data-act': 'right', onclick: () => move(i, 1) }, '▶'),
            h('button.icon', { type: 'button', title: 'edit', 'data-act': 'edit', onclick: () => editPanel(p, { onSave: np => save({ ...dash, panels: dash.panels.map(x => (x.id === p.id ? np : x)) }), timeParams: times() }) }, '✎'),
            h('button.icon', { type: 'button', title: 'remove', 'data-act': 'remove', onclick: () => save({ ...dash, panels: dash.panels.filter(x => x.id !== p.id) }) }, '×'))),
        body);
      renderPanel(p, body, ctx).then(() => card.classList.add('ready')).catch(e => {
        if (e.name !== 'AbortError') body.replaceChildren(h('div.error-text', e.message));
      });
      return card;
    }));
    if (!dash.panels.length) grid.append(h('div.empty', 'No panels yet: “+ Add panel” adds one.'));
  }

  function schedule() {
    clearInterval(timer);
    const ms = refreshMs(state.refresh);
    if (ms) timer = setInterval(() => { if (!document.hidden) drawPanels(); }, ms);
  }

  async function showDashboard(s) {
    if (!dash || dash.id !== s.id) {
      try {
        dash = await api.get(s.id);
      } catch (e) {
        el.replaceChildren(h('div.page', h('p.error-text', e.message), h('a', { href: '?view=dashboards' }, 'All dashboards')));
        return;
      }
      // The URL carries the whole view, so that a copied link reproduces it.
      if (s.start == null) {
        urlState.update({ q: s.q || dash.query, start: dash.start, end: s.end || dash.end, refresh: s.refresh || dash.refresh }, { push: false });
        return;
      }
    }
    if (!view.isConnected) el.replaceChildren(view);
    bar.set(state.q);
    picker.set({ start: times().start, end: state.end, refresh: state.refresh, tz: state.tz });
    schedule();
    drawPanels();
  }

  return {
    el,
    show(s) {
      state = s;
      if (s.view === 'dashboards') { dash = null; showList().catch(e => el.replaceChildren(h('p.error-text', e.message))); } else showDashboard(s);
    },
    hide() { ctl?.abort(); clearInterval(timer); },
    focusQuery() { bar.input.focus(); },
    closePanels() { picker.close(); document.querySelector('.modal')?.remove(); },
  };
}
