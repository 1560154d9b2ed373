"""Every ```sql block of docs/queries.md runs on a warehouse built by the real flow and returns rows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from akhbar.warehouse.gold import needs_backfill
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.search import attach_search, refresh_search_index
from akhbar.warehouse.sql import check_read_only
from akhbar.warehouse.views import create_views

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COOKBOOK = ROOT / "docs" / "queries.md"
SEED = ROOT / "seeds" / "articles" / "000_05fbb24d40aed679.txt"
BLOCKS = re.findall(r"```sql\n(.*?)```", COOKBOOK.read_text(encoding="utf-8"), flags=re.S)


@pytest.fixture(scope="module")
def warehouse(prefect_harness, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """The seeds, plus what the cookbook needs to show: a second outlet carrying the seed story
    (duplicates), a dated article from the seed's paragraphs (days), and defective records (quarantine)."""
    from akhbar.flows.pipeline import ingest_flow

    root = tmp_path_factory.mktemp("queries")
    inputs = root / "in"
    inputs.mkdir()
    shutil.copy(SEED, inputs / SEED.name)
    title, body = SEED.read_text(encoding="utf-8").split("\n", 1)
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    dated = "\n\n".join(p for p in paragraphs if any(w in p for w in ("حفتر", "الناتو", "روسيا", "ليبيا")))[:3000]
    records = [
        {"title": title, "content": body, "source": "other", "url": "https://other.example/a"},
        {"title": "حفتر وفاجنر في ليبيا", "content": dated, "source": "dated", "url": "https://dated.example/1",
         "published": "2021-02-26T10:00:00+00:00"},
    ]
    (inputs / "outlets.json").write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    (inputs / "feed.jsonl").write_text(
        json.dumps({"title": "بلا نص", "body": "   ", "url": "https://bad.example/2"}, ensure_ascii=False)
        + "\n{broken json\n", encoding="utf-8")
    wh = Warehouse(root / "wh")
    summary = ingest_flow(inputs=[str(inputs)], warehouse=str(wh.root))
    assert summary["status"] == "completed", summary
    refresh_search_index(wh)
    con = wh.connect()
    try:  # every publish refreshed the gold tables in its own transaction
        assert not needs_backfill(con)
    finally:
        con.close()
    return wh


@pytest.fixture(scope="module")
def session(warehouse: Warehouse):
    """The read-only session as `akhbar sql` builds it: search attached and views created, then locked."""
    con = warehouse.connect(read_only=True)
    attach_search(con, warehouse)
    con.execute("SET allowed_directories = ?", [[f"{warehouse.data_path}/"]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    create_views(con)
    yield con
    con.close()


def test_cookbook_has_queries() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("sql", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_cookbook_query_returns_rows(session, sql: str) -> None:
    check_read_only(sql)  # every cookbook query is accepted by `akhbar sql`
    rows = session.execute(sql).fetchall()
    assert rows, f"no rows for:\n{sql}"
