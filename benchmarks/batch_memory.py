"""What one batch costs in the flow's memory, part by part, as it arrives from a worker.

The flow holds a batch's records and its analysis from the moment the workers hand it back until
it is published, and with batches analysed ahead it holds two or three at once. This analyses one
batch of SaudiNewsNet records in this process, links its mentions with the reference linker, and
reports for each part what it costs once unpickled (the way it reaches the flow): Python objects
(tracemalloc) plus Arrow's memory pool, beside its pickled size.

    .venv/bin/python benchmarks/batch_memory.py                # 5,000 records (~3 min, mostly NER)
    .venv/bin/python benchmarks/batch_memory.py --records 1000

Skipped cleanly when the SaudiNewsNet corpus is absent.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import pickle
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import akhbar  # noqa: F401 - sets Prefect's offline, quiet defaults before Prefect is imported

SNN = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"


def unpickled_mb(blob: bytes) -> float:
    """MB that unpickling ``blob`` allocates and keeps: Python objects plus Arrow's pool."""
    import pyarrow as pa

    gc.collect()
    tracemalloc.start()
    try:
        arrow_before = pa.total_allocated_bytes()
        value = pickle.loads(blob)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] + pa.total_allocated_bytes() - arrow_before
    finally:
        tracemalloc.stop()
    del value
    return held / 2**20


def batch_parts(n: int) -> list[tuple[str, Any]]:
    """A batch of ``n`` SaudiNewsNet records, analysed and linked: (part, value) pairs."""
    from akhbar.config import get_settings
    from akhbar.tasks.analyse import AnalysisConfig, analyse_records
    from akhbar.tasks.clean import TemplateStats
    from akhbar.tasks.entities.extract import link_entities
    from akhbar.tasks.entities.linking import EntityLinker
    from akhbar.tasks.ingest import FieldMap, IngestLimits
    from akhbar.tasks.sources import records_for_source

    settings = get_settings()
    records = list(itertools.islice(records_for_source(str(SNN), IngestLimits()), n))
    config = AnalysisConfig(field_map=FieldMap(), templates=TemplateStats(), templates_warmed=False, run_id="bench",
                            pipeline_version="bench", timezone=settings.timezone, seeds_dir=str(settings.seeds_dir))
    started = time.perf_counter()
    analysis = analyse_records(records, config)
    print(f"analysed {len(records):,} records in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    linked = link_entities(analysis.prepared.candidates, analysis.tagged, EntityLinker.from_reference(settings.seeds_dir),
                           run_id="bench", pipeline_version="bench")
    return [("records", records), ("candidates", analysis.prepared.candidates),
            ("fingerprints", analysis.prepared.fingerprints), ("tagged mentions", analysis.tagged.mentions),
            ("sentences", analysis.tagged.sentences), ("quantities", analysis.tagged.quantities),
            ("linked mentions", linked.mentions)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000, help="records in the batch (default: 5,000, a batch)")
    args = parser.parse_args()
    if not sorted(SNN.glob("*.zip")):
        print(f"SaudiNewsNet not found under {SNN}; skipped")
        return
    rows = []
    for part, value in batch_parts(args.records):
        blob = pickle.dumps(value)
        rows.append((part, unpickled_mb(blob), len(blob) / 2**20))
    print(f"| part of a {args.records:,}-record batch | in memory | pickled |\n|---|---:|---:|")
    for part, held, pickled in rows:
        print(f"| {part} | {held:.1f} MB | {pickled:.1f} MB |")
    print(f"| all | {sum(r[1] for r in rows):.1f} MB | {sum(r[2] for r in rows):.1f} MB |")


if __name__ == "__main__":
    main()
