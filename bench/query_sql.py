#!/usr/bin/env python3
"""The SQL side of bench/query: the same questions over the same parsed records, answered
by ClickHouse (chDB, a MergeTree table ORDER BY ts) and DuckDB, timed in process.

Run by the `query` bench binary, which writes the records as CSV (bench/src/table.rs) and
reads the JSON this script writes: per engine, per question, the timings and the answer
in a normalised shape; plus exact percentiles and cardinality (untimed) for checking.
Each database is kept between runs and reloaded only when its row count differs.
"""

import argparse
import json
import os
import sys
import time

PERCENTS = [1, 5, 25, 50, 75, 95, 99]

COLUMNS_CH = (
    "ts Int64, host String, container String, image String, stream String, "
    "level Nullable(String), message String, service Nullable(String), "
    "path Nullable(String), method Nullable(String), status Nullable(Int64), "
    "latency_ms Nullable(Float64), user_id Nullable(Int64), trace_id Nullable(String)"
)

COLUMNS_DUCK = {
    "ts": "BIGINT",
    "host": "VARCHAR",
    "container": "VARCHAR",
    "image": "VARCHAR",
    "stream": "VARCHAR",
    "level": "VARCHAR",
    "message": "VARCHAR",
    "service": "VARCHAR",
    "path": "VARCHAR",
    "method": "VARCHAR",
    "status": "BIGINT",
    "latency_ms": "DOUBLE",
    "user_id": "BIGINT",
    "trace_id": "VARCHAR",
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def word_regex(words):
    """A regex matching the words as consecutive tokens of Tantivy's SimpleTokenizer
    (split on anything not a letter or digit, lower-cased), which skein uses for
    `message`; RE2 syntax, for both engines."""
    sep = "[^A-Za-z0-9]"
    return "(?i)(^|%s)%s(%s|$)" % (sep, (sep + "+").join(words), sep)


# The searches: (name, ClickHouse condition, DuckDB condition). Each engine gets a cheap
# substring pre-filter where its token test is a regex; the answer is the same.
def searches():
    phrase = word_regex(["get", "api", "v1"])
    return [
        (
            "rare term",
            "hasTokenCaseInsensitive(message, 'zephyrquux')",
            "message ILIKE '%%zephyrquux%%' AND regexp_matches(message, '%s')"
            % word_regex(["zephyrquux"]),
        ),
        (
            "common term",
            "hasTokenCaseInsensitive(message, 'api')",
            "message ILIKE '%%api%%' AND regexp_matches(message, '%s')" % word_regex(["api"]),
        ),
        (
            "phrase",
            "positionCaseInsensitive(message, 'api') > 0 AND match(message, '%s')" % phrase,
            "message ILIKE '%%api%%' AND regexp_matches(message, '%s')" % phrase,
        ),
        (
            "field filter + term",
            "level = 'error' AND hasTokenCaseInsensitive(message, 'timeout')",
            "level = 'error' AND message ILIKE '%%timeout%%' AND regexp_matches(message, '%s')"
            % word_regex(["timeout"]),
        ),
    ]


class Chdb:
    name = "chdb"

    def __init__(self, path):
        from chdb import session

        self.s = session.Session(path)

    def rows(self, sql):
        r = self.s.query(sql, "JSONCompact")
        if r.has_error():
            raise RuntimeError("chDB: %s\n%s" % (r.error_message(), sql))
        b = r.bytes()
        return json.loads(b)["data"] if b else []

    def count(self):
        try:
            return int(self.rows("SELECT count() FROM bench.logs")[0][0])
        except RuntimeError:
            return -1

    def load(self, csv):
        self.rows("DROP DATABASE IF EXISTS bench")
        self.rows("CREATE DATABASE bench")
        self.rows(
            "CREATE TABLE bench.logs (ts DateTime64(9, 'UTC'), host LowCardinality(String), "
            "container LowCardinality(String), image LowCardinality(String), "
            "stream LowCardinality(String), level LowCardinality(Nullable(String)), "
            "message String, service LowCardinality(Nullable(String)), path Nullable(String), "
            "method LowCardinality(Nullable(String)), status Nullable(Int64), "
            "latency_ms Nullable(Float64), user_id Nullable(Int64), trace_id Nullable(String)) "
            "ENGINE = MergeTree ORDER BY ts"
        )
        self.rows(
            "INSERT INTO bench.logs SELECT fromUnixTimestamp64Nano(ts, 'UTC'), host, container, "
            "image, stream, level, message, service, path, method, status, latency_ms, user_id, "
            "trace_id FROM file('%s', 'CSVWithNames', '%s')" % (csv, COLUMNS_CH)
        )
        self.rows("OPTIMIZE TABLE bench.logs FINAL")

    # Each question: the SQL, and a function from its rows to the normalised answer.
    def per_level_per_minute(self):
        return (
            "SELECT toUnixTimestamp(toStartOfMinute(ts)) * 1000 AS m, level, count() "
            "FROM bench.logs GROUP BY m, level ORDER BY m, level"
        )

    def top_paths(self):
        return (
            "SELECT path, count() AS c FROM bench.logs WHERE path IS NOT NULL "
            "GROUP BY path ORDER BY c DESC, path LIMIT 20"
        )

    def percentiles(self):
        qs = ",".join(str(p / 100) for p in PERCENTS)
        return "SELECT quantiles(%s)(latency_ms) FROM bench.logs" % qs

    def cardinality(self):
        return "SELECT uniq(user_id) FROM bench.logs"

    def search(self, cond):
        return (
            "SELECT toUnixTimestamp64Nano(ts) FROM bench.logs WHERE %s ORDER BY ts DESC LIMIT 100"
            % cond,
            "SELECT count() FROM bench.logs WHERE %s" % cond,
        )


class Duck:
    name = "duckdb"

    def __init__(self, path):
        import duckdb

        self.c = duckdb.connect(path)

    def rows(self, sql):
        return [list(r) for r in self.c.execute(sql).fetchall()]

    def count(self):
        try:
            return int(self.rows("SELECT count(*) FROM logs")[0][0])
        except Exception:
            return -1

    def load(self, csv):
        self.c.execute("DROP TABLE IF EXISTS logs")
        cols = ", ".join("'%s': '%s'" % kv for kv in COLUMNS_DUCK.items())
        names = [k for k in COLUMNS_DUCK if k != "ts"]
        self.c.execute(
            "CREATE TABLE logs AS SELECT make_timestamp_ns(ts) AS ts, %s FROM read_csv('%s', "
            "header = true, auto_detect = false, columns = {%s}, quote = '\"', escape = '\"', "
            "allow_quoted_nulls = false)" % (", ".join(names), csv, cols)
        )
        self.c.execute("CHECKPOINT")

    def per_level_per_minute(self):
        return (
            "SELECT epoch_ms(date_trunc('minute', ts)) AS m, level, count(*) FROM logs "
            "GROUP BY ALL ORDER BY m, level NULLS FIRST"
        )

    def top_paths(self):
        return (
            "SELECT path, count(*) AS c FROM logs WHERE path IS NOT NULL "
            "GROUP BY path ORDER BY c DESC, path LIMIT 20"
        )

    def percentiles(self):
        qs = ", ".join(str(p / 100) for p in PERCENTS)
        return "SELECT approx_quantile(latency_ms, [%s]) FROM logs" % qs

    def cardinality(self):
        return "SELECT approx_count_distinct(user_id) FROM logs"

    def search(self, cond):
        return (
            "SELECT epoch_ns(ts) FROM logs WHERE %s ORDER BY ts DESC LIMIT 100" % cond,
            "SELECT count(*) FROM logs WHERE %s" % cond,
        )


def timed(db, sql, reps, warmups):
    """Runs sql warmups + reps times; the timings (ms) of the last reps and the rows."""
    rows = None
    times = []
    for i in range(warmups + reps):
        t = time.perf_counter()
        rows = db.rows(sql)
        if i >= warmups:
            times.append((time.perf_counter() - t) * 1e3)
    return times, rows


def answer(q, rows):
    if q == "per_level_per_minute":
        return [[int(m), lvl, int(c)] for m, lvl, c in rows]
    if q == "top_paths":
        return [[p, int(c)] for p, c in rows]
    if q == "percentiles":
        return dict(zip([str(p) for p in PERCENTS], [float(x) for x in rows[0][0]]))
    if q == "cardinality":
        return int(rows[0][0])
    raise ValueError(q)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True)
    ap.add_argument("--rows", type=int, required=True, help="records in the CSV")
    ap.add_argument("--chdb", required=True, help="chDB session directory")
    ap.add_argument("--duckdb", required=True, help="DuckDB database file")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--search-runs", type=int, default=5)
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default="chdb,duckdb")
    a = ap.parse_args()

    out = {"engines": {}, "exact": {}}
    engines = []
    for name in a.only.split(","):
        if name == "chdb":
            db = Chdb(a.chdb)
        elif name == "duckdb":
            db = Duck(a.duckdb)
        else:
            raise SystemExit("unknown engine %s" % name)
        load = None
        n = db.count()
        if n != a.rows:
            log("%s: loading %d rows from %s (has %d)" % (name, a.rows, a.csv, n))
            t = time.perf_counter()
            db.load(a.csv)
            load = time.perf_counter() - t
            n = db.count()
            if n != a.rows:
                raise SystemExit("%s loaded %d rows, expected %d" % (name, n, a.rows))
            log("%s: loaded in %.1f s" % (name, load))
        engines.append(db)
        out["engines"][name] = {"load_seconds": load, "aggs": {}, "searches": {}}

    for db in engines:
        res = out["engines"][db.name]
        for q in ["per_level_per_minute", "top_paths", "percentiles", "cardinality"]:
            times, rows = timed(db, getattr(db, q)(), a.reps, 2)
            res["aggs"][q] = {"times_ms": times, "answer": answer(q, rows)}
            log("%s %s: median %.1f ms" % (db.name, q, sorted(times)[len(times) // 2]))
        for name, ch, duck in searches():
            top_sql, count_sql = db.search(ch if db.name == "chdb" else duck)
            times, rows = timed(db, top_sql, a.search_runs, 1)
            total = int(db.rows(count_sql)[0][0])
            res["searches"][name] = {
                "times_ms": times,
                "total": total,
                "top_ns": [int(r[0]) for r in rows],
            }
            log("%s %s: median %.1f ms, %d matches" % (db.name, name, sorted(times)[len(times) // 2], total))

    # Exact values to check every engine's sketches against (untimed).
    exact = engines[-1]
    if exact.name == "duckdb":
        qs = ", ".join(str(p / 100) for p in PERCENTS)
        pr = exact.rows("SELECT quantile_disc(latency_ms, [%s]) FROM logs" % qs)
        card = exact.rows("SELECT count(DISTINCT user_id) FROM logs")
    else:
        qs = ",".join(str(p / 100) for p in PERCENTS)
        pr = exact.rows("SELECT quantilesExact(%s)(latency_ms) FROM bench.logs" % qs)
        card = exact.rows("SELECT uniqExact(user_id) FROM bench.logs")
    out["exact"]["percentiles"] = answer("percentiles", pr)
    out["exact"]["cardinality"] = int(card[0][0])

    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(a.out + ".tmp", a.out)


if __name__ == "__main__":
    main()
