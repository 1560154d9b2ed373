"""The main Prefect flow: inputs → raw records → articles → validated, atomically published batches.

Prefect is the orchestration layer only: every task calls a plain function from ``akhbar.tasks`` or
``akhbar.warehouse`` on a whole batch (a task run costs milliseconds, so never one per article).

Per batch:
1. *skip* records whose bytes an earlier run already ingested;
2. *prepare* the rest (decode, extract, clean, date, language);
3. *audit candidates* with the ``articles`` suite: rows failing row-level expectations are
   quarantined, the rest go on;
4. under the publish lock: *dedup* against the warehouse, *stage* every table as Parquet,
   *audit* the staged files with every suite (any failure stops the run), *commit* all tables in
   one transaction.
"""

from __future__ import annotations

import functools
import gc
import json
import pickle
import shutil
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext, get_run_context
from prefect.utilities.annotations import quote

from akhbar import collector, progress
from akhbar.faults import fault_point
from akhbar.config import Settings, current_pipeline_version, get_settings
from akhbar.tasks.clean import TemplateStats
from akhbar.tasks.entities.extract import EntityBatch, TaggedBatch, entity_rows, link_entities, merge_rows
from akhbar.tasks.entities.linking import EntityLinker, EntityRecord
from akhbar.tasks.neardup import Fingerprint, NearDupIndex, signature_bytes
from akhbar.tasks.dedup import PriorOutcome, quarantine_row, resolve_repeats, split_by_raw_id, split_duplicates
from akhbar.tasks.ingest import FieldMap, IngestLimits, RawRecord, batched, count_input_files
from akhbar.tasks.input_files import FileFilter, FileLedger
from akhbar.tasks.sources import records_for_source
from akhbar.tasks.fetch import FetchPolicy
from akhbar.flows.monitoring import post_validation_artifact, validation_rows
from akhbar.warehouse.compact import compact_due
from akhbar.warehouse.datadocs import make_offline
from akhbar.warehouse.gold import backfill, gold_statements
from akhbar.warehouse.reprocess import rebuild_record
from akhbar.tasks.analyse import Analysis, AnalysisConfig
from akhbar.tasks.prepare import PreparedBatch, count_template_lines, observe_templates, readable_bodies
from akhbar.flows.runners import BatchRunner, WorkerPool, batch_runner, worker_count
from akhbar.tasks.validate import ValidationError, Validator
from akhbar.warehouse import publish as pub
from akhbar.warehouse.lake import Warehouse, fixed_width_rows
from akhbar.warehouse.schema import DATA_TABLES


@dataclass
class RunSummary:
    """Where every record of a run ended. ``records_in`` = the other four, always."""

    run_id: str
    status: str = "running"
    records_in: int = 0
    published: int = 0
    duplicates: int = 0
    quarantined: int = 0
    skipped: int = 0
    batches: int = 0
    validation_success: bool = True
    data_docs: str | None = None
    warehouse: str = ""
    seconds: float = 0.0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    # Per stage, the seconds of each batch in order: whether batches slow down as the warehouse grows.
    batch_seconds: dict[str, list[float]] = field(default_factory=dict)
    error: str | None = None

    def add_batch_seconds(self, seconds: Mapping[str, float]) -> None:
        """Append one batch's stage seconds (a stage the batch did not use counts 0 s)."""
        done = self.batches - 1
        for stage in seconds.keys() - self.batch_seconds.keys():
            self.batch_seconds[stage] = [0.0] * done
        for stage, series in self.batch_seconds.items():
            series.append(round(seconds.get(stage, 0.0), 3))

    def balanced(self) -> bool:
        return self.records_in == self.published + self.duplicates + self.quarantined + self.skipped

    def to_markdown(self) -> str:
        lines = [
            f"## akhbar run `{self.run_id}`: {self.status}",
            "",
            "| outcome | records |", "|---|---:|",
            f"| read | {self.records_in:,} |",
            f"| published (new articles) | {self.published:,} |",
            f"| duplicates | {self.duplicates:,} |",
            f"| quarantined | {self.quarantined:,} |",
            f"| skipped (already ingested) | {self.skipped:,} |",
            "",
            f"Validation: **{'passed' if self.validation_success else 'FAILED'}** over {self.batches} batch(es). "
            f"Data Docs: `{self.data_docs or 'not built'}`",
        ]
        if self.quarantine_reasons:
            lines += ["", "| quarantine reason | records |", "|---|---:|"]
            lines += [f"| {r} | {n:,} |" for r, n in sorted(self.quarantine_reasons.items(), key=lambda x: -x[1])]
        if self.stage_seconds:
            lines += ["", "| stage | seconds |", "|---|---:|"]
            lines += [f"| {s} | {t:.2f} |" for s, t in self.stage_seconds.items()]
        if self.error:
            lines += ["", f"**Error:** {self.error}"]
        return "\n".join(lines)


@dataclass
class RunState:
    """What the tasks of one run share: settings, the writer connection, the validator, counters."""

    settings: Settings
    warehouse: Warehouse
    con: duckdb.DuckDBPyConnection
    field_map: FieldMap
    summary: RunSummary
    # The warehouse's template-line counts, read on first use (see ``templates``).
    templates_loader: Callable[[], TemplateStats] = TemplateStats
    validator: Validator | None = None
    workers: WorkerPool | None = None  # the run's local worker processes, started on first use
    neardup: NearDupIndex | None = None
    linker: EntityLinker | None = None
    published_merges: set[tuple[str, str]] = field(default_factory=set)
    # Entity ids known to be in the warehouse (entities are insert-only): a batch then asks the
    # warehouse only about the linker's ids not in here, not about all of them (70k at 100k articles).
    published_entities: set[str] = field(default_factory=set)
    reference_matches: dict[tuple, Any] = field(default_factory=dict)  # EntityLinker.add_known's memo
    reference_linker: bytes | None = None  # the pickled reference-only linker, copied for each rebuild
    discovered: dict[str, EntityRecord] = field(default_factory=dict)  # entities read from the warehouse
    replay: bool = False  # replaying quarantined records: their bytes are already in raw_documents
    templates_warmed: bool = False  # a first pass already counted this run's template lines
    runner_kind: str = "inline"
    pipeline_version: str = field(default_factory=current_pipeline_version)
    timings: Counter[str] = field(default_factory=Counter)
    _templates: TemplateStats | None = field(default=None, repr=False)

    @property
    def templates(self) -> TemplateStats:
        """Template-line counts, read from the warehouse when first needed: a run that finds nothing
        new never reads them (0.9 s of a no-op run on the SaudiNewsNet warehouse, whose batches
        stored 128,000 line keys; they grow with every outlet's pages)."""
        if self._templates is None:
            self._templates = self.templates_loader()
        return self._templates

    @templates.setter
    def templates(self, value: TemplateStats) -> None:
        self._templates = value

    def timed(self, stage: str, started: float) -> None:
        self.timings[stage] += time.perf_counter() - started

    def release_models(self) -> None:
        """Drop what only the batches needed, before the search refresh adds its own working set.

        The linker, the entities it was built from and the near-duplicate index grow with the
        warehouse; freeing them lowered the flow's peak during the refresh from 1.87 to 1.71 GB
        (30k synthetic articles). The validator stays: Data Docs are built from it afterwards.
        """
        self.neardup = self.linker = None
        self.reference_linker = None
        self.discovered, self.reference_matches, self.published_merges = {}, {}, set()
        self.published_entities = set()
        gc.collect()


def new_run_id() -> str:
    """Time-sortable and unique: ``20261129T112233Z-1a2b3c``."""
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


# --- tasks: thin wrappers over plain functions ------------------------------------------------


def call(task_fn: Any, *args: Any) -> Any:
    """Call a Prefect task with every argument wrapped in ``quote``, then forget its result's links.

    Prefect walks each task argument recursively (to resolve futures and record dependencies);
    on a batch of 3,000 records that walk cost 63 s of a 110 s run (measured with pyinstrument).
    Our arguments never hold futures, so they are passed opaque. For the same dependency tracking
    Prefect maps the id of every element of a returned list to its task run, in a dict that lives
    as long as the flow run: one entry per audited article, 95,778 entries (14 MB) at 99,000
    articles. Quoted arguments never look those links up, so they are dropped.
    """
    try:
        return task_fn(*(quote(a) for a in args))
    finally:
        context = FlowRunContext.get()
        if context is not None:
            context.run_results.clear()


@task(name="open validator", cache_policy=NO_CACHE)
def open_validator(state: RunState) -> Validator:
    return Validator(state.warehouse.root, state.settings.expectations_dir)


def reference_linker_bytes(state: RunState) -> bytes:
    """The run's reference-only linker, pickled: built once, copied for each rebuild and for the workers."""
    if state.reference_linker is None:
        state.reference_linker = pickle.dumps(EntityLinker.from_reference(state.settings.seeds_dir))
    return state.reference_linker


@task(name="load entity linker", cache_policy=NO_CACHE)
def load_entity_linker(state: RunState) -> EntityLinker:
    """The linker: reference data plus what earlier runs discovered (the NER loads in the workers).

    Rebuilt after every batch, so the reference part is built once per run and copied from its
    pickle (0.01 s instead of 0.5 s), and discovered entities are read once: entities are
    insert-only, so each rebuild reads only the rows it has not seen (an anti-join on the ids it
    holds) and feeds all of them, in ``entity_id`` order, exactly as a fresh run would.
    """
    linker: EntityLinker = pickle.loads(reference_linker_bytes(state))
    known = state.discovered
    state.con.register("_known_entities", pa.table({"entity_id": pa.array(list(known), pa.string())}))
    try:
        cur = state.con.execute("SELECT * FROM entities WHERE origin = 'discovered' "
                                "AND entity_id NOT IN (SELECT entity_id FROM _known_entities)")
        names = [d[0] for d in cur.description]
        for row in cur.fetchall():
            rec = EntityRecord.from_row(dict(zip(names, row)))
            known[rec.entity_id] = rec
    finally:
        state.con.unregister("_known_entities")
    linker.add_known((known[k] for k in sorted(known)), memo=state.reference_matches)
    state.published_merges = set(state.con.execute("SELECT from_id, to_id FROM entity_merges").fetchall())
    return linker


@task(name="link entities", cache_policy=NO_CACHE)
def link_batch_entities(state: RunState, candidates: list[dict[str, Any]], tagged: TaggedBatch) -> EntityBatch:
    """Link the batch's tagged mentions to entity ids (stateful: runs in the flow's process, in order)."""
    started = time.perf_counter()
    assert state.linker is not None
    batch = link_entities(candidates, tagged, state.linker, run_id=state.summary.run_id,
                          pipeline_version=state.pipeline_version)
    state.timed("link entities", started)
    return batch


@task(name="refresh search index", cache_policy=NO_CACHE, retries=1)
def refresh_search(state: RunState) -> dict[str, Any]:
    """Bring the derived full-text index up to date with what this run published.

    It runs in the flow's process once the workers have exited: handing the tokenizing to them
    saved nothing (8.6–9.5 s without them against 10.4–11.1 s with them, 30k synthetic articles,
    the pickling ate the gain) and kept 1 GB of idle workers alive under the run's peak.
    """
    from akhbar.warehouse.search import refresh_search_index

    return refresh_search_index(state.warehouse)


# Records per unit of warm-up work handed to a worker: small enough that the first one starts
# while the flow is still reading, big enough that pickling is a small share of it.
WARM_CHUNK = 2000


@task(name="learn source templates", cache_policy=NO_CACHE)
def warm_templates(state: RunState, records: Iterator[RawRecord]) -> int:
    """First pass: count template lines over every new record of the run before cleaning any.

    With one pass, the first batches of a new outlet would be cleaned before its template lines
    were frequent enough to be recognised (measured: 6 SaudiNewsNet articles kept an SMS contact
    block). Once the run is big enough for the worker pool, the counting runs there while the flow
    reads on (the pool then stays up for the batches). Returns the number of new records.
    """
    started = time.perf_counter()
    wh, con, seen = state.warehouse, state.con, 0
    pending: deque[Any] = deque()
    for chunk in batched(records, WARM_CHUNK):
        known = wh.known_ids(con, "raw_documents", "raw_id", [r.raw_id for r in chunk])
        fresh = [r for r in chunk if r.raw_id not in known]
        seen += len(fresh)
        workers = worker_count(state.settings)
        # While the workers start (they load the models first), the flow counts chunks itself.
        starting = len(pending) >= workers and not any(f.done() for f in pending)
        if state.workers is not None and state.workers.usable(seen) and not starting:
            pool = state.workers.get()
            pending.append(pool.submit(count_template_lines, readable_bodies(fresh, state.field_map),
                                       state.templates.settings()))
            while len(pending) > 2 * workers:  # bounded: each holds its chunk's bodies
                state.templates.merge(pending.popleft().result())
        elif fresh:
            observe_templates(fresh, state.field_map, state.templates)
    while pending:
        state.templates.merge(pending.popleft().result())
    # Every record is counted: from here on only the lines that count as template matter (the
    # full counts were 50 MB on SaudiNewsNet and grow with the corpus; each batch persists its own).
    if seen:  # with nothing new, the stored counts are not even read
        state.templates = state.templates.compact()
    state.templates_warmed = True
    state.timed("learn templates", started)
    return seen


@task(name="audit candidates", cache_policy=NO_CACHE)
def audit_candidates(state: RunState, prepared: PreparedBatch, batch_no: int) -> list[dict[str, Any]]:
    """Row-level expectations on the candidates: failing rows are moved to quarantine."""
    started = time.perf_counter()
    assert state.validator is not None
    if not prepared.candidates:
        return []
    from akhbar.warehouse.schema import ARTICLES

    frame = pub.to_frame(ARTICLES.from_rows(prepared.candidates))
    outcome = state.validator.validate(
        "articles", frame, id_column="raw_id", run_name=f"{state.summary.run_id}-b{batch_no}-candidates",
        parameters=pub.suite_parameters(state.settings.min_body_chars),
    )
    fatal = [f for f in outcome.table_failures() if f.when != "publish"]
    if fatal:
        raise ValidationError(outcome, fatal)
    failing = outcome.row_failures()
    keep = []
    from akhbar.tasks.prepare import Quarantined

    for row in prepared.candidates:
        failures = failing.get(row["raw_id"])
        if failures:
            reasons = "; ".join(f"{f.reason or f.detail} [{f.expectation}]" for f in failures)
            prepared.quarantined.append(Quarantined(row["raw_id"], row["location"], row["source"], "validate",
                                                    reasons, failures[0].expectation))
        else:
            keep.append(row)
    state.timed("audit candidates", started)
    return keep


@task(name="publish batch", cache_policy=NO_CACHE)
def publish_batch(state: RunState, records: list[RawRecord], repeats: list[RawRecord],
                  prepared: PreparedBatch, candidates: list[dict[str, Any]], entities: EntityBatch,
                  batch_no: int) -> dict[str, int]:
    """Dedup, stage, audit and commit one batch while holding the warehouse's publish lock."""
    wh, con, run_id = state.warehouse, state.con, state.summary.run_id
    now = datetime.now(timezone.utc)
    with wh.publish_lock(state.settings.publish_lock_timeout_s):
        started = time.perf_counter()
        # A concurrent run may have published some of these bytes since we looked: the same
        # occurrence is then skipped, the same bytes elsewhere become a repeat of its outcome.
        raced = set() if state.replay else set(wh.known_ids(con, "raw_documents", "raw_id", [r.raw_id for r in records]))
        raced_skipped = 0
        if raced:
            seen = wh.known_occurrences(con, [(r.raw_id, r.location) for r in records if r.raw_id in raced])
            raced_skipped = sum(1 for r in records if (r.raw_id, r.location) in seen)
            repeats = repeats + [r for r in records if r.raw_id in raced and (r.raw_id, r.location) not in seen]
        raced_records = [r for r in records if r.raw_id in raced]
        records = [r for r in records if r.raw_id not in raced]
        candidates = [c for c in candidates if c["raw_id"] not in raced]
        published = set(wh.known_ids(con, "articles", "article_id", [c["article_id"] for c in candidates]))
        articles, duplicates = split_duplicates(candidates, published, run_id=run_id, now=now)
        signatures = _assign_clusters(state, articles, prepared.fingerprints)
        quarantine = [quarantine_row(q.raw_id, q.location, q.source_name, q.stage, q.reason, q.expectation, run_id, now)
                      for q in prepared.quarantined if q.raw_id not in raced]
        prior = _prior_outcomes(state, articles, duplicates, quarantine, repeats)
        rep_dups, rep_quar = resolve_repeats(repeats, prior, run_id=run_id, now=now)
        batch = pub.BatchTables(pipeline_version=state.pipeline_version)
        if not state.replay:
            batch.add("raw_documents", [_raw_row(r, run_id, now) for r in records])
        batch.add("articles", articles)
        batch.add("article_signatures", signatures)
        batch.add("duplicates", duplicates + rep_dups)
        batch.add("quarantine", quarantine + rep_quar)
        delta = prepared.templates_seen or TemplateStats()
        if raced:
            # Count only what this batch publishes: whoever published the raced bytes counted them
            # (another run, or, for the same bytes twice in one corpus, an earlier batch of this
            # one). Subtracting those few records is exact; recounting the rest cost 1.9 s a batch.
            delta = delta.without(observe_templates(raced_records, state.field_map, TemplateStats(**delta.settings())))
        batch.add("source_templates", [{"source": s, "line_key": k, "n_articles": n, "run_id": run_id}
                                       for s, k, n in delta.to_rows(min_articles=1)])
        batch.add("source_totals", [{"source": s, "n_articles": n, "run_id": run_id}
                                    for s, n in delta.n_articles.items()])
        entity_ids = _add_entity_tables(state, batch, entities, articles, now)
        state.timed("dedup", started)
        with wh.staging(run_id, batch_no) as directory:
            started = time.perf_counter()
            staged = pub.stage(batch, directory, [t.name for t in DATA_TABLES])
            fault_point("after-stage")
            pub.audit(state.validator, staged, run_name=f"{run_id}-b{batch_no}",
                      parameters=pub.suite_parameters(state.settings.min_body_chars), entity_ids=entity_ids)
            state.timed("audit publish", started)
            fault_point("after-audit")
            started = time.perf_counter()
            statements = _resolve_replayed(state, con, records + repeats, batch) if state.replay else []
            # Gold tables last: a replayed record counts where it finally ended up.
            statements += gold_statements(con, batch.rows.get("articles", []), batch.rows.get("duplicates", []),
                                          batch.rows.get("quarantine", []), mentions=staged["entity_mentions"],
                                          entity_merges=batch.rows.get("entity_merges", []))
            pub.commit(wh, con, staged, statements)
            fault_point("after-commit")
            state.published_merges.update((m["from_id"], m["to_id"]) for m in batch.rows.get("entity_merges", []))
            state.published_entities.update(e["entity_id"] for e in batch.rows.get("entities", []))
            state.timed("publish", started)
        started = time.perf_counter()
        for done in compact_due(con, wh, state.settings.compact_deleted_fraction):
            get_run_logger().info("compacted %s: %d files, %.0f%% of their rows deleted -> %d files, in %.1f s",
                                  done.before.table, done.before.files, 100 * done.before.deleted_fraction,
                                  done.after.files, done.seconds)
        state.timed("compact", started)
    reasons = Counter(_reason_class(q["reason"]) for q in batch.rows.get("quarantine", []))
    return {
        "skipped": raced_skipped,
        "published": batch.count("articles"),
        "duplicates": batch.count("duplicates"),
        "quarantined": batch.count("quarantine"),
        **{f"reason:{k}": v for k, v in reasons.items()},
    }


def _resolve_replayed(state: RunState, con: duckdb.DuckDBPyConnection, records: list[RawRecord],
                      batch: pub.BatchTables) -> list[tuple[str, list]]:
    """The UPDATE that settles replayed quarantine rows, run inside the publish transaction."""
    outcome: dict[tuple[str, str], str] = {}
    for table, label in (("articles", "published"), ("duplicates", "duplicate"), ("quarantine", "quarantined again")):
        for row in batch.rows.get(table, []):
            outcome.setdefault((row["raw_id"], row["location"]), label)
    keys = [(r.raw_id, r.location) for r in records]
    con.register("_resolutions", pa.table({
        "raw_id": [k[0] for k in keys], "location": [k[1] for k in keys],
        "resolution": [outcome.get(k, "quarantined again") for k in keys],
    }))
    return [(
        "UPDATE quarantine SET resolved_at = ?, resolution = r.resolution, resolved_by_run = ? FROM _resolutions r "
        "WHERE quarantine.raw_id = r.raw_id AND quarantine.location = r.location "
        "AND quarantine.resolved_at IS NULL AND quarantine.run_id <> ?",
        [datetime.now(timezone.utc), state.summary.run_id, state.summary.run_id],
    )]


def _assign_clusters(state: RunState, articles: list[dict[str, Any]],
                     fingerprints: Mapping[str, Fingerprint] | None = None) -> list[dict[str, Any]]:
    """Near-duplicate clusters for new articles (in place); returns their signature rows."""
    assert state.neardup is not None
    con = state.con

    def stored_keys(article_ids: list[str]) -> dict[str, str]:
        found = state.warehouse.known_ids(con, "articles", "article_id", article_ids, extra="t.match_key")
        return {article_id: row[0] for article_id, row in found.items()}

    assigned = state.neardup.assign([(a["article_id"], a["match_key"]) for a in articles], get_keys=stored_keys,
                                    fingerprints=fingerprints)
    rows = []
    for article in articles:
        cluster = assigned[article["article_id"]]
        article["cluster_id"], article["cluster_similarity"] = cluster.cluster_id, cluster.similarity
        rows.append({"article_id": article["article_id"], "run_id": state.summary.run_id,
                     "signature": signature_bytes(state.neardup.signature_of_article(article["article_id"]))})
    return rows


def _load_neardup(con: duckdb.DuckDBPyConnection, threshold: float) -> NearDupIndex:
    """The near-duplicate index of every stored article, read as Arrow batches: the signatures of
    a batch become one array without a Python object per article, and only cluster ids that are
    not an article's own are sent. A million articles: 20.8 s row by row, most of it per-row Python."""
    index = NearDupIndex(threshold=threshold, keep_signatures=False)
    reader = con.execute("SELECT s.article_id, nullif(a.cluster_id, s.article_id) AS cluster_id, s.signature "
                         "FROM article_signatures s JOIN articles a USING (article_id)").to_arrow_reader(100_000)
    for part in reader:
        index.add_existing_many(part.column("article_id").to_pylist(), part.column("cluster_id").to_pylist(),
                                fixed_width_rows(part.column("signature"), np.dtype("<u4")))
    return index


def _add_entity_tables(state: RunState, batch: pub.BatchTables, entities: EntityBatch,
                       articles: list[dict[str, Any]], now: datetime) -> set[str]:
    """Mentions and quantities of the articles published in this batch, the entities they need
    that the warehouse lacks, and merges not yet recorded. Returns every entity id that will exist."""
    assert state.linker is not None
    published_raw = {a["raw_id"] for a in articles}
    batch.add("entity_mentions", entities.rows_for("mentions", published_raw))
    batch.add("quantities", entities.rows_for("quantities", published_raw))
    batch.add("sentences", entities.rows_for("sentences", published_raw))
    wanted = {rec.entity_id: rec for rec in state.linker.records()}
    unknown = [eid for eid in wanted if eid not in state.published_entities]
    state.published_entities.update(state.warehouse.known_ids(state.con, "entities", "entity_id", unknown))
    batch.add("entities", entity_rows([rec for eid, rec in wanted.items() if eid not in state.published_entities],
                                      state.summary.run_id))
    merges = [m for m in state.linker.merges() if (m.from_id, m.to_id) not in state.published_merges]
    batch.add("entity_merges", merge_rows(merges, state.summary.run_id, now))
    return state.published_entities | set(wanted)


def _reason_class(reason: str) -> str:
    """Group quarantine reasons for the summary (the table keeps the full text)."""
    return reason.split(":", 1)[0][:80]


def _raw_row(record: RawRecord, run_id: str, now: datetime) -> dict[str, Any]:
    return {"raw_id": record.raw_id, "location": record.location, "source_name": record.source_name,
            "format": record.format, "content": record.content, "byte_size": len(record.content),
            "url": record.url, "ingested_at": now, "run_id": run_id}


def _prior_outcomes(state: RunState, articles: list[dict[str, Any]], duplicates: list[dict[str, Any]],
                    quarantine: list[dict[str, Any]], repeats: list[RawRecord]) -> dict[str, PriorOutcome]:
    """Outcome of the first occurrence of every repeated raw id (this batch first, then the warehouse)."""
    wanted = {r.raw_id for r in repeats}
    if not wanted:
        return {}
    prior: dict[str, PriorOutcome] = {}
    for row in articles + duplicates:
        if row["raw_id"] in wanted:
            prior.setdefault(row["raw_id"], PriorOutcome("article", row["article_id"]))
    for row in quarantine:
        if row["raw_id"] in wanted:
            prior.setdefault(row["raw_id"], PriorOutcome("quarantine", None, row["reason"]))
    missing = sorted(wanted - prior.keys())
    wh, con = state.warehouse, state.con
    for table, kind in (("articles", "article"), ("duplicates", "article")):
        for rid, (aid,) in wh.known_ids(con, table, "raw_id", missing, extra="article_id").items():
            prior.setdefault(rid, PriorOutcome(kind, aid))
    for rid, (reason,) in wh.known_ids(con, "quarantine", "raw_id", missing, extra="reason").items():
        prior.setdefault(rid, PriorOutcome("quarantine", None, reason))
    return prior


# --- the flow ------------------------------------------------------------------------------------


def _load_templates(state_wh: Warehouse, con: duckdb.DuckDBPyConnection) -> TemplateStats:
    rows = con.execute("SELECT source, line_key, sum(n_articles) FROM source_templates GROUP BY ALL").fetchall()
    totals = dict(con.execute("SELECT source, sum(n_articles) FROM source_totals GROUP BY ALL").fetchall())
    return TemplateStats.from_rows(rows, {k: int(v) for k, v in totals.items()})


def _start_run(wh: Warehouse, con: duckdb.DuckDBPyConnection, summary: RunSummary, inputs: list[str]) -> None:
    with wh.publish_lock():
        wh.ensure_schema(con)
        if backfill(wh, con):
            get_run_logger().info("gold tables rebuilt from the base tables")
        for (run_id,) in con.execute("SELECT run_id FROM runs WHERE status = 'running'").fetchall():
            if not wh.is_alive(run_id):
                con.execute("UPDATE runs SET status = 'abandoned', error = 'process died before the run ended' "
                            "WHERE run_id = ?", [run_id])
        removed = wh.clear_dead_staging()
        orphans = wh.delete_orphaned_files(con)
        if removed or orphans:
            get_run_logger().warning("cleaned up after a dead run: %d staging dir(s), %d orphaned data file(s)",
                                     removed, orphans)
        try:
            flow_run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - outside a flow run
            flow_run_id = None
        con.execute(
            "INSERT INTO runs (run_id, flow_run_id, started_at, status, inputs, pipeline_version) VALUES (?,?,?,?,?,?)",
            [summary.run_id, flow_run_id, datetime.now(timezone.utc), "running", json.dumps(inputs),
             current_pipeline_version()],
        )


def _finish_run(wh: Warehouse, con: duckdb.DuckDBPyConnection, s: RunSummary) -> None:
    with wh.publish_lock():
        con.execute(
            "UPDATE runs SET ended_at = ?, status = ?, records_in = ?, published = ?, duplicates = ?, quarantined = ?, "
            "skipped = ?, batches = ?, validation_success = ?, data_docs = ?, error = ?, stage_seconds = ?, "
            "batch_seconds = ? WHERE run_id = ?",
            [datetime.now(timezone.utc), s.status, s.records_in, s.published, s.duplicates, s.quarantined, s.skipped,
             s.batches, s.validation_success, s.data_docs, s.error, json.dumps(s.stage_seconds),
             json.dumps(s.batch_seconds), s.run_id],
        )


def _progress(records: Iterator[RawRecord], state: RunState, artifact_id: Any, total_files: int) -> Iterator[RawRecord]:
    """Count files as records stream past: the Prefect UI progress artifact and the CLI's bar."""
    seen_files: set[str] = set()
    last = 0.0
    for record in records:
        seen_files.add(record.location.split("#")[0].split("[")[0])
        state.summary.records_in += 1
        yield record
        if state.summary.records_in % 500 == 0:
            progress.report(len(seen_files), state.summary.records_in)
        if artifact_id is not None and total_files:
            pct = min(100.0, 100.0 * len(seen_files) / total_files)
            if pct - last >= 5:
                update_progress_artifact(artifact_id, progress=pct)
                last = pct
    progress.report(len(seen_files), state.summary.records_in)


def run_pipeline(inputs: list[str], settings: Settings, field_map: FieldMap, *, replay: bool = False,
                 replay_filter: tuple[str | None, str | None] = (None, None), source_name: str | None = None,
                 fetch_pages: bool = False,
                 record_source: Callable[[], Iterator[RawRecord]] | None = None) -> RunSummary:
    """Run the whole pipeline over ``inputs`` (called inside a Prefect flow).

    With ``replay``, the records are the open quarantine rows (filtered by stage and reason
    substring) rebuilt from ``raw_documents`` instead of ``inputs``. With ``record_source``, the
    records are what it yields instead of ``inputs`` (``akhbar reprocess`` streams them from another
    warehouse); it is called twice, like local inputs are read twice: template warm-up, then the run.
    """
    wh = Warehouse(settings.warehouse)
    summary = RunSummary(run_id=new_run_id(), warehouse=str(wh.root))
    started_run = time.perf_counter()
    run_lock = wh.run_lock(summary.run_id)
    run_lock.acquire()
    con = wh.connect()
    state: RunState | None = None
    gc_clock = collector.GcClock("flow").start()
    try:
        _start_run(wh, con, summary, inputs)
        state = RunState(settings, wh, con, field_map, summary, lambda: _load_templates(wh, con), replay=replay)
        state.workers = WorkerPool(settings, lambda: analysis_config(state), lambda: reference_linker_bytes(state))
        total_files = count_input_files(inputs)
        artifact_id = create_progress_artifact(progress=0.0, description="files read")
        limits = IngestLimits(settings.max_record_bytes, settings.max_file_bytes)
        state_dir = wh.root / "source_state"
        new_records: int | None = None
        ledger: FileLedger | None = None
        if record_source is not None:
            new_records = call(warm_templates, state, record_source())
            records = record_source()
        elif replay:
            records = quarantined_records(con, *replay_filter)
        else:
            policy = FetchPolicy(allow_private=settings.allow_private_fetch)
            ledger = _load_ledger(con)
            local = [src for src in inputs if not src.lower().startswith(("http://", "https://"))]
            if local:  # URL feeds are not fetched twice: their items are few and arrive incrementally
                seen = FileFilter(skip=lambda path: ledger.known_records(path) is not None)
                warmed = call(warm_templates, state, (r for src in local for r in records_for_source(
                    src, limits, source_name=source_name, files=seen)))
                new_records = warmed if len(local) == len(inputs) else None
            files = FileFilter(skip=_skip_known_file(summary, ledger), done=ledger.note_read)
            records = (r for source in inputs for r in records_for_source(
                source, limits, state_dir=state_dir, policy=policy, source_name=source_name, fetch_pages=fetch_pages,
                files=files))
        _run_batches(state, _progress(records, state, artifact_id, total_files), new_records)
        update_progress_artifact(artifact_id, progress=100.0)
        state.workers.close()  # usually done after the last batch's analysis; idempotent
        if settings.search_index and summary.published:
            state.release_models()
            started = time.perf_counter()
            call(refresh_search, state)
            state.timed("search index", started)
        if settings.build_data_docs and state.validator is not None:
            started = time.perf_counter()
            summary.data_docs = state.validator.build_docs()
            make_offline(summary.data_docs)
            state.timed("data docs", started)
        if ledger is not None and ledger.read:
            _record_input_files(wh, con, ledger, summary.run_id)
        summary.status = "completed"
    except ValidationError as exc:
        summary.status, summary.validation_success, summary.error = "failed", False, str(exc)
        raise
    except BaseException as exc:
        summary.status, summary.error = "failed", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if state is not None and state.workers is not None:
            state.workers.close()
        summary.seconds = round(time.perf_counter() - started_run, 2)
        gc_clock.stop()
        if state is not None:
            state.timings.update(gc_clock.seconds)
            summary.stage_seconds = {k: round(v, 2) for k, v in state.timings.items()}
        try:
            _finish_run(wh, con, summary)
            if state is not None and state.validator is not None:
                post_validation_artifact(summary.run_id, validation_rows(state.validator), summary.data_docs)
            create_markdown_artifact(summary.to_markdown(), key="akhbar-run-summary",
                                     description=f"akhbar run {summary.run_id}")
        except Exception:  # noqa: BLE001 - never hide the run's own error behind a bookkeeping one
            get_run_logger().exception("could not record the end of run %s", summary.run_id)
            if summary.status == "completed":
                raise
        finally:
            con.close()
            shutil.rmtree(wh.staging_path / summary.run_id, ignore_errors=True)
            run_lock.release()
    if not summary.balanced():
        raise RuntimeError(f"accounting error: {asdict(summary)}")
    return summary


def _load_ledger(con: duckdb.DuckDBPyConnection) -> FileLedger:
    return FileLedger.from_rows(con.execute("SELECT path, byte_size, fingerprint, records FROM input_files").fetchall())


def _skip_known_file(summary: RunSummary, ledger: FileLedger) -> Callable[[Path], bool]:
    """Skip a file an earlier completed run accounted for; its records count as read and skipped."""
    def skip(path: Path) -> bool:
        n = ledger.known_records(path)
        if n is None:
            return False
        summary.records_in += n
        summary.skipped += n
        return True

    return skip


def _record_input_files(wh: Warehouse, con: duckdb.DuckDBPyConnection, ledger: FileLedger, run_id: str) -> None:
    """Remember the files this run read in full (only once every record of theirs is published)."""
    rows = ledger.rows()
    now = datetime.now(timezone.utc)
    table = pa.table({"path": [r[0] for r in rows], "byte_size": [r[1] for r in rows],
                      "fingerprint": [r[2] for r in rows], "records": [r[3] for r in rows],
                      "run_id": [run_id] * len(rows), "recorded_at": [now] * len(rows)})
    with wh.publish_lock():
        con.register("_read_files", table)
        try:
            wh.publish(con, {}, [
                ("DELETE FROM input_files WHERE path IN (SELECT path FROM _read_files)", []),
                ("INSERT INTO input_files SELECT * FROM _read_files", []),
            ])
        finally:
            con.unregister("_read_files")


def quarantined_records(con: duckdb.DuckDBPyConnection, stage: str | None, reason: str | None) -> list[RawRecord]:
    """Open quarantine rows as raw records again (bytes from raw_documents), for a replay."""
    rows = con.execute(
        "SELECT q.raw_id, q.location, q.source_name, r.format, r.content, r.url FROM quarantine q "
        "JOIN raw_documents r USING (raw_id) WHERE q.resolved_at IS NULL "
        "AND (? IS NULL OR q.stage = ?) AND (? IS NULL OR q.reason ILIKE '%' || ? || '%') ORDER BY q.location",
        [stage, stage, reason, reason],
    ).fetchall()
    keys = ("raw_id", "location", "source_name", "format", "content", "url")
    return [rebuild_record(dict(zip(keys, row))) for row in rows]


@dataclass
class PendingBatch:
    """A batch whose analysis has been submitted and which waits to be published."""

    batch_no: int
    fresh: list[RawRecord]
    repeats: list[RawRecord]
    analysis: Any  # has .result() -> Analysis


def analysis_config(state: RunState) -> AnalysisConfig:
    settings = state.settings
    return AnalysisConfig(field_map=state.field_map, templates=state.templates.compact(),
                          templates_warmed=state.templates_warmed, run_id=state.summary.run_id,
                          pipeline_version=state.pipeline_version, timezone=settings.timezone,
                          seeds_dir=str(settings.seeds_dir), ner_backend=settings.ner_backend,
                          ner_model_path=str(settings.ner_model_path) if settings.ner_model_path else None,
                          english_ner=settings.english_ner)


def _start_batch(state: RunState, records: list[RawRecord], batch_no: int, runner: BatchRunner,
                 config: Callable[[], AnalysisConfig] | None) -> PendingBatch | None:
    """Skip what the warehouse already has, then submit the rest for analysis."""
    s = state.summary
    started = time.perf_counter()
    wh, con = state.warehouse, state.con
    if state.replay:  # every record is a known occurrence being given another chance
        ingested: dict[str, tuple] | set[str] = set()
        occurrences: set[tuple[str, str]] = set()
    else:
        ingested = wh.known_ids(con, "raw_documents", "raw_id", [r.raw_id for r in records])
        occurrences = wh.known_occurrences(con, [(r.raw_id, r.location) for r in records if r.raw_id in ingested])
    fresh, repeats, skipped = split_by_raw_id(records, ingested, occurrences)
    s.skipped += skipped
    state.timed("skip known", started)
    if not fresh and not repeats:
        return None
    analysis = runner.submit(config() if config else analysis_config(state), fresh, batch_no)
    return PendingBatch(batch_no, fresh, repeats, analysis)


# The flow's own per-batch stages, in order (the batch log line reports them).
FLOW_BATCH_STAGES = ("wait for analysis", "audit candidates", "load linker", "link entities", "dedup",
                     "audit publish", "publish", "compact")


def _finish_batch(state: RunState, job: PendingBatch, last: bool = False) -> None:
    """Wait for a batch's analysis, then validate, link and publish it.

    The models the flow needs (validator, near-duplicate index, the linker rebuilt after the last
    publish) are opened first, while the workers are still analysing the batch: the first batch's
    3–4 s of opening them, and every later batch's linker rebuild, then leave the critical path.

    After the ``last`` batch's analysis the worker processes exit: nothing is left for them, and
    their memory (0.5 GB each) would otherwise sit under the flow's last publish and search refresh.
    """
    s = state.summary
    before = Counter(state.timings)
    _open_models(state)  # while the workers analyse: the flow would otherwise wait idle, then open them
    started = time.perf_counter()
    analysis: Analysis = job.analysis.result()
    state.timed("wait for analysis", started)
    if last and state.workers is not None:
        state.workers.close()
    for stage, seconds in analysis.timings.items():
        state.timings[f"{stage} (workers)"] += seconds
    prepared = analysis.prepared
    if not state.templates_warmed and prepared.templates_seen is not None:
        state.templates.merge(prepared.templates_seen)
    candidates = call(audit_candidates, state, prepared, job.batch_no)
    entities = call(link_batch_entities, state, candidates, analysis.tagged)
    fault_point("after-read")
    counts = call(publish_batch, state, job.fresh, job.repeats, prepared, candidates, entities, job.batch_no)
    # The next batch links with a linker rebuilt from the warehouse, exactly as a run resuming
    # after a crash here would: linking then depends only on what is published, never on how many
    # processes it took (the soak test found 17k mentions linked differently after kills).
    state.linker = None
    s.skipped += counts.pop("skipped")
    s.published += counts.pop("published")
    s.duplicates += counts.pop("duplicates")
    s.quarantined += counts.pop("quarantined")
    for key, n in counts.items():
        reason = key.removeprefix("reason:")
        s.quarantine_reasons[reason] = s.quarantine_reasons.get(reason, 0) + n
    s.batches += 1
    seconds = {stage: t - before[stage] for stage, t in state.timings.items() if t > before[stage]}
    s.add_batch_seconds(seconds)
    flow_work = ", ".join(f"{stage} {seconds[stage]:.1f} s" for stage in FLOW_BATCH_STAGES if stage in seconds)
    get_run_logger().info("batch %d: %d records in, %d published, %d duplicates, %d quarantined, %d skipped so far; "
                          "this batch: %s", job.batch_no, s.records_in, s.published, s.duplicates, s.quarantined,
                          s.skipped, flow_work)


def _open_models(state: RunState) -> None:
    """Open the validator, the entity linker and the near-duplicate index when a batch needs them.

    Importing Great Expectations and building the gazetteer take about 10 s together, and the
    near-duplicate index reads every stored signature; a scheduled run that finds nothing new (the
    common case) never pays for them.
    """
    if state.neardup is None:
        started = time.perf_counter()
        state.neardup = _load_neardup(state.con, state.settings.near_duplicate_threshold)
        state.timed("dedup", started)
    if state.validator is None:
        started = time.perf_counter()
        state.validator = call(open_validator, state)
        state.timed("open validator", started)
    if state.linker is None:
        started = time.perf_counter()
        state.linker = call(load_entity_linker, state)
        state.timed("load linker", started)


def _run_batches(state: RunState, stream: Iterator[RawRecord], new_records: int | None) -> None:
    """Analyse batches ahead (on the configured runner) while publishing earlier ones in order.

    Without a warm-up pass each batch's template counts must reach the next batch's cleaning, so
    batches are then finished one at a time.
    """
    # Fixed for the run once warmed; built for the first batch with new records (it compacts the
    # template counts, which a run with nothing new never reads).
    config = functools.cache(lambda: analysis_config(state)) if state.templates_warmed else None
    pending: deque[PendingBatch] = deque()
    assert state.workers is not None
    with batch_runner(state.settings, new_records, state.workers) as runner:
        state.runner_kind = runner.kind
        for batch_no, records in enumerate(batched(stream, state.settings.batch_size), start=1):
            job = _start_batch(state, records, batch_no, runner, config)
            if job is not None:
                pending.append(job)
            while pending and (len(pending) >= runner.window or not state.templates_warmed):
                _finish_batch(state, pending.popleft())
                collector.collect_full()  # once the batch's objects are released (akhbar.collector)
        while pending:
            job = pending.popleft()
            _finish_batch(state, job, last=not pending)
            collector.collect_full()


def _source(source: str) -> str:
    """URLs as given; paths made absolute so a record's location is the same whatever the cwd."""
    return source if source.lower().startswith(("http://", "https://")) else str(Path(source).absolute())


@flow(name="akhbar-ingest", flow_run_name="ingest {inputs}", log_prints=True)
def ingest_flow(inputs: list[str], warehouse: str | None = None, field_map: list[str] | None = None,
                batch_size: int | None = None, source_name: str | None = None,
                fetch_pages: bool = False) -> dict[str, Any]:
    """Ingest articles from files, directories or zips into the warehouse; returns the run summary."""
    settings = get_settings(warehouse=warehouse, batch_size=batch_size)
    summary = run_pipeline([_source(p) for p in inputs], settings, FieldMap.parse(field_map or []),
                           source_name=source_name, fetch_pages=fetch_pages)
    return asdict(summary)


@flow(name="akhbar-replay-quarantine", flow_run_name="replay quarantine", log_prints=True)
def replay_flow(warehouse: str | None = None, stage: str | None = None, reason: str | None = None,
                field_map: list[str] | None = None, batch_size: int | None = None) -> dict[str, Any]:
    """Give quarantined records another pass (after a fix or a settings change).

    Each replayed record ends in exactly one place: published, duplicate, or quarantined again;
    its old quarantine row is marked resolved in the same transaction.
    """
    settings = get_settings(warehouse=warehouse, batch_size=batch_size)
    summary = run_pipeline([], settings, FieldMap.parse(field_map or []), replay=True, replay_filter=(stage, reason))
    return asdict(summary)
