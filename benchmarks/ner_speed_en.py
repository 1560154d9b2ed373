"""Tagging throughput of the English NER (spaCy, NER component only), tokens/s on one core.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/ner_speed_en.py [--repeat 3] [--full]

Data: the English ``articleBody`` texts of ``../shared/corpora/extraction/article_extraction_benchmark/
ground-truth.json`` (181 news pages; bodies whose detected language is not English are left out),
read in place, never copied. Tokens = spaCy tokens that are not whitespace. Times are CPU time of
this process (``time.process_time``), so a busy shared machine does not distort them; wall time is
printed too. ``--full`` also times the whole en_core_web_sm pipeline (tagger, parser, lemmatizer…),
i.e. what loading the model without ``exclude`` would cost.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "corpora" / "extraction" / "article_extraction_benchmark" / "ground-truth.json"


def english_bodies(path: Path) -> list[str]:
    """Non-empty English article bodies of the extraction benchmark's ground truth."""
    from akhbar.tasks.language import detect_languages

    bodies = [v["articleBody"].strip() for v in json.loads(path.read_text(encoding="utf-8")).values()]
    bodies = [b for b in bodies if b]
    return [b for b, (lang, _) in zip(bodies, detect_languages(bodies)) if lang == "en"]


def timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--full", action="store_true", help="also time the full spaCy pipeline")
    a = ap.parse_args()
    if not Path(a.data).exists():
        raise SystemExit(f"{a.data} not found (../shared is absent)")
    from akhbar.tasks.entities.english import DEFAULT_MODEL, EnglishNER, _load_pipeline

    cpu, _ = timed(lambda: _load_pipeline.__wrapped__(DEFAULT_MODEL))
    print(f"load (uncached, NER only): {cpu:.2f} s CPU")
    ner = EnglishNER.load()
    ner.batch_size = a.batch_size
    bodies = english_bodies(Path(a.data))
    n_tok = sum(1 for b in bodies for t in ner.nlp.make_doc(b) if not t.is_space)
    print(f"data: {len(bodies)} English bodies, {sum(map(len, bodies)):,} chars, {n_tok:,} tokens")
    for r in range(a.repeat):
        result: list = []
        cpu, wall = timed(lambda: result.extend(ner.extract_many(bodies)))
        n_m = sum(map(len, result))
        print(f"run {r}: EnglishNER.extract_many {n_tok / cpu:,.0f} tok/s CPU ({n_tok / wall:,.0f} wall), "
              f"{n_m} PER/LOC/ORG mentions", flush=True)
    if a.full:
        import spacy

        nlp = spacy.load(DEFAULT_MODEL)
        cpu, wall = timed(lambda: list(nlp.pipe(bodies, batch_size=a.batch_size)))
        print(f"full pipeline {nlp.pipe_names}: {n_tok / cpu:,.0f} tok/s CPU ({n_tok / wall:,.0f} wall)")


if __name__ == "__main__":
    main()
