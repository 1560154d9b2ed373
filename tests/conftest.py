"""Shared test helpers: where the project root and the read-only ../shared data live."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SAUDINEWSNET = SHARED / "corpora" / "news" / "saudinewsnet" / "zips"


@pytest.fixture
def saudinewsnet_zips() -> list[Path]:
    """The SaudiNewsNet day files; the test is skipped (not failed) on machines without ../shared."""
    zips = sorted(SAUDINEWSNET.glob("*.zip"))
    if not zips:
        pytest.skip(f"SaudiNewsNet corpus not found under {SAUDINEWSNET} (../shared is absent)")
    return zips


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (it costs 10–15 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def seed_article() -> Path:
    return ROOT / "seeds" / "articles" / "000_05fbb24d40aed679.txt"

SEED_NAME = "000_05fbb24d40aed679.txt"


@pytest.fixture
def seed_text() -> str:
    """The project's seed article (its folder under seeds/ has moved before; find it by name)."""
    found = sorted((ROOT / "seeds").rglob(SEED_NAME))
    assert found, f"seed article {SEED_NAME} not found under {ROOT / 'seeds'}"
    return found[0].read_text(encoding="utf-8")


@pytest.fixture
def postgres_catalog() -> str:
    """The CI machine's PostgreSQL as a DuckLake catalog string; skipped where no server answers."""
    import socket

    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    return "postgres:dbname=test host=127.0.0.1 user=postgres"


@pytest.fixture
def postgres_schema(postgres_catalog: str) -> Iterator[str]:
    """A new PostgreSQL schema for one warehouse's DuckLake catalog, dropped afterwards."""
    import uuid

    import duckdb

    from akhbar.warehouse.lake import extension_path

    schema = f"akhbar_test_{uuid.uuid4().hex[:8]}"
    admin = duckdb.connect()
    admin.execute(f"LOAD '{extension_path('postgres_scanner')}'")
    admin.execute(f"ATTACH '{postgres_catalog.removeprefix('postgres:')}' AS pg (TYPE postgres)")
    admin.execute(f"CALL postgres_execute('pg', 'CREATE SCHEMA {schema}')")
    try:
        yield schema
    finally:
        admin.execute(f"CALL postgres_execute('pg', 'DROP SCHEMA {schema} CASCADE')")
        admin.close()
