// Discover: query bar, filters, time picker, histogram, document table (or, in the
// Patterns tab, the message templates of the matches), field sidebar and live tail,
// wired to the URL state. The histogram, the first page and the field list are asked
// for at once; each draws when its answer comes, so the documents never wait for the
// histogram.

import * as urlState from './url-state.js';
import { search, ApiError } from './api.js';
import { h, num, toast } from './dom.js';
import { createQueryBar, effectiveQuery, termsPattern, quoteValue } from './query-bar.js';
import { createTimePicker, refreshMs } from './time-picker.js';
import { createHistogram } from './histogram.js';
import { createTable } from './table.js';
import { createSidebar } from './sidebar.js';
import { createLive } from './live.js';
import { createPatternsView } from './patterns.js';
import { resolve, isRelative, formatRecordTime } from './time.js';

const PAGE = 50;
/** Rows the table keeps in the DOM while live. */
export const LIVE_MAX_ROWS = 500;

export function createDiscover() {
  let state = urlState.get();
  let ctl = null;
  let cursor = null;
  let eff = { query: '', offset: 0 };
  let range = {};
  let refreshTimer = null;
  let trimmed = 0;

  const setFilters = filters => urlState.update({ filters });
  const addFilter = (field, value, neg) => {
    const rest = state.filters.filter(f => !(f.field === field && f.value === value));
    setFilters([...rest, { field, value, neg, off: false }]);
  };
  const toggleColumn = field => urlState.update({ cols: state.cols.includes(field) ? state.cols.filter(c => c !== field) : [...state.cols, field] });
  const actions = {
    onFilter: addFilter,
    onToggleColumn: toggleColumn,
    isColumn: f => state.cols.includes(f),
    onSurrounding: rec => showSurrounding(rec),
    onMore: () => loadPage(),
  };

  const bar = createQueryBar({
    onSubmit: q => urlState.update({ q }),
    onFilters: setFilters,
    // A pattern pill names its template (when this page has seen it) on hover.
    describe: f => (f.field === 'pattern' && patternsView.known.get(String(f.value))) || null,
  });
  const picker = createTimePicker({
    onChange: ({ start, end }) => urlState.update({ start, end }),
    onRefresh: refresh => urlState.update({ refresh }, { push: false }),
  });
  const liveBtn = h('button.toggle', { type: 'button', id: 'live-toggle', title: 'stream new matching records', onclick: () => urlState.update({ live: !state.live }) }, '● Live');
  const status = h('div.status', { id: 'status' });
  const liveBar = h('div.live-bar', { id: 'live-bar', hidden: true });
  const notices = h('div.notices', { id: 'notices' });
  const histogram = createHistogram({ onZoom: (start, end) => urlState.update({ start, end, live: false }) });
  const table = createTable(actions);
  const sidebar = createSidebar(actions);
  const patternsView = createPatternsView({
    // For: the matching records in the documents (Back returns here); against: stay,
    // and see the patterns that remain.
    onFilter: (p, neg) => {
      const rest = state.filters.filter(f => !(f.field === 'pattern' && String(f.value) === p.id));
      urlState.update({ filters: [...rest, { field: 'pattern', value: p.id, neg, off: false }], ...(neg ? {} : { tab: '' }) });
    },
    onSort: psort => urlState.update({ psort }, { push: false }),
  });
  const tab = (name, label, title) => h('button.tab', { type: 'button', id: `tab-${name || 'documents'}`, role: 'tab', title, onclick: () => urlState.update({ tab: name }) }, label);
  const tabs = h('div.tabs.view-tabs', { role: 'tablist' },
    tab('', 'Documents', 'the matching records, newest first'),
    tab('patterns', 'Patterns', 'the message templates of the matching records, with counts and trends'));
  const main = h('main.main', { id: 'main' }, status, histogram.el, liveBar, notices, tabs, table.el, patternsView.el);
  const el = h('div.discover', h('div.toolbar', bar.el, picker.el, liveBtn), h('div.body', sidebar.el, main));

  const live = createLive({
    onRecords: recs => {
      const dropped = table.prepend(recs, LIVE_MAX_ROWS);
      trimmed += dropped;
      table.setFooter(trimmed ? `${num(trimmed)} older lines left this live view to keep it fast; they are in the index (turn live off to page through them).` : '');
      status.dataset.count = String(table.rowCount());
    },
    onStatus: s => {
      liveBar.hidden = s.state === 'off';
      liveBar.className = 'live-bar ' + s.state;
      liveBar.replaceChildren();
      if (s.state === 'paused') {
        const waiting = s.pending + s.overflow;
        liveBar.append(`Live tail paused while you look around: ${num(waiting)} new line${waiting === 1 ? '' : 's'} waiting. `,
          h('button.link', { type: 'button', id: 'live-jump', onclick: jumpToLive }, 'Jump to newest'));
      } else if (s.state === 'live') liveBar.append(h('span.pulse'), ' Live: new matching records appear on top.');
      else liveBar.append(s.text || s.state);
    },
    onNotice: text => notices.append(h('div.notice', text, h('button.icon', { type: 'button', onclick: ev => ev.target.parentNode.remove() }, '×'))),
  });

  function jumpToLive() {
    main.scrollTop = 0;
    const lost = live.resume();
    if (lost) notices.append(h('div.notice', `${num(lost)} lines arrived while paused beyond what the page holds; they are in the index: turn live off to see them in the table.`));
  }

  main.addEventListener('scroll', () => {
    if (!live.running) return;
    if (main.scrollTop > 60) live.pause();
    else if (main.scrollTop < 5 && live.paused) jumpToLive();
  });

  function timeParams() {
    const start = state.start || 'now-15m';
    return { start, end: state.end || '' };
  }

  async function loadPage() {
    if (!cursor) return;
    const signal = ctl.signal;
    const r = await search({ q: eff.query, ...timeParams(), limit: PAGE, cursor }, signal).catch(e => { showError(e); return null; });
    if (!r || signal.aborted) return;
    cursor = r.cursor;
    table.append(r.hits, !!cursor);
  }

  function showError(e) {
    if (e.name === 'AbortError') return;
    if (e instanceof ApiError && e.type === 'query_parse_error') bar.showError(e, eff);
    else status.replaceChildren(h('span.error-text', e.message));
  }

  /** Asks for everything the view shows. `soft`: an auto-refresh, keep the scroll. */
  function run({ soft = false } = {}) {
    ctl?.abort();
    ctl = new AbortController();
    const signal = ctl.signal;
    eff = effectiveQuery(state.q, state.filters);
    const { start, end } = timeParams();
    const now = Date.now();
    range = { t0: resolve(start, now - 15 * 60e3, now), t1: resolve(end, now, now) };
    bar.clearError();
    performance.clearMarks();
    performance.mark('skein:run');
    const t0 = performance.now();
    const pattern = termsPattern(state.q);
    if (!soft) status.replaceChildren(h('span.muted', 'Searching…'));

    // Histogram and first page at once; the table never waits for the histogram.
    histogram.load({ q: eff.query, start, end, ...range, tz: state.tz }, signal).catch(showError);
    if (state.live) {
      table.reset({ cols: state.cols, tz: state.tz, pattern });
      trimmed = 0;
      live.start({ q: eff.query });
      status.replaceChildren(h('span', 'Live tail of '), h('code', eff.query || '*'));
    } else {
      live.stop();
      // The page first; a total that needs counting every match comes after it.
      const showCount = (total, took) => {
        if (total === null) delete status.dataset.count;
        else status.dataset.count = String(total);
        status.replaceChildren(total === null ? h('b', { id: 'hits' }, 'counting…') : h('b', { id: 'hits' }, num(total)),
          total === null ? ' hits' : ` hit${total === 1 ? '' : 's'}`,
          h('span.muted', ` · ${took} ms on the server, ${Math.round(performance.now() - t0)} ms here`));
      };
      search({ q: eff.query, start, end, limit: PAGE, total: 'later' }, signal).then(r => {
        if (signal.aborted) return;
        if (!soft || main.scrollTop === 0) {
          table.reset({ cols: state.cols, tz: state.tz, pattern });
          cursor = r.cursor;
          table.append(r.hits, !!cursor);
        }
        showCount(r.total, r.took_ms);
        performance.mark('skein:table');
        if (r.total_pending) {
          search({ q: eff.query, start, end, limit: 0 }, signal).then(c => {
            if (!signal.aborted) showCount(c.total, r.took_ms + c.took_ms);
          }).catch(showError);
        }
      }).catch(showError).finally(loadFields);
    }
    if (state.tab === 'patterns') loadPatterns();
    // The field list waits for the first page so that it never slows the documents.
    function loadFields() {
      if (!signal.aborted) sidebar.load({ q: eff.query, start, end }, signal).catch(showError);
    }
    if (state.live) loadFields();
  }

  /** Asks for the Patterns tab's rows (for the query and range of the last run). */
  function loadPatterns() {
    const signal = ctl.signal;
    patternsView.load({ q: eff.query, ...timeParams(), sort: state.psort, tz: state.tz }, signal).catch(showError);
  }

  /** Shows the documents or the patterns, as the URL says. */
  function showTab() {
    const patterns = state.tab === 'patterns';
    table.el.hidden = patterns;
    patternsView.el.hidden = !patterns;
    for (const b of tabs.children) {
      const on = b.id === (patterns ? 'tab-patterns' : 'tab-documents');
      b.classList.toggle('active', on);
      b.setAttribute('aria-selected', String(on));
    }
  }

  function scheduleRefresh() {
    clearInterval(refreshTimer);
    const ms = refreshMs(state.refresh) || (state.live ? 5000 : 0);
    if (!ms) return;
    refreshTimer = setInterval(() => {
      if (document.hidden) return;
      if (state.live) {
        const { start, end } = timeParams();
        const now = Date.now();
        range = { t0: resolve(start, now - 15 * 60e3, now), t1: resolve(end, now, now) };
        histogram.load({ q: eff.query, start, end, ...range, tz: state.tz }, ctl.signal).catch(showError);
        if (state.tab === 'patterns') loadPatterns();
      } else if (isRelative(state.end)) run({ soft: true });
    }, ms);
  }

  async function showSurrounding(rec) {
    const terms = [];
    if (rec.container) terms.push(`container:${quoteValue(rec.container)}`);
    if (rec.host) terms.push(`host:${quoteValue(rec.host)}`);
    const q = terms.join(' AND ');
    const ts = rec['@timestamp'];
    const [before, after] = await Promise.all([
      search({ q, end: ts, limit: 10, order: 'desc' }),
      search({ q, start: ts, limit: 11, order: 'asc' }),
    ]).catch(e => { toast(e.message); return [null, null]; });
    if (!before) return;
    const key = r => `${r._source_id}|${r._seq}|${r['@timestamp']}|${r.message}`;
    const seen = new Set();
    const rows = [...before.hits.reverse(), ...after.hits].filter(r => !seen.has(key(r)) && seen.add(key(r)));
    const body = h('div.surrounding',
      rows.map(r => h('div.sline' + (key(r) === key(rec) ? '.anchor' : ''),
        h('span.t', formatRecordTime(r['@timestamp'], state.tz)), ' ', h('span.lvl-text', r.level || ''), ' ', r.message ?? '')));
    openFlyout(`Surrounding lines of ${rec.container || rec.host || 'this source'} (whatever the query)`, body);
  }

  function openFlyout(title, content) {
    document.querySelector('.flyout')?.remove();
    const fly = h('div.flyout', { id: 'flyout', role: 'dialog' },
      h('div.flyout-head', h('b', title), h('button.icon', { type: 'button', title: 'close (Esc)', onclick: () => fly.remove() }, '×')), content);
    document.body.append(fly);
    fly.querySelector('.anchor')?.scrollIntoView({ block: 'center' });
  }

  function apply(s, change) {
    const prev = state;
    state = s;
    bar.set(s.q, s.filters);
    picker.set({ start: s.start || 'now-15m', end: s.end, refresh: s.refresh, tz: s.tz });
    liveBtn.classList.toggle('on', s.live);
    liveBtn.setAttribute('aria-pressed', String(s.live));
    scheduleRefresh();
    showTab();
    const onlyView = change && Object.keys(change).every(k => k === 'refresh' || k === 'theme');
    if (onlyView && prev) return;
    // Another tab or order: the rest of the view stays as it is.
    const onlyTab = change && Object.keys(change).every(k => ['tab', 'psort', 'refresh', 'theme'].includes(k));
    if (onlyTab && prev && ctl) {
      if (state.tab === 'patterns') loadPatterns();
      return;
    }
    run();
  }

  return {
    el,
    show(s, change) { apply(s, change); },
    hide() { ctl?.abort(); live.stop(); clearInterval(refreshTimer); },
    focusQuery() { bar.input.focus(); bar.input.select(); },
    closePanels() { picker.close(); document.querySelector('.flyout')?.remove(); },
  };
}
