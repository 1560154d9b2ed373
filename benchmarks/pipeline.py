"""Full-pipeline benchmark on SaudiNewsNet, beside the I/O floor measured in the same run.

    .venv/bin/python benchmarks/pipeline.py            # all 18 zips (31,030 articles)
    .venv/bin/python benchmarks/pipeline.py --zips 2   # a quick look

Floor: DuckDB reads the same JSON (extracted from the zips) and writes zstd Parquet. Pipeline: one
`akhbar run` into a fresh warehouse, in a child process (so its peak RSS is its own), against a
Prefect API started here. Reports wall time per stage (from the `runs` table), articles/s, NER
tokens/s (whitespace tokens of published bodies / entity-stage seconds), peak RSS and the ratio
pipeline/floor. Writes nothing into the project; print the table into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"


def floor_seconds(zips: list[Path], tmp: Path) -> tuple[float, int]:
    """DuckDB JSON → zstd Parquet over the same articles (extracted first; extraction not timed)."""
    import duckdb

    src = tmp / "json"
    src.mkdir()
    for z in zips:
        with zipfile.ZipFile(z) as archive:
            archive.extractall(src)
    files = [str(p) for p in src.rglob("*.json")]
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM read_json({files!r}, format='array', union_by_name=true)) "
                f"TO '{tmp / 'floor.parquet'}' (FORMAT parquet, COMPRESSION zstd)")
    took = time.perf_counter() - started
    (n,) = con.execute(f"SELECT count(*) FROM '{tmp / 'floor.parquet'}'").fetchone()
    return took, n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zips", type=int, default=0, help="only the first N zips (0: all)")
    args = parser.parse_args()
    zips = sorted(SNN.glob("*.zip"))
    if not zips:
        print(f"SaudiNewsNet not found under {SNN}; nothing to do")
        return 0
    zips = zips[: args.zips] if args.zips else zips

    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.sql import run_query

    with tempfile.TemporaryDirectory() as tmp_s, prefect_test_harness(server_startup_timeout=120):
        tmp = Path(tmp_s)
        floor, n_floor = floor_seconds(zips, tmp)
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
        wh = tmp / "wh"
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "akhbar.cli", "run", *map(str, zips), "-w", str(wh)], env=env,
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        w = Warehouse(wh)
        (records, published, stages), = run_query(w, "select records_in, published, stage_seconds from runs").rows
        (tokens,) = run_query(w, "select sum(len(string_split(body, ' '))) from articles").rows[0]
        stages = json.loads(stages or "{}")
        print(f"| measure | value |\n|---|---:|")
        print(f"| records | {records:,} (floor read {n_floor:,}) |")
        print(f"| I/O floor (DuckDB JSON → Parquet) | {floor:.2f} s |")
        print(f"| pipeline wall (incl. Python/Prefect start-up) | {wall:.1f} s |")
        print(f"| ratio pipeline / floor | {wall / floor:.0f}× |")
        print(f"| articles/s (records read / wall) | {records / wall:.0f} |")
        ent = stages.get("entities")
        if ent:
            print(f"| NER + linking + quantities tokens/s | {tokens / ent:,.0f} |")
        print(f"| peak RSS of the run | {peak_mb:,.0f} MB |")
        for stage, secs in stages.items():
            print(f"| stage: {stage} | {secs:.1f} s |")
        print(f"| published articles | {published:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
