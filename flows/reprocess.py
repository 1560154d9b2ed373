"""``akhbar reprocess``: rebuild every derived table from ``raw_documents`` with the current code,
then switch readers to the result in one transaction.

Why a shadow warehouse and the normal pipeline: the shadow (``<warehouse>/reprocess/<run_id>/``) is
filled by ``run_pipeline`` itself, so dedup, near-duplicate clusters, entities, templates and
validation behave exactly as in a fresh ingest, and readers of the main warehouse see nothing until
the swap: one DuckLake transaction that empties every derived table and refills it from the shadow.
A crash before that commit leaves the main warehouse as it was (the next run deletes the shadow of a
dead reprocess, as it deletes dead staging directories).

Why a catch-up under the publish lock: other runs may publish while the shadow is being built. Once
no other run is alive, the publish lock is taken (no one can publish any more), what they added
since the reprocess started is streamed into the shadow too, every occurrence is checked to have
exactly one outcome in the shadow, and only then is the swap committed.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import duckdb
from filelock import FileLock
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from akhbar.config import Settings, current_pipeline_version, get_settings
from akhbar.faults import fault_point
from akhbar.flows.pipeline import RunSummary, _finish_run, _start_run, new_run_id, run_pipeline
from akhbar.tasks.ingest import FieldMap
from akhbar.tasks.validate import ValidationError
from akhbar.warehouse import reprocess as rp
from akhbar.warehouse.lake import Warehouse, WarehouseError

REPROCESS_INPUT = "reprocess"  # what `runs.inputs` says for a reprocess run


class ReprocessRefused(WarehouseError):
    """Another run is active: reprocessing now would race it."""


@dataclass
class ReprocessSummary:
    """What a reprocess did: where every record ended, and the rows per table before and after."""

    run_id: str
    warehouse: str
    pipeline_version: str
    status: str = "running"
    records_in: int = 0
    published: int = 0
    duplicates: int = 0
    quarantined: int = 0
    caught_up: int = 0  # records other runs published during the reprocess, reprocessed under the lock
    batches: int = 0
    validation_success: bool = True
    before: dict[str, int] = field(default_factory=dict)
    after: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    search_index: str | None = None
    error: str | None = None

    def add(self, run: RunSummary) -> None:
        """Count a shadow run (the main pass, or the catch-up)."""
        self.records_in += run.records_in
        self.published += run.published
        self.duplicates += run.duplicates
        self.quarantined += run.quarantined
        self.batches += run.batches
        for reason, n in run.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + n

    def as_run(self) -> RunSummary:
        """The same numbers as a ``runs`` row."""
        return RunSummary(run_id=self.run_id, status=self.status, records_in=self.records_in,
                          published=self.published, duplicates=self.duplicates, quarantined=self.quarantined,
                          batches=self.batches, warehouse=self.warehouse, seconds=self.seconds, error=self.error,
                          validation_success=self.validation_success)

    def to_markdown(self) -> str:
        lines = [f"## akhbar reprocess `{self.run_id}`: {self.status}", "",
                 f"Pipeline version **{self.pipeline_version}**; {self.records_in:,} records "
                 f"({self.caught_up:,} caught up): {self.published:,} published, {self.duplicates:,} duplicates, "
                 f"{self.quarantined:,} quarantined.", "", "| table | before | after |", "|---|---:|---:|"]
        lines += [f"| {t} | {self.before.get(t, 0):,} | {self.after.get(t, 0):,} |" for t in self.after or self.before]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        return "\n".join(lines)


@contextmanager
def _local_catalog() -> Iterator[None]:
    """Hide ``AKHBAR_CATALOG``/``AKHBAR_CATALOG_SCHEMA`` while shadow Warehouse objects are made: the
    shadow is always a private SQLite-catalog lake in the warehouse directory, never a second writer
    on a shared PostgreSQL catalog."""
    saved = {k: os.environ.pop(k) for k in ("AKHBAR_CATALOG", "AKHBAR_CATALOG_SCHEMA") if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _live_runs(wh: Warehouse, con: duckdb.DuckDBPyConnection, own: str) -> list[str]:
    """Runs marked running whose process still holds its lock (dead ones are not in the way)."""
    rows = con.execute("SELECT run_id FROM runs WHERE status = 'running' AND run_id <> ? ORDER BY run_id",
                       [own]).fetchall()
    return [run_id for (run_id,) in rows if wh.is_alive(run_id)]


def _refuse_if_busy(wh: Warehouse, con: duckdb.DuckDBPyConnection) -> None:
    """Fail at once, before hours of work, if a run is alive (its work would have to be waited for)."""
    with wh.publish_lock():
        busy = _live_runs(wh, con, "")
    if busy:
        raise ReprocessRefused(f"another run is active ({', '.join(busy)}); wait until it ends, then run "
                               "`akhbar reprocess` again (see: akhbar sql \"select run_id, status from runs "
                               "where status = 'running'\")")


@contextmanager
def _exclusive(wh: Warehouse, con: duckdb.DuckDBPyConnection, own: str, timeout: float) -> Iterator[None]:
    """Hold the publish lock at a moment when no other run is alive, so nothing can be published
    between the catch-up and the swap, and no run carries state from before the swap past it.

    Runs started during the reprocess are waited for (up to ``timeout`` seconds); a run that starts
    now waits at its start for the lock, and then sees the new warehouse.
    """
    deadline = time.monotonic() + timeout
    while True:
        lock: FileLock = wh.publish_lock(max(0.0, deadline - time.monotonic()))
        lock.acquire()
        busy = _live_runs(wh, con, own)
        if not busy:
            break
        lock.release()
        if time.monotonic() >= deadline:
            raise ReprocessRefused(f"runs still active after {timeout:.0f} s: {', '.join(busy)}; nothing was "
                                   "changed, run `akhbar reprocess` again when they have ended "
                                   "(or raise AKHBAR_PUBLISH_LOCK_TIMEOUT_S)")
        time.sleep(1.0)
    try:
        yield
    finally:
        lock.release()


def _shadow_pass(wh: Warehouse, shadow_settings: Settings, field_map: FieldMap, snapshot: int,
                 since: int | None = None) -> RunSummary:
    """One normal pipeline run into the shadow over the main warehouse's occurrences."""
    with _local_catalog():
        return run_pipeline([], shadow_settings, field_map,
                            record_source=lambda: rp.occurrence_records(wh, snapshot, since))


def _runs_update(s: ReprocessSummary) -> rp.Statement:
    """The reprocess's ``runs`` row, completed in the swap transaction itself."""
    return ("UPDATE runs SET ended_at = ?, status = 'completed', records_in = ?, published = ?, duplicates = ?, "
            "quarantined = ?, skipped = 0, batches = ?, validation_success = true, error = NULL WHERE run_id = ?",
            [datetime.now(timezone.utc), s.records_in, s.published, s.duplicates, s.quarantined, s.batches, s.run_id])


def _swap_when_exclusive(wh: Warehouse, con: duckdb.DuckDBPyConnection, shadow: Warehouse,
                         shadow_settings: Settings, field_map: FieldMap, snapshot: int, summary: ReprocessSummary,
                         timeout: float) -> None:
    """Catch up with what other runs published meanwhile, check the shadow, swap (publish lock held)."""
    with _exclusive(wh, con, summary.run_id, timeout):
        final = rp.current_snapshot(con)
        if rp.count_occurrences(con, final, since=snapshot):
            caught = _shadow_pass(wh, shadow_settings, field_map, final, since=snapshot)
            summary.add(caught)
            summary.caught_up = caught.records_in
        rp.attach_shadow(con, shadow)
        try:
            gaps = rp.outcome_gaps(con, final)
            if gaps:
                raise WarehouseError(f"the shadow warehouse does not account for every record ({gaps}); "
                                     "nothing was changed")
            summary.before = rp.table_counts(con)
            fault_point("before-swap")
            rp.swap(con, summary.run_id, [_runs_update(summary)])
            summary.status = "completed"
            summary.after = rp.table_counts(con)
        finally:
            rp.detach_shadow(con)


def _refresh_search(wh: Warehouse, summary: ReprocessSummary) -> None:
    """Rebuild the full-text index (articles were replaced, not appended); a failure is only logged:
    the index is derived and ``akhbar search`` says when it is stale."""
    from akhbar.warehouse.search import refresh_search_index

    try:
        summary.search_index = refresh_search_index(wh, rebuild=True).mode
    except Exception as exc:  # noqa: BLE001 - the swap is committed; the index can be rebuilt later
        summary.search_index = f"failed: {exc}"
        get_run_logger().warning("search index not rebuilt after reprocess %s: %s", summary.run_id, exc)


def run_reprocess(settings: Settings, field_map: FieldMap) -> ReprocessSummary:
    """Rebuild every derived table of ``settings.warehouse`` from its raw documents (inside a flow)."""
    wh = Warehouse(settings.warehouse)
    if not wh.exists():
        raise WarehouseError(f"no warehouse at {wh.root}: nothing to reprocess (run `akhbar run` first)")
    run = RunSummary(run_id=new_run_id(), warehouse=str(wh.root))
    summary = ReprocessSummary(run.run_id, str(wh.root), current_pipeline_version())
    with _local_catalog():
        shadow = Warehouse(wh.reprocess_path / run.run_id)
    # The shadow's Data Docs and search index would be deleted with it: the main warehouse's are rebuilt.
    shadow_settings = settings.model_copy(update={"warehouse": shadow.root, "build_data_docs": False,
                                                  "search_index": False})
    started = time.perf_counter()
    run_lock = wh.run_lock(run.run_id)
    run_lock.acquire()
    con = wh.connect()
    try:
        _refuse_if_busy(wh, con)
        _start_run(wh, con, run, [REPROCESS_INPUT])
        snapshot = rp.current_snapshot(con)
        summary.add(_shadow_pass(wh, shadow_settings, field_map, snapshot))
        _swap_when_exclusive(wh, con, shadow, shadow_settings, field_map, snapshot, summary,
                             settings.publish_lock_timeout_s)
        if settings.search_index:
            _refresh_search(wh, summary)
    except BaseException as exc:
        if summary.status != "completed":
            summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
            summary.validation_success = not isinstance(exc, ValidationError)
            _record_failure(wh, con, summary)
        raise
    finally:
        summary.seconds = round(time.perf_counter() - started, 2)
        con.close()
        shutil.rmtree(shadow.root, ignore_errors=True)
        run_lock.release()
    return summary


def _record_failure(wh: Warehouse, con: duckdb.DuckDBPyConnection, summary: ReprocessSummary) -> None:
    try:
        _finish_run(wh, con, summary.as_run())
    except Exception:  # noqa: BLE001 - never hide the reprocess's own error behind a bookkeeping one
        get_run_logger().exception("could not record the end of reprocess %s", summary.run_id)


@flow(name="akhbar-reprocess", flow_run_name="reprocess", log_prints=True)
def reprocess_flow(warehouse: str | None = None, field_map: list[str] | None = None,
                   batch_size: int | None = None) -> dict[str, Any]:
    """Rebuild every derived table from raw_documents with the current code and switch readers atomically.

    Run it after an upgrade that changes cleaning, entities or a model (or a setting such as
    AKHBAR_MIN_BODY_CHARS): nothing is re-read from the inputs.
    """
    settings = get_settings(warehouse=warehouse, batch_size=batch_size)
    summary = run_reprocess(settings, FieldMap.parse(field_map or []))
    create_markdown_artifact(summary.to_markdown(), key="akhbar-reprocess-summary",
                             description=f"akhbar reprocess {summary.run_id}")
    return asdict(summary)
