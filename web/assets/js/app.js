// The page: header (views, zone switch, theme), routing by the URL's `view`, keyboard
// shortcuts (`/` focuses the query, Esc closes panels; Enter runs the query in its form).

import * as urlState from './url-state.js';
import { h } from './dom.js';
import { createDiscover } from './discover.js';
import { createDashboards } from './dashboards.js';
import { zoneLabel } from './time.js';

const root = document.getElementById('app');
const discover = createDiscover();
const dashboards = createDashboards();

const navLink = (view, label) => h('a.nav', {
  href: view === 'discover' ? '?' : '?view=dashboards', 'data-view': view,
  onclick: ev => { ev.preventDefault(); urlState.update(view === 'discover' ? { view, id: '', q: '', filters: [], start: null, end: '' } : { view, id: '' }); },
}, label);
const tzBtn = h('button.toggle', { type: 'button', id: 'tz-toggle', title: 'show times in UTC or in this browser\'s zone', onclick: () => urlState.update({ tz: urlState.get().tz === 'utc' ? 'local' : 'utc' }, { push: false }) });
const themeBtn = h('button.toggle', { type: 'button', id: 'theme-toggle', title: 'light or dark theme', onclick: () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('skein-theme', next);
  urlState.update({ theme: next }, { push: false });
} });
const header = h('header.top', h('a.brand', { href: '/' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'skein'),
  h('nav', navLink('discover', 'Discover'), navLink('dashboards', 'Dashboards')), h('span.spacer'), tzBtn, themeBtn);
const content = h('div.content');
root.replaceChildren(header, content);

let current = null;

function render(s, change) {
  const theme = s.theme || localStorage.getItem('skein-theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  themeBtn.textContent = theme === 'dark' ? '☾ Dark' : '☀ Light';
  tzBtn.textContent = s.tz === 'utc' ? 'UTC' : `Browser (${zoneLabel('local')})`;
  const view = s.view === 'discover' ? discover : dashboards;
  for (const a of header.querySelectorAll('a.nav')) a.classList.toggle('active', (a.dataset.view === 'discover') === (s.view === 'discover'));
  if (current !== view) {
    current?.hide();
    current = view;
    content.replaceChildren(view.el);
    change = null;
  }
  if (view === discover) document.title = 'Discover · skein';
  view.show(s, change);
}

urlState.subscribe(render);
render(urlState.get(), null);

document.addEventListener('keydown', ev => {
  const typing = ev.target.closest?.('input, textarea, select');
  if (ev.key === '/' && !typing && !ev.ctrlKey && !ev.metaKey) {
    ev.preventDefault();
    current.focusQuery();
  } else if (ev.key === 'Escape') {
    current.closePanels();
    if (typing) ev.target.blur();
  }
});
