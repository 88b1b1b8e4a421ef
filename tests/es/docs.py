"""Single documents, `_id`s, create conflicts and hit sort values with the official
Elasticsearch Python client (8.x) against skein's /es API.

Usage: python3 docs.py http://127.0.0.1:PORT/es

Exits non-zero (with the failing check) on any mismatch.
"""

import concurrent.futures
import sys

import elasticsearch
from elasticsearch import Elasticsearch

URL = sys.argv[1]
es = Elasticsearch(URL, request_timeout=60)

# A tool keeping its state in an index: write with an id, read it back.
r = es.index(index="state", id="cfg-1", document={"@timestamp": "2026-11-20T10:00:00Z", "owner": "a", "n": 1})
assert r["result"] == "created" and r["_id"] == "cfg-1" and r["_index"] == "state", r
assert r.meta.status == 201, r.meta.status
for key in ["_version", "_shards", "_seq_no", "_primary_term"]:
    assert key in r, (key, r)
g = es.get(index="state", id="cfg-1")
assert g["found"] and g["_id"] == "cfg-1" and g["_index"] == "state", g
assert g["_source"] == {"@timestamp": "2026-11-20T10:00:00Z", "owner": "a", "n": 1}, g
assert es.exists(index="state", id="cfg-1")
assert not es.exists(index="state", id="nope")
try:
    es.get(index="state", id="nope")
    raise AssertionError("a missing document must answer 404")
except elasticsearch.NotFoundError as e:
    assert e.body == {"_index": "state", "_id": "nope", "found": False}, e.body

# Without an id: the generated one finds the document.
r = es.index(index="state", document={"@timestamp": "2026-11-20T10:00:01Z", "owner": "gen"})
assert r.meta.status == 201 and len(r["_id"]) == 20, r
g = es.get(index="state", id=r["_id"])
assert g["_source"]["owner"] == "gen", g

# Latest wins: the same id again replaces the document for every read.
r = es.index(index="state", id="cfg-1", document={"@timestamp": "2026-11-21T10:00:00Z", "owner": "b", "n": 2})
assert r["result"] == "updated", r
g = es.get(index="state", id="cfg-1")
assert g["_source"]["owner"] == "b", g
es.indices.refresh(index="state")
assert es.count(index="state", query={"ids": {"values": ["cfg-1"]}})["count"] == 1
hits = es.search(index="state", query={"term": {"_id": "cfg-1"}})["hits"]["hits"]
assert [h["_source"]["owner"] for h in hits] == ["b"], hits
assert es.count(index="state", query={"term": {"owner": "a"}})["count"] == 0
# In one bulk request, the last of an id wins.
es.bulk(operations=[
    {"index": {"_index": "state", "_id": "twice"}}, {"@timestamp": "2026-11-20T10:00:00Z", "v": "first"},
    {"index": {"_index": "state", "_id": "twice"}}, {"@timestamp": "2026-11-19T10:00:00Z", "v": "second"},
], refresh=True)
hits = es.search(index="state", query={"ids": {"values": ["twice"]}})["hits"]["hits"]
assert [h["_source"]["v"] for h in hits] == ["second"], hits

# op_type=create stores an id once: 409 for a repeat, per item in bulk.
r = es.create(index="state", id="once", document={"@timestamp": "2026-11-20T10:00:00Z", "v": 1})
assert r.meta.status == 201 and r["result"] == "created", r
try:
    es.create(index="state", id="once", document={"@timestamp": "2026-11-20T10:00:00Z", "v": 2})
    raise AssertionError("a repeated _create must answer 409")
except elasticsearch.ConflictError as e:
    assert e.meta.status == 409, e
    assert e.body["error"]["type"] == "version_conflict_engine_exception", e.body
try:
    es.index(index="state", id="once", op_type="create", document={"v": 3})
    raise AssertionError("op_type=create of an existing id must answer 409")
except elasticsearch.ConflictError:
    pass
r = es.bulk(operations=[
    {"create": {"_index": "state", "_id": "once"}}, {"v": 4},
    {"create": {"_index": "state", "_id": "fresh"}}, {"v": 5},
    {"create": {"_index": "state", "_id": "fresh"}}, {"v": 6},
    {"create": {"_index": "state"}}, {"v": 7},
])
assert r["errors"], r
statuses = [i["create"]["status"] for i in r["items"]]
assert statuses == [409, 201, 409, 201], statuses
assert r["items"][0]["create"]["error"]["type"] == "version_conflict_engine_exception", r
es.indices.refresh(index="state")
assert es.get(index="state", id="once")["_source"]["v"] == 1
assert es.get(index="state", id="fresh")["_source"]["v"] == 5
assert es.get(index="state", id=r["items"][3]["create"]["_id"])["_source"]["v"] == 7


# Concurrent creates of one id: exactly one is stored.
def attempt(n):
    try:
        es.create(index="race", id="the-one", document={"@timestamp": "2026-11-20T10:00:00Z", "n": n})
        return n
    except elasticsearch.ConflictError:
        return None


with concurrent.futures.ThreadPoolExecutor(8) as pool:
    won = [n for n in pool.map(attempt, range(16)) if n is not None]
assert len(won) == 1, won
es.indices.refresh(index="race")
assert es.count(index="race")["count"] == 1
assert es.get(index="race", id="the-one")["_source"]["n"] == won[0]

# Six documents of one timestamp: six ids, each finding its own document.
r = es.bulk(operations=[x for i in range(6) for x in (
    {"create": {"_index": "same"}}, {"@timestamp": "2026-11-20T12:00:00.000Z", "i": i})], refresh=True)
ids = [i["create"]["_id"] for i in r["items"]]
assert len(set(ids)) == 6, ids
for i, id_ in enumerate(ids):
    assert es.get(index="same", id=id_)["_source"]["i"] == i, id_
    hits = es.search(index="same", query={"ids": {"values": [id_]}})["hits"]["hits"]
    assert [h["_id"] for h in hits] == [id_], (id_, hits)
hits = es.search(index="same", size=10)["hits"]["hits"]
assert sorted(h["_id"] for h in hits) == sorted(ids), hits
again = es.search(index="same", size=10)["hits"]["hits"]
assert [h["_id"] for h in again] == [h["_id"] for h in hits], "ids are stable across searches"

# Hits' sort values as Elasticsearch gives them: one per sort key.
hit = es.search(index="same", size=1, sort=[{"@timestamp": "desc"}])["hits"]["hits"][0]
assert hit["sort"] == [1795176000000], hit["sort"]

# search_after with those values walks every document once, many sharing a millisecond.
ops = []
for i in range(45):
    ops += [{"create": {"_index": "walk"}}, {"@timestamp": f"2026-11-20T12:00:00.{i // 10:03d}Z", "i": i}]
es.bulk(operations=ops, refresh=True)
for order in ["asc", "desc"]:
    seen, after = [], None
    while True:
        kw = {"search_after": after} if after else {}
        page = es.search(index="walk", size=4, sort=[{"@timestamp": order}], **kw)["hits"]["hits"]
        if not page:
            break
        seen += [h["_source"]["i"] for h in page]
        after = page[-1]["sort"]
        assert len(after) == 1, after
    assert sorted(seen) == list(range(45)), (order, sorted(seen))

# Mappings: the fields an index holds with their types; one put is remembered.
props = es.indices.get_mapping(index="state")["state"]["mappings"]["properties"]
assert props["@timestamp"] == {"type": "date"}, props
assert props["owner"] == {"type": "keyword"} and props["n"] == {"type": "long"}, props
es.indices.put_mapping(index="state", properties={"extra": {"type": "keyword"}})
props = es.indices.get_mapping(index="state")["state"]["mappings"]["properties"]
assert props["extra"] == {"type": "keyword"} and props["owner"] == {"type": "keyword"}, props
assert {"state", "same", "walk"} <= set(es.indices.get_mapping().body), "every index"
try:
    es.indices.get_mapping(index="no-such-index")
    raise AssertionError("the mapping of an unknown index must answer 404")
except elasticsearch.NotFoundError:
    pass

print("ok")
