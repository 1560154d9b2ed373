"""Reprocessing: the records of a warehouse streamed back from ``raw_documents``, and the swap.

``akhbar reprocess`` (``akhbar.flows.reprocess``) runs the normal pipeline over these records into a
shadow warehouse, then replaces every derived table of the main warehouse with the shadow's in one
transaction. This module holds the plain functions: what to stream, in which order, how to check
the shadow, and the swap itself.

Why every *occurrence* and not every raw document: ``raw_documents`` keeps each distinct byte string
once, at the location it was first read; the same bytes read elsewhere left only a ``duplicates``
(same_bytes) or ``quarantine`` row. Streaming those occurrences too reproduces their outcomes, so
each one still ends in exactly one place.

Why in ingestion order: the first record of a story becomes the article and the others duplicates,
near-duplicate clusters are founded by the earliest article, entities are discovered in order. First
occurrences are streamed in ``raw_documents`` insertion order (DuckLake row ids); every other
occurrence follows the first occurrences of its own batch (batches are told apart by their publish
timestamps), so batch boundaries match the original run's.

Why ingest errors are carried over: a record quarantined while being read (too large, unreadable,
not JSON) has only a head or a placeholder in ``raw_documents``. Its recorded reason is the outcome;
reprocessing cannot read the input again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import duckdb
import pyarrow as pa

from akhbar.faults import fault_point
from akhbar.tasks.ingest import JSON_FORMATS, RawRecord
from akhbar.warehouse.lake import CATALOG_NAME, Warehouse, WarehouseError, extension_path
from akhbar.warehouse.schema import GOLD_TABLES, TABLES, Table

L = CATALOG_NAME
SHADOW = "shadow"
KEPT = frozenset({"raw_documents", "runs", "input_files"})  # bronze and bookkeeping: never rebuilt
# The column of each outcome table that says when its record arrived: kept across a reprocess.
ARRIVAL_COLUMNS = {"articles": "ingested_at", "duplicates": "detected_at", "quarantine": "quarantined_at"}
REPEAT_REASON = "identical to a quarantined record"  # prefix written by dedup.resolve_repeats
Statement = tuple[str, list[Any]]


def derived_tables() -> list[Table]:
    """Every registered table but those in KEPT (bronze and bookkeeping): a table added to schema.py is
    rebuilt by a reprocess without anyone having to remember it."""
    return [t for name, t in TABLES.items() if name not in KEPT]


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """One value, with the result consumed: a result left open (``fetchone``) keeps DuckDB's
    transaction, and with it a read lock on a SQLite catalog that makes other writers' commits fail."""
    return con.execute(sql).fetchall()[0][0]


def current_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    return int(_scalar(con, f"SELECT max(snapshot_id) FROM ducklake_snapshots('{L}')"))


def _at(snapshot: int) -> str:
    return f"AT (VERSION => {int(snapshot)})"


def occurrences_sql(snapshot: int) -> str:
    """Every (raw_id, location) the warehouse holds as of ``snapshot``, with its arrival time (when its
    batch was published: ``raw_documents.ingested_at`` for a first occurrence, else its earliest
    outcome row) and input name (quarantine rows keep theirs; duplicates rows have none)."""
    at = _at(snapshot)
    return f"""
        SELECT raw_id, location, coalesce(min(ts) FILTER (WHERE first), min(ts)) AS ts,
               min(source_name) AS source_name FROM (
            SELECT raw_id, location, ingested_at AS ts, source_name, TRUE AS first FROM {L}.raw_documents {at}
            UNION ALL SELECT raw_id, location, ingested_at, NULL, FALSE FROM {L}.articles {at}
            UNION ALL SELECT raw_id, location, detected_at, NULL, FALSE FROM {L}.duplicates {at}
            UNION ALL SELECT raw_id, location, quarantined_at, source_name, FALSE FROM {L}.quarantine {at})
        GROUP BY raw_id, location"""


def _new_occurrences_sql(snapshot: int, since: int | None) -> str:
    if since is None:
        return occurrences_sql(snapshot)
    return f"SELECT * FROM ({occurrences_sql(snapshot)}) ANTI JOIN ({occurrences_sql(since)}) USING (raw_id, location)"


def count_occurrences(con: duckdb.DuckDBPyConnection, snapshot: int, since: int | None = None) -> int:
    """Records a reprocess of ``snapshot`` streams (only those added after ``since``, if given)."""
    return int(_scalar(con, f"SELECT count(*) FROM ({_new_occurrences_sql(snapshot, since)})"))


_ROW = "rowid AS ord, raw_id, location, source_name, format, content, url, ingested_at AS ts"


def _first_files(con: duckdb.DuckDBPyConnection, snapshot: int, after: int) -> list[str]:
    """raw_documents' data files holding rows with a row id above ``after``, in row-id order."""
    rows = con.execute(f"SELECT filename, min(rowid) AS first FROM {L}.raw_documents {_at(snapshot)} WHERE rowid > ? "
                       "GROUP BY filename ORDER BY first", [after]).fetchall()
    return [filename for filename, _ in rows]


def _firsts(con: duckdb.DuckDBPyConnection, snapshot: int, after: int, chunk: int) -> Iterator[dict[str, Any]]:
    """First occurrences in row-id (= insertion) order, one data file at a time.

    Each query reads one file and is consumed at once: a DuckDB result left open while the pipeline
    works would hold its transaction, and with it a read lock on a SQLite catalog that makes every
    other writer's commit fail. Memory is bounded by the largest file (one ingest batch)."""
    for filename in _first_files(con, snapshot, after):
        rows = con.execute(f"SELECT {_ROW} FROM {L}.raw_documents {_at(snapshot)} WHERE filename = ? AND rowid > ? "
                           "ORDER BY ord", [filename, after]).to_arrow_table().to_pylist()
        for i in range(0, len(rows), chunk):
            yield from _annotate(con, snapshot, rows[i:i + chunk])


def _repeat_keys(con: duckdb.DuckDBPyConnection, snapshot: int, since: int | None) -> pa.Table:
    """Occurrences at another location than the first, by arrival, with where their bytes are (no bytes:
    one row per repeat is all that is held in memory)."""
    return con.execute(f"""
        SELECT r.rowid AS ord, r.filename AS file, o.raw_id, o.location, r.location AS first_location,
               coalesce(o.source_name, r.source_name) AS source_name, r.format, r.url, o.ts
        FROM ({_new_occurrences_sql(snapshot, since)}) o JOIN {L}.raw_documents AS r {_at(snapshot)} USING (raw_id)
        WHERE o.location <> r.location
        ORDER BY o.ts, ord, o.location""").to_arrow_table()


def _repeats(con: duckdb.DuckDBPyConnection, snapshot: int, since: int | None, chunk: int) -> Iterator[dict[str, Any]]:
    """Repeats with their first occurrence's bytes, fetched ``chunk`` at a time, file by file."""
    keys = _repeat_keys(con, snapshot, since)
    for offset in range(0, keys.num_rows, chunk):
        rows = keys.slice(offset, chunk).to_pylist()
        wanted: dict[str, list[int]] = {}
        for row in rows:
            wanted.setdefault(row["file"], []).append(row["ord"])
        content: dict[int, bytes] = {}
        for filename, ords in wanted.items():
            content.update(con.execute(
                f"SELECT rowid, content FROM {L}.raw_documents {_at(snapshot)} WHERE filename = ? "
                "AND rowid IN (SELECT unnest(?::BIGINT[]))", [filename, sorted(set(ords))]).fetchall())
        yield from _annotate(con, snapshot, [{**row, "content": content[row["ord"]]} for row in rows])


def _annotate(con: duckdb.DuckDBPyConnection, snapshot: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the ingest error of each record's first occurrence (its recorded reason: a repeat is the same
    bytes, so the same error) and, for HTML records of a warehouse older than ``raw_documents.url``,
    the URL its article or duplicate row kept."""
    at = _at(snapshot)
    keys = [(r["raw_id"], r.get("first_location", r["location"])) for r in rows]
    con.register("_chunk", pa.table({"raw_id": [k[0] for k in keys], "location": [k[1] for k in keys]}))
    try:
        errors = dict(((rid, loc), reason) for rid, loc, reason in con.execute(
            f"SELECT q.raw_id, q.location, arg_min(q.reason, q.quarantined_at) FROM {L}.quarantine AS q {at} "
            "JOIN _chunk c USING (raw_id, location) WHERE q.stage = 'ingest' AND NOT starts_with(q.reason, ?) "
            "GROUP BY ALL", [REPEAT_REASON]).fetchall())
        urls: dict[tuple[str, str], str] = {}
        if any(r["format"] == "html" and not r["url"] for r in rows):
            urls = dict(((rid, loc), url) for rid, loc, url in con.execute(
                f"SELECT raw_id, location, min(url) FROM (SELECT raw_id, location, url FROM {L}.articles {at} "
                f"UNION ALL SELECT raw_id, location, url FROM {L}.duplicates {at}) JOIN _chunk c USING (raw_id, location) "
                "WHERE url IS NOT NULL GROUP BY ALL").fetchall())
    finally:
        con.unregister("_chunk")
    for row, key in zip(rows, keys):
        row["error"] = errors.get(key)
        if row["format"] == "html" and not row["url"]:
            row["url"] = urls.get(key)
    return rows


def _by_arrival(firsts: Iterator[dict[str, Any]], repeats: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Merge: every repeat comes after the first occurrences that arrived no later than it."""
    pending = next(repeats, None)
    for first in firsts:
        while pending is not None and pending["ts"] < first["ts"]:
            yield pending
            pending = next(repeats, None)
        yield first
    while pending is not None:
        yield pending
        pending = next(repeats, None)


def rebuild_record(row: dict[str, Any]) -> RawRecord:
    """A raw record as ingestion produced it: the stored bytes, JSON parsed again, the ingest error."""
    fmt, content, error = row["format"], bytes(row["content"]), row.get("error")
    if error is None and fmt in JSON_FORMATS:
        try:
            fields = json.loads(content)
        except ValueError as exc:
            error = f"invalid JSON: {exc}"
        else:
            if not isinstance(fields, dict):
                error = f"JSON value is a {type(fields).__name__}, expected an object with article fields"
    elif error is None and fmt == "unknown":
        error = "unsupported file type"
    return RawRecord(row["raw_id"], row["location"], row["source_name"], fmt, content, error, row.get("url"))


def occurrence_records(wh: Warehouse, snapshot: int, since: int | None = None, chunk: int = 500) -> Iterator[RawRecord]:
    """Every occurrence of ``wh`` as of ``snapshot`` (only those added after snapshot ``since``, if
    given) as raw records, in ingestion order, on a read-only connection used by short queries only."""
    con = wh.connect(read_only=True)
    try:
        after = -1 if since is None else int(_scalar(
            con, f"SELECT coalesce(max(rowid), -1) FROM {L}.raw_documents {_at(since)}"))
        for row in _by_arrival(_firsts(con, snapshot, after, chunk), _repeats(con, snapshot, since, chunk)):
            yield rebuild_record(row)
    finally:
        con.close()


# --- the shadow and the swap -----------------------------------------------------------------------


def attach_shadow(con: duckdb.DuckDBPyConnection, shadow: Warehouse) -> None:
    """Attach the shadow lake read-only next to the main one (its catalog is always a SQLite file)."""
    con.execute(f"LOAD '{extension_path('sqlite_scanner')}'")
    uri = shadow.catalog_uri.replace("'", "''")
    con.execute(f"ATTACH '{uri}' AS {SHADOW} (DATA_PATH '{shadow.data_path}/', READ_ONLY)")


def detach_shadow(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"DETACH DATABASE IF EXISTS {SHADOW}")


def outcome_gaps(con: duckdb.DuckDBPyConnection, snapshot: int) -> dict[str, int]:
    """How far the shadow is from "every occurrence of the main warehouse ends in exactly one place":
    occurrences without an outcome, outcomes of unknown occurrences, occurrences with several."""
    outcomes = (f"SELECT raw_id, location FROM {SHADOW}.articles UNION ALL SELECT raw_id, location FROM "
                f"{SHADOW}.duplicates UNION ALL SELECT raw_id, location FROM {SHADOW}.quarantine WHERE resolved_at IS NULL")
    missing, unexpected, repeated = con.execute(f"""
        WITH o AS ({occurrences_sql(snapshot)}), s AS ({outcomes})
        SELECT (SELECT count(*) FROM o ANTI JOIN s USING (raw_id, location)),
               (SELECT count(*) FROM s ANTI JOIN o USING (raw_id, location)),
               (SELECT count(*) FROM (SELECT 1 FROM s GROUP BY raw_id, location HAVING count(*) > 1))""").fetchall()[0]
    gaps = {"without outcome": missing, "unknown": unexpected, "several outcomes": repeated}
    return {k: int(v) for k, v in gaps.items() if v}


def table_counts(con: duckdb.DuckDBPyConnection, catalog: str = L) -> dict[str, int]:
    """Rows per derived table (and raw_documents), for the before/after report."""
    names = ["raw_documents", *(t.name for t in derived_tables())]
    sql = " UNION ALL ".join(f"SELECT '{n}', count(*) FROM {catalog}.{n}" for n in names)
    return {name: int(n) for name, n in con.execute(sql).fetchall()}


def _copy(table: Table, run_id: str) -> Statement:
    """INSERT the shadow's rows: ``run_id`` becomes the reprocess run's, arrival times stay the original ones."""
    arrival = ARRIVAL_COLUMNS.get(table.name)
    select = []
    for column in table.column_names:
        if column == "run_id":
            select.append("CAST(? AS VARCHAR)")
        elif column == arrival:
            select.append(f'coalesce(a.ts, s."{column}")')
        else:
            select.append(f's."{column}"')
    join = " LEFT JOIN _reprocess_arrivals a ON a.raw_id = s.raw_id AND a.location = s.location" if arrival else ""
    sql = f"INSERT INTO {L}.{table.name} ({table.column_list}) SELECT {', '.join(select)} FROM {SHADOW}.{table.name} s{join}"
    return sql, [run_id] if "run_id" in table.column_names else []


def swap_statements(run_id: str) -> list[Statement]:
    """Every derived table emptied and refilled from the shadow; gold tables recomputed from the new
    base tables (their processing days depend on the arrival times kept by :func:`_copy`)."""
    from akhbar.warehouse import gold

    gold_names = {t.name for t in GOLD_TABLES}
    statements: list[Statement] = []
    for table in derived_tables():
        statements.append((f"DELETE FROM {L}.{table.name}", []))
        if table.name not in gold_names:
            statements.append(_copy(table, run_id))
    return [*statements, *gold.rebuild_statements()]


def swap(con: duckdb.DuckDBPyConnection, run_id: str, extra: Sequence[Statement] = ()) -> None:
    """Replace every derived table by the shadow's in ONE transaction (then ``extra``, e.g. the runs
    row): readers see the old warehouse or the new one, never a mix. Call with the publish lock held
    and the shadow attached."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _reprocess_arrivals AS {occurrences_sql(current_snapshot(con))}")
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            for sql, params in [*swap_statements(run_id), *extra]:
                con.execute(sql, params)
            fault_point("mid-swap")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute("DROP TABLE IF EXISTS temp._reprocess_arrivals")
