"""Locks that work across machines when the catalog is PostgreSQL.

With the SQLite catalog every writer is on one machine and file locks under the warehouse
directory serialize publishes and tell live runs from dead ones. A PostgreSQL catalog is shared
by workers on several machines, where a file lock on one machine means nothing to another. There
the same two locks are PostgreSQL *session advisory locks*: held by a connection, released by the
server when that connection ends, so a writer killed with SIGKILL (or a machine that dies) frees
its locks without any clean-up. Same interface as ``filelock.FileLock`` (acquire, release, with).

asyncpg (already installed with Prefect) is the driver; it runs on a private event loop in a
daemon thread, so callers stay synchronous.
"""

from __future__ import annotations

import asyncio
import hashlib
import shlex
import threading
import time
from typing import Any


def advisory_key(*parts: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from names (schema, lock name)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def libpq_kwargs(conninfo: str) -> dict[str, Any]:
    """``dbname=x host=y port=5432 user=u`` (DuckDB's form of a Postgres catalog) → asyncpg arguments."""
    if conninfo.startswith(("postgres://", "postgresql://")):
        return {"dsn": conninfo}
    names = {"dbname": "database", "host": "host", "port": "port", "user": "user", "password": "password"}
    out: dict[str, Any] = {}
    for token in shlex.split(conninfo):
        key, _, value = token.partition("=")
        if key in names:
            out[names[key]] = int(value) if key == "port" else value
    return out


class _Loop:
    """One event loop in a daemon thread, shared by every advisory lock of the process."""

    _instance: _Loop | None = None
    _guard = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="akhbar-pg-locks", daemon=True).start()

    @classmethod
    def get(cls) -> _Loop:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)


class PostgresAdvisoryLock:
    """A session advisory lock; ``timeout`` < 0 waits forever, 0 tries once (like FileLock)."""

    def __init__(self, conninfo: str, key: int, timeout: float = -1, poll_s: float = 0.2) -> None:
        self.conninfo, self.key, self.timeout, self.poll_s = conninfo, key, timeout, poll_s
        self._conn: Any = None

    @property
    def is_locked(self) -> bool:
        return self._conn is not None

    def acquire(self, timeout: float | None = None) -> PostgresAdvisoryLock:
        import asyncpg

        if self._conn is not None:
            return self
        timeout = self.timeout if timeout is None else timeout
        loop = _Loop.get()
        conn = loop.run(asyncpg.connect(**libpq_kwargs(self.conninfo), timeout=30))
        deadline = time.monotonic() + timeout
        while not loop.run(conn.fetchval("SELECT pg_try_advisory_lock($1)", self.key)):
            if timeout >= 0 and time.monotonic() >= deadline:
                loop.run(conn.close())
                raise TimeoutError(f"advisory lock {self.key} is held by another session")
            time.sleep(self.poll_s)
        self._conn = conn
        return self

    def release(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        loop = _Loop.get()
        try:
            loop.run(conn.fetchval("SELECT pg_advisory_unlock($1)", self.key), timeout=30)
        finally:
            loop.run(conn.close(), timeout=30)  # closing the session would release it anyway

    def __enter__(self) -> PostgresAdvisoryLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
