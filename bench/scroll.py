"""Times scrolls over the ES API of a release `skein server` (see bench/scroll)."""

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from elasticsearch import Elasticsearch, helpers


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, method="GET", body=None, ctype="application/json"):
    req = urllib.request.Request(url, data=body, method=method, headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def load(base, n):
    """Posts n records of about 200 bytes through /api/v1/ingest, 10,000 a request."""
    start = 1_795_000_000
    for first in range(0, n, 10_000):
        lines = []
        for i in range(first, min(n, first + 10_000)):
            t = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i // 100))
            lines.append(json.dumps({
                "@timestamp": f"{t}.{i % 100:02d}0000000Z", "host": f"node-{i % 4}",
                "container": f"app-{i % 32}", "level": "info", "stream": "stdout",
                "message": f"GET /api/v1/items/{i % 977} 200 in {i % 431} ms user={i % 5003}",
                "fields": {"latency_ms": i % 431, "user": i % 5003},
                "_source_id": "bench/scroll", "_seq": i + 1,
            }))
        call(f"{base}/api/v1/ingest", "POST", ("\n".join(lines) + "\n").encode(), "application/x-ndjson")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skein", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    args = ap.parse_args()
    data = tempfile.mkdtemp(prefix="skein-bench-scroll-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.skein, "server", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
        stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                call(f"{base}/healthz")
                break
            except OSError:
                time.sleep(0.05)
        t0 = time.time()
        load(base, args.records)
        while call(f"{base}/api/v1/search?q=*&limit=0")["total"] < args.records:
            time.sleep(0.2)
        print(f"loaded {args.records} records in {time.time() - t0:.1f} s")

        t0 = time.time()
        page = call(f"{base}/es/_search?scroll=1m", "POST", json.dumps({"size": 10_000, "sort": ["_doc"]}).encode())
        seen = len(page["hits"]["hits"])
        while page["hits"]["hits"]:
            page = call(f"{base}/es/_search/scroll", "POST",
                        json.dumps({"scroll": "1m", "scroll_id": page["_scroll_id"]}).encode())
            seen += len(page["hits"]["hits"])
        dt = time.time() - t0
        assert seen == args.records, (seen, args.records)
        print(f"raw scroll, pages of 10,000: {seen} documents in {dt:.2f} s = {seen / dt:,.0f} documents/s")

        es = Elasticsearch(f"{base}/es", request_timeout=120)
        t0 = time.time()
        seen = sum(1 for _ in helpers.scan(es, query={"query": {"match_all": {}}}, scroll="1m"))
        dt = time.time() - t0
        assert seen == args.records, (seen, args.records)
        print(f"helpers.scan (pages of 1,000, Python client): {seen} documents in {dt:.2f} s = {seen / dt:,.0f} documents/s")
        rss = open(f"/proc/{server.pid}/status").read().split("VmHWM:")[1].split()[0]
        print(f"server peak RSS {int(rss) // 1024} MiB; {os.cpu_count()} cores")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
