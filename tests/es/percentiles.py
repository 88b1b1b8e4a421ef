"""Percentiles exact while the values are few, with the official Elasticsearch Python
client (8.x) on /es and plain HTTP on /api/v1/aggregate.

Usage: python3 percentiles.py http://127.0.0.1:PORT/es

Checks the numbers of Elasticsearch's REST test
`search.aggregation/180_percentiles_tdigest_metric.yml` (four documents, 1, 51, 101,
151; the three of them >= 50; `missing`; `keyed: false`), and that past the bound of
exact values (4,096) the answer is the sketch's: within 2%, not the exact numbers.
Exits non-zero (with the failing check) on any mismatch.
"""

import json
import sys
import urllib.request

import elasticsearch
from elasticsearch import Elasticsearch, helpers

URL = sys.argv[1]
BASE = URL.rsplit("/es", 1)[0]
es = Elasticsearch(URL, request_timeout=120)
assert elasticsearch.__version__[0] == 8, elasticsearch.__version__

T = "2026-11-20T10:00:00Z"
for i, v in enumerate([1, 51, 101, 151]):
    es.index(index="pct", id=str(i + 1), refresh="wait_for",
             document={"@timestamp": T, "int_field": v, "double_field": float(v) + 0.0, "string_field": "foo"})

PERCENTS = ["1.0", "5.0", "25.0", "50.0", "75.0", "95.0", "99.0"]
FOUR = dict(zip(PERCENTS, [1.0, 1.0, 26.0, 76.0, 126.0, 151.0, 151.0]))
THREE = dict(zip(PERCENTS, [51.0, 51.0, 63.5, 101.0, 138.5, 151.0, 151.0]))

r = es.search(index="pct", aggs={
    "percentiles_int": {"percentiles": {"field": "int_field"}},
    "percentiles_double": {"percentiles": {"field": "double_field"}},
})
for name in ["percentiles_int", "percentiles_double"]:
    got = r["aggregations"][name]["values"]
    assert got == FOUR, f"{name}: {got}"

# Elasticsearch's digest settings are accepted (and checked).
r = es.search(index="pct", aggs={"p": {"percentiles": {"field": "int_field", "tdigest": {"compression": 200}}}})
assert r["aggregations"]["p"]["values"] == FOUR, r["aggregations"]
try:
    es.search(index="pct", aggs={"p": {"percentiles": {"field": "int_field", "tdigest": {"compression": -1}}}})
    raise AssertionError("a negative compression was accepted")
except elasticsearch.BadRequestError as e:
    assert "[compression] must be greater than or equal to 0. Found [-1.0]" in str(e), e

r = es.search(index="pct", size=0, query={"constant_score": {"filter": {"range": {"int_field": {"gte": 50}}}}},
              aggs={"percentiles_int": {"percentiles": {"field": "int_field"}}})
assert r["aggregations"]["percentiles_int"]["values"] == THREE, r["aggregations"]

r = es.search(index="pct", aggs={"p": {"percentiles": {"field": "missing_field", "missing": 1.0}}})
assert r["aggregations"]["p"]["values"] == dict.fromkeys(PERCENTS, 1.0), r["aggregations"]

r = es.search(index="pct", aggs={"p": {"percentiles": {"field": "int_field", "percents": [5.0, 25.0, 50.0],
                                                       "keyed": False}}})
assert r["aggregations"]["p"]["values"] == [
    {"key": 5.0, "value": 1.0}, {"key": 25.0, "value": 26.0}, {"key": 50.0, "value": 76.0}
], r["aggregations"]

# Under bucket aggregations: per bucket, the same numbers.
TWO_LOW = dict(zip(PERCENTS, [1.0, 1.0, 1.0, 26.0, 51.0, 51.0, 51.0]))
TWO_HIGH = dict(zip(PERCENTS, [101.0, 101.0, 101.0, 126.0, 151.0, 151.0, 151.0]))
p = {"p": {"percentiles": {"field": "int_field"}}}
r = es.search(index="pct", size=0, aggs={
    "by_string": {"terms": {"field": "string_field"}, "aggs": p},
    "by_hour": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1h"}, "aggs": p},
    "by_range": {"range": {"field": "int_field", "ranges": [{"to": 100}, {"from": 100}]}, "aggs": p},
    "by_hundred": {"histogram": {"field": "int_field", "interval": 100}, "aggs": p},
    "by_value": {"terms": {"field": "int_field"}, "aggs": p},
    "nested": {"terms": {"field": "string_field"},
               "aggs": {"r": {"range": {"field": "double_field", "ranges": [{"from": 100}]}, "aggs": p}}},
})
a = r["aggregations"]
assert a["by_string"]["buckets"][0]["p"]["values"] == FOUR, a["by_string"]
assert a["by_hour"]["buckets"][0]["p"]["values"] == FOUR, a["by_hour"]
assert [b["p"]["values"] for b in a["by_range"]["buckets"]] == [TWO_LOW, TWO_HIGH], a["by_range"]
assert [b["p"]["values"] for b in a["by_hundred"]["buckets"]] == [TWO_LOW, TWO_HIGH], a["by_hundred"]
for b in a["by_value"]["buckets"]:
    assert b["p"]["values"] == dict.fromkeys(PERCENTS, float(b["key"])), b
assert a["nested"]["buckets"][0]["r"]["buckets"][0]["p"]["values"] == TWO_HIGH, a["nested"]

# The same through skein's own aggregate API.
req = urllib.request.Request(
    BASE + "/api/v1/aggregate",
    data=json.dumps({"q": "_index:pct", "start": "2026-11-20", "end": "2026-11-21",
                     "aggs": {"p": {"percentiles": {"field": "int_field"}}}}).encode(),
    headers={"Content-Type": "application/json"},
)
with urllib.request.urlopen(req) as resp:
    got = json.load(resp)
assert got["aggregations"]["p"]["values"] == FOUR, got

# Past the bound: the sketch (within 2%), not the exact interpolation.
N = 6_000
ok, errors = helpers.bulk(
    es, ({"_index": "pct-many", "_source": {"@timestamp": T, "v": i + 1}} for i in range(N)),
    chunk_size=2000, refresh="wait_for")
assert not errors, errors
r = es.search(index="pct-many", size=0, aggs={"p": {"percentiles": {"field": "v"}}})
got = r["aggregations"]["p"]["values"]
values = list(range(1, N + 1))


def exact(q):
    idx = q * N
    if idx <= 0.5:
        return float(values[0])
    if idx >= N - 0.5:
        return float(values[-1])
    pos = idx - 0.5
    lo = int(pos)
    return values[lo] + (pos - lo) * (values[lo + 1] - values[lo])


differs = False
for p in PERCENTS:
    want = exact(float(p) / 100)
    assert abs(got[p] - want) <= 0.02 * want, f"{p}: {got[p]} vs {want}"
    differs |= got[p] != want
assert differs, f"past the bound the sketch answers, yet every value is exact: {got}"

print("percentiles.py: exact on few values, the sketch past the bound")
