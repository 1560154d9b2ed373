"""`akhbar sql --as-of RUN_ID`: the warehouse as it was when a run finished, still read-only."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from akhbar.cli import app
from akhbar.warehouse import gold
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.schema import ARTICLES, ENTITY_MENTIONS
from akhbar.warehouse.search import refresh_search_index
from akhbar.warehouse.sql import QueryRefused, run_query
from akhbar.warehouse.timetravel import AsOfError, snapshot_for_run


def _article(aid: str, title: str, run_id: str) -> dict:
    now = datetime.now(timezone.utc)
    return {"article_id": aid, "raw_id": f"raw-{aid}", "source": "وكالة", "title": title, "body": title,
            "match_key": title, "published_at": datetime(2021, 2, 1, tzinfo=timezone.utc), "language": "ar",
            "cluster_id": aid, "location": f"in/{aid}", "ingested_at": now, "run_id": run_id}


def _run(wh: Warehouse, run_id: str, articles: list[dict], status: str = "completed") -> None:
    """What a pipeline run writes: its runs row, one batch (with gold statements), then its end."""
    con = wh.connect()
    try:
        wh.ensure_schema(con)
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, ?, 'running')",
                    [run_id, datetime.now(timezone.utc)])
        wh.publish(con, {"articles": ARTICLES.from_rows(articles)}, gold.gold_statements(
            con, articles, [], [], mentions=ENTITY_MENTIONS.from_rows([])))
        if status != "running":
            con.execute("UPDATE runs SET ended_at = ?, status = ? WHERE run_id = ?",
                        [datetime.now(timezone.utc), status, run_id])
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    wh = Warehouse(tmp_path_factory.mktemp("asof") / "wh")
    _run(wh, "r1", [_article("a1", "حفتر في بنغازي", "r1")])
    _run(wh, "r2", [_article("a2", "الناتو في بروكسل", "r2")])
    _run(wh, "r3-failed", [_article("a3", "خبر ثالث", "r3-failed")], status="failed")
    _run(wh, "r4-running", [], status="running")
    refresh_search_index(wh)
    return wh


def test_as_of_first_run_shows_only_its_rows(warehouse: Warehouse) -> None:
    query = "select article_id, title from articles order by article_id"
    assert run_query(warehouse, query, as_of="r1").rows == [("a1", "حفتر في بنغازي")]
    assert run_query(warehouse, query, as_of="r2").rows == [("a1", "حفتر في بنغازي"), ("a2", "الناتو في بروكسل")]
    assert len(run_query(warehouse, query).rows) == 3  # now: the failed run's batch was committed too
    # The runs table and the gold tables travel with it: r1 had just finished, r2 did not exist.
    assert run_query(warehouse, "select run_id, status from runs", as_of="r1").rows == [("r1", "completed")]
    assert run_query(warehouse, "select sum(size) from story_clusters", as_of="r1").rows == [(1,)]


def test_as_of_search_sees_only_the_snapshot_articles(warehouse: Warehouse) -> None:
    assert [r[0] for r in run_query(warehouse, "select article_id from search('الناتو')").rows] == ["a2"]
    assert run_query(warehouse, "select article_id from search('الناتو')", as_of="r1").rows == []


def test_as_of_stays_read_only(warehouse: Warehouse) -> None:
    with pytest.raises(QueryRefused):
        run_query(warehouse, "delete from articles", as_of="r1")
    with pytest.raises(Exception, match="disabled by configuration"):
        run_query(warehouse, f"select * from read_parquet('{warehouse.root}/../*.parquet')", as_of="r1")


@pytest.mark.parametrize(("run_id", "message"), [
    ("nope", "no run 'nope'"), ("r3-failed", "did not complete \\(status: failed\\)"),
    ("r4-running", "did not complete \\(status: running\\)"),
])
def test_as_of_refuses_unknown_and_unfinished_runs(warehouse: Warehouse, run_id: str, message: str) -> None:
    with pytest.raises(AsOfError, match=message):
        snapshot_for_run(warehouse, run_id)


def test_snapshots_are_ordered_by_run(warehouse: Warehouse) -> None:
    assert snapshot_for_run(warehouse, "r1") < snapshot_for_run(warehouse, "r2")


def test_cli_as_of(warehouse: Warehouse) -> None:
    runner = CliRunner()
    args = ["sql", "--warehouse", str(warehouse.root), "--format", "json"]
    result = runner.invoke(app, [*args, "--as-of", "r1", "select article_id, title from articles"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"article_id": "a1", "title": "حفتر في بنغازي"}]
    result = runner.invoke(app, [*args, "--as-of", "nope", "select 1"])
    assert result.exit_code == 1
    assert "no run 'nope'" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, [*args, "--as-of", "r3-failed", "select 1"])
    assert result.exit_code == 1 and "did not complete" in result.output


def test_missing_warehouse_for_as_of(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="akhbar run"):
        run_query(Warehouse(tmp_path / "none"), "select 1", as_of="r1")


def test_as_of_an_expired_snapshot_says_so(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "wh")
    _run(wh, "r1", [_article("a1", "خبر", "r1")])
    _run(wh, "r2", [_article("a2", "خبر آخر", "r2")])
    snapshot = snapshot_for_run(wh, "r1")
    con = wh.connect()
    con.execute(f"CALL ducklake_expire_snapshots('lake', versions => [{snapshot}])")
    con.close()
    with pytest.raises(AsOfError, match="expired"):
        run_query(wh, "select count(*) from articles", as_of="r1")
    assert run_query(wh, "select count(*) from articles", as_of="r2").rows == [(2,)]
