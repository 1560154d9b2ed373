"""akhbar benchmarks: one command runs them all and writes a results table; options run one part.

    .venv/bin/python benchmarks/run.py                         # everything (about an hour on 2 cores)
    .venv/bin/python benchmarks/run.py pipeline incremental    # only these parts
    .venv/bin/python benchmarks/run.py scaling --sizes 10000 100000
    .venv/bin/python benchmarks/run.py scaling --sizes 200000 --per-day 1500   # dated in order, as a feed arrives
    .venv/bin/python benchmarks/run.py queries --articles 1000000

Parts:
  pipeline     all 31,030 SaudiNewsNet articles into a fresh warehouse, beside the I/O floor (DuckDB
               reading the same JSON and writing zstd Parquet) measured in the same run
  incremental  on that warehouse: a run with nothing new, through a running Prefect server and with
               Prefect's temporary server; then a run with 1% new articles
  scaling      synthetic corpora from real text (benchmarks/synth.py) at --sizes; time and peak RSS
  queries      a warehouse of --articles articles made by replicating the SaudiNewsNet warehouse
               (new ids, dates shifted a month per copy), gold tables rebuilt, typical queries timed

Every pipeline run is a child `akhbar run` process against a Prefect API started here; peak RSS is
the largest sum over the run's process tree (the flow and its worker processes), sampled every
0.2 s. With --trace DIR each run also leaves its samples and its log there, and
benchmarks/rss_timeline.py shows which step set the peak. Results go to --out (default
/tmp/akhbar-bench/results.md) and to stdout. SaudiNewsNet lives in ../shared; without it the parts
that need it are skipped with a message.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"
sys.path.insert(0, str(ROOT / "benchmarks"))

import akhbar  # noqa: E402,F401 - sets Prefect's offline, quiet defaults before Prefect is imported


@dataclass
class Report:
    """Markdown sections, printed as they are produced and written at the end."""

    sections: list[str] = field(default_factory=list)

    def table(self, title: str, rows: list[tuple[str, str]]) -> None:
        text = f"### {title}\n\n| measure | value |\n|---|---:|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
        print(text, flush=True)
        self.sections.append(text)


# --- measuring a child run ------------------------------------------------------------------------


@dataclass
class RunResult:
    wall: float
    peak_rss_mb: float
    returncode: int
    cpu: float = 0.0  # user + system seconds of the run and its workers (reaped children)
    flow_rss_mb: float = 0.0  # peak of the flow's own process
    worker_rss_mb: float = 0.0  # peak of the largest worker process


# Where each run's RSS samples and log go when --trace is given (one CSV + one log per run).
TRACE_DIR: Path | None = None


def _tree_rss(pid: int) -> tuple[int, int, int, list[int]]:
    """RSS of the process tree: (all of it, the flow's process alone, its largest worker, each worker).

    Not PSS: reading ``/proc/PID/smaps_rollup`` every 0.2 s slowed the measured run by 3–6 s
    (SaudiNewsNet, 114.6 s without it and 116–120 s with it). RSS counts the libraries the
    processes share once per process; sampled ad hoc, the tree's PSS peaked ~90–120 MB lower.
    """
    import psutil

    try:
        proc = psutil.Process(pid)
        children = proc.children(recursive=True)
    except psutil.Error:
        return 0, 0, 0, []
    sizes = []
    for p in [proc, *children]:
        try:
            sizes.append(p.memory_info().rss)
        except psutil.Error:
            sizes.append(0)
    return sum(sizes), sizes[0], max(sizes[1:], default=0), sizes[1:]


def run_akhbar(inputs: list[Path], warehouse: Path, env: dict[str, str]) -> RunResult:
    """`akhbar run` in a child process; wall time and the peak RSS of its process tree."""
    import resource

    trace = None
    stem = f"{warehouse.name}-{time.strftime('%H%M%S')}"
    if TRACE_DIR is not None:
        TRACE_DIR.mkdir(parents=True, exist_ok=True)
        trace = (TRACE_DIR / f"{stem}.rss.csv").open("w", encoding="utf-8")
        trace.write("unix_time,tree_mb,flow_mb,workers_mb\n")
        print(f"tracing RSS to {trace.name} (the flow's log beside it, {stem}.log)", flush=True)
        env = {**env, "PREFECT_LOGGING_LEVEL": "INFO"}  # the batch lines, with their times
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "akhbar.cli", "run", *map(str, inputs), "-w", str(warehouse)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = flow_peak = worker_peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, flow_peak, worker_peak
        while not stop.is_set():
            total, flow, worker, workers = _tree_rss(child.pid)
            peak, flow_peak, worker_peak = max(peak, total), max(flow_peak, flow), max(worker_peak, worker)
            if trace is not None and total:
                trace.write(f"{time.time():.2f},{total / 2**20:.0f},{flow / 2**20:.0f},"
                            f"{' '.join(f'{w / 2**20:.0f}' for w in workers)}\n")
            stop.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = child.communicate()
    stop.set()
    sampler.join()
    if trace is not None and TRACE_DIR is not None:
        trace.close()
        (TRACE_DIR / f"{stem}.log").write_bytes(err)
    if child.returncode:
        print(err.decode(errors="replace")[-3000:], file=sys.stderr)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return RunResult(wall, peak / 2**20, child.returncode, cpu, flow_peak / 2**20, worker_peak / 2**20)


def last_run(warehouse: Path) -> dict:
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.sql import run_query

    res = run_query(Warehouse(warehouse), "select records_in, published, duplicates, quarantined, skipped, "
                    "stage_seconds, batch_seconds, epoch(ended_at) - epoch(started_at) from runs "
                    "order by started_at desc limit 1")
    records, published, dups, quar, skipped, stages, batches, flow_s = res.rows[0]
    return {"records": records, "published": published, "duplicates": dups, "quarantined": quar,
            "skipped": skipped, "stages": json.loads(stages or "{}"), "batches": json.loads(batches or "{}"),
            "flow_seconds": flow_s}


# The flow's per-batch stages whose growth shows whether time stays linear in the corpus.
# "a + b" is the per-batch sum of both stages: compaction pays for publish's deletes, every few batches.
GROWTH_STAGES = ("dedup", "load linker", "link entities", "audit publish", "publish", "publish + compact")


def batch_growth_rows(label: str, batches: dict[str, list[float]], most: int = 3) -> list[tuple[str, str]]:
    """Median seconds per batch over the first and the last few (up to ``most``) batches, per flow stage.

    Why: a run whose batches cost the same from first to last grows linearly with the corpus; a
    stage whose last batches cost more re-reads what the warehouse already holds. The first batch
    (it also opens the models) and the last (usually partial) are left out.
    """
    from statistics import median

    rows = []
    for stage in GROWTH_STAGES:
        series = [sum(parts) for parts in zip(*(batches.get(s, []) for s in stage.split(" + ")))][1:-1]
        edge = min(most, len(series) // 2)
        if not edge:
            continue
        first, last = median(series[:edge]), median(series[-edge:])
        growth = f" ({last / first:.1f}×)" if first > 0 else ""
        rows.append((f"{label}: {stage} per batch, early → late (median of {edge} batches each)",
                     f"{first:.2f} s → {last:.2f} s{growth}"))
    return rows


def body_tokens(warehouse: Path) -> int:
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.sql import run_query

    return run_query(Warehouse(warehouse), "select sum(len(string_split(body, ' '))) from articles").rows[0][0] or 0


def floor_json(files: list[Path], fmt: str, tmp: Path) -> float:
    """The I/O floor: DuckDB reads the same JSON and writes zstd Parquet."""
    import duckdb

    con = duckdb.connect()
    out = tmp / f"floor-{time.monotonic_ns()}.parquet"
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_json({[str(f) for f in files]!r}, format='{fmt}', union_by_name=true)) "
                f"TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
    took = time.perf_counter() - started
    out.unlink()
    return took


def run_rows(label: str, result: RunResult, info: dict, floor: float | None, tokens: int | None = None
             ) -> list[tuple[str, str]]:
    rows = [(f"{label}: records read", f"{info['records']:,}"),
            (f"{label}: published / duplicates / quarantined / skipped",
             f"{info['published']:,} / {info['duplicates']:,} / {info['quarantined']:,} / {info['skipped']:,}"),
            (f"{label}: wall (process start to exit)", f"{result.wall:.1f} s"),
            (f"{label}: inside the flow", f"{info['flow_seconds']:.1f} s"),
            (f"{label}: articles/s (records / wall)", f"{info['records'] / result.wall:,.0f}"),
            (f"{label}: CPU time, the run and its workers (user + system)",
             f"{result.cpu:.1f} s ({result.cpu / result.wall:.2f} cores busy on average)"),
            (f"{label}: peak RSS, whole process tree", f"{result.peak_rss_mb:,.0f} MB"),
            (f"{label}: peak RSS of the flow's process / of its largest worker",
             f"{result.flow_rss_mb:,.0f} MB / {result.worker_rss_mb:,.0f} MB")]
    if floor is not None:
        rows += [(f"{label}: I/O floor (DuckDB JSON → Parquet)", f"{floor:.2f} s"),
                 (f"{label}: ratio wall / floor", f"{result.wall / floor:,.0f}×")]
    tag = info["stages"].get("tag entities (workers)")
    if tokens and tag:
        rows.append((f"{label}: NER+gazetteer+quantities tokens/s per core", f"{tokens / tag:,.0f}"))
    for stage, secs in info["stages"].items():
        rows.append((f"{label}: stage {stage}", f"{secs:.1f} s"))
    return rows + batch_growth_rows(label, info.get("batches", {}))


def lake_files_row(label: str, warehouse: Path) -> tuple[str, str]:
    """The gold tables' data files after a run, and the share of their rows that are deleted ones."""
    from akhbar.warehouse.compact import table_files
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.schema import GOLD_TABLES

    wh = Warehouse(warehouse)
    con = wh.connect(read_only=True)
    try:
        files = table_files(con, wh, [t.name for t in GOLD_TABLES])
    finally:
        con.close()
    return (f"{label}: gold tables' data files (deleted rows among them)",
            ", ".join(f"{t} {f.files} ({100 * f.deleted_fraction:.0f}%)" for t, f in sorted(files.items())))


def gold_drift_row(label: str, warehouse: Path) -> tuple[str, str]:
    """Whether the gold tables the batches refreshed incrementally equal a full recompute."""
    from akhbar.warehouse import gold
    from akhbar.warehouse.lake import Warehouse

    con = Warehouse(warehouse).connect()
    # A one-off full recompute, not a pipeline writer: at a million articles the writer's 1 GB
    # cap ran out of memory (an out-of-memory error, after a 1.8-hour run).
    con.execute("SET memory_limit = '8GB'")
    try:
        counts = gold.drift(con)
    finally:
        con.close()
    differing = sum(counts.values())
    return (f"{label}: gold tables vs a full recompute", "identical" if not differing else
            "rows differing: " + ", ".join(f"{t} {n:,}" for t, n in counts.items() if n))


# --- parts ---------------------------------------------------------------------------------------


def part_pipeline(report: Report, work: Path, env: dict[str, str]) -> Path | None:
    zips = sorted(SNN.glob("*.zip"))
    if not zips:
        print(f"pipeline: SaudiNewsNet not found under {SNN}; skipped")
        return None
    extracted = work / "snn-json"
    extracted.mkdir(exist_ok=True)
    for z in zips:
        with zipfile.ZipFile(z) as archive:
            archive.extractall(extracted)
    floor = floor_json(sorted(extracted.rglob("*.json")), "array", work)
    wh = work / "wh-snn"
    result = run_akhbar(zips, wh, env)
    info = last_run(wh)
    report.table("Full pipeline: SaudiNewsNet (18 zips)",
                 [*run_rows("SNN", result, info, floor, body_tokens(wh)), lake_files_row("SNN", wh),
                  gold_drift_row("SNN", wh)])
    return wh


def part_incremental(report: Report, work: Path, env: dict[str, str], wh: Path | None, seed: int = 99) -> None:
    from synth import write_corpus

    zips = sorted(SNN.glob("*.zip"))
    if wh is None or not zips:
        print("incremental: needs the pipeline part's warehouse (and SaudiNewsNet); skipped")
        return
    rows = []
    for label in ("no-op run through a running Prefect server", "the same again (files now in input_files)"):
        noop = run_akhbar(zips, wh, env)
        rows.append((f"{label}: wall", f"{noop.wall:.1f} s"))
        rows.append(("  of which inside the flow", f"{last_run(wh)['flow_seconds']:.1f} s"))
    ephemeral_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
    noop2 = run_akhbar(zips, wh, ephemeral_env)
    rows.append(("no-op run with Prefect's temporary server: wall", f"{noop2.wall:.1f} s"))
    new = work / "one-percent"
    files = write_corpus(310, new, seed=seed)
    one = run_akhbar([*zips, *files], wh, env)
    info = last_run(wh)
    rows += [("1% new (310 synthetic articles beside the 31,030 known): wall", f"{one.wall:.1f} s"),
             ("  published / skipped", f"{info['published']:,} / {info['skipped']:,}")]
    report.table("Incremental runs (SaudiNewsNet warehouse)", rows)


def part_scaling(report: Report, work: Path, env: dict[str, str], sizes: list[int], keep: bool = False,
                 per_day: int | None = None) -> None:
    """``keep``: leave each corpus and warehouse in ``work`` (to profile them); otherwise they are
    removed after their run (a 100k warehouse and corpus take several GB). ``per_day``: date the
    articles in order, that many a day (benchmarks/synth.py), instead of at random over 56 days."""
    from synth import write_corpus

    if not sorted(SNN.glob("*.zip")):
        print("scaling: synthetic corpora are built from SaudiNewsNet, which is absent; skipped")
        return
    rows = []
    for n in sizes:
        corpus = work / f"synth-{n}"
        files = write_corpus(n, corpus, per_day=per_day)
        floor = floor_json(files, "newline_delimited", work)
        wh = work / f"wh-synth-{n}"
        result = run_akhbar(files, wh, env)
        rows += [*run_rows(f"{n:,}", result, last_run(wh), floor, body_tokens(wh)), lake_files_row(f"{n:,}", wh),
                 gold_drift_row(f"{n:,}", wh)]
        if not keep:
            subprocess.run(["rm", "-rf", str(wh), str(corpus)], check=False)
    dates = f"dated in order, {per_day:,} a day" if per_day else "dated at random over 56 days"
    report.table(f"Scaling: synthetic corpora from real text, {dates}", rows)


def part_queries(report: Report, work: Path, articles: int, source_wh: Path | None) -> None:
    from amplify import amplify, timed_queries

    if source_wh is None:
        print("queries: needs a source warehouse (the pipeline part's); skipped")
        return
    target = work / f"wh-{articles}"
    built = amplify(source_wh, target, articles)
    rows = [(k, v) for k, v in built.items()]
    rows += timed_queries(target)
    report.table(f"Queries at {articles:,} articles", rows)


def machine() -> str:
    import psutil

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}, "
            f"load average at start {os.getloadavg()[0]:.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("parts", nargs="*", default=["pipeline", "incremental", "scaling", "queries"],
                        choices=["pipeline", "incremental", "scaling", "queries"], metavar="PART")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="scaling corpus sizes")
    parser.add_argument("--per-day", type=int, metavar="N",
                        help="scaling: date the articles in order, N a day (default: at random over 56 days, "
                             "so that every batch touches every day)")
    parser.add_argument("--articles", type=int, default=1_000_000, help="articles in the queries warehouse")
    parser.add_argument("--warehouse", type=Path, help="an existing SaudiNewsNet warehouse (skips the pipeline "
                        "part where others need one)")
    parser.add_argument("--seed", type=int, default=99, help="seed of the 1%% new articles (incremental)")
    parser.add_argument("--work", type=Path,
                        help="working directory, kept with what the parts build in it (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/akhbar-bench/results.md"))
    parser.add_argument("--trace", type=Path, metavar="DIR",
                        help="write each run's RSS every 0.2 s (flow and each worker, CSV) and its log to DIR, "
                             "to see which stage sets the peak")
    args = parser.parse_args()
    global TRACE_DIR
    TRACE_DIR = args.trace

    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    report = Report([f"Machine: {machine()}. Started {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n"])
    print(report.sections[0])
    with tempfile.TemporaryDirectory() as tmp_s, prefect_test_harness(server_startup_timeout=120):
        work = args.work or Path(tmp_s)
        work.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
        wh = args.warehouse
        if "pipeline" in args.parts:
            wh = part_pipeline(report, work, env) or wh
        if "incremental" in args.parts:
            part_incremental(report, work, env, wh, args.seed)
        if "scaling" in args.parts:
            part_scaling(report, work, env, args.sizes, keep=args.work is not None, per_day=args.per_day)
        if "queries" in args.parts:
            part_queries(report, work, args.articles, wh)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(report.sections), encoding="utf-8")
    print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
