"""The warehouse: DuckLake tables (Parquet data files + a SQLite catalog) queried through DuckDB.

Why DuckLake: every publish is one catalog transaction over all tables (a batch's articles, raw
documents, duplicates and quarantine rows appear together or not at all), snapshots give time
travel, and the data stays plain Parquet. Why a SQLite catalog by default: readers (``akhbar sql``)
can query while a writer commits, which a DuckDB-file catalog does not allow across processes.
Extensions are loaded from PyPI packages by path, so nothing is downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
from filelock import FileLock

from akhbar.warehouse.locks import PostgresAdvisoryLock, advisory_key
from akhbar.warehouse.schema import ALL_TABLES, TABLES

CATALOG_NAME = "lake"
_EXTENSION_PACKAGES = {
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
}


class WarehouseError(RuntimeError):
    """A warehouse problem with a message that says what to do."""


def extension_path(name: str) -> str:
    """Path of a DuckDB extension shipped in its PyPI package (no download, ever)."""
    package = _EXTENSION_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise WarehouseError(f"DuckDB extension {name!r} missing: pip install {package.replace('_', '-')}")
    path = Path(spec.origin).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        raise WarehouseError(f"{path} not found: the {package} version must match duckdb {duckdb.__version__}")
    return str(path)


def cap_memory(con: duckdb.DuckDBPyConnection, spill: Path) -> None:
    """The lake writer's DuckDB memory cap (``AKHBAR_DUCKDB_MEMORY_LIMIT``, 1 GB), spilling to ``spill``."""
    con.execute(f"SET memory_limit = '{os.environ.get('AKHBAR_DUCKDB_MEMORY_LIMIT', '1GB')}'")
    con.execute(f"SET temp_directory = '{spill}'")


def new_connection(extensions: tuple[str, ...] = ("sqlite_scanner", "ducklake")) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the given extensions loaded from disk and auto-install disabled."""
    con = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    for ext in extensions:
        con.execute(f"LOAD '{extension_path(ext)}'")
    return con


def fixed_width_rows(column: pa.Array | pa.ChunkedArray, dtype: np.dtype) -> np.ndarray:
    """A BLOB column whose values are equally long arrays of ``dtype`` as one (rows, n) array.

    Why: reading a million MinHash signatures one bytes object at a time took ~5 s of Python; the
    values sit back to back in the Arrow column's data buffer, so one view of it is enough.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if array.null_count:
        raise ValueError("fixed_width_rows: the column has NULLs")
    if len(array) == 0:
        return np.empty((0, 0), dtype=dtype)
    offset_type = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[array.offset: array.offset + len(array) + 1]
    widths = np.diff(offsets)
    if widths.min() != widths.max() or widths[0] % dtype.itemsize:
        raise ValueError(f"fixed_width_rows: values of {widths.min()}-{widths.max()} bytes are not rows of {dtype}")
    data = np.frombuffer(data_buf, dtype=np.uint8)[offsets[0]: offsets[-1]]
    return data.view(dtype).reshape(len(array), int(widths[0]) // dtype.itemsize)


class Warehouse:
    """A warehouse directory: ``catalog.sqlite``, ``data/`` (Parquet), ``gx/`` (Data Docs), ``staging/``.

    ``catalog`` selects where the DuckLake catalog lives: ``None`` for the SQLite file in the
    directory, or ``postgres:<libpq connection string>`` (e.g. ``postgres:dbname=akhbar
    host=127.0.0.1``) for a PostgreSQL catalog that several machines can share and that accepts
    concurrent commits. Data files always live under ``root/data``.
    """

    def __init__(self, root: Path | str, catalog: str | None = None, catalog_schema: str | None = None):
        self.root = Path(root).resolve()
        self.catalog = catalog or os.environ.get("AKHBAR_CATALOG") or None
        # PostgreSQL schema for DuckLake's metadata tables (several warehouses in one database).
        self.catalog_schema = catalog_schema or os.environ.get("AKHBAR_CATALOG_SCHEMA") or None
        if self.catalog and not self.catalog.startswith("postgres:"):
            raise WarehouseError(f"unsupported catalog {self.catalog!r}: use postgres:<connection string> or unset it")

    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.sqlite"

    @property
    def data_path(self) -> Path:
        return self.root / "data"

    @property
    def staging_path(self) -> Path:
        return self.root / "staging"

    @property
    def reprocess_path(self) -> Path:
        """Shadow warehouses of ``akhbar reprocess`` runs, one directory per run id."""
        return self.root / "reprocess"

    @property
    def catalog_uri(self) -> str:
        return f"ducklake:{self.catalog}" if self.catalog else f"ducklake:sqlite:{self.catalog_path}"

    @property
    def metadata_schema(self) -> str:
        """Where DuckLake's own tables (files, snapshots) are, as seen from a connection of ours."""
        schema = (self.catalog_schema or "public") if self.catalog else "main"
        return f'"__ducklake_metadata_{CATALOG_NAME}"."{schema}"'

    def exists(self) -> bool:
        if self.catalog:
            return self.data_path.exists()
        return self.catalog_path.exists()

    def publish_lock(self, timeout: float = 600.0) -> FileLock | PostgresAdvisoryLock:
        """Serializes writers: SQLite catalogs fail concurrent commits with 'database is locked',
        and dedup must see every earlier publish. With a PostgreSQL catalog the lock lives in
        PostgreSQL, so writers on different machines exclude each other too."""
        if self.catalog:
            return self._advisory_lock("publish", timeout)
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".publish.lock"), timeout=timeout)

    def run_lock(self, run_id: str) -> FileLock | PostgresAdvisoryLock:
        """Held by a live run for its whole life; released by the OS (file) or by PostgreSQL (its
        session ends) when the process dies, even with kill -9."""
        if self.catalog:
            return self._advisory_lock(f"run:{run_id}", 0)
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"run-{run_id}.lock"), timeout=0)

    def _advisory_lock(self, name: str, timeout: float) -> PostgresAdvisoryLock:
        assert self.catalog is not None
        conninfo = self.catalog.removeprefix("postgres:")
        return PostgresAdvisoryLock(conninfo, advisory_key(self.catalog_schema or "public", name), timeout)

    def is_alive(self, run_id: str) -> bool:
        """Whether the run that owns ``run_id`` still holds its lock (i.e. its process is running)."""
        lock = self.run_lock(run_id)
        try:
            lock.acquire()
        except TimeoutError:
            return True
        lock.release()
        if isinstance(lock, FileLock):
            Path(lock.lock_file).unlink(missing_ok=True)
        return False

    def _attach_sql(self, read_only: bool, snapshot: int | None = None) -> str:
        options = [f"DATA_PATH '{self.data_path}/'"]
        if self.catalog and self.catalog_schema:
            options.append(f"METADATA_SCHEMA '{self.catalog_schema}'")
        if snapshot is not None:
            # Time travel: every table as of that DuckLake snapshot (readers only).
            options.append(f"SNAPSHOT_VERSION {int(snapshot)}")
        if read_only:
            options.append("READ_ONLY")
        else:
            # Always write Parquet files (no inlining of small inserts into the catalog), so every
            # table is readable as Parquet by any tool.
            options.append("DATA_INLINING_ROW_LIMIT 0")
        uri = self.catalog_uri.replace("'", "''")
        return f"ATTACH '{uri}' AS {CATALOG_NAME} ({', '.join(options)})"

    @staticmethod
    def _attach(con: duckdb.DuckDBPyConnection, sql: str, attempts: int = 20) -> None:
        """ATTACH, retried while SQLite reports the catalog locked: two runs starting at once on a
        new warehouse both create DuckLake's metadata tables, and the loser sees "database is locked"
        (seen in the concurrent-runs test on a loaded machine)."""
        for attempt in range(attempts):
            try:
                con.execute(sql)
                return
            except duckdb.Error as exc:
                if "database is locked" not in str(exc) or attempt == attempts - 1:
                    raise
                time.sleep(min(0.05 * 2 ** attempt, 2.0))

    def connect(self, read_only: bool = False, snapshot: int | None = None) -> duckdb.DuckDBPyConnection:
        """A DuckDB connection with the lake attached and selected (``USE lake``).

        ``snapshot`` attaches the lake as of that DuckLake snapshot id (read-only connections only).
        """
        if snapshot is not None and not read_only:
            raise WarehouseError("a past snapshot can only be opened read-only")
        if read_only and not self.exists():
            raise WarehouseError(f"no warehouse at {self.root}: run `akhbar run` first (or pass --warehouse)")
        con = new_connection(("postgres_scanner", "ducklake") if self.catalog else ("sqlite_scanner", "ducklake"))
        if not read_only:
            self.data_path.mkdir(parents=True, exist_ok=True)
            # DuckDB's default cache is 80% of RAM; a writer's working set is one batch. Capped,
            # it spills to disk instead (measured: the flow process peaked at 1.6 GB uncapped).
            cap_memory(con, self.root / "tmp")
            con.execute("SET preserve_insertion_order = false")  # lets big inserts stream and spill
            # DuckDB keeps what it reads of a file in an external file cache that only memory
            # pressure empties, and a writer creates new files every batch (gold refreshes,
            # compaction): the cache grew by ~0.4 KB per article published (41 MB at 95k), bound
            # for the 1 GB cap. Local files are in the OS page cache anyway.
            con.execute("SET enable_external_file_cache = false")
        try:
            self._attach(con, self._attach_sql(read_only, snapshot))
        except duckdb.Error as exc:
            con.close()
            raise WarehouseError(f"cannot open the warehouse catalog {self.catalog_uri}: {exc}") from exc
        con.execute(f"USE {CATALOG_NAME}")
        return con

    def ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create missing tables, and add columns that a newer akhbar declares (additive migrations).

        One catalog query finds what exists: a statement per table cost a run with nothing new
        0.6 s of its ~5 s (SaudiNewsNet warehouse, 21 tables)."""
        existing: dict[str, set[str]] = {}
        for table_name, column_name in con.execute(
                "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ?",
                [CATALOG_NAME]).fetchall():
            existing.setdefault(table_name, set()).add(column_name)
        for table in ALL_TABLES:
            if table.name not in existing:
                con.execute(table.ddl())
                continue
            for col in table.columns:
                if col.name not in existing[table.name]:
                    con.execute(f'ALTER TABLE {table.name} ADD COLUMN "{col.name}" {col.sql_type}')

    def publish(self, con: duckdb.DuckDBPyConnection, tables: Mapping[str, pa.Table | Path],
                statements: Sequence[tuple[str, list]] = ()) -> None:
        """Append to several tables in ONE transaction: all rows become visible together, or none.

        Values are Arrow tables or paths of staged Parquet files. Columns are matched by name.
        ``statements`` (SQL, parameters) run in the same transaction after the inserts (e.g. marking
        replayed quarantine rows resolved).
        """
        from akhbar.faults import fault_point

        con.execute("BEGIN TRANSACTION")
        try:
            for i, (name, data) in enumerate(tables.items()):
                if i == 2:
                    fault_point("mid-commit")
                cols = TABLES[name].column_list
                if isinstance(data, Path):
                    con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM read_parquet(?)", [str(data)])
                elif data.num_rows:
                    view = f"_publish_{name}"
                    con.register(view, data)
                    try:
                        con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM {view}")
                    finally:
                        con.unregister(view)
            for sql, params in statements:
                con.execute(sql, params)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def known_ids(self, con: duckdb.DuckDBPyConnection, table: str, column: str, ids: list[str],
                  extra: str = "") -> dict[str, tuple]:
        """Which of ``ids`` exist in ``table.column`` (with the ``extra`` columns of the first match)."""
        if not ids:
            return {}
        if extra:
            # A filter inside the scan decodes the extra (possibly wide) columns of matching rows
            # only; a join decodes them for every row. Fetching the matching keys of 2,000 stored
            # articles spread over 204 data files of 5,000 (a million articles as batches write
            # them): 4.6 s by filter, 6.3 s by join, 4.3 s by a join on ids for row ids and then a
            # filter on those (200 keys: 1.9 / 6.4 / 1.8 s). The filter compares every stored id
            # with every wanted one, but decoding the wide column is what costs. Plain membership
            # is faster as a join (0.06 s against 0.36 s for 5,000 ids), which is what follows.
            rows = con.execute(f"SELECT t.{column}, {extra} FROM {table} t "
                               f"WHERE list_contains(?::VARCHAR[], t.{column})", [sorted(set(ids))]).fetchall()
            return {r[0]: tuple(r[1:]) for r in rows}
        probe = pa.table({"id": pa.array(sorted(set(ids)), pa.string())})
        con.register("_probe", probe)
        try:
            select = f", {extra}" if extra else ""
            rows = con.execute(
                f"SELECT t.{column}{select} FROM {table} t JOIN _probe p ON t.{column} = p.id"
            ).fetchall()
        finally:
            con.unregister("_probe")
        return {r[0]: tuple(r[1:]) for r in rows}

    def known_occurrences(self, con: duckdb.DuckDBPyConnection, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (raw_id, location) occurrences already have an outcome (article, duplicate, quarantine)."""
        if not pairs:
            return set()
        probe = pa.table({"raw_id": [p[0] for p in pairs], "location": [p[1] for p in pairs]})
        con.register("_occ", probe)
        try:
            rows = con.execute(
                "SELECT o.raw_id, o.location FROM _occ o WHERE EXISTS (SELECT 1 FROM ("
                "SELECT raw_id, location FROM articles UNION ALL SELECT raw_id, location FROM duplicates "
                "UNION ALL SELECT raw_id, location FROM quarantine) t "
                "WHERE t.raw_id = o.raw_id AND t.location = o.location)"
            ).fetchall()
        finally:
            con.unregister("_occ")
        return {(r[0], r[1]) for r in rows}

    @contextmanager
    def staging(self, run_id: str, batch_no: int) -> Iterator[Path]:
        """A private directory for one batch's staged files; removed once the batch is done."""
        path = self.staging_path / run_id / f"batch-{batch_no:05d}"
        path.mkdir(parents=True, exist_ok=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def delete_orphaned_files(self, con: duckdb.DuckDBPyConnection) -> int:
        """Delete data files no snapshot references (written by a writer killed before its commit).

        Call with the publish lock held: only a writer holding it can have files in flight.
        """
        rows = con.execute(f"SELECT * FROM ducklake_delete_orphaned_files('{CATALOG_NAME}', cleanup_all => true)").fetchall()
        return len(rows)

    def clear_dead_staging(self) -> int:
        """Remove staged files and reprocess shadow warehouses of runs that died (never visible to
        readers). Returns dirs removed."""
        removed = 0
        for parent in (self.staging_path, self.reprocess_path):
            if parent.exists():
                for child in parent.iterdir():
                    if not self.is_alive(child.name):
                        shutil.rmtree(child, ignore_errors=True)
                        removed += 1
        return removed
