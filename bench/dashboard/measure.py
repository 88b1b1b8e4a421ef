#!/usr/bin/env python3
"""Dashboard performance in headless Chromium (through chromedriver, plain HTTP).

paint: Discover opened on a range holding every record of the index (after one load of
       an empty range, so the browser has the modules; the first timed run is the
       server's first question over the range); the page
       marks `skein:table` (first page of documents drawn) and `skein:histogram`
       (histogram drawn) with performance.mark; both are read as milliseconds since
       navigation start. First meaningful paint = the later of the two.
live:  Discover with live tail on while this script ingests RATE records/s for SECS
       seconds; the page reports its longest main-thread stall (gap between
       animation frames), long tasks, records received and rows kept in the DOM.

Usage: measure.py paint URL START END [RUNS]
       measure.py live URL [RATE] [SECS]
"""
import json, os, statistics, subprocess, sys, tempfile, threading, time, urllib.request


def call(method, url, body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.load(r)


class Browser:
    def __init__(self):
        port = 19000 + os.getpid() % 1000
        self.driver = subprocess.Popen(["chromedriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                call("GET", base + "/status")
                break
            except OSError:
                time.sleep(0.05)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1400,900", "--user-data-dir=" + tempfile.mkdtemp()]
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome",
                "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}}
        self.base = base + "/session/" + call("POST", base + "/session", caps)["value"]["sessionId"]

    def goto(self, url):
        call("POST", self.base + "/url", {"url": url})

    def js(self, script):
        return call("POST", self.base + "/execute/sync", {"script": script, "args": []})["value"]

    def wait(self, expr, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            v = self.js(f"try {{ return ({expr}); }} catch (e) {{ return null; }}")
            if v:
                return v
            time.sleep(0.02)
        raise SystemExit(f"timed out waiting for {expr}")

    def close(self):
        try:
            call("DELETE", self.base)
        finally:
            self.driver.kill()


MARKS = """const m = n => performance.getEntriesByName(n)[0]?.startTime;
return (m('skein:table') != null && m('skein:histogram') != null) ? [m('skein:table'), m('skein:histogram')] : null;"""


def paint(url, start, end, runs=5):
    b = Browser()
    try:
        page = f"{url}/?start={start}&end={end}"
        # One load of an empty range first: the browser has started its renderer and
        # cached the modules, as for anyone who has opened the page before. The server
        # has not answered anything over the timed range yet.
        b.goto(f"{url}/?start=now-1m")
        b.wait("document.querySelector('#hits')")
        rows = []
        for i in range(runs):
            b.goto("about:blank")
            b.goto(page)
            table, hist = b.wait("(() => {" + MARKS + "})()")
            total = b.js("return document.querySelector('#hits')?.textContent")
            rows.append((table, hist, max(table, hist)))
            print(f"run {i + 1}: first page {table:.0f} ms, histogram {hist:.0f} ms, meaningful paint {max(table, hist):.0f} ms ({total} hits)")
        fmp = [r[2] for r in rows]
        print(f"first meaningful paint over {runs} runs: first (server cold on this range) {fmp[0]:.0f} ms, median {statistics.median(fmp):.0f} ms, max {max(fmp):.0f} ms")
    finally:
        b.close()


PROBE = """
window.__probe = {maxGap: 0, longTasks: 0, longest: 0, last: performance.now()};
const p = window.__probe;
(function frame(t) { p.maxGap = Math.max(p.maxGap, t - p.last); p.last = t; requestAnimationFrame(frame); })(performance.now());
new PerformanceObserver(l => { for (const e of l.getEntries()) { p.longTasks++; p.longest = Math.max(p.longest, e.duration); } }).observe({entryTypes: ['longtask']});
"""


def live(url, rate=500, secs=20):
    b = Browser()
    try:
        b.goto(f"{url}/?live=1&q=container:bench-live")
        b.wait("document.querySelector('#live-bar.live')")
        b.js(PROBE)
        sent = [0]
        stop = time.time() + secs

        def feed():
            seq = 0
            while time.time() < stop:
                t0 = time.time()
                lines = []
                for _ in range(rate // 10):
                    seq += 1
                    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e6) % 1000000:06d}Z"
                    lines.append(json.dumps({"@timestamp": ts, "host": "bench", "container": "bench-live", "level": "info",
                                             "message": f"live line {seq} " + "x" * 80, "_source_id": "bench/live", "_seq": seq}))
                req = urllib.request.Request(url + "/api/v1/ingest", data=("\n".join(lines) + "\n").encode(), method="POST")
                urllib.request.urlopen(req, timeout=30).read()
                sent[0] = seq
                time.sleep(max(0, 0.1 - (time.time() - t0)))

        th = threading.Thread(target=feed)
        th.start()
        samples = []
        while th.is_alive():
            # How long the page takes to answer a script call: a stand-in for input latency.
            t0 = time.time()
            b.js("return 1")
            samples.append((time.time() - t0) * 1000)
            time.sleep(0.5)
        th.join()
        time.sleep(2)
        r = b.js("return {probe: window.__probe, rows: document.querySelectorAll('tr.row').length, foot: document.querySelector('.table-foot').textContent, bar: document.querySelector('#live-bar').textContent}")
        print(f"live tail: {sent[0]} records sent at {rate}/s for {secs} s")
        print(f"rows kept in the DOM: {r['rows']} ({r['foot']!r})")
        print(f"longest gap between animation frames: {r['probe']['maxGap']:.0f} ms; long tasks (>50 ms): {r['probe']['longTasks']}, longest {r['probe']['longest']:.0f} ms")
        print(f"script round trip while streaming: median {statistics.median(samples):.0f} ms, max {max(samples):.0f} ms")
    finally:
        b.close()


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "paint":
        paint(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 5)
    elif len(sys.argv) >= 3 and sys.argv[1] == "live":
        live(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 500, int(sys.argv[4]) if len(sys.argv) > 4 else 20)
    else:
        print(__doc__)
        sys.exit(2)
