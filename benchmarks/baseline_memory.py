"""Baseline memory of a pipeline run's two kinds of process, step by step, each in a fresh interpreter.

A run is one flow process (Prefect, DuckDB/DuckLake, Great Expectations, the entity linker) and a
pool of analysis workers (the Arabic tagger and the reference gazetteer). A peak RSS says how much
a run needs, not what it is made of: this says what each import, model and batch adds. Every part
is a child process of this script (``--part``), so each starts from a bare interpreter:

  worker        import akhbar.tasks.analyse; arabic_tagger('crf', None); warm_worker with the flow's
                pickled reference linker, as the flow's pool starts its workers; analyse_records on
                a chunk of SaudiNewsNet records, then on the next chunk
  worker-built  the same warm-up with the linker built in the worker (EntityLinker.from_reference),
                for comparison; it stops there
  flow          import akhbar.cli, akhbar.flows.pipeline, great_expectations; a fresh warehouse
                (connect + ensure_schema); the reference linker built, pickled and loaded back; the
                worker's Analysis of chunk 1 unpickled, its candidates audited by GX and linked

Records are the first 2 x --chunk records of the corpus, in the order a run reads them. To keep
this short, templates are learned only from the zip files those records come from (a run learns
them from every file first, so its cleaning may differ slightly). Each step reports RSS (VmRSS),
PSS (shared pages split among the processes mapping them: lower while other akhbar processes run)
and the peak so far (VmHWM). A step's +MB depends on order: what it allocates may fill heap that
earlier steps freed. Real pool workers are spawned and also import multiprocessing (~5 MB).

    .venv/bin/python benchmarks/baseline_memory.py                 # ~30 s of one core
    .venv/bin/python benchmarks/baseline_memory.py --out /tmp/baseline_memory.md

Skipped cleanly when the SaudiNewsNet corpus is absent.
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"
PARTS = ("worker", "worker-built", "flow")


def _mb(path: str, key: str) -> float:
    with open(path) as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key + ":")) / 1024


class Steps:
    """One process's measurements: a table row per step."""

    def __init__(self, title: str):
        self.title, self.rows, self.started = title, [], time.perf_counter()
        self.step("bare interpreter (this script's stdlib imports)")

    def step(self, name: str) -> None:
        row = (name, _mb("/proc/self/status", "VmRSS"), _mb("/proc/self/smaps_rollup", "Pss"),
               _mb("/proc/self/status", "VmHWM"))
        self.rows.append(row)
        print(f"  {self.title}: {name}: {row[1]:.0f} MB", file=sys.stderr, flush=True)

    def table(self) -> str:
        lines = [f"### {self.title} ({time.perf_counter() - self.started:.0f} s)", "",
                 "| step | RSS MB | +MB | PSS MB | peak MB |", "|---|---:|---:|---:|---:|"]
        previous = self.rows[0][1]
        for name, rss, pss, peak in self.rows:
            lines.append(f"| {name} | {rss:.0f} | {rss - previous:+.0f} | {pss:.0f} | {peak:.0f} |")
            previous = rss
        return "\n".join(lines)


def prepare(corpus: Path, work: Path, chunk: int) -> str:
    """Write the parts' inputs to ``work``: two chunks of records, the AnalysisConfig, the pickled linker."""
    from akhbar.config import current_pipeline_version, get_settings
    from akhbar.tasks.analyse import AnalysisConfig
    from akhbar.tasks.clean import TemplateStats
    from akhbar.tasks.entities.linking import EntityLinker
    from akhbar.tasks.ingest import FieldMap, IngestLimits
    from akhbar.tasks.prepare import observe_templates
    from akhbar.tasks.sources import records_for_source

    settings = get_settings()
    field_map, limits = FieldMap.parse([]), IngestLimits(settings.max_record_bytes, settings.max_file_bytes)
    templates = TemplateStats.from_rows([], {})  # what a fresh warehouse holds
    records, zips = [], []
    for path in sorted(corpus.glob("*.zip")):
        if len(records) >= 2 * chunk:
            break
        # source_name: the records' source as a run over the directory names it
        read = list(records_for_source(str(path), limits, source_name=corpus.name))
        observe_templates(read, field_map, templates)
        records, zips = records + read, zips + [path.name]
    config = AnalysisConfig(field_map=field_map, templates=templates.compact(), templates_warmed=True,
                            run_id="baseline-memory", pipeline_version=current_pipeline_version(),
                            timezone=settings.timezone, seeds_dir=str(settings.seeds_dir),
                            english_ner=settings.english_ner)  # ner_backend 'crf', the shipped model
    (work / "config.pkl").write_bytes(pickle.dumps(config))
    for i in (1, 2):
        (work / f"chunk{i}.pkl").write_bytes(pickle.dumps(records[(i - 1) * chunk:i * chunk]))
    (work / "linker.pkl").write_bytes(pickle.dumps(EntityLinker.from_reference(settings.seeds_dir)))
    return (f"Records: chunks 1 and 2 are records 1-{chunk:,} and {chunk + 1:,}-{2 * chunk:,} of {corpus}; "
            f"templates learned from {', '.join(zips)} ({len(records):,} records).")


def worker(work: Path, steps: Steps, built: bool) -> None:
    """A pool worker: its warm-up (linker unpickled, or ``built`` here), then two chunks (not when built)."""
    import akhbar.tasks.analyse as an

    steps.step("import akhbar.tasks.analyse")
    config = pickle.loads((work / "config.pkl").read_bytes())
    an.arabic_tagger(config.ner_backend, config.ner_model_path)
    steps.step(f"arabic_tagger({config.ner_backend!r}, {config.ner_model_path!r})")
    if built:
        an.warm_worker(config)
        steps.step("warm_worker(config): EntityLinker.from_reference here, gc.freeze()")
        return
    reference = (work / "linker.pkl").read_bytes()
    an.warm_worker(config, reference)
    steps.step(f"warm_worker(config, reference): pickle.loads of the flow's {len(reference) / 2**20:.1f} MB linker")
    for i in (1, 2):
        records = pickle.loads((work / f"chunk{i}.pkl").read_bytes())
        result = an.analyse_records(records, config)
        steps.step(f"chunk {i}: unpickle {len(records):,} records + analyse_records (result held"
                   + (", chunk 1's freed)" if i == 2 else ")"))
        if i == 1:  # the flow part's input, pickled as the pool returns it
            (work / "analysis.pkl").write_bytes(pickle.dumps(result))
        del records, result


def flow(work: Path, steps: Steps) -> None:
    """The flow's process: imports, a fresh warehouse, the reference linker, one chunk audited and linked."""
    for module in ("akhbar.cli", "akhbar.flows.pipeline", "great_expectations"):  # cli: the flow's __main__
        importlib.import_module(module)
        steps.step(f"import {module}")
    from akhbar.config import get_settings
    from akhbar.tasks.entities.extract import link_entities
    from akhbar.tasks.entities.linking import EntityLinker
    from akhbar.tasks.validate import Validator
    from akhbar.warehouse import publish as pub
    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.schema import ARTICLES

    settings, config = get_settings(warehouse=work / "warehouse"), pickle.loads((work / "config.pkl").read_bytes())
    wh = Warehouse(settings.warehouse)
    con = wh.connect()
    with wh.publish_lock():
        wh.ensure_schema(con)
    steps.step("fresh warehouse: Warehouse.connect() (DuckLake ATTACH) + ensure_schema")
    reference = pickle.dumps(EntityLinker.from_reference(settings.seeds_dir))  # kept for the run, as the flow does
    linker = pickle.loads(reference)
    steps.step(f"reference linker: from_reference, pickled ({len(reference) / 2**20:.1f} MB kept), loaded back")
    blob = (work / "analysis.pkl").read_bytes()
    analysis, size = pickle.loads(blob), len(blob) / 2**20
    del blob
    candidates = analysis.prepared.candidates
    steps.step(f"unpickle the worker's Analysis of chunk 1 ({size:.0f} MB pickled, {len(candidates):,} articles)")
    validator = Validator(wh.root, settings.expectations_dir)
    frame = pub.to_frame(ARTICLES.from_rows(candidates))
    validator.validate("articles", frame, id_column="raw_id", run_name="baseline-b1-candidates",
                       parameters=pub.suite_parameters(settings.min_body_chars))
    steps.step("audit: Validator(...) + GX validate 'articles' on those candidates")
    del frame
    link_entities(candidates, analysis.tagged, linker, run_id=config.run_id,
                  pipeline_version=config.pipeline_version)
    steps.step("link_entities of those candidates (GX frame and linked batch dropped)")


def run_part(args: argparse.Namespace, part: str, work: Path) -> str:
    cmd = [sys.executable, __file__, "--part", part, "--work", str(work), "--corpus", str(args.corpus),
           "--chunk", str(args.chunk)]
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=SNN, help=f"SaudiNewsNet's zip files (default: {SNN})")
    parser.add_argument("--chunk", type=int, default=1000, help="records per chunk (default: 1,000)")
    parser.add_argument("--out", type=Path, help="also write the tables to this markdown file")
    parser.add_argument("--part", choices=("prep", *PARTS), help="internal: run one part in this process")
    parser.add_argument("--work", type=Path, help="internal: the directory the parts share")
    args = parser.parse_args()
    if args.part:  # a child: measure, print the table on stdout
        if args.part == "prep":
            print(prepare(args.corpus, args.work, args.chunk))
            return
        steps = Steps(args.part + (": the reference linker built here" if args.part == "worker-built" else ""))
        if args.part == "flow":
            flow(args.work, steps)
        else:
            worker(args.work, steps, built=args.part == "worker-built")
        print(steps.table())
        return
    if not sorted(args.corpus.glob("*.zip")):
        print(f"SaudiNewsNet not found under {args.corpus}; skipped")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="akhbar-baseline-") as tmp:
        report = [run_part(args, part, Path(tmp)) for part in ("prep", *PARTS)]
    report.append(f"All parts: {time.perf_counter() - started:.0f} s, {Path(sys.executable)}.")
    text = "\n\n".join(report) + "\n"
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
