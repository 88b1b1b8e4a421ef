// The HTTP API, as promises. Errors become ApiError carrying the server's type and reason;
// a 401 tells the page to ask for a login, a 403 says which scope the token lacks.

/** An answer the server refused, with its `{"error":{type,reason}}`. */
export class ApiError extends Error {
  constructor(status, type, reason) {
    super(reason);
    this.status = status;
    this.type = type;
  }
  /** The 1-based character position of a query error, if the reason names one. */
  get position() {
    const m = /at position (\d+)/.exec(this.message);
    return m ? Number(m[1]) : null;
  }
}

const SESSION = '/api/v1/session';
let unauthorized = () => {};

/**
 * Who to tell when a call answers 401 (no session, or it expired): the page then asks
 * GET /api/v1/session and shows the login form.
 */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** Tells the page that a request outside `call` (the live tail) answered 401. */
export const reportUnauthorized = () => unauthorized();

/** What a 403 means to the user: which scope the token lacks for this request. */
function forbiddenReason(method, path, reason) {
  // The server's reason lists the scopes held, then `... needs the admin scope`.
  const named = /needs the (\w+) scope/.exec(reason || '');
  const dashboards = path.startsWith('/api/v1/dashboards');
  const write = method !== 'GET' && dashboards;
  const scope = named ? named[1] : write ? 'admin' : 'query';
  const what = write ? 'change dashboards' : dashboards ? 'read dashboards' : 'read logs';
  return `This token may not ${what}; it needs the ${scope} scope.`;
}

// Same-origin requests: fetch sends the session cookie by default and the server
// accepts their Origin; nothing here may ever go to another origin.
async function call(method, path, body, signal) {
  const init = { method, signal, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `cannot reach the skein server (${e.message}); is it running?`);
  }
  const text = await r.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!r.ok) {
    const err = json?.error;
    const type = err?.type || 'http';
    let reason = err?.reason || `HTTP ${r.status}: ${text.slice(0, 200)}`;
    if (r.status === 401 && !path.startsWith(SESSION)) unauthorized();
    if (r.status === 403 && type === 'forbidden') reason = forbiddenReason(method, path, err?.reason);
    throw new ApiError(r.status, type, reason);
  }
  return json;
}

const qs = params => {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v != null && v !== '') p.set(k, v);
  return p.toString();
};

/** GET /api/v1/search. */
export const search = (params, signal) => call('GET', '/api/v1/search?' + qs(params), undefined, signal);
/** POST /api/v1/aggregate. */
export const aggregate = (body, signal) => call('POST', '/api/v1/aggregate', body, signal);
/** GET /api/v1/patterns. */
export const patterns = (params, signal) => call('GET', '/api/v1/patterns?' + qs(params), undefined, signal);
/** GET /api/v1/fields. */
export const fields = (params, signal) => call('GET', '/api/v1/fields?' + qs(params), undefined, signal);
/** Dashboards CRUD. */
export const dashboards = {
  list: () => call('GET', '/api/v1/dashboards'),
  get: id => call('GET', '/api/v1/dashboards/' + encodeURIComponent(id)),
  create: d => call('POST', '/api/v1/dashboards', d),
  put: (id, d) => call('PUT', '/api/v1/dashboards/' + encodeURIComponent(id), d),
  remove: id => call('DELETE', '/api/v1/dashboards/' + encodeURIComponent(id)),
};
/**
 * The login session: `get()` answers {auth, session, scopes, tls}; `login(token)` sets
 * the HttpOnly cookie (the token is sent once, in the body, and kept nowhere);
 * `logout()` clears it.
 */
export const session = {
  get: () => call('GET', SESSION),
  login: token => call('POST', SESSION, { token }),
  logout: () => call('DELETE', SESSION),
};
/** The URL of the live tail stream (SSE). */
export const tailUrl = params => '/api/v1/tail?' + qs(params);
