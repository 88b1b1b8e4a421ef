#!/usr/bin/env python3
"""The server's own follow path, without the agent: records posted one at a time to
/api/v1/ingest (every 10 ms for 10 s) against a reader of /api/v1/tail?follow=true,
timing each record from just before its POST to its arrival at the reader.

Usage: bench/tail_probe.py [PATH_TO_SKEIN]   (default: target/release/skein)
"""
import json, os, shutil, socket, subprocess, sys, tempfile, threading, time, urllib.request

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/skein"
data = tempfile.mkdtemp(prefix="skein-tail-probe-")
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); port = sock.getsockname()[1]; sock.close()
server = subprocess.Popen([binary, "server", "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
try:
    for _ in range(200):
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1); break
        except Exception:
            time.sleep(0.05)
    latencies = []

    def read():
        tail = urllib.request.urlopen(url + "/api/v1/tail?q=container:probe&n=0&follow=true", timeout=60)
        for line in tail:
            try:
                message = json.loads(line).get("message", "")
            except ValueError:
                continue
            if message.startswith("sent="):
                latencies.append((time.time() - float(message[5:])) * 1000)

    threading.Thread(target=read, daemon=True).start()
    time.sleep(1)
    end = time.time() + 10
    while time.time() < end:
        record = {"@timestamp": "2026-11-20T10:00:00Z", "container": "probe", "message": f"sent={time.time()}"}
        request = urllib.request.Request(url + "/api/v1/ingest", data=json.dumps(record).encode(),
                                         headers={"Content-Type": "application/x-ndjson"})
        urllib.request.urlopen(request).read()
        time.sleep(0.01)
    time.sleep(1.5)
finally:
    server.terminate(); server.wait()
    shutil.rmtree(data, ignore_errors=True)
latencies.sort()
if not latencies:
    sys.exit("no record reached the tail reader")
pick = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
print(f"{len(latencies)} records: ingest -> /api/v1/tail p50 {pick(0.5):.1f} ms, p99 {pick(0.99):.1f} ms, max {latencies[-1]:.1f} ms")
