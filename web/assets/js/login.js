// The login form, shown when the server has auth on and the browser has no session.
// The token goes once to POST /api/v1/session, in the body; the server answers with an
// HttpOnly cookie. The token is kept nowhere in the page: not in the URL, not in
// storage, not in the field once submitted.

import { h } from './dom.js';
import { session } from './api.js';

const LOOPBACK = ['localhost', '127.0.0.1', '[::1]'];

/** The form; `onLogin({scopes, expires_in})` once the server accepted a token. */
export function createLogin({ onLogin }) {
  const token = h('input', {
    type: 'password', name: 'token', id: 'login-token', required: true,
    autocomplete: 'off', spellcheck: 'false', 'aria-label': 'token',
    placeholder: 'skein token (from skein token create)',
  });
  const submit = h('button.primary', { type: 'submit', id: 'login-submit' }, 'Log in');
  const error = h('div.error-text', { id: 'login-error', role: 'alert' });
  const note = h('p.muted', { id: 'login-note' });
  const warn = h('p.error-text', { id: 'login-insecure', hidden: true },
    'This page came over plain HTTP: the token and the session cookie cross the network unencrypted. Serve skein over TLS (or reach it through localhost).');
  // method=post: should the script ever not run, the browser posts the token in a body
  // rather than putting it into the URL of a GET.
  const form = h('form.login-form', {
    id: 'login', method: 'post', action: '/api/v1/session',
    onsubmit: async ev => {
      ev.preventDefault();
      const secret = token.value.trim();
      token.value = '';
      if (!secret) return;
      error.textContent = '';
      submit.disabled = true;
      try {
        onLogin(await session.login(secret));
      } catch (e) {
        error.textContent = e.status === 401 ? 'That token was not accepted: it is unknown, revoked or mistyped.'
          : e.status === 429 ? 'Too many failed logins from this address; wait a minute, then try again.'
            : e.message;
        token.focus();
      } finally {
        submit.disabled = false;
      }
    },
  }, h('label', { for: 'login-token' }, 'Token'), h('div.login-row', token, submit), error);
  const el = h('div.login', h('div.login-box', h('h2', 'Log in to skein'), note, form, warn));

  return {
    el,
    /** Shows the form; `reason` says why (the session ended, the user logged out). */
    show(state, reason) {
      note.textContent = reason || 'This server asks for a token. Ask its operator for one with the query scope (and admin to edit dashboards).';
      error.textContent = '';
      warn.hidden = !!state.tls || LOOPBACK.includes(location.hostname);
      token.value = '';
      token.focus();
    },
  };
}
