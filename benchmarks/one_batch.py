"""Run new articles into an existing warehouse and time every publish statement and warehouse lookup.

What a batch costs on a warehouse of a given size, statement by statement: a stage whose
statements grow with the warehouse (rather than with the batch) makes long backfills superlinear.
Unlike `gold_refresh.py` (a pseudo-batch of stored articles, rolled back), this publishes a real
batch, so deletes and merges are those of real new articles. The warehouse is copied first and
put back afterwards, so the same batch can be timed again on the same warehouse (with other code).
Beside each time: the process's highest RSS while it ran and how far it rose in it (Linux), so the
statement that sets the flow's memory peak shows too.

    .venv/bin/python benchmarks/synth.py 5000 /tmp/new5k --seed 4242
    .venv/bin/python benchmarks/one_batch.py WAREHOUSE /tmp/new5k/part-0000.jsonl [--show 0.1]

Needs a Prefect API (`PREFECT_API_URL`), or starts Prefect's temporary one.
"""

from __future__ import annotations

import argparse
import functools
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import akhbar  # noqa: F401 - sets Prefect's offline, quiet defaults before Prefect is imported


TEMP_TABLE = re.compile(r"CREATE OR REPLACE TEMP TABLE (\w+) AS")
# label -> (highest RSS while it ran, its highest rise above the RSS it started from), MB
PEAKS: dict[str, tuple[float, float]] = {}


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRss:
    """The process's highest RSS while a block runs, from the kernel's high-water mark (reset on
    entry through ``/proc/self/clear_refs``): which statement or step sets the flow's peak. Blocks
    nest: an inner block's reset would hide what came before it, so each passes its peak outwards."""

    _open: list[PeakRss] = []

    def __init__(self, label: str) -> None:
        self.label, self.seen = label, 0.0

    def __enter__(self) -> PeakRss:
        before = _status_mb("VmHWM")
        for outer in self._open:
            outer.seen = max(outer.seen, before)
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:  # not Linux: the peaks are the process's own since it started
            pass
        self.start = _status_mb("VmRSS")
        self._open.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._open.remove(self)
        peak = max(self.seen, _status_mb("VmHWM"))
        for outer in self._open:
            outer.seen = max(outer.seen, peak)
        old = PEAKS.get(self.label, (0.0, 0.0))
        PEAKS[self.label] = (max(old[0], peak), max(old[1], peak - self.start))


class TimedConnection:
    """A DuckDB connection whose ``execute`` adds its seconds to ``times`` under the statement's start.

    A temporary table's statement is labelled with the rows it made: how much work a gold refresh
    does depends on how many rows a batch touches (its articles, and those its merges move).
    """

    def __init__(self, con: Any, times: Counter[str]) -> None:
        self._con, self._times = con, times

    def execute(self, sql: str, params: Any = None) -> Any:
        started = time.perf_counter()
        label = " ".join(sql.split())[:100]
        try:
            with PeakRss(label):
                return self._con.execute(sql, params) if params is not None else self._con.execute(sql)
        finally:
            seconds = time.perf_counter() - started
            temp = TEMP_TABLE.match(label)
            if temp:
                (rows,) = self._con.execute(f"SELECT count(*) FROM {temp.group(1)}").fetchone()
                PEAKS[f"[{rows:,} rows] {label}"] = PEAKS.pop(label)
                label = f"[{rows:,} rows] {label}"
            self._times[label] += seconds

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def instrument(times: Counter[str]) -> None:
    """Time the publish transaction's statements, the warehouse lookups and the per-batch helpers."""
    from akhbar.flows import pipeline
    from akhbar.warehouse.lake import Warehouse

    publish = Warehouse.publish

    def timed_publish(self: Warehouse, con: Any, tables: Any, statements: Any = ()) -> None:
        publish(self, TimedConnection(con, times), tables, statements)

    Warehouse.publish = timed_publish  # type: ignore[method-assign]
    known_ids = Warehouse.known_ids

    def timed_known_ids(self: Warehouse, con: Any, table: str, column: str, ids: list[str], extra: str = "") -> Any:
        started = time.perf_counter()
        try:
            return known_ids(self, con, table, column, ids, extra)
        finally:
            times[f"lookup {table}.{column}{' + ' + extra if extra else ''} ({len(ids):,} ids)"] += (
                time.perf_counter() - started)

    Warehouse.known_ids = timed_known_ids  # type: ignore[method-assign]
    for name in ("_load_neardup", "_assign_clusters", "_add_entity_tables", "load_entity_linker"):
        setattr(pipeline, name, _timed(getattr(pipeline, name), f"{name}()", times))
    from akhbar.warehouse import publish as pub

    for name in ("stage", "audit", "commit"):
        setattr(pub, name, _timed(getattr(pub, name), f"publish.{name}()", times))


def _timed(fn: Callable[..., Any], label: str, times: Counter[str]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        with PeakRss(label):
            try:
                return fn(*args, **kwargs)
            finally:
                times[label] += time.perf_counter() - started
    return wrapper


def merge_fanout(warehouse: Path, run_id: str) -> list[tuple[str, str, str, int]]:
    """The run's entity merges, each with the stored articles (before the run) that mention its
    ``from_id``: a merge re-attributes all of them, so the gold refresh grows with that history."""
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.sql import read_only_connection

    con = read_only_connection(Warehouse(warehouse))
    try:
        return con.execute(
            "SELECT x.from_id, x.to_id, x.reason, count(DISTINCT m.article_id) AS articles "
            "FROM entity_merges x LEFT JOIN entity_mentions m ON m.entity_id = x.from_id AND m.run_id <> x.run_id "
            "WHERE x.run_id = ? GROUP BY ALL ORDER BY articles DESC, x.from_id", [run_id]).fetchall()
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("inputs", type=Path, nargs="+", help="new articles (files or directories)")
    parser.add_argument("--show", type=float, default=0.1, help="print statements slower than this (s)")
    args = parser.parse_args()
    backup = args.warehouse.with_name(args.warehouse.name + ".one-batch-backup")
    if backup.exists():
        raise SystemExit(f"{backup} exists (an earlier run was interrupted?): put it back or remove it first")
    shutil.copytree(args.warehouse, backup)
    times: Counter[str] = Counter()
    try:
        instrument(times)
        from akhbar.flows.pipeline import ingest_flow

        summary = ingest_flow(inputs=[str(p) for p in args.inputs], warehouse=str(args.warehouse))
        merges = merge_fanout(args.warehouse, summary["run_id"])
    finally:
        shutil.rmtree(args.warehouse)
        backup.rename(args.warehouse)
    print(f"\n{summary['published']:,} published, {summary['batches']} batch(es); stages (s):")
    for stage, seconds in summary["stage_seconds"].items():
        print(f"  {seconds:8.2f}  {stage}")
    for stage in ("publish", "compact"):
        per_batch = summary["batch_seconds"].get(stage, [])
        print(f"  {stage} per batch: " + ", ".join(f"{x:.2f}" for x in per_batch))
    moved = sum(n for *_, n in merges)
    print(f"merges recorded: {len(merges):,}; articles already stored that mention a merged id: {moved:,}")
    for from_id, to_id, reason, n in merges[:10]:
        print(f"  {n:8,}  {from_id} -> {to_id} ({reason})")
    print("statements and lookups (s; the process's highest RSS while one ran, and its rise in it, MB):")
    for label, seconds in times.most_common():
        if seconds >= args.show:
            peak, rise = PEAKS.get(label, (0.0, 0.0))
            print(f"  {seconds:8.3f}  {peak:6.0f} {rise:+5.0f}  {label}")
    print("highest RSS rises (MB):")
    for label, (peak, rise) in sorted(PEAKS.items(), key=lambda kv: -kv[1][1])[:12]:
        print(f"  {peak:6.0f} {rise:+5.0f}  {label}")


if __name__ == "__main__":
    main()
