// Live tail over Server-Sent Events from GET /api/v1/tail. Records are handed over in
// batches once per animation frame (so hundreds of lines a second cost one DOM update
// per frame). While paused, records wait in a buffer; past its cap they are counted,
// never dropped silently, and the caller is told how many it did not get.

import { tailUrl, reportUnauthorized } from './api.js';

/** Records kept while paused before only counting further ones. */
export const MAX_PENDING = 5000;

/**
 * `onRecords(batch)` (oldest first), `onStatus({state, pending, overflow, text})` and
 * `onNotice(text)`.
 */
export function createLive({ onRecords, onStatus, onNotice }) {
  let es = null;
  let queue = [];
  let pending = [];
  let overflow = 0;
  let paused = false;
  let scheduled = false;
  let received = 0;
  let url = '';

  const status = (state, text) => onStatus({ state, pending: pending.length, overflow, received, text });

  function flush() {
    scheduled = false;
    if (!queue.length) return;
    const batch = queue;
    queue = [];
    if (paused) {
      for (const r of batch) {
        if (pending.length < MAX_PENDING) pending.push(r);
        else overflow++;
      }
      status('paused');
    } else {
      onRecords(batch);
    }
  }

  function schedule() {
    if (scheduled) return;
    scheduled = true;
    // requestAnimationFrame does not run in background tabs; the timeout keeps the
    // buffer from growing there.
    requestAnimationFrame(flush);
    setTimeout(() => scheduled && flush(), 250);
  }

  async function explainFailure() {
    // EventSource hides the status and body of a refused request; ask once more.
    const ctl = new AbortController();
    try {
      const r = await fetch(url, { signal: ctl.signal, headers: { Accept: 'text/event-stream' } });
      if (!r.ok) {
        // EventSource sends the session cookie (same origin); a 401 means it expired.
        if (r.status === 401) reportUnauthorized();
        const j = await r.json().catch(() => null);
        return j?.error?.reason || `HTTP ${r.status}`;
      }
      return 'the connection closed; turn live off and on to reconnect';
    } catch (e) {
      return `cannot reach the server (${e.message})`;
    } finally {
      ctl.abort();
    }
  }

  return {
    get running() { return !!es; },
    get paused() { return paused; },
    start(params) {
      this.stop();
      url = tailUrl({ ...params, n: params.n ?? 100 });
      received = 0;
      es = new EventSource(url);
      status('connecting');
      es.addEventListener('open', () => status(paused ? 'paused' : 'live'));
      es.addEventListener('record', ev => {
        received++;
        try { queue.push(JSON.parse(ev.data)); } catch { onNotice('a live record could not be read (not JSON); it is still in the index'); }
        schedule();
      });
      es.addEventListener('notice', ev => {
        let n;
        try { n = JSON.parse(ev.data); } catch { n = { warning: ev.data }; }
        if (n.missed != null) onNotice(`Live tail fell behind: the next ${n.missed} lines were re-read from the index (none lost).`);
        else onNotice(n.warning || ev.data);
      });
      es.addEventListener('error', async () => {
        if (!es) return;
        if (es.readyState === EventSource.CONNECTING) {
          // The browser reconnects by itself and resumes after the last event id.
          status('reconnecting', 'connection lost; reconnecting (no line will be skipped)…');
        } else {
          const reason = await explainFailure();
          this.stop();
          status('failed', reason);
        }
      });
    },
    stop() {
      if (es) es.close();
      es = null;
      queue = [];
      pending = [];
      overflow = 0;
      paused = false;
      status('off');
    },
    /** Holds records back (the user scrolled away). */
    pause() {
      if (paused || !es) return;
      paused = true;
      status('paused');
    },
    /** Hands over what waited; returns how many records were only counted. */
    resume() {
      if (!paused) return 0;
      paused = false;
      const batch = pending.concat(queue);
      const lost = overflow;
      pending = [];
      queue = [];
      overflow = 0;
      if (batch.length) onRecords(batch);
      status('live');
      return lost;
    },
  };
}
