"""Gold tables: refreshed incrementally in the publish transaction, always equal to a full recompute."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from akhbar.warehouse import gold
from akhbar.warehouse.lake import Warehouse, WarehouseError
from akhbar.warehouse.schema import GOLD_TABLES, TABLES

HAFTAR, LIBYA, RUSSIA, SHOIGU, VARIANT = "per:khalifa-haftar", "iso:LY", "iso:RU", "per:sergei-shoigu", "ak:shoigh"
ENTITIES = [
    {"entity_id": HAFTAR, "type": "PER", "name_ar": "خليفة حفتر", "name_en": "Khalifa Haftar", "run_id": "r1"},
    {"entity_id": LIBYA, "type": "LOC", "name_ar": "ليبيا", "name_en": "Libya", "run_id": "r1"},
    {"entity_id": RUSSIA, "type": "LOC", "name_ar": "روسيا", "name_en": "Russia", "run_id": "r1"},
    {"entity_id": SHOIGU, "type": "PER", "name_ar": "سيرجي شويغو", "name_en": "Sergei Shoigu", "run_id": "r1"},
    {"entity_id": VARIANT, "type": "PER", "name_ar": "شويغ", "name_en": None, "run_id": "r1"},
]
FEB1, FEB2 = datetime(2021, 2, 1, 9, tzinfo=timezone.utc), datetime(2021, 2, 2, 23, 30, tzinfo=timezone.utc)


def _at(day: int) -> datetime:
    """Processing time of batch ``day`` (its rows' ingested_at / detected_at / quarantined_at)."""
    return datetime(2026, 1, day, 12, tzinfo=timezone.utc)


def _article(aid: str, source: str, published: datetime | None, entities: list[str], run: int,
             cluster: str | None = None, language: str = "ar") -> tuple[dict, list[dict]]:
    article = {"article_id": aid, "raw_id": f"raw-{aid}", "source": source, "title": f"عنوان {aid}",
               "body": "نص", "published_at": published, "language": language, "cluster_id": cluster or aid,
               "location": f"in/{aid}", "ingested_at": _at(run), "run_id": f"r{run}"}
    mentions = [{"article_id": aid, "entity_id": e, "surface": "س", "label": "PER", "start": 0, "end": 1,
                 "run_id": f"r{run}"} for e in entities]
    return article, mentions


def _duplicate(raw_id: str, location: str, aid: str, source: str | None, run: int) -> dict:
    return {"raw_id": raw_id, "location": location, "article_id": aid, "kind": "same_text" if source else "same_bytes",
            "source": source, "detected_at": _at(run), "run_id": f"r{run}"}


def _quarantine(raw_id: str, source_name: str, run: int) -> dict:
    return {"raw_id": raw_id, "location": f"in/{raw_id}", "source_name": source_name, "stage": "prepare",
            "reason": "empty body", "quarantined_at": _at(run), "run_id": f"r{run}"}


class Batch:
    """Rows of one batch, per table, published the way the pipeline does: inserts, then statements."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def add(self, table: str, *rows: dict) -> Batch:
        self.rows.setdefault(table, []).extend(rows)
        return self

    def article(self, *args: Any, **kw: Any) -> Batch:
        article, mentions = _article(*args, **kw)
        return self.add("articles", article).add("entity_mentions", *mentions)

    def statements(self, con: duckdb.DuckDBPyConnection) -> list[tuple[str, list]]:
        get = self.rows.get
        return gold.gold_statements(con, get("articles", []), get("duplicates", []), get("quarantine", []),
                                    mentions=TABLES["entity_mentions"].from_rows(get("entity_mentions", [])),
                                    entity_merges=get("entity_merges", []))

    def publish(self, wh: Warehouse, con: duckdb.DuckDBPyConnection, extra: list[tuple[str, list]] | None = None,
                with_gold: bool = True) -> None:
        """``extra`` statements run before the gold ones, as a replay's quarantine UPDATE does."""
        tables = {name: TABLES[name].from_rows(rows) for name, rows in self.rows.items()}
        wh.publish(con, tables, [*(extra or []), *(self.statements(con) if with_gold else [])])


def gold_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {t.name: sorted(con.execute(f"SELECT {t.column_list} FROM lake.{t.name}").fetchall(), key=repr)
            for t in GOLD_TABLES}


def rebuilt(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """The gold tables as a full recompute makes them (computed in a transaction that is rolled back)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for sql, params in gold.rebuild_statements():
            con.execute(sql, params)
        return gold_rows(con)
    finally:
        con.execute("ROLLBACK")


def changed_keys(con: duckdb.DuckDBPyConnection, table: str, column: str) -> set:
    """Values of ``column`` (tuples for several columns) in rows the latest snapshot deleted or
    inserted in ``table``."""
    (snap,) = con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')").fetchone()
    rows = con.execute(f"SELECT DISTINCT {column} FROM ducklake_table_changes('lake', 'main', '{table}', ?, ?)",
                       [snap, snap]).fetchall()
    return {r[0] if len(r) == 1 else r for r in rows}


@pytest.fixture
def lake(tmp_path: Path):
    wh = Warehouse(tmp_path / "wh")
    con = wh.connect()
    wh.ensure_schema(con)
    yield wh, con
    con.close()


def _batch1() -> Batch:
    return (Batch().add("entities", *ENTITIES)
            .article("a1", "alpha", FEB1, [HAFTAR, HAFTAR, LIBYA], 1)
            .article("a2", "beta", FEB1, [HAFTAR, RUSSIA, VARIANT], 1, language="en")
            .article("a3", "alpha", None, [LIBYA, RUSSIA], 1)
            .add("quarantine", _quarantine("q1", "feed", 1)))


def _batch2() -> Batch:
    """Adds to a day that has rows, joins a1's near-dup cluster, duplicates (one with no source)."""
    return (Batch()
            .article("a4", "gamma", FEB1, [HAFTAR, LIBYA], 2, cluster="a1")
            .article("a5", "alpha", FEB2, [VARIANT, RUSSIA], 2)
            .add("duplicates", _duplicate("raw-dup", "in/dup", "a2", "delta", 2),
                 _duplicate("raw-a1", "in/a1-again", "a1", None, 2))
            .add("quarantine", _quarantine("q2", "gamma", 2)))


def _batch3() -> Batch:
    """A replay: q1 is published, its quarantine row resolved; a merge re-attributes older mentions."""
    replayed, mentions = _article("a6", "feed", None, [LIBYA], 3)
    replayed.update(raw_id="q1", location="in/q1")
    merge = {"from_id": VARIANT, "to_id": SHOIGU, "reason": "alias", "evidence": "شويغ = شويغو", "run_id": "r3",
             "merged_at": _at(3)}
    return Batch().add("articles", replayed).add("entity_mentions", *mentions).add("entity_merges", merge)


RESOLVE_Q1 = ("UPDATE quarantine SET resolved_at = ?, resolution = 'published', resolved_by_run = 'r3' "
              "WHERE raw_id = 'q1' AND resolved_at IS NULL", [_at(3)])


def test_incremental_batches_equal_a_full_recompute(lake) -> None:
    wh, con = lake
    _batch1().publish(wh, con)
    assert gold_rows(con) == rebuilt(con)

    _batch2().publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    # Only the keys batch 2 touched were rewritten: its (entity, day) pairs, its clusters. Russia's
    # row for Feb 1 (a2, batch 1) and the undated rows (a3) were left alone.
    assert changed_keys(con, "entity_daily", "day") == {FEB1.date(), FEB2.date()}
    assert changed_keys(con, "entity_daily", "entity_id, day") == {(HAFTAR, FEB1.date()), (LIBYA, FEB1.date()), (VARIANT, FEB2.date()), (RUSSIA, FEB2.date())}
    assert changed_keys(con, "story_clusters", "cluster_id") == {"a1", "a2", "a5"}

    _batch3().publish(wh, con, extra=[RESOLVE_Q1])
    assert gold_rows(con) == rebuilt(con)
    Batch().add("duplicates", _duplicate("raw-dup2", "in/dup2", "a6", "epsilon", 4)).publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    assert not gold.needs_backfill(con)


def test_gold_values_after_batches(lake) -> None:
    wh, con = lake
    _batch1().publish(wh, con)
    _batch2().publish(wh, con)
    _batch3().publish(wh, con, extra=[RESOLVE_Q1])

    daily = {(r[0], r[4]): r for r in con.execute("SELECT * FROM entity_daily").fetchall()}
    # Feb 1: a1 (2 mentions), a2, a4 — three outlets; Arabic names as in `entities`.
    assert daily[(HAFTAR, FEB1.date())] == (HAFTAR, "خليفة حفتر", "Khalifa Haftar", "PER", FEB1.date(), 4, 3, 3,
                                            ["alpha", "beta", "gamma"])
    # The merge moved the variant's mentions (a2 on Feb 1, a5 on Feb 2) to Shoigu.
    assert daily[(SHOIGU, FEB2.date())][1:] == ("سيرجي شويغو", "Sergei Shoigu", "PER", FEB2.date(), 1, 1, 1, ["alpha"])
    assert (SHOIGU, FEB1.date()) in daily and not any(k[0] == VARIANT for k in daily)
    # Undated articles (a3, a6) form the NULL day.
    assert daily[(LIBYA, None)][5:] == (2, 2, 2, ["alpha", "feed"])

    pairs = con.execute("SELECT entity_a, name_a_ar, entity_b, name_b_ar, articles FROM entity_pairs "
                        "WHERE day = ? ORDER BY ALL", [FEB1.date()]).fetchall()
    assert (LIBYA, "ليبيا", HAFTAR, "خليفة حفتر", 2) in pairs
    assert all(a < b for a, _, b, _, _ in pairs)
    # All days, both ways round: Russia and Shoigu met in a2 (Feb 1, as the variant before the
    # merge) and a5 (Feb 2); Haftar's companions come with their names.
    totals = {r[:2]: r[2:] for r in con.execute("SELECT * FROM entity_pair_totals").fetchall()}
    assert totals[(RUSSIA, SHOIGU)] == ("سيرجي شويغو", "Sergei Shoigu", 2, 2)
    assert totals[(SHOIGU, RUSSIA)] == ("روسيا", "Russia", 2, 2)
    assert {o: v[2] for (e, o), v in totals.items() if e == HAFTAR} == {LIBYA: 2, RUSSIA: 1, SHOIGU: 1}
    assert con.execute("SELECT sum(articles) * 2 FROM entity_pairs").fetchone()[0] == sum(v[2] for v in totals.values())

    story = con.execute("SELECT title, size, duplicates, outlets, sources, languages, first_day "
                        "FROM story_clusters WHERE cluster_id = 'a1'").fetchone()
    # a4 joined a1's cluster; the same_bytes copy of a1 (no source of its own) counts as alpha.
    assert story == ("عنوان a1", 2, 1, ["alpha", "gamma"], 2, ["ar"], FEB1.date())
    assert con.execute("SELECT outlets FROM story_clusters WHERE cluster_id = 'a2'").fetchone() == (["beta", "delta"],)

    sources = {(r[0], r[1].day): r[2:] for r in con.execute("SELECT * FROM source_daily").fetchall()}
    # q1 was quarantined on day 1 and published by the replay on day 3: it counts once, on day 3.
    assert ("feed", 1) not in sources
    assert sources[("feed", 3)] == (1, 1, 0, 0, ["ar"], 0.0, 0.0)
    assert sources[("alpha", 2)] == (2, 1, 1, 0, ["ar"], 0.5, 0.0)
    assert sources[("gamma", 2)] == (2, 1, 0, 1, ["ar"], 0.0, 0.5)
    accounted = con.execute("SELECT (SELECT count(*) FROM articles) + (SELECT count(*) FROM duplicates) + "
                            "(SELECT count(*) FROM quarantine WHERE resolved_at IS NULL)").fetchone()[0]
    assert con.execute("SELECT sum(records) FROM source_daily").fetchone()[0] == accounted


def test_rolled_back_publish_leaves_gold_unchanged(lake) -> None:
    wh, con = lake
    _batch1().publish(wh, con)
    before = gold_rows(con)
    failing = _batch2()
    tables = {name: TABLES[name].from_rows(rows) for name, rows in failing.rows.items()}
    statements = [*failing.statements(con), ("SELECT error('disk full')", [])]
    with pytest.raises(duckdb.Error, match="disk full"):
        wh.publish(con, tables, statements)
    assert gold_rows(con) == before
    assert con.execute("SELECT count(*) FROM articles").fetchone() == (3,)
    # The connection is usable again (no temporary table or transaction left behind).
    _batch2().publish(wh, con)
    assert gold_rows(con) == rebuilt(con)


def test_backfill_for_batches_published_without_gold(lake) -> None:
    wh, con = lake
    assert not gold.needs_backfill(con)  # empty warehouse, empty gold tables
    _batch1().publish(wh, con, with_gold=False)
    assert gold.needs_backfill(con)
    assert gold.backfill(wh, con)
    assert not gold.needs_backfill(con) and not gold.backfill(wh, con)
    _batch2().publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    # A gold table that a newer akhbar adds starts empty on an old warehouse: noticed, then filled.
    con.execute("DELETE FROM entity_pair_totals")
    assert gold.needs_backfill(con) and gold.backfill(wh, con)
    assert gold_rows(con) == rebuilt(con)
    names = con.execute("SELECT DISTINCT name_ar FROM entity_daily ORDER BY 1").fetchall()
    assert ("خليفة حفتر",) in names and ("روسيا",) in names


def test_gold_statements_for_an_empty_batch_and_missing_tables(lake, tmp_path: Path) -> None:
    _, con = lake
    no_mentions = TABLES["entity_mentions"].from_rows([])
    assert gold.gold_statements(con, [], [], [], mentions=no_mentions) == []
    bare = Warehouse(tmp_path / "bare").connect()
    try:
        with pytest.raises(WarehouseError, match="ensure_schema"):
            gold.gold_statements(bare, [{"article_id": "x"}], [], [], mentions=no_mentions)
        assert gold.needs_backfill(bare)
    finally:
        bare.close()


def test_day_is_the_utc_date() -> None:
    con = duckdb.connect()
    late = datetime(2021, 2, 1, 23, 30, tzinfo=timezone.utc)  # 02:30 on Feb 2 in Riyadh
    con.execute("SET TimeZone = 'Asia/Riyadh'")  # the session zone must not matter
    assert con.execute(f"SELECT {gold.utc_day('?::TIMESTAMPTZ')}", [late]).fetchone() == (late.date(),)
    assert con.execute(f"SELECT {gold.utc_day('NULL::TIMESTAMPTZ')}").fetchone() == (None,)


def test_merges_that_collapse_pairs_and_chain_equal_a_full_recompute(lake) -> None:
    """A merge subtracts the articles it moves as they were counted and adds them back as they now
    resolve: a pair inside one article collapses into one entity, and chains resolve to the end."""
    wh, con = lake

    def merge(src: str, dst: str, run: int) -> dict:
        return {"from_id": src, "to_id": dst, "reason": "alias", "evidence": "test", "run_id": f"r{run}",
                "merged_at": _at(run)}

    (Batch().add("entities", *ENTITIES)
     .article("a1", "alpha", FEB1, [VARIANT, SHOIGU, RUSSIA, RUSSIA], 1)
     .article("a2", "beta", FEB1, [VARIANT, LIBYA], 1)
     .article("a3", "alpha", FEB2, [SHOIGU], 1)).publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    (Batch().article("a4", "gamma", FEB1, [VARIANT, RUSSIA], 2)
     .add("entity_merges", merge(VARIANT, SHOIGU, 2))).publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    pairs = con.execute("SELECT entity_a, entity_b, articles, joint_mentions FROM entity_pairs "
                        "WHERE day = ? ORDER BY ALL", [FEB1.date()]).fetchall()
    # a1's (Shoigu, Russia) now counts Shoigu twice: least(2, 2) = 2; a4 adds one with least(1, 1).
    assert pairs == sorted([(LIBYA, SHOIGU, 1, 1), (RUSSIA, SHOIGU, 2, 3)])
    (Batch().article("a5", "alpha", FEB2, [SHOIGU, HAFTAR], 3)
     .add("entity_merges", merge(SHOIGU, HAFTAR, 3))).publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    assert not con.execute("SELECT * FROM entity_daily WHERE entity_id IN (?, ?)", [VARIANT, SHOIGU]).fetchall()
    assert not gold.needs_backfill(con)
    # A later run merges Shoigu elsewhere: its latest merge is the one that counts, everywhere.
    Batch().add("entity_merges", merge(SHOIGU, RUSSIA, 4)).publish(wh, con)
    assert gold_rows(con) == rebuilt(con)
    assert con.execute(f"SELECT to_id FROM ({gold.ENTITY_REDIRECTS_SQL}) WHERE from_id = ?", [VARIANT]).fetchall() == [(RUSSIA,)]
    assert gold.drift(con) == {t.name: 0 for t in GOLD_TABLES}
    con.execute("UPDATE entity_pairs SET joint_mentions = joint_mentions + 1 WHERE entity_a = ?", [RUSSIA])
    assert gold.drift(con) == {**{t.name: 0 for t in GOLD_TABLES}, "entity_pairs": 2}


def test_a_batch_of_pairs_is_written_sorted_by_day_and_entity(lake) -> None:
    """The pair rows of a batch reach their data file in (day, entity_a) order (the totals' rows by
    entity_id), which is what lets
    "this week" questions skip row groups. (A version that sorted the rows without their names
    and joined the names on the way in lost the order: the insert does not keep a join's order.)"""
    wh, con = lake
    people = [f"per:p{i:03d}" for i in range(300)]
    batch = Batch().add("entities", *ENTITIES)
    for i in range(600):  # ~21,000 pair rows, 4,800 totals: more than one vector, so threads could reorder them
        day = datetime(2021, 2, 1 + i % 9, 9, tzinfo=timezone.utc)
        batch.article(f"a{i:03d}", "alpha", day, [people[(i * 7 + k * 13) % 300] for k in range(8)] + [RUSSIA], 1)
    batch.publish(wh, con)
    for table, key in (("entity_pairs", "day, entity_a"), ("entity_pair_totals", "entity_id")):
        files = sorted(str(p) for p in Path(wh.data_path).rglob("*.parquet") if f"/{table}/" in str(p))
        written = con.execute(f"SELECT {key} FROM read_parquet({files!r}) ORDER BY filename, file_row_number").fetchall()
        assert len(files) == 1 and len(written) > 4096 and written == sorted(written), table
    assert gold_rows(con) == rebuilt(con)
