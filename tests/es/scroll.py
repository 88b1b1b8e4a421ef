"""Scroll and point in time against skein's /es API with real clients: the official
Elasticsearch Python client (8.x) and opensearch-py, through their `helpers.scan`.

Usage: python3 scroll.py http://127.0.0.1:PORT/es

Ingests 25,000 documents, then checks that
- both clients' helpers.scan return every document exactly once;
- a scroll and a point in time do not see documents that arrive after they opened
  (with new timestamps and with old ones, inside the range already paged through);
- a PIT walked with search_after returns each document once;
- an expired scroll or PIT answers 404 search_context_missing_exception;
- a cleared scroll or PIT answers 404 after.
Exits non-zero (with the failing check) on any mismatch.
"""

import datetime as dt
import sys
import time

import elasticsearch
import opensearchpy
from elasticsearch import Elasticsearch, helpers
from opensearchpy import OpenSearch
from opensearchpy import helpers as os_helpers

URL = sys.argv[1]
N = 25_000
INDEX = "scan-logs"
es = Elasticsearch(URL, request_timeout=120)
osc = OpenSearch(hosts=[URL], timeout=120)

assert elasticsearch.__version__[0] == 8, elasticsearch.__version__

BASE = dt.datetime(2026, 11, 20, 8, 0, 0, tzinfo=dt.timezone.utc)


def stamp(i):
    # Some documents share a millisecond, so paging must break ties exactly.
    t = BASE + dt.timedelta(milliseconds=(i // 3) * 7)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def doc(i, kind="orig"):
    return {
        "_index": INDEX,
        "_source": {
            "@timestamp": stamp(i),
            "message": f"scan document {i}",
            "n": i,
            "kind": kind,
            "parity": "even" if i % 2 == 0 else "odd",
        },
    }


ok, errors = helpers.bulk(es, (doc(i) for i in range(N)), chunk_size=2500, refresh="wait_for")
assert ok == N and not errors, (ok, errors)
assert es.count(index=INDEX)["count"] == N


def check_once(ns, want, what):
    assert len(ns) == len(want), f"{what}: {len(ns)} hits, want {len(want)}"
    assert sorted(ns) == sorted(want), f"{what}: not each document once"


# 1. The official client's helpers.scan: every document once.
ns = [h["_source"]["n"] for h in helpers.scan(es, index=INDEX, query={"query": {"match_all": {}}}, size=1000, scroll="2m")]
check_once(ns, range(N), "elasticsearch helpers.scan")

# With a query, preserving the order (sort on @timestamp, ascending).
hits = list(
    helpers.scan(
        es,
        index=INDEX,
        query={"query": {"term": {"parity": "odd"}}, "sort": [{"@timestamp": "asc"}]},
        preserve_order=True,
        size=777,
    )
)
check_once([h["_source"]["n"] for h in hits], range(1, N, 2), "helpers.scan with a query")
times = [h["_source"]["@timestamp"] for h in hits]
assert times == sorted(times), "preserve_order: hits in time order"

# 2. opensearch-py's helpers.scan: every document once.
ns = [h["_source"]["n"] for h in os_helpers.scan(osc, index=INDEX, query={"query": {"match_all": {}}}, size=1000, scroll="2m")]
check_once(ns, range(N), "opensearch-py helpers.scan")

# 3. A scroll does not see documents that arrive after it opened, with new or old times.
resp = es.search(index=INDEX, scroll="1m", size=2000, sort=["_doc"], query={"match_all": {}})
sid = resp["_scroll_id"]
assert resp["hits"]["total"] == {"value": 10_000, "relation": "gte"}, resp["hits"]["total"]
seen = [h["_source"]["n"] for h in resp["hits"]["hits"]]
late = [doc(N + i, "late") for i in range(300)]  # new documents
late += [{**doc(i, "late"), "_source": {**doc(i, "late")["_source"], "n": N + 300 + i // 10}} for i in range(0, 3000, 10)]  # old times
ok, _ = helpers.bulk(es, late, refresh="wait_for")
assert ok == len(late)
assert es.count(index=INDEX)["count"] == N + len(late)
while True:
    resp = es.scroll(scroll_id=sid, scroll="1m")
    assert resp["_scroll_id"] == sid
    page = resp["hits"]["hits"]
    if not page:
        break
    seen += [h["_source"]["n"] for h in page]
check_once(seen, range(N), "a scroll while documents arrive")
freed = es.clear_scroll(scroll_id=sid)
assert freed["succeeded"] and freed["num_freed"] == 1, freed
try:
    es.scroll(scroll_id=sid, scroll="1m")
    raise AssertionError("a cleared scroll must be gone")
except elasticsearch.NotFoundError as e:
    assert e.meta.status == 404 and "search_context_missing_exception" in str(e), e
r = es.options(ignore_status=404).clear_scroll(scroll_id=sid)
assert r.meta.status == 404 and r["num_freed"] == 0, r

TOTAL = N + len(late)

# 4. A point in time walked with search_after while documents arrive: each document that
# was there when it opened, once; none of the new ones.
pit = es.open_point_in_time(index=INDEX, keep_alive="1m")["id"]
seen, after, k = [], None, 0
while True:
    kw = {"search_after": after} if after else {}
    resp = es.search(
        pit={"id": pit, "keep_alive": "1m"},
        size=1500,
        sort=[{"@timestamp": "asc"}, {"_shard_doc": "asc"}],
        query={"match_all": {}},
        **kw,
    )
    assert resp["pit_id"] == pit
    page = resp["hits"]["hits"]
    if not page:
        break
    seen += [h["_source"]["n"] for h in page]
    after = page[-1]["sort"]
    # New documents between pages: later times, and times inside pages already read.
    more = [doc(TOTAL + k * 20 + j, "pit-late") for j in range(10)]
    more += [
        {**doc(j * 97 % N, "pit-late"), "_source": {**doc(j * 97 % N)["_source"], "n": TOTAL + k * 20 + 10 + j}}
        for j in range(10)
    ]
    helpers.bulk(es, more, refresh="wait_for")
    k += 1
check_once(seen, range(TOTAL), "a point in time while documents arrive")
assert es.count(index=INDEX)["count"] == TOTAL + 20 * k
# An index in the path with a pit is refused, as Elasticsearch does.
try:
    es.search(index=INDEX, pit={"id": pit})
    raise AssertionError("an index with a pit must be refused")
except elasticsearch.BadRequestError as e:
    assert "cannot be used with point in time" in str(e), e
closed = es.close_point_in_time(id=pit)
assert closed["succeeded"] and closed["num_freed"] == 1, closed
try:
    es.search(pit={"id": pit}, size=1)
    raise AssertionError("a closed point in time must be gone")
except elasticsearch.NotFoundError as e:
    assert "search_context_missing_exception" in str(e), e

# 5. Expiry: a scroll and a point in time not used within their keep-alive are gone,
# while one used in time is renewed.
short = es.search(index=INDEX, scroll="2s", size=10)["_scroll_id"]
kept = es.search(index=INDEX, scroll="2s", size=10)["_scroll_id"]
short_pit = es.open_point_in_time(index=INDEX, keep_alive="2s")["id"]
for _ in range(4):
    time.sleep(1)
    assert len(es.scroll(scroll_id=kept, scroll="2s")["hits"]["hits"]) == 10
for what, call in [
    ("scroll", lambda: es.scroll(scroll_id=short, scroll="1m")),
    ("point in time", lambda: es.search(pit={"id": short_pit}, size=1)),
]:
    try:
        call()
        raise AssertionError(f"an expired {what} must answer 404")
    except elasticsearch.NotFoundError as e:
        assert e.meta.status == 404 and "search_context_missing_exception" in str(e), e
assert es.clear_scroll(scroll_id="_all")["num_freed"] == 1

print("ok: scan (elasticsearch %s, opensearch-py %s), scroll, pit, expiry" % (elasticsearch.__versionstr__, ".".join(map(str, opensearchpy.VERSION))))
