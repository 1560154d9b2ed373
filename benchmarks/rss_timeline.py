"""Which step of a run sets its memory peak: a `run.py --trace` RSS trace laid over the run's log.

    .venv/bin/python benchmarks/run.py pipeline --trace /tmp/trace
    .venv/bin/python benchmarks/rss_timeline.py /tmp/trace/wh-snn-113744.rss.csv   # the .log beside it

Each line of the flow's log (Prefect's task and batch lines, with their times) is printed with the
highest RSS of the flow, of all workers together and of the whole tree between it and the next
line: a step's figures are those of the interval its line opens. Peaks are marked with `<`.
"""

from __future__ import annotations

import argparse
import csv
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3})")
# Prefect's prefixes, shortened so the message fits on the line.
SHORTER = [(re.compile(r'\| \w+\s*\| Flow run ".*?" - '), "| flow: "),
           (re.compile(r"\| \w+\s*\| Task run '(.*?)' - Finished in state Completed\(\)"), r"| \1 done"),
           (re.compile(r"\| \w+\s*\| Task run '(.*?)' - "), r"| \1: ")]


@dataclass
class Sample:
    at: float
    tree: int
    flow: int
    workers: int


def read_trace(path: Path) -> list[Sample]:
    with path.open(encoding="utf-8") as fh:
        return [Sample(float(r["unix_time"]), int(r["tree_mb"]), int(r["flow_mb"]),
                       sum(int(w) for w in r["workers_mb"].split()))
                for r in csv.DictReader(fh)]


def read_log(path: Path, day_of: float) -> list[tuple[float, str]]:
    """Timed log lines; Prefect's console times carry no date: the trace's first day, plus a day
    each time the clock goes backwards (a run across midnight UTC)."""
    day = datetime.fromtimestamp(day_of, timezone.utc).date()
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        m = TIME.match(line.strip())
        if m:
            h, mi, s, ms = map(int, m.groups())
            at = datetime(day.year, day.month, day.day, h, mi, s, ms * 1000, tzinfo=timezone.utc).timestamp()
            while lines and at < lines[-1][0] - 3600:
                at += 86400
            text = line.strip()
            for pattern, short in SHORTER:
                text = pattern.sub(short, text, count=1)
            lines.append((at, text))
    return lines


def timeline(samples: list[Sample], lines: list[tuple[float, str]], width: int = 120) -> list[str]:
    peak_tree = max((s.tree for s in samples), default=0)
    peak_flow = max((s.flow for s in samples), default=0)
    out = [f"{'flow':>6} {'workers':>8} {'tree':>6}  log line (peaks: tree {peak_tree:,} MB, flow {peak_flow:,} MB)"]
    bounds = [*lines, (float("inf"), "")]
    for (start, text), (end, _) in zip(bounds, bounds[1:]):
        seg = [s for s in samples if start <= s.at < end]
        if not seg:
            continue
        flow, workers, tree = (max(getattr(s, k) for s in seg) for k in ("flow", "workers", "tree"))
        mark = "<" if tree == peak_tree or flow == peak_flow else " "
        out.append(f"{flow:6,} {workers:8,} {tree:6,}{mark} {text[:width]}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace", type=Path, help="an .rss.csv written by run.py --trace")
    parser.add_argument("--log", type=Path, help="the run's log (default: the .log beside the trace)")
    args = parser.parse_args()
    samples = read_trace(args.trace)
    if not samples:
        parser.error(f"{args.trace} holds no samples")
    log = args.log or args.trace.with_name(args.trace.name.removesuffix(".rss.csv") + ".log")
    print("\n".join(timeline(samples, read_log(log, samples[0].at))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
