"""The DuckLake warehouse: atomic multi-table publish, schema, and the read-only SQL surface."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from akhbar.warehouse.lake import Warehouse, WarehouseError, fixed_width_rows
from akhbar.warehouse.schema import QUARANTINE, RAW_DOCUMENTS
from akhbar.warehouse.sql import QueryRefused, check_read_only, run_query

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _raw(raw_id: str) -> dict:
    return {"raw_id": raw_id, "location": "x", "source_name": "s", "format": "txt", "content": b"abc",
            "byte_size": 3, "ingested_at": NOW, "run_id": "r"}


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    wh = Warehouse(tmp_path / "wh")
    con = wh.connect()
    wh.ensure_schema(con)
    wh.ensure_schema(con)  # idempotent
    con.close()
    return wh


def test_publish_is_atomic_across_tables(warehouse: Warehouse) -> None:
    con = warehouse.connect()
    good = RAW_DOCUMENTS.from_rows([_raw("a")])
    bad = pa.table({"nonsense": [1]})  # cannot be inserted into quarantine
    with pytest.raises(Exception):
        warehouse.publish(con, {"raw_documents": good, "quarantine": bad})
    assert con.execute("select count(*) from raw_documents").fetchone() == (0,)
    warehouse.publish(con, {"raw_documents": good, "quarantine": QUARANTINE.empty()})
    assert con.execute("select count(*) from raw_documents").fetchone() == (1,)
    assert warehouse.known_ids(con, "raw_documents", "raw_id", ["a", "b"], extra="run_id") == {"a": ("r",)}
    con.close()
    # Tables are Parquet files on disk, not rows inlined in the catalog.
    assert list(warehouse.data_path.rglob("*.parquet"))


def _file_cache_bytes(con) -> int:
    return con.execute("SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                       "WHERE tag = 'EXTERNAL_FILE_CACHE'").fetchone()[0]


def test_the_writer_keeps_no_copy_of_the_files_it_reads(warehouse: Warehouse) -> None:
    """DuckDB caches what it reads of a file until memory runs short, and a writer makes new files
    every batch: in a run the cache grew by ~0.4 KB per article published. Writers turn it off."""
    con = warehouse.connect()
    for i in range(5):
        warehouse.publish(con, {"raw_documents": RAW_DOCUMENTS.from_rows([_raw(f"r{i}")])})
        assert warehouse.known_ids(con, "raw_documents", "raw_id", [f"r{i}", "x"]) == {f"r{i}": ()}
    assert _file_cache_bytes(con) == 0
    con.execute("SET enable_external_file_cache = true")  # what the setting prevents
    warehouse.known_ids(con, "raw_documents", "raw_id", ["r0"])
    assert _file_cache_bytes(con) > 0
    con.close()


@pytest.mark.parametrize("sql", [
    "insert into articles (title) values ('x')", "delete from articles", "drop table articles",
    "create table t as select 1", "copy articles to 'x.csv'", "attach 'x.db'", "install fts", "load fts",
    "set enable_external_access = true", "select 1; delete from articles",
])
def test_sql_refuses_anything_but_reads(sql: str) -> None:
    with pytest.raises(QueryRefused):
        check_read_only(sql)


def test_sql_reads_tables_but_not_files(warehouse: Warehouse) -> None:
    assert run_query(warehouse, "select count(*) as n from articles").rows == [(0,)]
    assert run_query(warehouse, "with x as (select 1 as a) select a from x").rows == [(1,)]
    with pytest.raises(Exception, match="disabled by configuration"):
        run_query(warehouse, "select * from read_csv('/etc/passwd')")
    with pytest.raises(Exception, match="disabled by configuration"):
        run_query(warehouse, f"select * from read_parquet('{warehouse.root}/../*.parquet')")


def test_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="akhbar run"):
        run_query(Warehouse(tmp_path / "none"), "select 1")


def test_postgres_catalog_accepts_concurrent_writers(tmp_path: Path, postgres_catalog: str,
                                                   postgres_schema: str) -> None:
    """Two writers commit to one PostgreSQL catalog at the same time; both succeed."""
    import threading

    wh = Warehouse(tmp_path / "wh", catalog=postgres_catalog, catalog_schema=postgres_schema)
    con = wh.connect()
    wh.ensure_schema(con)
    con.close()
    errors: list[BaseException] = []

    def write(raw_id: str) -> None:
        try:
            c = wh.connect()
            wh.publish(c, {"raw_documents": RAW_DOCUMENTS.from_rows([_raw(raw_id)])})
            c.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"r{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    reader = wh.connect(read_only=True)
    try:
        assert reader.execute("select count(*) from raw_documents").fetchone() == (2,)
    finally:
        reader.close()  # an open reader holds locks the fixture's DROP SCHEMA would wait for


def test_a_blob_column_of_equal_rows_reads_as_one_array(warehouse: Warehouse) -> None:
    rows = np.arange(12, dtype="<u4").reshape(4, 3)
    con = warehouse.connect()
    con.register("_sigs", pa.table({"signature": pa.array([r.tobytes() for r in rows], pa.binary())}))
    column = con.execute("SELECT signature FROM _sigs").to_arrow_table().column("signature")
    assert (fixed_width_rows(column, np.dtype("<u4")) == rows).all()
    sliced = pa.array([r.tobytes() for r in rows], pa.large_binary()).slice(1, 2)  # an offset into the buffers
    assert (fixed_width_rows(sliced, np.dtype("<u4")) == rows[1:3]).all()
    assert fixed_width_rows(pa.array([], pa.binary()), np.dtype("<u4")).size == 0
    with pytest.raises(ValueError, match="not rows"):
        fixed_width_rows(pa.array([b"abcd", b"ab"]), np.dtype("<u4"))
    with pytest.raises(ValueError, match="NULL"):
        fixed_width_rows(pa.array([b"abcd", None]), np.dtype("<u4"))


def test_ensure_schema_adds_the_tables_and_columns_an_older_warehouse_lacks(warehouse: Warehouse) -> None:
    con = warehouse.connect()
    con.execute("ALTER TABLE raw_documents DROP COLUMN url")
    con.execute("DROP TABLE source_totals")
    warehouse.ensure_schema(con)
    columns = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                         "WHERE table_name = 'raw_documents'").fetchall()}
    assert "url" in columns
    assert con.execute("SELECT count(*) FROM source_totals").fetchone() == (0,)
    con.close()
