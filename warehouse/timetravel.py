"""Time travel: the DuckLake snapshot at which a run finished, for ``akhbar sql --as-of RUN_ID``.

Why the change feed and not timestamps: a run ends with one UPDATE of its ``runs`` row (status,
``ended_at``), which is a DuckLake commit of its own. ``ducklake_table_changes`` over ``runs`` names
the snapshot in which that row became ``completed`` — exact, with nothing to record at run time and
no clock comparison (``ended_at`` is taken in Python *before* that commit, and a PostgreSQL catalog
may stamp snapshots with another clock). The snapshot holds every batch the run published, the
final ``runs`` row, and whatever other runs had committed by then: the warehouse as it was when
the run finished.
"""

from __future__ import annotations

from datetime import timedelta

import duckdb

from akhbar.warehouse.lake import CATALOG_NAME, Warehouse, WarehouseError

# How far before a run's start to begin reading the change feed: any margin works (the feed is
# filtered by run id); one day absorbs clock differences between this host and a catalog server.
_CLOCK_MARGIN = timedelta(days=1)
_LIST_RUNS = "akhbar sql \"select run_id, status, ended_at from runs order by run_id desc\""


class AsOfError(WarehouseError):
    """The run cannot be used for time travel (unknown, not completed, or its snapshot expired)."""


def run_snapshot(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """The DuckLake snapshot id at which ``run_id`` finished (its ``runs`` row became completed)."""
    row = con.execute(f"SELECT status, started_at FROM {CATALOG_NAME}.runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        raise AsOfError(f"no run {run_id!r} in this warehouse; list runs with: {_LIST_RUNS}")
    status, started_at = row
    if status != "completed":
        raise AsOfError(f"run {run_id} did not complete (status: {status}); --as-of needs a completed run")
    first, last = _snapshot_range(con, started_at)
    found = con.execute(
        f"SELECT min(snapshot_id) FROM ducklake_table_changes('{CATALOG_NAME}', 'main', 'runs', ?, ?) "
        "WHERE run_id = ? AND status = 'completed' AND change_type IN ('insert', 'update_postimage')",
        [first, last, run_id],
    ).fetchone()
    snapshot = found[0] if found else None
    if snapshot is None or not con.execute(
            f"SELECT 1 FROM ducklake_snapshots('{CATALOG_NAME}') WHERE snapshot_id = ?", [snapshot]).fetchone():
        raise AsOfError(f"the snapshot at which run {run_id} finished is no longer in the catalog (expired)")
    return int(snapshot)


def _snapshot_range(con: duckdb.DuckDBPyConnection, started_at: object) -> tuple[int, int]:
    """(a snapshot from before the run started, the latest snapshot): where its end must be."""
    first, last = con.execute(
        f"SELECT coalesce(max(snapshot_id) FILTER (WHERE snapshot_time <= ?::TIMESTAMPTZ - ?::INTERVAL), "
        f"min(snapshot_id)), max(snapshot_id) FROM ducklake_snapshots('{CATALOG_NAME}')",
        [started_at, _CLOCK_MARGIN],
    ).fetchone()
    return int(first), int(last)


def snapshot_for_run(warehouse: Warehouse, run_id: str) -> int:
    """:func:`run_snapshot` on a short-lived read-only connection to ``warehouse``."""
    con = warehouse.connect(read_only=True)
    try:
        return run_snapshot(con, run_id)
    finally:
        con.close()
