"""Compaction: rewrite a table's data files once deleted rows make up a set share of them.

Why: the gold tables are refreshed by key in every batch (stored rows of the keys a batch touches
are deleted and re-inserted), and DuckLake deletes are merge-on-read: each DELETE writes, for every
data file it touches, a new delete file holding *all* of that file's deletes so far. Over a long
backfill the deletes pile up on every file, and a batch's refresh rewrites them all again (at 100k
synthetic articles, 19 of `entity_pairs`' 20 files carried deletes and its DELETE took 1.5–1.7 s;
0.4 s after a compaction by hand).

The policy is proportional: a table is compacted when the rows its delete files mark make up at
least ``fraction`` of the rows in its live data files, and a compaction rewrites the files that
carry at least that share of deletes. Its cost is about the table's size, and it only runs after
at least ``fraction`` × that size rows were deleted, so over any number of batches compaction
rewrites at most ``1 / fraction`` rows per deleted row: linear, never quadratic, in what a
backfill deletes.

Nothing a reader sees changes: the rewrite keeps row ids, and the files it replaces
stay referenced by the snapshots that used them, so ``akhbar sql --as-of`` still reads the past.
A compaction is a DuckLake transaction of its own, run under the publish lock after a batch's
commit; a crash in the middle leaves only unreferenced files, which the next run's orphan cleanup
deletes (a test kills one midway).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from akhbar.faults import fault_point
from akhbar.warehouse.lake import CATALOG_NAME, Warehouse


@dataclass(frozen=True)
class TableFiles:
    """A table's live data files, as DuckLake's catalog records them."""

    table: str
    files: int
    rows: int  # rows written to the live data files, deleted ones included
    deleted: int  # of those, rows marked deleted by the live delete files
    files_with_deletes: int

    @property
    def deleted_fraction(self) -> float:
        return self.deleted / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class Compaction:
    """What one table's compaction did (file counts before and after, and its cost)."""

    before: TableFiles
    after: TableFiles
    seconds: float


def table_files(con: duckdb.DuckDBPyConnection, wh: Warehouse,
                tables: list[str] | None = None) -> dict[str, TableFiles]:
    """Live data files, rows and deleted rows per table, read from the catalog (no data file opened)."""
    m = wh.metadata_schema
    rows = con.execute(f"""
        SELECT t.table_name, count(*), sum(d.record_count), coalesce(sum(x.delete_count), 0), count(x.delete_file_id)
        FROM {m}.ducklake_table t
        JOIN {m}.ducklake_data_file d ON d.table_id = t.table_id AND d.end_snapshot IS NULL
        LEFT JOIN {m}.ducklake_delete_file x ON x.data_file_id = d.data_file_id AND x.end_snapshot IS NULL
        WHERE t.end_snapshot IS NULL {"AND list_contains(?, t.table_name)" if tables is not None else ""}
        GROUP BY t.table_name""", [tables] if tables is not None else []).fetchall()
    return {r[0]: TableFiles(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}


def due(con: duckdb.DuckDBPyConnection, wh: Warehouse, fraction: float) -> list[TableFiles]:
    """Tables whose deleted rows make up at least ``fraction`` of their live files' rows."""
    if fraction <= 0:
        return []
    return sorted((t for t in table_files(con, wh).values() if t.deleted and t.deleted_fraction >= fraction),
                  key=lambda t: t.table)


def compact_table(con: duckdb.DuckDBPyConnection, wh: Warehouse, before: TableFiles, fraction: float) -> Compaction:
    """Rewrite the files of ``before.table`` with at least ``fraction`` deleted rows, without those rows.

    DuckLake writes the kept rows of all rewritten files together, so this also merges them (21
    `entity_pairs` files became 5 at 100k articles, in 4.6 s). A further
    ``ducklake_merge_adjacent_files`` took 3.8 s more to go from 5 files to 4, so it is not called.
    """
    started, table = time.perf_counter(), before.table
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CALL ducklake_rewrite_data_files('{CATALOG_NAME}', ?, delete_threshold => ?)",
                    [table, fraction])
        fault_point("mid-compact")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    after = table_files(con, wh, [table]).get(table, TableFiles(table, 0, 0, 0, 0))
    return Compaction(before, after, time.perf_counter() - started)


def compact_due(con: duckdb.DuckDBPyConnection, wh: Warehouse, fraction: float) -> list[Compaction]:
    """Compact every table that ``due`` names; call with the publish lock held."""
    return [compact_table(con, wh, t, fraction) for t in due(con, wh, fraction)]
