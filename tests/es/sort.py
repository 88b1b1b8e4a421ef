"""Sorting on fields other than time against skein's /es API with the official
Elasticsearch Python client (8.x).

Usage: python3 sort.py http://127.0.0.1:PORT/es

Ingests documents over two days, in several refreshes (so several segments), some
without the sorted fields, then for a keyword, a number, a nested number and several
keys, walks every page with search_after (without and with a point in time) and checks:
- every document comes exactly once;
- the order is the sort's, missing values last in both directions;
- hits' `sort` is as Elasticsearch gives it: a string for a keyword, a number for a
  long, epoch milliseconds for @timestamp, no tiebreaker unless `_doc` or a pit.
Exits non-zero (with the failing check) on any mismatch.
"""

import datetime as dt
import sys

import elasticsearch
from elasticsearch import Elasticsearch, helpers

URL = sys.argv[1]
INDEX = "sort-logs"
N = 2_400
es = Elasticsearch(URL, request_timeout=120)
assert elasticsearch.__version__[0] == 8, elasticsearch.__version__

BASE = dt.datetime(2026, 11, 19, 20, 0, 0, tzinfo=dt.timezone.utc)
LONG_MAX = 9223372036854775807
LONG_MIN = -9223372036854775808


def source(i):
    # Spread over two days; several documents share a millisecond.
    t = BASE + dt.timedelta(seconds=(i // 3) * 20)
    doc = {
        "@timestamp": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": f"sorted document {i}",
        "n": i,
    }
    if i % 7 != 0:
        doc["service"] = ["api", "web", "pay", "auth", "db"][i % 5] + ("-b" if i % 11 == 0 else "")
    if i % 5 != 0:
        doc["status"] = [200, 201, 404, 500, 302, 200][i % 6]
    if i % 4 != 0:
        doc["http"] = {"status": (i * 37) % 600}
    return doc


SOURCES = [source(i) for i in range(N)]
# Four batches, each made searchable before the next: several segments per day.
for part in range(4):
    docs = ({"_index": INDEX, "_source": SOURCES[i]} for i in range(part, N, 4))
    ok, errors = helpers.bulk(es, docs, chunk_size=1000, refresh="wait_for")
    assert not errors, errors
assert es.count(index=INDEX)["count"] == N


def millis(s):
    return int(dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000)


def value(src, field):
    if field == "@timestamp":
        return millis(src["@timestamp"])
    v = src
    for part in field.split("."):
        if not isinstance(v, dict) or part not in v:
            return None
        v = v[part]
    return v


def check_order(values, orders, what):
    """values: per hit, the tuple of its sort-key values (None = missing)."""
    for a, b in zip(values, values[1:]):
        for x, y, o in zip(a, b, orders):
            if x == y:
                continue
            # Missing last in both orders.
            if x is None:
                raise AssertionError(f"{what}: missing value before {y}")
            if y is None:
                break
            assert (x < y) if o == "asc" else (x > y), f"{what}: {a} then {b}"
            break


def walk(sort, size, pit=False, tiebreak=False):
    """Every page of `sort`; the hits in order."""
    body_sort = list(sort) + (["_doc"] if tiebreak else [])
    pit_id = es.open_point_in_time(index=INDEX, keep_alive="1m")["id"] if pit else None
    hits, after, pages = [], None, 0
    while True:
        kw = {"sort": body_sort, "size": size}
        if pit:
            kw["pit"] = {"id": pit_id, "keep_alive": "1m"}
        else:
            kw["index"] = INDEX
        if after is not None:
            kw["search_after"] = after
        r = es.search(**kw)
        page = r["hits"]["hits"]
        pages += 1
        if pit or tiebreak:
            assert len(page) <= size, f"{sort}: a page of {len(page)} with a tiebreaker"
        if not page:
            break
        hits.extend(page)
        after = page[-1]["sort"]
        if len(page) < size:
            break
        assert pages < 10 * N, "the walk does not end"
    if pit:
        es.close_point_in_time(id=pit_id)
    return hits


CASES = [
    ([{"service": "asc"}], ["service"], ["asc"]),
    ([{"service": {"order": "desc"}}], ["service"], ["desc"]),
    ([{"status": "asc"}], ["status"], ["asc"]),
    ([{"status": {"order": "desc"}}], ["status"], ["desc"]),
    ([{"http.status": "asc"}, {"service.keyword": "desc"}], ["http.status", "service"], ["asc", "desc"]),
    ([{"service": "asc"}, {"@timestamp": "desc"}], ["service", "@timestamp"], ["asc", "desc"]),
]

for sort, fields, orders in CASES:
    for size, pit, tiebreak in [(100, False, False), (37, True, False), (250, False, True)]:
        what = f"sort {sort}, pages of {size}, pit {pit}, _doc {tiebreak}"
        hits = walk(sort, size, pit=pit, tiebreak=tiebreak)
        ns = [h["_source"]["n"] for h in hits]
        assert len(ns) == N and len(set(ns)) == N, f"{what}: {len(ns)} hits, {len(set(ns))} distinct"
        values = [tuple(value(SOURCES[n], f) for f in fields) for n in ns]
        check_order(values, orders, what)
        for h, vals in zip(hits, values):
            s = h["sort"]
            extra = 1 if (pit or tiebreak) else 0
            assert len(s) == len(fields) + extra, f"{what}: sort {s}"
            for got, want, f, o in zip(s, vals, fields, orders):
                if want is None:
                    if f in ("status", "http.status"):
                        assert got == (LONG_MAX if o == "asc" else LONG_MIN), f"{what}: missing {f} as {got}"
                    else:
                        assert got is None, f"{what}: missing {f} as {got!r}"
                else:
                    assert got == want and type(got) is type(want), f"{what}: {f} {got!r}, want {want!r}"

# A scroll sorted on a field (helpers.scan keeping the order): each once, in order.
hits = list(helpers.scan(es, index=INDEX, query={"sort": [{"status": "desc"}, {"service": "asc"}]},
                         preserve_order=True, size=300))
ns = [h["_source"]["n"] for h in hits]
assert len(ns) == N and len(set(ns)) == N, f"scan: {len(ns)} hits, {len(set(ns))} distinct"
check_order([(value(SOURCES[n], "status"), value(SOURCES[n], "service")) for n in ns],
            ["desc", "asc"], "scan")

# A page ends after every hit sharing its last hit's values: `search_after` with the
# values alone then neither repeats nor skips (checked above); here its shape.
r = es.search(index=INDEX, sort=[{"status": "asc"}], size=5)
page = r["hits"]["hits"]
assert r["hits"]["total"] == {"value": N, "relation": "eq"}, r["hits"]["total"]
assert all(h["sort"] == [200] for h in page), [h["sort"] for h in page]
assert len(page) == sum(1 for s in SOURCES if s.get("status") == 200), len(page)

# `_score` is a no-op after a field; `_doc` adds the tiebreaker.
r = es.search(index=INDEX, sort=[{"service": "asc"}, "_score", "_doc"], size=3)
assert [len(h["sort"]) for h in r["hits"]["hits"]] == [2, 2, 2], r["hits"]["hits"]
assert isinstance(r["hits"]["hits"][0]["sort"][0], str)

# Full text cannot be sorted on.
try:
    es.search(index=INDEX, sort=[{"message": "asc"}])
    raise AssertionError("sorting on message was accepted")
except elasticsearch.BadRequestError as e:
    assert "message" in str(e), e

print("sort.py: every walk returned each document once, in order")
