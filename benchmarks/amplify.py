"""A big warehouse for query benchmarks: the SaudiNewsNet warehouse replicated to N articles.

    .venv/bin/python benchmarks/amplify.py /tmp/wh_snn /tmp/wh_1m 1000000   # build, then time queries
    .venv/bin/python benchmarks/amplify.py --time /tmp/wh_1m                 # time the queries again
    .venv/bin/python benchmarks/amplify.py --no-search /tmp/wh_snn /tmp/wh_1m 1000000  # no search index

Running the pipeline over a million articles takes hours on two cores; query latency depends on
the data's shape, not on how it was produced. So each copy k of every article keeps its real text,
outlet and entities, gets new ids (``md5(id || k)``) and its dates shifted by k months: the result
has the SaudiNewsNet density per day (about a thousand articles a day) over years. Entities are
shared by all copies, as real entities recur. Gold tables are then rebuilt by the same SQL the
pipeline uses, and the search index by the same code.

Raw documents and near-duplicate signatures are copied too (the same bytes and signature under each
copy's ids), so a batch published into the result (`one_batch.py`) pays for a million ids in its
identity lookups, and every copy of a story it resembles is a near-duplicate candidate whose
matching key must be fetched. One difference remains: the copy holds each table in a few big files,
where batches write one small file each, and lookups that read a wide column (matching keys) cost
differently on the two layouts (docs/decisions.md); measure those on a batch-built warehouse.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Per table: the columns whose values must differ between copies (ids), and the timestamps to shift.
ID_COLUMNS = {
    "articles": ("article_id", "raw_id", "cluster_id"),
    "duplicates": ("raw_id", "article_id"),
    "entity_mentions": ("article_id",),
    "quantities": ("article_id",),
    "sentences": ("article_id",),
    "raw_documents": ("raw_id",),
    "article_signatures": ("article_id",),
}
SHIFT_COLUMNS = {"articles": ("published_at", "ingested_at"), "duplicates": ("detected_at",),
                 "raw_documents": ("ingested_at",)}


def _select(con, table: str) -> str:
    cols = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE src.{table})").fetchall()]
    out = []
    for c in cols:
        q = f'"{c}"'
        if c in ID_COLUMNS.get(table, ()):
            out.append(f"CASE WHEN {q} IS NULL THEN NULL WHEN k = 0 THEN {q} ELSE md5({q} || k::VARCHAR) END AS {q}")
        elif c in SHIFT_COLUMNS.get(table, ()):
            out.append(f"{q} + to_months(k::INTEGER) AS {q}")
        elif c == "location":
            out.append(f"{q} || '#copy' || k::VARCHAR AS {q}")
        else:
            out.append(q)
    return ", ".join(out)


def amplify(source: Path, target: Path, articles: int, with_search: bool = True) -> dict[str, str]:
    """Build ``target`` from ``source``; returns what was built and how long it took."""
    from akhbar.warehouse import gold
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.search import refresh_search_index

    import shutil

    shutil.rmtree(target, ignore_errors=True)
    src, dst = Warehouse(source), Warehouse(target)
    con = dst.connect()
    con.execute("SET memory_limit = '8GB'")  # a one-off bulk build, not a pipeline writer
    dst.ensure_schema(con)
    con.execute(f"ATTACH '{src.catalog_uri}' AS src (DATA_PATH '{src.data_path}/', READ_ONLY)")
    (have,) = con.execute("SELECT count(*) FROM src.articles").fetchone()
    copies = math.ceil(articles / have)
    started = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    for table in ID_COLUMNS:
        con.execute(f"INSERT INTO lake.{table} SELECT {_select(con, table)} FROM src.{table}, "
                    f"(SELECT range AS k FROM range({copies}))")
    con.execute("INSERT INTO lake.entities SELECT * FROM src.entities")
    con.execute("INSERT INTO lake.runs SELECT * FROM src.runs")
    con.execute("COMMIT")
    copied = time.perf_counter() - started
    started = time.perf_counter()
    dst.publish(con, {}, gold.rebuild_statements())
    gold_s = time.perf_counter() - started
    counts = {t: con.execute(f"SELECT count(*) FROM lake.{t}").fetchone()[0]
              for t in ("articles", "entity_mentions", "entity_daily", "entity_pairs", "entity_pair_totals",
                        "source_daily", "story_clusters")}
    con.close()
    built = {f"rows in {t}": f"{n:,}" for t, n in counts.items()}
    built.update({"copies of the SaudiNewsNet warehouse": str(copies), "copy time": f"{copied:.0f} s",
                  "gold tables rebuild (full, one transaction)": f"{gold_s:.0f} s"})
    if with_search:
        started = time.perf_counter()
        refresh_search_index(dst, rebuild=True)
        built["search index build (full)"] = f"{time.perf_counter() - started:.0f} s"
    return built


QUERIES = {
    "top entities of a day (entity_daily)":
        "SELECT name_ar, label, mentions, articles FROM entity_daily WHERE day = (SELECT max(day) FROM entity_daily) "
        "ORDER BY mentions DESC LIMIT 20",
    "top entities of a day (base tables)":
        "SELECT m.entity_id, count(*) n FROM entity_mentions m JOIN articles a USING (article_id) "
        "WHERE a.published_at::DATE = (SELECT max(published_at)::DATE FROM articles) GROUP BY ALL ORDER BY n DESC LIMIT 20",
    "an entity's timeline (entity_daily)":
        "SELECT day, mentions, articles FROM entity_daily WHERE entity_id = 'iso:RU' ORDER BY day",
    "who appears with an entity (entity_pairs)":
        "SELECT CASE WHEN entity_a = 'iso:RU' THEN entity_b ELSE entity_a END other, sum(articles) n "
        "FROM entity_pairs WHERE 'iso:RU' IN (entity_a, entity_b) GROUP BY ALL ORDER BY n DESC LIMIT 20",
    "who appears with an entity in the last 7 days (entity_pairs)":
        "SELECT CASE WHEN entity_a = 'iso:RU' THEN entity_b ELSE entity_a END other, sum(articles) n "
        "FROM entity_pairs WHERE 'iso:RU' IN (entity_a, entity_b) "
        "AND day > (SELECT max(day) - 7 FROM entity_daily) GROUP BY ALL ORDER BY n DESC LIMIT 20",
    "who appears with an entity (entity_pair_totals, as `akhbar chart pairs`)":
        "SELECT other_id, other_name_ar, articles FROM entity_pair_totals WHERE entity_id = 'iso:RU' "
        "ORDER BY articles DESC LIMIT 20",
    "who appears with an entity (mentions)":
        "SELECT m2.entity_id, any_value(e.name_ar), count(DISTINCT article_id) n FROM mentions m1 "
        "JOIN mentions m2 USING (article_id) LEFT JOIN entities e ON e.entity_id = m2.entity_id "
        "WHERE m1.entity_id = 'iso:RU' AND m2.entity_id <> 'iso:RU' GROUP BY 1 ORDER BY n DESC LIMIT 20",
    "articles mentioning two entities (base tables)":
        "SELECT count(*) FROM (SELECT article_id FROM entity_mentions WHERE entity_id IN ('iso:RU', 'iso:US') "
        "GROUP BY article_id HAVING count(DISTINCT entity_id) = 2)",
    "articles by source and day (source_daily)":
        "SELECT source, day, articles FROM source_daily WHERE day >= (SELECT max(day) - 30 FROM source_daily) "
        "ORDER BY day, source",
    "articles by source and day (base tables)":
        "SELECT source, published_at::DATE d, count(*) FROM articles GROUP BY ALL ORDER BY d DESC, source LIMIT 500",
    "biggest stories (story_clusters)":
        "SELECT cluster_id, size, outlets FROM story_clusters ORDER BY size DESC LIMIT 20",
}


def timed_queries(warehouse: Path, repeat: int = 3, with_search: bool = True) -> list[tuple[str, str]]:
    """Median wall time of each query through the read-only surface `akhbar sql` uses, and search."""
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.search import search
    from akhbar.warehouse.sql import run_query

    wh = Warehouse(warehouse)
    rows = []
    for name, sql in QUERIES.items():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            n = len(run_query(wh, sql, timeout_s=600).rows)
            times.append(time.perf_counter() - started)
        rows.append((f"query: {name}", f"{statistics.median(times) * 1000:,.0f} ms ({n} rows)"))
    for q in ("الناتو", "وزير الخارجية السعودي", "الهلال") if with_search else ():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            n = len(search(wh, q, limit=20))
            times.append(time.perf_counter() - started)
        rows.append((f"search «{q}» (BM25, top 20)", f"{statistics.median(times) * 1000:,.0f} ms ({n} rows)"))
        times = []
        for _ in range(repeat):  # the same through SQL: the table macro in the read-only session
            started = time.perf_counter()
            n = len(run_query(wh, f"SELECT article_id, title, score FROM search('{q}')", timeout_s=600).rows)
            times.append(time.perf_counter() - started)
        rows.append((f"SQL `search('{q}')` in `akhbar sql`", f"{statistics.median(times) * 1000:,.0f} ms ({n} rows)"))
    return rows


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("args", nargs="+", metavar="ARG",
                        help="SOURCE TARGET ARTICLES: build TARGET from SOURCE; or WAREHOUSE with --time")
    parser.add_argument("--time", action="store_true", help="only time the queries on an amplified warehouse")
    parser.add_argument("--no-search", dest="search", action="store_false",
                        help="build no search index and time no search (a warehouse for one_batch.py)")
    args = parser.parse_args()
    if args.time:
        if len(args.args) != 1:
            parser.error("--time takes one warehouse")
        target = Path(args.args[0])
    else:
        if len(args.args) != 3 or not args.args[2].isdigit():
            parser.error("give SOURCE TARGET ARTICLES (or --time WAREHOUSE)")
        source, target, articles = Path(args.args[0]), Path(args.args[1]), int(args.args[2])
        for k, v in amplify(source, target, articles, args.search).items():
            print(f"| {k} | {v} |")
    for k, v in timed_queries(target, with_search=args.search):
        print(f"| {k} | {v} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
