"""Cross-machine locks for a PostgreSQL catalog: exclusive, timed, and released when a holder dies."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.locks import PostgresAdvisoryLock, advisory_key, libpq_kwargs


def test_libpq_conninfo_becomes_driver_arguments() -> None:
    assert libpq_kwargs("dbname=test host=127.0.0.1 port=5433 user=postgres") == {
        "database": "test", "host": "127.0.0.1", "port": 5433, "user": "postgres"}
    assert libpq_kwargs("postgresql://u@h/db") == {"dsn": "postgresql://u@h/db"}
    assert advisory_key("s", "publish") == advisory_key("s", "publish") != advisory_key("t", "publish")


def test_advisory_lock_excludes_times_out_and_is_released(postgres_catalog: str) -> None:
    conninfo = postgres_catalog.removeprefix("postgres:")
    key = advisory_key("akhbar-test", uuid.uuid4().hex)
    first = PostgresAdvisoryLock(conninfo, key).acquire()
    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            PostgresAdvisoryLock(conninfo, key, timeout=0.5).acquire()
        assert time.monotonic() - started >= 0.5
    finally:
        first.release()
    with PostgresAdvisoryLock(conninfo, key, timeout=0):
        pass


def test_a_killed_holder_frees_the_lock_and_its_run_reads_as_dead(tmp_path: Path, postgres_catalog: str) -> None:
    """What a second machine sees of a run whose process was killed with SIGKILL."""
    catalog = postgres_catalog
    schema = f"akhbar_lock_{uuid.uuid4().hex[:8]}"
    wh = Warehouse(tmp_path / "wh", catalog=catalog, catalog_schema=schema)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from akhbar.warehouse.lake import Warehouse\n"
        f"wh = Warehouse({str(tmp_path / 'wh')!r}, catalog={catalog!r}, catalog_schema={schema!r})\n"
        "held = [wh.run_lock('r1').acquire(), wh.publish_lock().acquire()]\n"
        "print('held', flush=True); time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert wh.is_alive("r1")
        with pytest.raises(TimeoutError):
            wh.publish_lock(timeout=0.3).acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while wh.is_alive("r1") and time.monotonic() < deadline:
        time.sleep(0.2)  # the server notices the closed session
    assert not wh.is_alive("r1")
    with wh.publish_lock(timeout=5):
        pass
