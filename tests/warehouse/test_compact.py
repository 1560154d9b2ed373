"""Compaction: tables with many deleted rows are rewritten, and nothing a reader sees changes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from akhbar.faults import COMPACT_POINTS
from akhbar.warehouse.compact import compact_due, due, table_files
from akhbar.warehouse.lake import CATALOG_NAME, Warehouse

ROWS = "SELECT rowid, * FROM source_daily ORDER BY rowid"


@pytest.fixture(params=["sqlite", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """``source_daily`` in two files of 100 rows; a third of them deleted (every third rowid).

    Both catalogs: DuckLake's own tables, which say how many rows are deleted, live in another
    schema on PostgreSQL."""
    if request.param == "postgres":
        wh = Warehouse(tmp_path / "wh", catalog=request.getfixturevalue("postgres_catalog"),
                       catalog_schema=request.getfixturevalue("postgres_schema"))
    else:
        wh = Warehouse(tmp_path / "wh")
    con = wh.connect()
    wh.ensure_schema(con)
    for part in range(2):
        con.execute("INSERT INTO source_daily (source, day, articles) "
                    "SELECT 'src' || i, DATE '2015-07-01' + i::INT, i FROM range(?, ?) t(i)",
                    [part * 100, part * 100 + 100])
    con.execute("DELETE FROM source_daily WHERE rowid % 3 = 0")
    con.close()
    return wh


def _snapshot(wh: Warehouse) -> int:
    con = wh.connect(read_only=True)
    (snapshot,) = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots('{CATALOG_NAME}')").fetchone()
    con.close()
    return snapshot


def test_the_catalog_says_how_many_rows_are_deleted(warehouse: Warehouse) -> None:
    con = warehouse.connect()
    files = table_files(con, warehouse)["source_daily"]
    assert (files.files, files.rows, files.deleted, files.files_with_deletes) == (2, 200, 67, 2)
    assert [t.table for t in due(con, warehouse, 0.3)] == ["source_daily"]
    assert due(con, warehouse, 0.4) == [] and due(con, warehouse, 0) == []


def test_compaction_drops_deleted_rows_and_keeps_what_readers_see(warehouse: Warehouse) -> None:
    con = warehouse.connect()
    before = con.execute(ROWS).fetchall()
    past = _snapshot(warehouse)
    (done,) = compact_due(con, warehouse, 0.3)
    assert (done.before.files, done.before.deleted) == (2, 67)
    assert (done.after.files, done.after.rows, done.after.deleted) == (1, 133, 0)
    assert con.execute(ROWS).fetchall() == before  # same rows, same row ids
    assert compact_due(con, warehouse, 0.3) == []  # nothing left to do
    con.close()
    # A reader pinned to the snapshot before the compaction (akhbar sql --as-of) reads what it did.
    old = warehouse.connect(read_only=True, snapshot=past)
    assert old.execute(ROWS).fetchall() == before
    old.close()


def test_a_compaction_killed_midway_changes_nothing(warehouse: Warehouse) -> None:
    """SIGKILL inside the compaction's transaction: the table is as before, and the files the
    rewrite had written are orphans that the next run's cleanup deletes."""
    con = warehouse.connect()
    before, files_before = con.execute(ROWS).fetchall(), table_files(con, warehouse)["source_daily"]
    con.close()
    script = ("from akhbar.warehouse.compact import compact_due; from akhbar.warehouse.lake import Warehouse; "
              f"wh = Warehouse({str(warehouse.root)!r}, {warehouse.catalog!r}, {warehouse.catalog_schema!r}); "
              "compact_due(wh.connect(), wh, 0.3)")
    killed = subprocess.run([sys.executable, "-c", script], env={**os.environ, "AKHBAR_FAULT_AT": COMPACT_POINTS[0]},
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    con = warehouse.connect()
    assert con.execute(ROWS).fetchall() == before
    assert table_files(con, warehouse)["source_daily"] == files_before
    assert warehouse.delete_orphaned_files(con) >= 1
    assert [c.after.deleted for c in compact_due(con, warehouse, 0.3)] == [0]
    assert con.execute(ROWS).fetchall() == before
    con.close()
