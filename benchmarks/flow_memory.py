"""What the flow's process holds after each batch: the run's long-lived structures, one CSV row a batch.

The scaling run showed the flow growing with the warehouse (~1.2 KB an article at 1M) while the
workers stayed flat. RSS alone cannot say what grows, so after every batch this records the
sizes of what outlives a batch: the near-duplicate index, the entities and memo kept for the
linker, Prefect's result links, DuckDB's buffer memory, and the C heap (glibc's ``mallinfo2``:
bytes in use against bytes freed but kept, i.e. fragmentation). A row costs ~2 s (it rebuilds
the linker and walks the objects it sizes), so this is a probe to run beside the benchmarks, not
part of them.

    .venv/bin/python benchmarks/synth.py 100000 /tmp/synth100k
    .venv/bin/python benchmarks/flow_memory.py /tmp/synth100k --warehouse /tmp/wh_probe --out /tmp/probe.csv

Runs the ingest flow in this process (Prefect's temporary API unless ``PREFECT_API_URL`` is set).
"""

from __future__ import annotations

import argparse
import ctypes
import csv
import gc
import os
import shutil
import sys
import time
import types
from pathlib import Path
from typing import Any

import akhbar  # noqa: F401 - sets Prefect's offline, quiet defaults before Prefect is imported


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (every field a size_t)."""

    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def heap() -> dict[str, float]:
    """MB of the C heap in use, freed but held by the allocator, and mmapped; empty off glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {"heap_used_mb": info.uordblks / 2**20, "heap_free_mb": info.fordblks / 2**20,
            "heap_mmap_mb": info.hblkhd / 2**20}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def neardup_mb(index: Any) -> tuple[int, float]:
    """(articles, MB) of the near-duplicate index: band arrays, ids and the clusters not their own."""
    if index is None:
        return 0, 0.0
    lsh = index._lsh
    arrays = sum(a.nbytes for a in lsh._keys) + sum(a.nbytes for a in lsh._pos)
    return len(index), arrays / 2**20 + deep_mb(index._ids, index._clusters)


def duckdb_mb(con: Any) -> tuple[float, str]:
    """MB DuckDB's buffer manager holds, in total and by tag (the tags above 1 MB)."""
    rows = con.execute("SELECT tag, memory_usage_bytes FROM duckdb_memory() ORDER BY 2 DESC").fetchall()
    tags = " ".join(f"{tag}={size / 2**20:.0f}" for tag, size in rows if size >= 2**20)
    return sum(size for _, size in rows) / 2**20, tags


def deep_mb(*roots: Any) -> float:
    """MB of the objects reachable from ``roots`` (modules, classes and functions not followed)."""
    seen: set[int] = set()
    stack, total = list(roots), 0
    skip = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total / 2**20


def linker_mb(state: Any) -> float:
    """MB of the entity linker as the next batch will rebuild it (dropped again at once)."""
    from akhbar.flows import pipeline

    return deep_mb(pipeline.load_entity_linker.fn(state))


def snapshot(state: Any, batch_no: int, started: float) -> dict[str, Any]:
    from prefect.context import FlowRunContext

    articles, index_mb = neardup_mb(state.neardup)
    buffers, tags = duckdb_mb(state.con)
    links = FlowRunContext.get().run_results  # Prefect's map from result ids to task runs
    row = {
        "batch": batch_no, "seconds": round(time.perf_counter() - started, 1), "published": state.summary.published,
        "rss_mb": rss_mb(), "neardup_articles": articles, "neardup_mb": index_mb,
        "discovered": len(state.discovered), "reference_memo": len(state.reference_matches),
        "published_entities": len(state.published_entities), "published_merges": len(state.published_merges),
        "entities_mb": deep_mb(state.discovered, state.reference_matches, state.published_entities,
                               state.published_merges),
        "linker_mb": linker_mb(state),
        "prefect_run_results": len(links), "run_results_mb": deep_mb(links),
        "duckdb_mb": buffers, "gc_objects": len(gc.get_objects()), "py_blocks": sys.getallocatedblocks(),
        **heap(), "duckdb_tags": tags,
    }
    return {k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", type=Path, nargs="+", help="articles to ingest (files or directories)")
    parser.add_argument("--warehouse", type=Path, required=True, help="a fresh warehouse directory (emptied first)")
    parser.add_argument("--out", type=Path, required=True, help="CSV file, one row per batch")
    args = parser.parse_args()
    shutil.rmtree(args.warehouse, ignore_errors=True)
    from akhbar.flows import pipeline

    finish = pipeline._finish_batch
    started = time.perf_counter()
    with args.out.open("w", newline="", encoding="utf-8") as out:
        writer: csv.DictWriter | None = None

        def probed(state: Any, job: Any, last: bool = False) -> None:
            nonlocal writer
            finish(state, job, last)
            row = snapshot(state, job.batch_no, started)
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            out.flush()
            print(", ".join(f"{k} {v}" for k, v in row.items()), flush=True)

        pipeline._finish_batch = probed
        summary = pipeline.ingest_flow(inputs=[str(p) for p in args.inputs], warehouse=str(args.warehouse))
    print(f"{summary['published']:,} published in {summary['seconds']:.0f} s; rows in {args.out}")


if __name__ == "__main__":
    main()
