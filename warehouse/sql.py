"""Read-only SQL over the warehouse, safe to hand to any user.

Three locks, each enough on its own for some attacks and together for all we know of:
1. only read statements are accepted (parsed by DuckDB itself, not by a regex);
2. the lake is attached READ_ONLY, so even a statement we misjudge cannot write;
3. file access is limited to the warehouse's data directory and the configuration is then locked,
   so ``read_csv('/etc/passwd')``, ``COPY … TO``, ``ATTACH`` and ``INSTALL``/``LOAD`` all fail.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import duckdb

from akhbar.warehouse.lake import Warehouse

ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class QueryRefused(ValueError):
    """The statement is not a read-only query."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def check_read_only(sql: str) -> None:
    """Refuse anything but SELECT/EXPLAIN (with a message saying what is allowed)."""
    try:
        statements = duckdb.connect().extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"SQL syntax error: {str(exc).splitlines()[0]}") from exc
    if not statements:
        raise QueryRefused("no SQL statement given")
    for statement in statements:
        kind = statement.type.name
        if kind not in ALLOWED_STATEMENTS:
            raise QueryRefused(
                f"{kind} statements are not allowed: `akhbar sql` is read-only (SELECT, WITH … SELECT, "
                "DESCRIBE, SUMMARIZE and EXPLAIN). Data changes only through `akhbar run`."
            )


def read_only_connection(warehouse: Warehouse, memory_limit: str | None = None,
                         threads: int | None = None, *, as_of: str | None = None) -> duckdb.DuckDBPyConnection:
    """A connection that can read the warehouse tables and nothing else.

    ``as_of`` (a run id) opens the lake as it was when that run finished: the ATTACH at that
    snapshot happens here, before the configuration is locked, so the query itself still cannot
    attach, write or read files.
    """
    from akhbar.warehouse.search import attach_search
    from akhbar.warehouse.timetravel import snapshot_for_run
    from akhbar.warehouse.views import create_views

    snapshot = snapshot_for_run(warehouse, as_of) if as_of else None
    con = warehouse.connect(read_only=True, snapshot=snapshot)
    # Before the lock: it attaches a file.
    attach_search(con, warehouse, lake_articles_only=snapshot is not None)
    con.execute("SET allowed_directories = ?", [[f"{warehouse.data_path}/"]])
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    create_views(con)
    return con


def run_query(warehouse: Warehouse, sql: str, *, timeout_s: float | None = 60.0,
              memory_limit: str | None = None, max_rows: int | None = None,
              as_of: str | None = None) -> QueryResult:
    """Run one read-only query; a query running past ``timeout_s`` is interrupted.

    ``as_of``: a run id; the query sees the warehouse as it was when that run finished.
    """
    check_read_only(sql)
    con = read_only_connection(warehouse, memory_limit, as_of=as_of)
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s else None
    try:
        if timer:
            timer.start()
        try:
            cursor = con.execute(sql)
            rows = cursor.fetchmany(max_rows) if max_rows else cursor.fetchall()
        except duckdb.InterruptException as exc:
            raise TimeoutError(f"query interrupted after {timeout_s:g} s (raise --timeout)") from exc
        columns = [d[0] for d in cursor.description or []]
        return QueryResult(columns, rows)
    finally:
        if timer:
            timer.cancel()
        con.close()
