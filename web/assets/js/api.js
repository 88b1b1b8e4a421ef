// The HTTP API, as promises. Errors become ApiError carrying the server's type and reason.

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
    throw new ApiError(r.status, err?.type || 'http', err?.reason || `HTTP ${r.status}: ${text.slice(0, 200)}`);
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
/** The URL of the live tail stream (SSE). */
export const tailUrl = params => '/api/v1/tail?' + qs(params);
