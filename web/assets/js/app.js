// The page: header (views, zone switch, theme, log out), routing by the URL's `view`,
// keyboard shortcuts (`/` focuses the query, Esc closes panels; Enter runs the query in
// its form). Before any view is drawn the page asks GET /api/v1/session: a server with
// auth on and no session for this browser gets the login form instead; so does any
// later 401 (the session expired or was revoked).

import * as urlState from './url-state.js';
import { h, toast } from './dom.js';
import { session, onUnauthorized } from './api.js';
import { createDiscover } from './discover.js';
import { createDashboards } from './dashboards.js';
import { createLogin } from './login.js';
import { zoneLabel } from './time.js';

const root = document.getElementById('app');
const discover = createDiscover();
const dashboards = createDashboards();

const navLink = (view, label) => h('a.nav', {
  href: view === 'discover' ? '?' : '?view=dashboards', 'data-view': view,
  onclick: ev => { ev.preventDefault(); urlState.update(view === 'discover' ? { view, id: '', q: '', filters: [], start: null, end: '', tab: '', psort: '' } : { view, id: '', tab: '', psort: '' }); },
}, label);
const tzBtn = h('button.toggle', { type: 'button', id: 'tz-toggle', title: 'show times in UTC or in this browser\'s zone', onclick: () => urlState.update({ tz: urlState.get().tz === 'utc' ? 'local' : 'utc' }, { push: false }) });
const themeBtn = h('button.toggle', { type: 'button', id: 'theme-toggle', title: 'light or dark theme', onclick: () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  localStorage.setItem('skein-theme', next);
  urlState.update({ theme: next }, { push: false });
} });
const nav = h('nav', { hidden: true }, navLink('discover', 'Discover'), navLink('dashboards', 'Dashboards'));
const logoutBtn = h('button', { type: 'button', id: 'logout', onclick: () => logout() }, 'Log out');
// Holds the log-out control only while auth is on: a server without auth shows none.
const sessionSlot = h('span.session', { id: 'session' });
const header = h('header.top', h('a.brand', { href: '/' }, h('img', { src: '/assets/favicon.svg', alt: '' }), 'skein'),
  nav, h('span.spacer'), tzBtn, themeBtn, sessionSlot);
const content = h('div.content');
root.replaceChildren(header, content);

const login = createLogin({
  onLogin: r => {
    // The views still hold what the last session saw (rows, panels); a token with other
    // scopes must not be shown them, so a login after one starts the page afresh.
    if (shown) location.reload();
    else unlock({ auth: true, session: true, scopes: r?.scopes || [], tls: auth.tls });
  },
});

let current = null;
/** The last answer of GET /api/v1/session. */
let auth = { auth: false, session: false, scopes: [], tls: false };
/** No view is drawn (nor asks the API anything) until the session is known good. */
let locked = true;
/** Whether any view was drawn in this page. */
let shown = false;

function render(s, change) {
  const theme = s.theme || localStorage.getItem('skein-theme') || (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light');
  document.documentElement.dataset.theme = theme;
  themeBtn.textContent = theme === 'dark' ? '☾ Dark' : '☀ Light';
  tzBtn.textContent = s.tz === 'utc' ? 'UTC' : `Browser (${zoneLabel('local')})`;
  if (locked) return;
  const view = s.view === 'discover' ? discover : dashboards;
  for (const a of header.querySelectorAll('a.nav')) a.classList.toggle('active', (a.dataset.view === 'discover') === (s.view === 'discover'));
  if (current !== view) {
    current?.hide();
    current = view;
    content.replaceChildren(view.el);
    change = null;
    document.title = 'skein';
  }
  if (view === discover) document.title = 'Discover · skein';
  shown = true;
  view.show(s, change);
}

/** Shows the login form in place of the views; `reason` says why. */
function lock(state, reason) {
  auth = state;
  locked = true;
  current?.hide();
  current = null;
  document.querySelectorAll('.flyout, .modal').forEach(e => e.remove());
  nav.hidden = true;
  sessionSlot.replaceChildren();
  document.title = 'Log in · skein';
  content.replaceChildren(login.el);
  login.show(state, reason);
}

function unlock(state) {
  auth = state;
  locked = false;
  nav.hidden = false;
  const scopes = (state.scopes || []).join(', ');
  sessionSlot.replaceChildren(...(state.auth ? [h('span.muted.small', { id: 'scopes', title: 'what this session may do' }, scopes || 'no scopes'), logoutBtn] : []));
  render(urlState.get(), null);
}

/** GET /api/v1/session; a server without the endpoint (404) has no auth. */
async function askSession() {
  try {
    return await session.get();
  } catch (e) {
    if (e.status === 404) return { auth: false, session: false, scopes: [], tls: false };
    throw e;
  }
}

async function start() {
  let s;
  try {
    s = await askSession();
  } catch (e) {
    content.replaceChildren(h('div.page', h('p.error-text', e.message), h('button', { type: 'button', onclick: start }, 'Try again')));
    return;
  }
  if (s.auth && !s.session) lock(s);
  else unlock(s);
}

let asking = null;
// Every view's requests fail together when a session ends; ask the server once.
onUnauthorized(() => {
  if (locked || asking) return;
  asking = askSession()
    .then(s => { if (s.auth && !s.session) lock(s, 'Your session ended (it expired or its token was revoked); log in again.'); })
    .catch(() => {})
    .finally(() => { asking = null; });
});

async function logout() {
  try {
    await session.logout();
  } catch (e) {
    // 401: the session had already ended, which is what was asked for.
    if (e.status !== 401) { toast(`Not logged out: ${e.message}`); return; }
  }
  lock({ ...auth, session: false, scopes: [] }, 'Logged out. The session cookie is cleared.');
}

urlState.subscribe(render);
render(urlState.get(), null);
start();

document.addEventListener('keydown', ev => {
  const typing = ev.target.closest?.('input, textarea, select');
  if (ev.key === '/' && !typing && !ev.ctrlKey && !ev.metaKey && current) {
    ev.preventDefault();
    current.focusQuery();
  } else if (ev.key === 'Escape') {
    current?.closePanels();
    if (typing) ev.target.blur();
  }
});
