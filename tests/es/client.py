"""The official Elasticsearch Python client (8.x) against skein's /es API.

Usage: python3 client.py http://127.0.0.1:PORT/es

Ingests a generated corpus with the bulk helper, then checks searches, paging, _source,
aggregations, _count, _msearch and error answers against answers computed here from the
corpus itself. Exits non-zero (with the failing check) on any mismatch.
"""

import collections
import datetime as dt
import json
import sys

import elasticsearch
from elasticsearch import Elasticsearch, helpers

URL = sys.argv[1]
es = Elasticsearch(URL, request_timeout=60)

assert elasticsearch.__version__[0] == 8, elasticsearch.__version__
info = es.info()
assert info["version"]["number"].startswith("8."), info
assert es.ping()

# Index create/exists: no-ops that remember the name.
assert not es.indices.exists(index="shop-logs")
es.indices.create(index="shop-logs", mappings={"properties": {"service": {"type": "keyword"}}})
assert es.indices.exists(index="shop-logs")
try:
    es.indices.create(index="shop-logs")
    raise AssertionError("creating an existing index must fail")
except elasticsearch.BadRequestError as e:
    assert "already exists" in str(e), e

# The corpus: deterministic documents as a shipper might send them.
BASE = dt.datetime(2026, 11, 20, 10, 0, 0, tzinfo=dt.timezone.utc)
SERVICES = ["pay", "api", "web"]
LEVELS = ["info", "info", "warn", "error", "debug"]
WORDS = ["timeout", "connected", "payment", "refused", "retry", "cache", "miss"]
docs = []
for i in range(600):
    ts = BASE + dt.timedelta(seconds=i, milliseconds=(i * 7) % 1000)
    doc = {
        "@timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "message": f"{WORDS[i % 7]} {WORDS[(i * 3) % 7]} request {i}",
        "level": LEVELS[i % 5],
        "service": SERVICES[i % 3],
        "latency_ms": (i * 37) % 1000,
        "ratio": round((i % 10) / 4, 2),
        "http": {"method": "POST" if i % 4 == 0 else "GET", "status": 500 if i % 11 == 0 else 200},
        "kubernetes": {"pod_name": f"{SERVICES[i % 3]}-{i % 2}", "namespace_name": "shop"},
    }
    if i % 13 == 0:
        doc["tags"] = ["slow", "retry"]
    docs.append(doc)
index_of = lambda i: "shop-logs" if i % 5 else "audit-logs"

ok, errors = helpers.bulk(
    es,
    ({"_index": index_of(i), "_id": f"d{i}", "_source": d} for i, d in enumerate(docs)),
    chunk_size=250,
)
assert ok == len(docs) and not errors, (ok, errors)
es.indices.refresh(index="shop-logs")

ids = lambda resp: sorted(h["_id"] for h in resp["hits"]["hits"])
want_ids = lambda pred: sorted(f"d{i}" for i, d in enumerate(docs) if pred(i, d))
shop = lambda i: index_of(i) == "shop-logs"


def check(name, query, pred, index="shop-logs"):
    resp = es.search(index=index, query=query, size=1000, track_total_hits=True)
    got = ids(resp)
    want = want_ids(lambda i, d: (index == "*" or index_of(i) == index) and pred(i, d))
    assert got == want, f"{name}: got {len(got)} hits, want {len(want)}; extra {sorted(set(got) - set(want))[:5]} missing {sorted(set(want) - set(got))[:5]}"
    assert resp["hits"]["total"] == {"value": len(want), "relation": "eq"}, (name, resp["hits"]["total"])


words = lambda d: d["message"].lower().split()
check("count all", {"match_all": {}}, lambda i, d: True)
check("every index", {"match_all": {}}, lambda i, d: True, index="*")
check("match word", {"match": {"message": "Timeout"}}, lambda i, d: "timeout" in words(d))
check("match or", {"match": {"message": "refused miss"}}, lambda i, d: {"refused", "miss"} & set(words(d)))
check("match and", {"match": {"message": {"query": "refused miss", "operator": "and"}}},
      lambda i, d: {"refused", "miss"} <= set(words(d)))
check("match_phrase", {"match_phrase": {"message": "payment refused"}}, lambda i, d: "payment refused" in d["message"])
check("term on a sent name", {"term": {"service": "pay"}}, lambda i, d: d["service"] == "pay")
check("term .keyword", {"term": {"service.keyword": "api"}}, lambda i, d: d["service"] == "api")
check("terms", {"terms": {"level": ["error", "warn"]}}, lambda i, d: d["level"] in ("error", "warn"))
check("nested field", {"term": {"http.status": 500}}, lambda i, d: d["http"]["status"] == 500)
check("kubernetes name", {"term": {"kubernetes.pod_name": "pay-1"}}, lambda i, d: d["kubernetes"]["pod_name"] == "pay-1")
check("range", {"range": {"latency_ms": {"gte": 100, "lt": 300}}}, lambda i, d: 100 <= d["latency_ms"] < 300)
t0, t1 = "2026-11-20T10:01:00Z", "2026-11-20T10:03:30.500Z"
parse = lambda s: dt.datetime.fromisoformat(s.replace("Z", "+00:00"))
check("time range", {"range": {"@timestamp": {"gte": t0, "lt": t1}}},
      lambda i, d: parse(t0) <= parse(d["@timestamp"]) < parse(t1))
ms = lambda s: int(parse(s).timestamp() * 1000)
check("epoch_millis range", {"range": {"@timestamp": {"gt": ms(t0), "lte": ms(t1), "format": "epoch_millis"}}},
      lambda i, d: parse(t0) < parse(d["@timestamp"]) <= parse(t1))
check("exists", {"exists": {"field": "tags"}}, lambda i, d: "tags" in d)
check("prefix", {"prefix": {"kubernetes.pod_name": "we"}}, lambda i, d: d["kubernetes"]["pod_name"].startswith("we"))
check("bool", {"bool": {"filter": [{"term": {"service": "pay"}}], "must_not": [{"term": {"level": "debug"}}],
                        "should": [{"match": {"message": "retry"}}, {"range": {"latency_ms": {"gte": 900}}}],
                        "minimum_should_match": 1}},
      lambda i, d: d["service"] == "pay" and d["level"] != "debug" and ("retry" in words(d) or d["latency_ms"] >= 900))
check("bool msm 2", {"bool": {"should": [{"term": {"service": "web"}}, {"term": {"level": "info"}},
                                        {"term": {"http.method": "POST"}}], "minimum_should_match": 2}},
      lambda i, d: (d["service"] == "web") + (d["level"] == "info") + (d["http"]["method"] == "POST") >= 2)
check("query_string", {"query_string": {"query": "service:pay AND (level:error OR level:warn) AND NOT timeout"}},
      lambda i, d: d["service"] == "pay" and d["level"] in ("error", "warn") and "timeout" not in words(d))
check("multi_match", {"multi_match": {"query": "cache", "fields": ["message", "service"]}}, lambda i, d: "cache" in words(d))
check("_index field", {"term": {"_index": "audit-logs"}}, lambda i, d: index_of(i) == "audit-logs", index="*")

# Order, from/size and search_after paging.
shop_docs = [(parse(d["@timestamp"]), f"d{i}") for i, d in enumerate(docs) if shop(i)]
newest = [x[1] for x in sorted(shop_docs, reverse=True)]
oldest = [x[1] for x in sorted(shop_docs)]
r = es.search(index="shop-logs", size=5)
assert [h["_id"] for h in r["hits"]["hits"]] == newest[:5], "default order is newest first"
r = es.search(index="shop-logs", size=5, from_=7, sort=[{"@timestamp": {"order": "asc"}}])
assert [h["_id"] for h in r["hits"]["hits"]] == oldest[7:12], "asc with from"
for order, want in (("desc", newest), ("asc", oldest)):
    seen, after = [], None
    while True:
        kw = {"search_after": after} if after else {}
        r = es.search(index="shop-logs", size=37, sort=[{"@timestamp": order}], **kw)
        page = r["hits"]["hits"]
        if not page:
            break
        seen += [h["_id"] for h in page]
        after = page[-1]["sort"]
    assert seen == want, f"search_after {order}: {len(seen)} hits"
try:
    es.search(index="shop-logs", from_=9990, size=20)
    raise AssertionError("window over 10000 must fail")
except elasticsearch.BadRequestError as e:
    assert "Result window is too large" in str(e), e

# _source comes back as sent (same keys, same order, same values), filtered on request.
r = es.search(index="shop-logs", query={"term": {"_id": "d13"}})
src = r["hits"]["hits"][0]["_source"]
assert json.dumps(src) == json.dumps(docs[13]), (src, docs[13])
r = es.search(index="shop-logs", query={"ids": {"values": ["d13"]}}, source_includes=["http.*", "service"], source_excludes=["http.status"])
assert r["hits"]["hits"][0]["_source"] == {"service": "api", "http": {"method": "GET"}}, r["hits"]["hits"][0]["_source"]
r = es.search(index="shop-logs", size=1, source=False)
assert "_source" not in r["hits"]["hits"][0]

# Totals.
n_shop = sum(1 for i in range(len(docs)) if shop(i))
assert es.count(index="shop-logs")["count"] == n_shop
assert es.count(index="shop-logs", query={"term": {"level": "error"}})["count"] == sum(
    1 for i, d in enumerate(docs) if shop(i) and d["level"] == "error")
assert es.search(index="shop-logs", track_total_hits=7)["hits"]["total"] == {"value": 7, "relation": "gte"}
assert "total" not in es.search(index="shop-logs", track_total_hits=False)["hits"]
assert es.search(index="shop-logs")["hits"]["total"] == {"value": n_shop, "relation": "eq"}

# Aggregations, compared with the corpus.
r = es.search(index="shop-logs", size=0, query={"range": {"latency_ms": {"gte": 200}}}, aggs={
    "by_service": {"terms": {"field": "service", "size": 10}, "aggs": {"lat": {"avg": {"field": "latency_ms"}}}},
    "max_lat": {"max": {"field": "latency_ms"}},
    "per_min": {"date_histogram": {"field": "@timestamp", "fixed_interval": "1m"}},
    "by_pod": {"terms": {"field": "kubernetes.pod_name", "size": 10}},
})
sel = [d for i, d in enumerate(docs) if shop(i) and d["latency_ms"] >= 200]
assert r["hits"]["total"]["value"] == len(sel)
aggs = r["aggregations"]
by = collections.Counter(d["service"] for d in sel)
got = {b["key"]: b["doc_count"] for b in aggs["by_service"]["buckets"]}
assert got == dict(by), (got, by)
for b in aggs["by_service"]["buckets"]:
    lats = [d["latency_ms"] for d in sel if d["service"] == b["key"]]
    assert abs(b["lat"]["value"] - sum(lats) / len(lats)) < 1e-6, b
assert aggs["max_lat"]["value"] == max(d["latency_ms"] for d in sel)
per_min = collections.Counter(parse(d["@timestamp"]).replace(second=0, microsecond=0) for d in sel)
got = {b["key"]: b["doc_count"] for b in aggs["per_min"]["buckets"] if b["doc_count"]}
want = {int(k.timestamp() * 1000): v for k, v in per_min.items()}
assert got == want, (got, want)
got = {b["key"]: b["doc_count"] for b in aggs["by_pod"]["buckets"]}
assert got == dict(collections.Counter(d["kubernetes"]["pod_name"] for d in sel)), got

# _msearch: one answer per search, failures on their own.
r = es.msearch(searches=[
    {"index": "shop-logs"}, {"query": {"term": {"service": "web"}}, "size": 0, "track_total_hits": True},
    {"index": "audit-logs"}, {"query": {"fuzzy": {"message": "x"}}},
])
assert r["responses"][0]["hits"]["total"]["value"] == sum(1 for i, d in enumerate(docs) if shop(i) and d["service"] == "web")
assert r["responses"][1]["status"] == 400 and "fuzzy" in r["responses"][1]["error"]["reason"]

# Unsupported parts are a 400 naming them; update/delete fail per item.
for bad, name in (({"fuzzy": {"message": "x"}}, "fuzzy"), ({"match": {"message": {"query": "x", "fuzziness": 1}}}, "fuzziness")):
    try:
        es.search(index="shop-logs", query=bad)
        raise AssertionError(f"{bad} must fail")
    except elasticsearch.BadRequestError as e:
        assert name in str(e.body), e.body
r = es.bulk(operations=[{"delete": {"_index": "shop-logs", "_id": "d1"}},
                        {"index": {"_index": "shop-logs", "_id": "late"}}, {"message": "late", "@timestamp": "2026-11-20T11:00:00Z"}],
            refresh="wait_for")
assert r["errors"] is True
assert r["items"][0]["delete"]["status"] == 400 and "not supported" in r["items"][0]["delete"]["error"]["reason"]
assert r["items"][1]["index"]["status"] == 201
assert es.count(index="shop-logs", query={"ids": {"values": ["late"]}})["count"] == 1

cat = es.cat.indices(format="json")
counts = {row["index"]: int(row["docs.count"]) for row in cat}
assert counts == {"shop-logs": n_shop + 1, "audit-logs": len(docs) - n_shop}, counts
print("OK python client", elasticsearch.__versionstr__)
