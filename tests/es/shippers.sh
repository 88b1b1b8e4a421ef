#!/usr/bin/env bash
# The requests Fluent Bit's `es` output, Vector's `elasticsearch` sink and Filebeat send,
# replayed with curl against skein's /es API. Usage: shippers.sh http://HOST:PORT/es
#
# Shapes, from the tools' documentation:
# - Fluent Bit `es` output (Suppress_Type_Name Off, so `_type: _doc`; Write_Operation
#   create; Compress gzip; Content-Type application/x-ndjson) after the tail input with the
#   docker parser (`log` with its newline, `stream`, `time` kept) and the kubernetes filter
#   (`kubernetes.{pod_name,namespace_name,pod_id,labels,annotations,host,container_name,
#   docker_id,container_hash,container_image}`); Time_Key @timestamp with milliseconds.
# - Vector `elasticsearch` sink (mode bulk, bulk.action index, api_version v8, compression
#   gzip), checking the version with GET / and health with GET /_cluster/health first,
#   after the docker_logs source (`timestamp`, `message`, `host`, `container_id`,
#   `container_name`, `image`, `label`, `stream`, `source_type`, `container_created_at`).
# - Filebeat 8 (container input + add_docker_metadata; data stream filebeat-8.19.0 written
#   with create), which at start-up reads GET /, GET /_license, and checks and puts its
#   ILM policy and index template; events carry ECS fields (`host.name`, `container.*`,
#   `log.file.path`, `input.type`, `agent.*`, `ecs.version`); libbeat asks every bulk
#   request for `filter_path=errors,items.*.error,items.*.status`.
set -euo pipefail
ES=${1:?usage: shippers.sh http://HOST:PORT/es}
fail() { echo "FAIL: $*" >&2; exit 1; }
bulk() { # name, content-encoding, body file, query string
  local out
  out=$(curl -sS -X POST "$ES/_bulk${4:+?$4}" -H 'Content-Type: application/x-ndjson' \
    ${2:+-H "Content-Encoding: $2"} --data-binary "@$3")
  echo "$out" | jq -e '.errors == false' >/dev/null || fail "$1 bulk: $out"
  echo "$out" | jq -e '[.items[] | to_entries[0].value.status] | all(. == 201)' >/dev/null \
    || fail "$1 bulk items: $out"
  echo "$out"
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Every answer must carry the product header the official clients check.
curl -sS -D "$tmp/h" -o /dev/null "$ES/"
grep -qi '^x-elastic-product: Elasticsearch' "$tmp/h" || fail "no X-Elastic-Product header"

# --- Fluent Bit
cat > "$tmp/fb" <<'NDJSON'
{"create":{"_index":"fluent-bit","_type":"_doc"}}
{"@timestamp":"2026-11-20T10:00:00.123Z","log":"GET /healthz 200\n","stream":"stdout","time":"2026-11-20T10:00:00.123456789Z","kubernetes":{"pod_name":"pay-7d9f","namespace_name":"shop","pod_id":"0b1e","labels":{"app":"pay","pod-template-hash":"7d9f"},"annotations":{"prometheus.io/scrape":"true"},"host":"node-1","container_name":"pay","docker_id":"3f2a9c","container_hash":"shop/pay@sha256:1a2b","container_image":"shop/pay:1.4"}}
NDJSON
gzip -c "$tmp/fb" > "$tmp/fb.gz"
bulk "fluent-bit" gzip "$tmp/fb.gz" >/dev/null

# --- Vector
curl -sS "$ES/" | jq -e '.version.number | startswith("8.")' >/dev/null || fail "version"
curl -sS "$ES/_cluster/health" | jq -e '.status == "green"' >/dev/null || fail "health"
cat > "$tmp/vec" <<'NDJSON'
{"index":{"_index":"vector-2026.11.20"}}
{"container_created_at":"2026-11-20T09:00:00.000000000Z","container_id":"77ab01","container_name":"checkout","host":"node-2","image":"shop/checkout:2.0","label":{"com.docker.compose.service":"checkout"},"message":"payment failed: timeout","source_type":"docker_logs","stream":"stderr","timestamp":"2026-11-20T10:00:01.500000000Z"}
NDJSON
gzip -c "$tmp/vec" > "$tmp/vec.gz"
bulk "vector" gzip "$tmp/vec.gz" >/dev/null

# --- Filebeat
curl -sS "$ES/_license?human=false" | jq -e '.license.status == "active"' >/dev/null || fail "license"
code=$(curl -sS -o /dev/null -w '%{http_code}' -I "$ES/_index_template/filebeat-8.19.0")
[ "$code" = 404 ] || fail "template exists before it is put: $code"
curl -sS -X PUT "$ES/_ilm/policy/filebeat" -H 'Content-Type: application/json' \
  -d '{"policy":{"phases":{"hot":{"actions":{"rollover":{"max_age":"30d"}}}}}}' | jq -e '.acknowledged' >/dev/null || fail "ilm"
curl -sS -X PUT "$ES/_index_template/filebeat-8.19.0" -H 'Content-Type: application/json' \
  -d '{"index_patterns":["filebeat-8.19.0"],"data_stream":{},"priority":150}' | jq -e '.acknowledged' >/dev/null || fail "template"
code=$(curl -sS -o /dev/null -w '%{http_code}' -I "$ES/_index_template/filebeat-8.19.0")
[ "$code" = 200 ] || fail "template not remembered: $code"
cat > "$tmp/fbeat" <<'NDJSON'
{"create":{"_index":"filebeat-8.19.0"}}
{"@timestamp":"2026-11-20T10:00:02.000Z","message":"{\"level\":\"warn\",\"msg\":\"slow query\"}","stream":"stdout","input":{"type":"container"},"ecs":{"version":"8.0.0"},"host":{"name":"node-3"},"agent":{"type":"filebeat","version":"8.19.0","name":"node-3","id":"5e1c"},"log":{"offset":1234,"file":{"path":"/var/lib/docker/containers/9c1d/9c1d-json.log"}},"container":{"id":"9c1d","name":"web","image":{"name":"nginx:1.27"},"labels":{"com_docker_compose_service":"web"}}}
NDJSON
out=$(bulk "filebeat" "" "$tmp/fbeat" 'filter_path=errors,items.*.error,items.*.status')
[ "$out" = '{"errors":false,"items":[{"create":{"status":201}}]}' ] \
  || fail "filebeat's filtered bulk answer: $out"
echo "OK shippers"
