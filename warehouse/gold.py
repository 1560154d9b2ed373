"""Gold tables: daily entity counts, co-occurrences, source health and stories, kept in step with the lake.

Why materialized: the questions people ask most (top entities of a day, an entity's timeline, who
appears with whom, which outlets carried a story) otherwise re-aggregate every mention on every
query. Why refreshed incrementally *inside the publish transaction*: a reader then never sees a
batch's articles without their aggregates (or the reverse), a rolled-back batch leaves the gold
tables untouched, and DuckLake snapshots time-travel base and gold tables together.

How: :func:`gold_statements` takes the rows a batch is about to insert and returns SQL that, run
after the inserts in the same transaction, loads the batch's keys into temporary tables and then:
- *entity_daily / entity_pairs / entity_pair_totals*: adds the batch's counts to the rows of the keys
  it touches (an (entity, day), a (day, entity pair), an ordered pair) instead of re-aggregating
  those days. The counts come from the batch's own mention rows (its staged file), not from a scan
  of every stored mention: that scan
  cost 1.9 s a batch on a 100k-article warehouse and grew with it. A backfill spreads every
  batch over the same days, so a per-day recompute re-read everything published so far at every
  batch (time quadratic in the corpus); adding deltas costs what the batch holds. Counts add up
  because an article's mentions are published once, with the article. A merge moves mentions that
  were already counted: the articles it touches are subtracted as they were counted (redirects
  before the batch's merges) and added back as they now resolve; entity_daily's distinct outlets
  cannot be subtracted, so its keys touched by a merge are recounted from the base tables.
- *source_daily, story_clusters*: derives the affected keys ((source, processing day) pairs,
  cluster ids) from the base tables, then deletes and recomputes only those keys.
Both share their SQL with :func:`rebuild_statements` (the full recompute), so an incremental
refresh and a rebuild cannot disagree, which the tests check batch after batch.

Definitions, each in one place here:
- :func:`utc_day` — every gold ``day``: the UTC calendar date of a timestamp. Publication days come
  from ``articles.published_at`` (NULL = undated, kept as its own NULL day); ``source_daily`` uses the
  processing day (``ingested_at`` / ``detected_at`` / ``quarantined_at``), see docs/decisions.md.
- :data:`ENTITY_REDIRECTS_SQL` — merged entity ids resolve to the entity they were merged into.
- :func:`story_of` — an article's story: its ``cluster_id``, or its own id when that is NULL.

Writers must be serialized (the publish lock does it): two transactions recomputing the same day
concurrently would both insert its rows. :func:`needs_backfill` notices such drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from akhbar.warehouse.lake import CATALOG_NAME, Warehouse, WarehouseError
from akhbar.warehouse.schema import (ENTITY_DAILY, ENTITY_PAIR_TOTALS, ENTITY_PAIRS, GOLD_TABLES, SOURCE_DAILY,
                                     STORY_CLUSTERS)

L = CATALOG_NAME
Statement = tuple[str, list[Any]]
Row = Mapping[str, Any]
Scope = Callable[[str, str], str]  # (table alias, timestamp column) -> SQL predicate

# Temporary tables (session-local, created and dropped inside the publish transaction).
_TEMP_TABLES = ("_gold_new_articles", "_gold_dup_articles", "_gold_occurrences", "_gold_batch_merges", "_gold_chain",
                "_gold_redirects", "_gold_old_redirects", "_gold_moved_articles", "_gold_source_days", "_gold_clusters",
                "_gold_article_entities", "_gold_names", "_gold_changed", "_gold_recount", "_gold_daily_delta",
                "_gold_daily_old", "_gold_pair_delta", "_gold_pairs_old", "_gold_total_delta", "_gold_totals_old",
                "_gold_batch_mentions", "_gold_moved_mentions")
_MENTIONS_VIEW = "_gold_mentions_in"  # an Arrow table of the batch's mentions, registered on the connection


def utc_day(timestamp_sql: str) -> str:
    """The one definition of a gold ``day``: the UTC calendar date of a TIMESTAMPTZ expression.

    UTC, not the configured ``timezone``: dates given without a time are stored as that date at
    00:00 UTC (unshifted), so their UTC date is exactly the date the text gave; and gold rows must
    not depend on a setting that can change between batches (an incremental refresh and a rebuild
    would then disagree). NULL timestamps give a NULL day.
    """
    return f"CAST(timezone('UTC', {timestamp_sql}) AS DATE)"


def story_of(alias: str) -> str:
    """An article's story (near-duplicate cluster): ``cluster_id``, or its own id for rows without one."""
    return f"coalesce({alias}.cluster_id, {alias}.article_id)"


# Where each merged entity id finally points (chains followed, depth-bounded against cycles).
def _chain_sql(merges: str) -> str:
    """(from_id, to_id, depth) for every id merged in ``merges`` (a table or subquery of merge rows).

    An id can be merged more than once, into different targets (the linker is rebuilt between
    batches and may decide better later: SaudiNewsNet has 1,680 merges of 1,067 ids). Its latest
    merge is the one that counts (``merged_at``, then ``run_id``, then ``to_id``, so the choice is
    deterministic): following every row instead gave an id several ends, and picking one of them
    with ``arg_max`` gave different answers in different queries.
    """
    current = f"""(SELECT from_id, to_id FROM {merges} WHERE from_id <> to_id
                   QUALIFY row_number() OVER (PARTITION BY from_id
                                              ORDER BY merged_at DESC NULLS LAST, run_id DESC NULLS LAST, to_id) = 1)"""
    return f"""
    WITH RECURSIVE edges AS {current},
    chain(from_id, to_id, depth) AS (
        SELECT from_id, to_id, 1 FROM edges
        UNION ALL
        SELECT c.from_id, m.to_id, c.depth + 1
        FROM chain c JOIN edges m ON m.from_id = c.to_id
        WHERE c.depth < 16)
    SELECT from_id, to_id, depth FROM chain"""


def _redirects_sql(chain: str) -> str:
    """from_id → to_id: the end of each id's chain (``chain``: rows of :func:`_chain_sql`)."""
    return f"SELECT from_id, arg_max(to_id, depth) AS to_id FROM {chain} GROUP BY from_id"


ENTITY_CHAIN_SQL = _chain_sql(f"{L}.entity_merges")
ENTITY_REDIRECTS_SQL = _redirects_sql(f"({ENTITY_CHAIN_SQL})")


# --- public API ----------------------------------------------------------------------------------


def gold_statements(con: duckdb.DuckDBPyConnection, articles: Sequence[Row], duplicates: Sequence[Row],
                    quarantine: Sequence[Row], *, mentions: pa.Table | Path,
                    entity_merges: Sequence[Row] = ()) -> list[Statement]:
    """SQL that refreshes the gold tables for one batch; run it in the publish transaction, after the
    inserts and after any other statement that changes base rows (a replay's quarantine UPDATE).

    The arguments are the row dicts the batch inserts (layout of ``articles``, ``duplicates``,
    ``quarantine`` and ``entity_merges`` in schema.py), and its ``entity_mentions`` exactly as
    inserted: the staged Parquet file, or an Arrow table (registered on ``con`` until the statements
    drop it). Merges are passed because a new merge re-attributes mentions published earlier, so
    the days of those mentions are recomputed too. ``con`` is otherwise only read (the gold tables
    must exist).
    """
    _require_gold_tables(con)
    if not (articles or duplicates or quarantine or entity_merges):
        return []
    statements, merged = _batch_keys(articles, duplicates, quarantine, entity_merges)
    statements.append(_batch_mentions(con, mentions))
    if articles or merged:
        statements += _add_entity_deltas(with_merges=merged)
    statements += _refresh_sources(full=False)
    if articles or duplicates:
        statements += _refresh_stories(full=False)
    return [*statements, *_drop_temp()]


def rebuild_statements() -> list[Statement]:
    """SQL that recomputes every gold table from the base tables (reprocessing, backfill, checks)."""
    return [*_all_keys(), *_rebuild_entities(), *_refresh_sources(full=True),
            *_refresh_stories(full=True), *_drop_temp()]


def needs_backfill(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the gold tables disagree with the base tables' row counts (cheap: counts and sums).

    True for a warehouse created before gold tables existed (or before entity_daily kept its
    outlets), after batches published without :func:`gold_statements`, or if concurrent writers
    double-counted a day. Missing gold tables
    count as needing one (call ``Warehouse.ensure_schema`` first).
    """
    if _missing_gold_tables(con):
        return True
    row = con.execute(f"""
        SELECT (SELECT count(*) FROM {L}.articles) <> (SELECT coalesce(sum(size), 0) FROM {L}.story_clusters)
            OR (SELECT count(*) FROM {L}.duplicates) <> (SELECT coalesce(sum(duplicates), 0) FROM {L}.story_clusters)
            OR (SELECT count(*) FROM {L}.entity_mentions) <> (SELECT coalesce(sum(mentions), 0) FROM {L}.entity_daily)
            -- each pair is counted both ways in the totals (an empty totals table: added by a newer akhbar)
            OR (SELECT coalesce(sum(articles), 0) * 2 FROM {L}.entity_pairs)
               <> (SELECT coalesce(sum(articles), 0) FROM {L}.entity_pair_totals)
            OR (SELECT count(*) FROM {L}.articles) + (SELECT count(*) FROM {L}.duplicates)
               + (SELECT count(*) FROM {L}.quarantine WHERE resolved_at IS NULL)
               <> (SELECT coalesce(sum(records), 0) FROM {L}.source_daily)
            -- rows written before entity_daily kept its outlets (batches add to them)
            OR EXISTS (SELECT 1 FROM {L}.entity_daily WHERE outlets IS NULL)""").fetchone()
    return bool(row and row[0])


def drift(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows that differ, per gold table, between what is stored and a full recompute (all 0 when the
    incremental refreshes kept them in step). The recompute runs in a transaction that is rolled
    back, so this only reads; it costs a rebuild (seconds at 30k articles)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for t in GOLD_TABLES:
            con.execute(f"CREATE TEMP TABLE _drift_{t.name} AS SELECT {t.column_list} FROM {L}.{t.name}")
        for sql, params in rebuild_statements():
            con.execute(sql, params)
        counts = {}
        for t in GOLD_TABLES:
            stored, fresh = f"SELECT {t.column_list} FROM _drift_{t.name}", f"SELECT {t.column_list} FROM {L}.{t.name}"
            (counts[t.name],) = con.execute(f"SELECT count(*) FROM (({stored} EXCEPT ALL {fresh}) "
                                            f"UNION ALL ({fresh} EXCEPT ALL {stored}))").fetchone()
        return counts
    finally:
        con.execute("ROLLBACK")


def backfill(warehouse: Warehouse, con: duckdb.DuckDBPyConnection) -> bool:
    """Rebuild the gold tables in one transaction if :func:`needs_backfill`; returns whether it did.

    Call with the publish lock held, after ``ensure_schema`` (e.g. at the start of a run).
    """
    if not needs_backfill(con):
        return False
    warehouse.publish(con, {}, rebuild_statements())
    return True


# --- keys ----------------------------------------------------------------------------------------


def _strings(rows: Sequence[Row], column: str) -> list[str]:
    return sorted({str(r[column]) for r in rows if r.get(column) is not None})


def _batch_keys(articles: Sequence[Row], duplicates: Sequence[Row], quarantine: Sequence[Row],
                merges: Sequence[Row]) -> tuple[list[Statement], bool]:
    """Temporary tables of the batch's keys, then the gold keys they affect (read from the lake,
    where the batch's rows already are); and whether the batch merges entities."""
    occurrences = list(dict.fromkeys((r.get("raw_id"), r.get("location"))
                                     for r in (*articles, *duplicates, *quarantine)))
    merges = [m for m in merges if m.get("from_id") and m.get("from_id") != m.get("to_id")]
    statements = [
        (_temp("_gold_new_articles", "SELECT unnest(?::VARCHAR[]) AS article_id"), [_strings(articles, "article_id")]),
        (_temp("_gold_dup_articles", "SELECT unnest(?::VARCHAR[]) AS article_id"), [_strings(duplicates, "article_id")]),
        (_temp("_gold_occurrences", "SELECT unnest(?::VARCHAR[]) AS raw_id, unnest(?::VARCHAR[]) AS location"),
         [[o[0] for o in occurrences], [o[1] for o in occurrences]]),
        # The batch's own merge rows, to tell the redirects before this batch from those after it.
        (_temp("_gold_batch_merges", "SELECT unnest(?::VARCHAR[]) AS from_id, unnest(?::VARCHAR[]) AS to_id, "
                                     "unnest(?::VARCHAR[]) AS run_id"),
         [[str(m["from_id"]) for m in merges], [str(m["to_id"]) for m in merges],
          [None if m.get("run_id") is None else str(m["run_id"]) for m in merges]]),
        *_redirects(),
        (_temp("_gold_source_days", f"SELECT DISTINCT source, day FROM ({_records_sql(_occurrence_scope)})"), []),
        (_temp("_gold_clusters", f"""
            SELECT DISTINCT {story_of('a')} AS cluster_id FROM {L}.articles a
            WHERE a.article_id IN (SELECT article_id FROM _gold_new_articles
                                   UNION ALL SELECT article_id FROM _gold_dup_articles)"""), []),
    ]
    return statements, bool(merges)


def _batch_mentions(con: duckdb.DuckDBPyConnection, mentions: pa.Table | Path) -> Statement:
    """The batch's mention rows as a temporary table (the only columns the aggregates need)."""
    columns = "article_id, entity_id, label"
    if isinstance(mentions, Path):
        return _temp("_gold_batch_mentions", f"SELECT {columns} FROM read_parquet(?)"), [str(mentions)]
    con.register(_MENTIONS_VIEW, mentions)
    return _temp("_gold_batch_mentions", f"SELECT {columns} FROM {_MENTIONS_VIEW}"), []


def _all_keys() -> list[Statement]:
    """Every key, for a full recompute."""
    return [
        *_redirects(),
        (_temp("_gold_source_days", f"SELECT DISTINCT source, day FROM ({_records_sql(_everything)})"), []),
        (_temp("_gold_clusters", f"SELECT DISTINCT {story_of('a')} AS cluster_id FROM {L}.articles a"), []),
    ]


def _redirects() -> list[Statement]:
    return [(_temp("_gold_chain", ENTITY_CHAIN_SQL), []),
            (_temp("_gold_redirects", _redirects_sql("_gold_chain")), [])]


# --- scopes of the records union (alias, timestamp column) -> predicate ----------------------------


def _everything(alias: str, ts: str) -> str:
    return "TRUE"


def _occurrence_scope(alias: str, ts: str) -> str:
    """Rows of the batch's occurrences, including older quarantine rows a replay just resolved."""
    return (f"EXISTS (SELECT 1 FROM _gold_occurrences k WHERE k.raw_id IS NOT DISTINCT FROM {alias}.raw_id "
            f"AND k.location IS NOT DISTINCT FROM {alias}.location)")


def _source_day_scope(alias: str, ts: str) -> str:
    """Rows on an affected processing day (the exact (source, day) keys are joined afterwards)."""
    return f"EXISTS (SELECT 1 FROM _gold_source_days k WHERE k.day IS NOT DISTINCT FROM {utc_day(f'{alias}.{ts}')})"


def _duplicates_sql(scope: Scope) -> str:
    """Duplicate rows in scope with their ``outlet``: their own source, or for same_bytes copies (which
    carry none) the source of the first record with the same bytes (identical bytes, identical outlet)."""
    return f"""
        SELECT d.*, coalesce(d.source, o.source) AS outlet
        FROM {L}.duplicates d
        LEFT JOIN (
            SELECT raw_id, min(source) AS source
            FROM (SELECT raw_id, source FROM {L}.articles
                  UNION ALL SELECT raw_id, source FROM {L}.duplicates WHERE source IS NOT NULL)
            WHERE raw_id IN (SELECT x.raw_id FROM {L}.duplicates x WHERE x.source IS NULL AND {scope('x', 'detected_at')})
            GROUP BY raw_id) o ON d.source IS NULL AND o.raw_id = d.raw_id
        WHERE {scope('d', 'detected_at')}"""


def _records_sql(scope: Scope) -> str:
    """One row per record outcome in scope: (outcome, source, processing day, language, open)."""
    return f"""
        SELECT 'article' AS outcome, a.source, {utc_day('a.ingested_at')} AS day, a.language, TRUE AS open
        FROM {L}.articles a WHERE {scope('a', 'ingested_at')}
        UNION ALL
        SELECT 'duplicate', d.outlet, {utc_day('d.detected_at')}, NULL, TRUE FROM ({_duplicates_sql(scope)}) d
        UNION ALL
        SELECT 'quarantine', q.source_name, {utc_day('q.quarantined_at')}, NULL, q.resolved_at IS NULL
        FROM {L}.quarantine q WHERE {scope('q', 'quarantined_at')}"""


# --- recompute -----------------------------------------------------------------------------------


def _temp(name: str, select: str) -> str:
    return f"CREATE OR REPLACE TEMP TABLE {name} AS {select}"


def _delete(table: str, keys: str, match: str, full: bool) -> Statement:
    """Delete the rows of the affected keys (all rows for a rebuild); keys compare NULL-safely."""
    if full:
        return f"DELETE FROM {L}.{table}", []
    return f"DELETE FROM {L}.{table} WHERE EXISTS (SELECT 1 FROM {keys} k WHERE {match})", []


def _same(column: str, table: str) -> str:
    """Key column of ``k`` equals the target table's, NULL-safely (undated articles have a NULL day)."""
    return f"k.{column} IS NOT DISTINCT FROM {L}.{table}.{column}"


def _article_entities_sql(articles: str | None, redirects: str, where: str = "TRUE",
                          mentions: str = f"{L}.entity_mentions") -> str:
    """One row per (article, resolved entity) of the articles in ``articles`` (a table of article
    ids; None for every article): its outlet, day, mention count and smallest mention label.
    ``mentions``: where their mentions are (every stored one unless the batch's own are enough)."""
    if articles is not None:
        where = f"a.article_id IN (SELECT article_id FROM {articles}) AND {where}"
    return f"""
        SELECT a.article_id, a.source, {utc_day('a.published_at')} AS day, coalesce(r.to_id, m.entity_id) AS entity_id,
               count(*) AS mentions, min(m.label) AS label
        FROM {L}.articles a
        JOIN {mentions} m ON m.article_id = a.article_id
        LEFT JOIN {redirects} r ON r.from_id = m.entity_id
        WHERE {where}
        GROUP BY ALL"""


def _outlets(list_sql: str) -> str:
    """The one definition of an outlets list: distinct, sorted, without NULLs."""
    return f"list_sort(list_distinct({list_sql}))"


def _daily_sql(article_entities: str) -> str:
    """(entity, day) aggregates of an article-entities table (see :func:`_article_entities_sql`)."""
    return f"""
        SELECT entity_id, day, sum(mentions) AS mentions, count(*) AS articles,
               {_outlets('list(source)')} AS outlets, min(label) AS label
        FROM {article_entities} GROUP BY entity_id, day"""


def _pairs_sql(article_entities: str, changed_only: bool = False) -> str:
    """(day, entity pair) aggregates of a signed article-entities table: each article counts
    ``sign`` times (+1 added, -1 withdrawn), pairs within one (article, sign). ``changed_only``:
    skip pairs of two rows whose ``changed`` is false, whose +1 and -1 would cancel."""
    changed = " AND (a.changed OR b.changed)" if changed_only else ""
    return f"""
        SELECT a.day, a.entity_id AS entity_a, b.entity_id AS entity_b, sum(a.sign) AS articles,
               sum(a.sign * least(a.mentions, b.mentions)) AS joint_mentions
        FROM {article_entities} a
        JOIN {article_entities} b ON b.article_id = a.article_id AND b.sign = a.sign AND a.entity_id < b.entity_id{changed}
        GROUP BY ALL"""


def _names(article_entities: str) -> Statement:
    """One entities row per id in scope; if several (concurrent runs), the earliest run's, deterministically."""
    return _temp("_gold_names", f"""
        SELECT entity_id, type, name_ar, name_en FROM {L}.entities
        WHERE entity_id IN (SELECT entity_id FROM {article_entities})
        QUALIFY row_number() OVER (PARTITION BY entity_id
                                   ORDER BY run_id NULLS LAST, name_ar NULLS LAST, name_en NULLS LAST, type) = 1"""), []


def _insert_daily(daily: str) -> Statement:
    """Insert (entity, day) aggregates with the entity's names and type."""
    return f"""
        INSERT INTO {L}.entity_daily ({ENTITY_DAILY.column_list})
        SELECT d.entity_id, n.name_ar, n.name_en, coalesce(n.type, d.label), d.day,
               d.mentions, d.articles, len(d.outlets), d.outlets
        FROM ({daily}) d LEFT JOIN _gold_names n USING (entity_id)""", []


def _insert_pairs(pairs: str) -> list[Statement]:
    """Insert pair aggregates with both names, sorted by day and entity: the writers otherwise drop
    insertion order, and sorted files' row groups carry narrow day ranges that "this week"
    questions skip."""
    insert = f"""
        INSERT INTO {L}.entity_pairs ({ENTITY_PAIRS.column_list})
        SELECT p.day, p.entity_a, na.name_ar, na.name_en, p.entity_b, nb.name_ar, nb.name_en,
               p.articles, p.joint_mentions
        FROM ({pairs}) p
        LEFT JOIN _gold_names na ON na.entity_id = p.entity_a
        LEFT JOIN _gold_names nb ON nb.entity_id = p.entity_b
        WHERE p.articles > 0
        ORDER BY 1, 2"""
    return _in_order(insert)


def _in_order(insert: str) -> list[Statement]:
    """An INSERT … ORDER BY whose row groups are each written sorted (what zone maps skip on). Their
    order in the file is not guaranteed: a probe of 600,000 rows once wrote two groups swapped."""
    return [("SET preserve_insertion_order = true", []), (insert, []), ("SET preserve_insertion_order = false", [])]


def _totals_sql(pairs: str) -> str:
    """Pair rows (or deltas) of ``pairs`` summed over days, both ways round."""
    return f"""
        SELECT entity_id, other_id, sum(articles) AS articles, sum(joint_mentions) AS joint_mentions FROM (
            SELECT entity_a AS entity_id, entity_b AS other_id, articles, joint_mentions FROM {pairs} UNION ALL
            SELECT entity_b, entity_a, articles, joint_mentions FROM {pairs})
        GROUP BY ALL"""


def _insert_totals(totals: str) -> list[Statement]:
    """Insert all-days pair totals with the other entity's names, sorted by entity (see _insert_pairs)."""
    insert = f"""
        INSERT INTO {L}.entity_pair_totals ({ENTITY_PAIR_TOTALS.column_list})
        SELECT t.entity_id, t.other_id, n.name_ar, n.name_en, t.articles, t.joint_mentions
        FROM ({totals}) t LEFT JOIN _gold_names n ON n.entity_id = t.other_id
        WHERE t.articles > 0
        ORDER BY 1, 2"""
    return _in_order(insert)


def _rebuild_entities() -> list[Statement]:
    """entity_daily, entity_pairs and entity_pair_totals recomputed from every article."""
    every = _article_entities_sql(None, "_gold_redirects")
    return [
        (_temp("_gold_article_entities", f"SELECT *, 1 AS sign FROM ({every})"), []),
        _names("_gold_article_entities"),
        (f"DELETE FROM {L}.entity_daily", []),
        _insert_daily(_daily_sql("_gold_article_entities")),
        (f"DELETE FROM {L}.entity_pairs", []),
        *_insert_pairs(_pairs_sql("_gold_article_entities")),
        (f"DELETE FROM {L}.entity_pair_totals", []),
        *_insert_totals(_totals_sql(f"{L}.entity_pairs")),
    ]


def _add_entity_deltas(with_merges: bool) -> list[Statement]:
    """entity_daily, entity_pairs and entity_pair_totals: add the batch's counts to the keys it touches
    (module docstring)."""
    day_entity = "k.entity_id = t.entity_id AND k.day IS NOT DISTINCT FROM t.day"
    pair_key = "k.day IS NOT DISTINCT FROM t.day AND k.entity_a = t.entity_a AND k.entity_b = t.entity_b"
    total_key = "k.entity_id = t.entity_id AND k.other_id = t.other_id"
    new = _article_entities_sql("_gold_new_articles", "_gold_redirects", mentions="_gold_batch_mentions")
    signed = [f"SELECT *, 1 AS sign, FALSE AS moved, TRUE AS changed FROM ({new})"]
    if with_merges:
        now, before = (_article_entities_sql("_gold_moved_articles", redirects, mentions="_gold_moved_mentions")
                       for redirects in ("_gold_redirects", "_gold_old_redirects"))
        signed += [f"SELECT *, 1, TRUE, TRUE FROM ({now})", f"SELECT *, -1, TRUE, TRUE FROM ({before})"]
    # Only the mentions of ids that resolve to a recounted entity are joined to their articles.
    recounted_mentions = f"""(SELECT * FROM {L}.entity_mentions WHERE entity_id IN (
        SELECT entity_id FROM _gold_recount UNION ALL
        SELECT from_id FROM _gold_redirects WHERE to_id IN (SELECT entity_id FROM _gold_recount)))"""
    recount = _article_entities_sql(None, "_gold_redirects",
                                    "coalesce(r.to_id, m.entity_id) IN (SELECT entity_id FROM _gold_recount)",
                                    mentions=recounted_mentions)
    # Stored rows of the touched keys are found once, with their rowid: the DELETE then matches
    # rowids (a scan that reads no column) instead of joining every stored row's keys again. It
    # measured the same (entity_pairs at 100k: 1.86 -> 1.32-1.67 s): the time is in DuckLake
    # rewriting each touched data file's delete file, which compaction cuts (warehouse/compact.py).
    return [
        *(_moved_articles() if with_merges else []),
        (_temp("_gold_article_entities", " UNION ALL ".join(signed)), []),
        _names("_gold_article_entities"),
        # A moved article's rows that a merge changed; its other entities resolve as before (their
        # +1 and -1 rows cancel), and so do the pairs of two such rows: on SaudiNewsNet amplified to a
        # million articles a batch's merges moved 98,736 articles, whose every pair twice took 42 s.
        (_temp("_gold_changed", """
            SELECT DISTINCT article_id, day, entity_id FROM (
                SELECT article_id, day, entity_id, mentions, label, source FROM _gold_article_entities
                WHERE moved GROUP BY ALL HAVING sum(sign) <> 0)"""), []),
        *([("""UPDATE _gold_article_entities t SET changed = FALSE WHERE moved AND NOT EXISTS (
                SELECT 1 FROM _gold_changed c WHERE c.article_id = t.article_id AND c.entity_id = t.entity_id)""", [])]
          if with_merges else []),
        # entity_daily: keys a merge changed are recounted; the others get the new articles added.
        (_temp("_gold_recount", "SELECT DISTINCT day, entity_id FROM _gold_changed"), []),
        (_temp("_gold_daily_delta", _daily_sql(
            "(SELECT * FROM _gold_article_entities t WHERE NOT moved "
            f"AND NOT EXISTS (SELECT 1 FROM _gold_recount k WHERE {day_entity}))")), []),
        (_temp("_gold_daily_old", f"""
            SELECT t.rowid AS row_id, entity_id, day, mentions, articles, outlets, label FROM {L}.entity_daily t
            WHERE EXISTS (SELECT 1 FROM (SELECT entity_id, day FROM _gold_daily_delta UNION ALL
                                         SELECT entity_id, day FROM _gold_recount) k WHERE {day_entity})"""), []),
        (f"DELETE FROM {L}.entity_daily WHERE rowid IN (SELECT row_id FROM _gold_daily_old)", []),
        _insert_daily(f"""
            SELECT k.entity_id, k.day, coalesce(o.mentions, 0) + k.mentions AS mentions,
                   coalesce(o.articles, 0) + k.articles AS articles,
                   {_outlets('list_concat(coalesce(o.outlets, []::VARCHAR[]), k.outlets)')} AS outlets,
                   least(o.label, k.label) AS label
            FROM _gold_daily_delta k LEFT JOIN _gold_daily_old o  -- recounted keys are not in the delta
                 ON o.entity_id = k.entity_id AND o.day IS NOT DISTINCT FROM k.day"""),
        *([_insert_daily(_daily_sql(f"""(SELECT * FROM ({recount}) t
                                         WHERE EXISTS (SELECT 1 FROM _gold_recount k WHERE {day_entity}))"""))]
          if with_merges else []),
        # entity_pairs: every count adds up, so each touched key gets its delta added.
        (_temp("_gold_pair_delta", f"""
            SELECT * FROM ({_pairs_sql('_gold_article_entities', changed_only=True)})
            WHERE articles <> 0 OR joint_mentions <> 0"""), []),
        (_temp("_gold_pairs_old", f"""
            SELECT t.rowid AS row_id, day, entity_a, entity_b, articles, joint_mentions FROM {L}.entity_pairs t
            WHERE EXISTS (SELECT 1 FROM _gold_pair_delta k WHERE {pair_key})"""), []),
        (f"DELETE FROM {L}.entity_pairs WHERE rowid IN (SELECT row_id FROM _gold_pairs_old)", []),
        *_insert_pairs("""
            SELECT k.day, k.entity_a, k.entity_b, coalesce(o.articles, 0) + k.articles AS articles,
                   coalesce(o.joint_mentions, 0) + k.joint_mentions AS joint_mentions
            FROM _gold_pair_delta k LEFT JOIN _gold_pairs_old o
                 ON o.day IS NOT DISTINCT FROM k.day AND o.entity_a = k.entity_a AND o.entity_b = k.entity_b"""),
        # entity_pair_totals: the same deltas summed over days.
        (_temp("_gold_total_delta", f"""
            SELECT * FROM ({_totals_sql('_gold_pair_delta')}) WHERE articles <> 0 OR joint_mentions <> 0"""), []),
        (_temp("_gold_totals_old", f"""
            SELECT t.rowid AS row_id, entity_id, other_id, articles, joint_mentions FROM {L}.entity_pair_totals t
            WHERE EXISTS (SELECT 1 FROM _gold_total_delta k WHERE {total_key})"""), []),
        (f"DELETE FROM {L}.entity_pair_totals WHERE rowid IN (SELECT row_id FROM _gold_totals_old)", []),
        *_insert_totals("""
            SELECT k.entity_id, k.other_id, coalesce(o.articles, 0) + k.articles AS articles,
                   coalesce(o.joint_mentions, 0) + k.joint_mentions AS joint_mentions
            FROM _gold_total_delta k LEFT JOIN _gold_totals_old o ON o.entity_id = k.entity_id AND o.other_id = k.other_id"""),
    ]


def _moved_articles() -> list[Statement]:
    """Articles published before this batch whose mentions this batch's merges re-attribute: those
    mentioning an id whose resolution changed (redirects without the batch's merges vs with them)."""
    before = (f"(SELECT * FROM {L}.entity_merges x WHERE NOT EXISTS (SELECT 1 FROM _gold_batch_merges b "
              "WHERE b.from_id = x.from_id AND b.to_id = x.to_id AND b.run_id IS NOT DISTINCT FROM x.run_id))")
    return [
        (_temp("_gold_old_redirects", _redirects_sql(f"({_chain_sql(before)})")), []),
        (_temp("_gold_moved_articles", f"""
            SELECT DISTINCT m.article_id FROM {L}.entity_mentions m
            WHERE m.entity_id IN (SELECT n.from_id FROM _gold_redirects n LEFT JOIN _gold_old_redirects o USING (from_id)
                                  WHERE o.to_id IS DISTINCT FROM n.to_id)
              AND m.article_id NOT IN (SELECT article_id FROM _gold_new_articles)"""), []),
        # Their mentions, read once for both signs.
        (_temp("_gold_moved_mentions", f"""
            SELECT article_id, entity_id, label FROM {L}.entity_mentions
            WHERE article_id IN (SELECT article_id FROM _gold_moved_articles)"""), []),
    ]


def _refresh_sources(full: bool) -> list[Statement]:
    """source_daily for the (source, day) keys in ``_gold_source_days``."""
    scope = _everything if full else _source_day_scope
    insert = f"""
        INSERT INTO {L}.source_daily ({SOURCE_DAILY.column_list})
        SELECT r.source, r.day, count(*) AS records,
               count(*) FILTER (WHERE r.outcome = 'article') AS articles,
               count(*) FILTER (WHERE r.outcome = 'duplicate') AS duplicates,
               count(*) FILTER (WHERE r.outcome = 'quarantine') AS quarantined,
               coalesce(list(DISTINCT r.language ORDER BY r.language) FILTER (WHERE r.language IS NOT NULL),
                        []::VARCHAR[]),
               duplicates / records, quarantined / records
        FROM ({_records_sql(scope)}) r
        JOIN _gold_source_days k ON k.source IS NOT DISTINCT FROM r.source AND k.day IS NOT DISTINCT FROM r.day
        WHERE r.open
        GROUP BY r.source, r.day"""
    match = f"{_same('source', 'source_daily')} AND {_same('day', 'source_daily')}"
    return [_delete("source_daily", "_gold_source_days", match, full), (insert, [])]


def _refresh_stories(full: bool) -> list[Statement]:
    """story_clusters for the cluster ids in ``_gold_clusters``."""
    def in_scope(alias: str, ts: str) -> str:  # duplicates of the member articles
        return f"{alias}.article_id IN (SELECT article_id FROM members)"

    insert = f"""
        INSERT INTO {L}.story_clusters ({STORY_CLUSTERS.column_list})
        WITH members AS (
            SELECT {story_of('a')} AS cluster_id, a.article_id, a.title, a.source, a.language, a.published_at
            FROM {L}.articles a WHERE {story_of('a')} IN (SELECT cluster_id FROM _gold_clusters)),
        copies AS (
            SELECT m.cluster_id, d.outlet FROM ({_duplicates_sql(in_scope)}) d JOIN members m USING (article_id)),
        stories AS (
            SELECT cluster_id,
                   first(title ORDER BY (article_id = cluster_id) DESC, published_at NULLS LAST, article_id) AS title,
                   min(published_at) AS first_seen, max(published_at) AS last_seen, count(*) AS size,
                   list(DISTINCT language ORDER BY language) FILTER (WHERE language IS NOT NULL) AS languages
            FROM members GROUP BY cluster_id),
        outlets AS (
            SELECT cluster_id, list(DISTINCT outlet ORDER BY outlet) FILTER (WHERE outlet IS NOT NULL) AS outlets
            FROM (SELECT cluster_id, source AS outlet FROM members UNION ALL SELECT cluster_id, outlet FROM copies)
            GROUP BY cluster_id),
        copy_counts AS (SELECT cluster_id, count(*) AS n FROM copies GROUP BY cluster_id)
        SELECT s.cluster_id, s.title, s.first_seen, s.last_seen, {utc_day('s.first_seen')}, s.size,
               coalesce(c.n, 0), coalesce(o.outlets, []::VARCHAR[]), len(coalesce(o.outlets, []::VARCHAR[])),
               coalesce(s.languages, []::VARCHAR[])
        FROM stories s LEFT JOIN outlets o USING (cluster_id) LEFT JOIN copy_counts c USING (cluster_id)"""
    return [_delete("story_clusters", "_gold_clusters", _same("cluster_id", "story_clusters"), full), (insert, [])]


def _drop_temp() -> list[Statement]:
    tables = [(f"DROP TABLE IF EXISTS {name}", []) for name in _TEMP_TABLES]
    return [*tables, (f"DROP VIEW IF EXISTS {_MENTIONS_VIEW}", [])]


# --- schema checks -------------------------------------------------------------------------------


def _missing_gold_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    present = {r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = ?", [L]).fetchall()}
    return [t.name for t in GOLD_TABLES if t.name not in present]


def _require_gold_tables(con: duckdb.DuckDBPyConnection) -> None:
    missing = _missing_gold_tables(con)
    if missing:
        raise WarehouseError(f"gold tables missing ({', '.join(missing)}): call Warehouse.ensure_schema first")
