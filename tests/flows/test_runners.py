"""Batch analysis on every runner gives the same warehouse: inline, a local process pool, Dask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from akhbar.config import Settings
from akhbar.flows.runners import CHUNK_RECORDS, choose_kind, chunk_size
from akhbar.warehouse.compare import comparable, differences, snapshot
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.search import search
from akhbar.warehouse.sql import run_query

pytestmark = pytest.mark.slow


def test_auto_goes_parallel_only_for_big_runs() -> None:
    big = Settings(task_runner="auto", workers=2, parallel_min_records=1000)
    assert choose_kind(big, 5000) == "process"
    assert choose_kind(big, 10) == "inline"
    assert choose_kind(big, None) == "inline"  # feeds: the size is unknown until fetched
    assert choose_kind(Settings(task_runner="auto", workers=1), 50_000) == "inline"
    assert choose_kind(Settings(task_runner="dask"), 1) == "dask"


@pytest.mark.parametrize("records", [1, 2, 3, 999, 1000, 1001, 2001, 5000, 12_345])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_chunks_are_bounded_and_shared_evenly(records: int, workers: int) -> None:
    size = chunk_size(records, workers)
    chunks = -(-records // size)
    assert size <= CHUNK_RECORDS
    if records == 1:
        assert chunks == 1
    else:
        assert chunks % workers == 0 or chunks < workers


def test_a_default_batch_gives_each_of_two_workers_three_chunks() -> None:
    assert chunk_size(5000, 2) == 834  # six chunks of ≤ 834, three per worker, not five of 1,000


@pytest.fixture
def corpus(tmp_path: Path, seed_text: str) -> Path:
    """~30 records recombined from the seed's paragraphs, with repeats, English and a reject."""
    paragraphs = [p for p in seed_text.split("\n") if len(p.split()) > 8]
    rows = []
    for i in range(24):
        picked = [paragraphs[(i + k) % len(paragraphs)] for k in range(3)]
        rows.append({"title": f"خبر رقم {i}", "content": "\n\n".join(picked), "source": f"outlet{i % 3}",
                     "url": f"https://news.example/{i}"})
    rows.append(dict(rows[3], url="https://mirror.example/3"))  # same story elsewhere: a duplicate
    rows.append({"title": "Shoigu in Moscow", "content": "Russian Defence Minister Sergei Shoigu met Khalifa "
                 "Haftar in Moscow on Monday, NATO said. Mark Ellison, a spokesman, told reporters in London that "
                 "Libya and Russia discussed military cooperation.",
                 "source": "english", "url": "https://en.example/1"})
    rows.append({"title": "فارغ", "content": "  ", "url": "https://bad.example/1"})
    root = tmp_path / "in"
    root.mkdir()
    (root / "a.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:14]) + "\n", "utf-8")
    (root / "b.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows[14:]) + "\n", "utf-8")
    return root


def _run(monkeypatch, corpus: Path, wh: Path, runner: str) -> dict:
    from akhbar.flows.pipeline import ingest_flow

    monkeypatch.setenv("AKHBAR_TASK_RUNNER", runner)
    monkeypatch.setenv("AKHBAR_WORKERS", "2")
    monkeypatch.setenv("AKHBAR_PARALLEL_MIN_RECORDS", "0")
    monkeypatch.setenv("AKHBAR_BUILD_DATA_DOCS", "false")
    return ingest_flow(inputs=[str(corpus)], warehouse=str(wh), batch_size=8)


def test_process_pool_and_dask_publish_what_inline_publishes(prefect_harness, monkeypatch, tmp_path: Path,
                                                             corpus: Path) -> None:
    inline = _run(monkeypatch, corpus, tmp_path / "inline", "inline")
    assert inline["batches"] >= 3 and inline["published"] >= 15 and inline["duplicates"] >= 1
    expected = comparable(snapshot(tmp_path / "inline"))
    english = {surface: (label, entity) for surface, label, entity in run_query(Warehouse(tmp_path / "inline"), (
        "select m.surface, m.label, m.entity_id from entity_mentions m join articles a using (article_id) "
        "where a.language = 'en'")).rows}
    # Only the English model can find a person the reference data does not know.
    assert english.get("Mark Ellison", ("", ""))[0] == "PER", english
    assert english.get("NATO") == ("ORG", "org:nato") and english.get("Moscow") == ("LOC", "gn:524901"), english
    assert expected["entity_mentions"], "the corpus must produce entity mentions to compare"
    import akhbar.flows.pipeline as pipeline

    workers_up: list[bool] = []  # at each batch's linking: were the worker processes still running?
    link = pipeline.link_batch_entities

    def spy(state, *args):  # noqa: ANN001, ANN202 - the quoted arguments pass through to the task
        workers_up.append(state.unquote().workers.started)
        return link(state, *args)

    monkeypatch.setattr(pipeline, "link_batch_entities", spy)
    for runner in ("process", "dask"):
        workers_up.clear()
        summary = _run(monkeypatch, corpus, tmp_path / runner, runner)
        counts = {k: summary[k] for k in ("records_in", "published", "duplicates", "quarantined", "batches")}
        assert counts == {k: inline[k] for k in counts}, runner
        assert differences(expected, comparable(snapshot(tmp_path / runner))) == {}, runner
        assert any("(workers)" in stage for stage in summary["stage_seconds"]), summary["stage_seconds"]
        per_batch = summary["batch_seconds"]  # one figure per batch and stage, for the benchmarks' growth rows
        assert {len(series) for series in per_batch.values()} == {summary["batches"]}, per_batch
        assert summary["batches"] > 1 and all(t > 0 for t in per_batch["publish"]), per_batch
        if runner == "process":
            # The pool analysed the batches ahead, and exited once the last batch was analysed.
            assert workers_up[-1] is False and True in workers_up[:-1], workers_up
            # Each chunk began with the full collection a worker no longer starts by itself.
            assert summary["stage_seconds"].get("python gc, generation 2 (workers)", 0) > 0, summary["stage_seconds"]
        for query in ("شويغو", "موسكو", "NATO"):
            assert search(tmp_path / runner, query) == search(tmp_path / "inline", query), (runner, query)
    assert search(tmp_path / "inline", "موسكو"), "the corpus must be searchable to compare"
