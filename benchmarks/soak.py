"""Soak test: kill an ingest run at random moments, resume, and compare with an uninterrupted run.

    .venv/bin/python benchmarks/soak.py                      # all SaudiNewsNet zips, 20 kills
    .venv/bin/python benchmarks/soak.py --zips 1 --kills 5   # a shorter version

Each attempt runs `akhbar run` in a child process and sends it SIGKILL after a random delay; the
next attempt resumes. After the kills, one last run completes the work. The result is compared row
by row (akhbar.warehouse.compare) with a run that was never interrupted: it must show 0 rows lost
and 0 rows duplicated in every table. Both runs share one Prefect API server (started here) so that
child start-up is not dominated by Prefect's temporary server.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"


def run(inputs: list[Path], warehouse: Path, env: dict[str, str], kill_after: float | None) -> tuple[int, float]:
    """One `akhbar run`; killed with SIGKILL after ``kill_after`` seconds if given (-9 then)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "akhbar.cli", "run", *map(str, inputs), "-w", str(warehouse)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=kill_after)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait()
    return child.returncode, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zips", type=int, default=0, help="use only the first N zips (0: all)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--max-delay", type=float, default=45.0, help="longest time before a kill (s)")
    args = parser.parse_args()
    zips = sorted(SNN.glob("*.zip"))
    if not zips:
        print(f"SaudiNewsNet not found under {SNN}; nothing to do")
        return 0
    inputs = zips[: args.zips] if args.zips else zips
    rng = random.Random(args.seed)

    from prefect.testing.utilities import prefect_test_harness
    from prefect.settings import PREFECT_API_URL

    from akhbar.warehouse import gold
    from akhbar.warehouse.compare import comparable, differences, snapshot
    from akhbar.warehouse.lake import Warehouse

    with tempfile.TemporaryDirectory() as tmp, prefect_test_harness(server_startup_timeout=120):
        env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "AKHBAR_BATCH_SIZE": str(args.batch_size),
               "AKHBAR_SEARCH_INDEX": "false"}
        base, soaked = Path(tmp) / "base", Path(tmp) / "soaked"
        code, full = run(inputs, base, env, None)
        print(f"uninterrupted run: exit {code}, {full:.1f} s, {len(inputs)} zip(s)")
        kills = attempts = 0
        while kills < args.kills:
            # Short enough that the run is still working when the kill comes: each attempt gets
            # through start-up and a few batches, then dies somewhere in a batch.
            delay = rng.uniform(3.0, args.max_delay)
            attempts += 1
            code, took = run(inputs, soaked, env, delay)
            if code == -9:
                kills += 1
                print(f"attempt {attempts:2d}: killed after {delay:6.1f} s (kill {kills})", flush=True)
            else:
                print(f"attempt {attempts:2d}: finished by itself (exit {code}) after {took:.1f} s, "
                      f"after {kills} kill(s); raise --kills' budget with a larger corpus", flush=True)
                break
        code, took = run(inputs, soaked, env, None)
        print(f"final resume: exit {code}, {took:.1f} s")
        a, b = comparable(snapshot(base)), comparable(snapshot(soaked))
        diff = differences(a, b)
        for table in sorted(a):
            print(f"  {table:20s} uninterrupted {len(a[table]):7d} rows   soaked {len(b[table]):7d} rows")
        lost = sum(x for x, _ in diff.values())
        extra = sum(y for _, y in diff.values())
        print(f"rows lost: {lost}, rows duplicated or extra: {extra}" + (f"  {diff}" if diff else ""))
        # The gold tables add each batch's counts: a batch applied twice or half would show here.
        drift = {}
        for name, path in (("uninterrupted", base), ("soaked", soaked)):
            con = Warehouse(path).connect()
            try:
                drift[name] = {t: n for t, n in gold.drift(con).items() if n}
            finally:
                con.close()
            print(f"gold tables of the {name} run vs a full recompute: "
                  + (f"rows differing {drift[name]}" if drift[name] else "identical"))
        return 0 if not diff and not any(drift.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
