"""Time the gold refresh of one batch, statement by statement, on an existing warehouse.

A pseudo-batch of N articles already in the warehouse (and, with --merges, some of its merges) is
refreshed inside a transaction that is rolled back, so the warehouse is left as it was. Why: the
publish stage mixes the inserts with the gold SQL; this isolates the gold part and shows which
statement grows with the warehouse.

    .venv/bin/python benchmarks/gold_refresh.py WAREHOUSE [--articles 5000] [--merges 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa

from akhbar.warehouse import gold
from akhbar.warehouse.lake import Warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--articles", type=int, default=5000, help="articles in the pseudo-batch")
    parser.add_argument("--merges", type=int, default=0, help="stored merges replayed with it")
    parser.add_argument("--show", type=float, default=0.05, help="print statements slower than this (s)")
    args = parser.parse_args()
    con = Warehouse(args.warehouse).connect()
    articles = [dict(zip(("article_id", "raw_id", "location", "source"), row)) for row in con.execute(
        f"SELECT article_id, raw_id, location, source FROM articles USING SAMPLE {args.articles} ROWS (reservoir, 7)"
    ).fetchall()]
    merges = [dict(zip(("from_id", "to_id", "run_id", "merged_at"), row)) for row in con.execute(
        f"SELECT from_id, to_id, run_id, merged_at FROM entity_merges USING SAMPLE {args.merges} ROWS (reservoir, 7)"
    ).fetchall()] if args.merges else []
    con.register("_batch_ids", pa.table({"article_id": [a["article_id"] for a in articles]}))
    mentions = con.execute(
        "SELECT * FROM entity_mentions WHERE article_id IN (SELECT article_id FROM _batch_ids)").to_arrow_table()
    statements = gold.gold_statements(con, articles, [], [], mentions=mentions, entity_merges=merges)
    sizes = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("articles", "entity_pairs", "entity_pair_totals")}
    con.execute("BEGIN TRANSACTION")
    total = 0.0
    try:
        for sql, params in statements:
            started = time.perf_counter()
            con.execute(sql, params)
            took = time.perf_counter() - started
            total += took
            if took >= args.show:
                print(f"{took:7.3f} s  {' '.join(sql.split())[:100]}")
    finally:
        con.execute("ROLLBACK")
    print(f"gold refresh of {len(articles):,} articles ({len(merges)} merges) on {sizes['articles']:,} articles, "
          f"{sizes['entity_pairs']:,} entity_pairs rows: {total:.2f} s in {len(statements)} statements")


if __name__ == "__main__":
    main()
