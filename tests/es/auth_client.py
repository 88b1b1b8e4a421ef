"""The official Elasticsearch Python client (8.x) authenticating to skein's /es API as
it does to Elasticsearch: `api_key=` (the token, or an (id, token) pair) and
`basic_auth=` (any user name, the token as password).

Usage: python3 auth_client.py http://127.0.0.1:PORT/es INGEST_TOKEN QUERY_TOKEN
Exits non-zero (with the failing check) on any mismatch.
"""

import sys

from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch, helpers

URL, INGEST, QUERY = sys.argv[1:4]

# An ingest-only key is enough for a shipper: info, index create, bulk.
shipper = Elasticsearch(URL, api_key=INGEST, request_timeout=30)
assert shipper.info()["version"]["number"].startswith("8.")
shipper.indices.create(index="auth-logs")
docs = [{"_index": "auth-logs", "@timestamp": "2026-11-20T10:00:%02dZ" % i,
         "message": "auth client line %d" % i} for i in range(20)]
ok, errors = helpers.bulk(shipper, docs, refresh=True)
assert ok == 20 and not errors, (ok, errors)
# ... but may not read.
try:
    shipper.search(index="auth-logs", q="auth")
    raise SystemExit("an ingest key could search")
except AuthorizationException as e:
    assert e.meta.status == 403, e

# A query key, as an (id, key) pair the client encodes, and with basic auth.
for reader in (
    Elasticsearch(URL, api_key=("reader", QUERY), request_timeout=30),
    Elasticsearch(URL, api_key=QUERY, request_timeout=30),
    Elasticsearch(URL, basic_auth=("kibana", QUERY), request_timeout=30),
):
    r = reader.search(index="auth-logs", q="message:auth", size=0, track_total_hits=True)
    assert r["hits"]["total"]["value"] == 20, r
    assert reader.count(index="auth-logs")["count"] == 20
    try:
        reader.bulk(operations=[{"index": {"_index": "auth-logs"}}, {"message": "x"}])
        raise SystemExit("a query key could write")
    except AuthorizationException as e:
        assert e.meta.status == 403, e

# No credentials, a wrong key, a wrong password: 401 as AuthenticationException.
for anon in (
    Elasticsearch(URL, request_timeout=30),
    Elasticsearch(URL, api_key="skein_wrong", request_timeout=30),
    Elasticsearch(URL, basic_auth=("elastic", "changeme"), request_timeout=30),
):
    try:
        anon.search(index="auth-logs", q="auth")
        raise SystemExit("searched without a valid key")
    except AuthenticationException as e:
        assert e.meta.status == 401, e
        assert "security_exception" in str(e), e

print("auth_client.py: all checks passed")
