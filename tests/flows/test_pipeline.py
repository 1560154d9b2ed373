"""The real Prefect flow, end to end, on the seeds and on small built corpora (one harness per session)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.sql import run_query

pytestmark = pytest.mark.slow

SEED_TITLE = "روسيا تأمل بتعميق العلاقات العسكرية مع ليبيا"


def _q(wh: Path, sql: str) -> list[tuple]:
    return run_query(Warehouse(wh), sql).rows


def _counts(wh: Path) -> dict[str, int]:
    tables = ["raw_documents", "articles", "duplicates", "quarantine", "source_templates", "source_totals", "runs"]
    return {t: _q(wh, f"select count(*) from {t}")[0][0] for t in tables}


@pytest.fixture
def inputs(tmp_path: Path, seed_article: Path) -> Path:
    """The seed, the same story from another outlet (JSON), and a JSONL with defects."""
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(seed_article, root / seed_article.name)
    seed_text = seed_article.read_text(encoding="utf-8")
    # Same story, other outlet, other formatting: tatweel and doubled spaces do not make it new.
    body = seed_text.split("\n", 1)[1].replace("العسكرية", "العسـكرية").replace(" ، ", "  ، ")
    (root / "other_outlet.json").write_text(json.dumps([{"title": SEED_TITLE, "content": body, "source": "other",
                                                         "url": "https://other.example/a"}], ensure_ascii=False),
                                            encoding="utf-8")
    lines = [
        {"title": "خبر جيد", "body": "نص خبر جيد عن الاقتصاد في الرياض.", "url": "https://good.example/1",
         "published": "2015-07-21T10:00:00+03:00"},
        {"title": "بلا نص", "body": "   ", "url": "https://bad.example/2"},
        {"title": "رابط غريب", "body": "نص آخر مختلف تماما عن الأخبار.", "url": "ftp://bad.example/3"},
    ]
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{broken json\n"
    (root / "feed.jsonl").write_text(text, encoding="utf-8")
    return root


def test_seed_run_publishes_one_clean_article(prefect_harness, tmp_path: Path, seed_article: Path) -> None:
    from akhbar.flows.pipeline import ingest_flow

    wh = tmp_path / "wh"
    summary = ingest_flow(inputs=[str(seed_article.parent)], warehouse=str(wh))
    assert summary["status"] == "completed" and summary["published"] == 1
    (title, body, language), = _q(wh, "select title, body, language from articles")
    assert title == SEED_TITLE
    assert SEED_TITLE not in body
    assert "اترك تعليقاً" not in body and "لن يتم نشر عنوان بريدك الإلكتروني" not in body
    assert "اقرأ ايضا" not in body
    assert "\n\nطلب تركي\n\n" in body
    assert " ،" not in body
    assert language == "ar"
    assert Path(summary["data_docs"]).exists()

    # Entities: linked to reference data, both spellings of Shoigu are one entity, clitics stripped.
    rows = _q(wh, "select e.entity_id, e.type, m.surface, m.start, m.\"end\" from entity_mentions m "
                  "join entities e using (entity_id)")
    assert all(body[start:end] == surface for _, _, surface, start, end in rows)
    by_entity: dict[str, set[str]] = {}
    for entity_id, _, surface, _, _ in rows:
        by_entity.setdefault(entity_id, set()).add(surface)
    assert {"شويغو", "سيرجي شويغ"} <= by_entity["per:sergei-shoigu"]
    assert "لروسيا" in by_entity["iso:RU"] and "روسيا" in by_entity["iso:RU"]
    assert "الدبيبة" in by_entity["per:abdul-hamid-dbeibah"]
    for expected in ("iso:LY", "iso:TR", "iso:GB", "org:nato", "org:un-security-council", "per:khalifa-haftar",
                     "per:mohamed-menfi", "per:sergei-lavrov", "per:recep-tayyip-erdogan"):
        assert expected in by_entity, expected
    labels = {label for (label,) in _q(wh, "select label from quantities")}
    assert {"DATE", "PERCENT"} <= labels
    assert _q(wh, "select count(*) from quantities where label = 'NUMBER' and surface = '2019'") == [(0,)]


def test_every_record_ends_in_exactly_one_place_and_rerun_adds_nothing(prefect_harness, tmp_path: Path,
                                                                      inputs: Path, monkeypatch) -> None:
    from akhbar.flows import pipeline
    from akhbar.flows.pipeline import ingest_flow

    wh = tmp_path / "wh"
    first = ingest_flow(inputs=[str(inputs)], warehouse=str(wh))
    assert first["records_in"] == 6
    assert (first["published"], first["duplicates"], first["quarantined"], first["skipped"]) == (2, 1, 3, 0)

    seed_id = _q(wh, "select article_id from articles where title = ?".replace("?", f"'{SEED_TITLE}'"))[0][0]
    assert _q(wh, "select article_id, kind from duplicates") == [(seed_id, "same_text")]
    quarantine = dict(_q(wh, "select stage || ':' || coalesce(expectation, ''), reason from quarantine"))
    assert any(k.startswith("ingest:") and "invalid JSON" in v for k, v in quarantine.items())
    assert "validate:expect_column_value_lengths_to_be_between(body)" in quarantine
    assert "validate:expect_column_values_to_match_regex(url)" in quarantine
    # Quarantined records keep their bytes in bronze, so they can be replayed.
    assert _q(wh, "select count(*) from quarantine q join raw_documents r using (raw_id)") == [(3,)]
    (published_at,) = _q(wh, "select published_at from articles where title = 'خبر جيد'")[0]
    assert published_at.isoformat().startswith("2015-07-21T07:00:00")

    before = _counts(wh)

    def not_needed(*args: object) -> None:
        raise AssertionError("a run with nothing new read the stored template counts")

    monkeypatch.setattr(pipeline, "_load_templates", not_needed)  # they grow with every outlet's pages
    second = ingest_flow(inputs=[str(inputs)], warehouse=str(wh))
    assert second["skipped"] == second["records_in"] == 6
    assert second["published"] == second["duplicates"] == second["quarantined"] == 0
    after = _counts(wh)
    assert {k: after[k] - before[k] for k in after} == {k: (1 if k == "runs" else 0) for k in after}
    runs = _q(wh, "select status, records_in, published + duplicates + quarantined + skipped from runs order by run_id")
    assert [(s, n) for s, n, _ in runs] == [("completed", 6), ("completed", 6)]
    assert all(n == total for _, n, total in runs)
    per_batch = [json.loads(b) for (b,) in _q(wh, "select batch_seconds from runs order by run_id")]
    assert [len(b.get("publish", [])) for b in per_batch] == [first["batches"], 0], per_batch


def test_batch_seconds_keep_one_figure_per_batch() -> None:
    """A stage first used by a later batch counts 0 s for the batches before it."""
    from akhbar.flows.pipeline import RunSummary

    summary = RunSummary(run_id="r")
    for seconds in ({"publish": 1.0}, {"publish": 2.0, "load linker": 0.5}, {"load linker": 0.25}):
        summary.batches += 1
        summary.add_batch_seconds(seconds)
    assert summary.batch_seconds == {"publish": [1.0, 2.0, 0.0], "load linker": [0.0, 0.5, 0.25]}


def test_task_results_are_not_linked_for_the_whole_run(prefect_harness) -> None:
    """Prefect maps every element of a task's returned list to its task run for the flow run's
    lifetime: one entry per audited article (95,778 at 100k articles). ``call`` drops them."""
    from prefect import flow, task
    from prefect.context import FlowRunContext

    from akhbar.flows.pipeline import call

    @task
    def rows(n: int) -> list[dict[str, int]]:
        return [{"i": i} for i in range(n)]

    @flow
    def many_batches() -> tuple[int, int]:
        sizes = [len(call(rows, 1000)) for _ in range(3)]
        return sum(sizes), len(FlowRunContext.get().run_results)

    assert many_batches() == (3000, 0)


def test_one_saudinewsnet_day(prefect_harness, tmp_path: Path, saudinewsnet_zips: list[Path]) -> None:
    from akhbar.flows.pipeline import ingest_flow

    with zipfile.ZipFile(saudinewsnet_zips[0]) as z:
        member = sorted(n for n in z.namelist() if n.endswith(".json"))[0]
        z.extract(member, tmp_path / "day")
        n_records = len(json.loads(z.read(member)))
    wh = tmp_path / "wh"
    summary = ingest_flow(inputs=[str(tmp_path / "day")], warehouse=str(wh))
    assert summary["records_in"] == n_records
    (total,) = _q(wh, "select (select count(*) from articles) + (select count(*) from duplicates)"
                      " + (select count(*) from quarantine)")[0]
    assert total == n_records
    assert _q(wh, "select count(*) from articles where body like '%// انتهى //%'") == [(0,)]


def test_quarantine_replay_after_a_settings_change(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    from akhbar.flows.pipeline import ingest_flow, replay_flow

    root = tmp_path / "in"
    root.mkdir()
    rows = [{"title": "قصير", "body": "نص قصير.", "url": "https://a.example/1"},
            {"title": "طويل", "body": "نص طويل بما يكفي " * 10, "url": "https://a.example/2"}]
    (root / "x.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    wh = tmp_path / "wh"
    monkeypatch.setenv("AKHBAR_MIN_BODY_CHARS", "50")
    first = ingest_flow(inputs=[str(root)], warehouse=str(wh))
    assert (first["published"], first["quarantined"]) == (1, 1)

    monkeypatch.setenv("AKHBAR_MIN_BODY_CHARS", "1")
    replay = replay_flow(warehouse=str(wh))
    assert (replay["records_in"], replay["published"], replay["quarantined"]) == (1, 1, 0)
    assert _q(wh, "select resolution from quarantine") == [("published",)]
    (total,) = _q(wh, "select (select count(*) from articles) + (select count(*) from duplicates) + "
                      "(select count(*) from quarantine where resolved_at is null)")[0]
    assert total == 2
    again = replay_flow(warehouse=str(wh))  # nothing open: nothing to do
    assert again["records_in"] == 0


def test_a_rewrite_in_a_later_run_joins_the_stored_cluster(prefect_harness, tmp_path: Path,
                                                           seed_article: Path) -> None:
    """Near-duplicates across runs: the candidate is verified against the stored matching key."""
    from akhbar.flows.pipeline import ingest_flow

    wh = tmp_path / "wh"
    assert ingest_flow(inputs=[str(seed_article)], warehouse=str(wh))["published"] == 1
    seed_id, seed_cluster = _q(wh, "select article_id, cluster_id from articles")[0]
    body = seed_article.read_text(encoding="utf-8").split("\n", 1)[1]
    rewrite = tmp_path / "rewrite.json"  # another outlet adds a closing sentence: a near-duplicate
    rewrite.write_text(json.dumps([{"title": SEED_TITLE, "content": body + "\n\nوهذا ما أكده المتحدث لاحقا.",
                                    "source": "other"}], ensure_ascii=False), encoding="utf-8")
    assert ingest_flow(inputs=[str(rewrite)], warehouse=str(wh))["published"] == 1
    (cluster, similarity), = _q(wh, f"select cluster_id, cluster_similarity from articles where article_id <> '{seed_id}'")
    assert cluster == seed_cluster == seed_id
    assert 0.8 <= similarity < 1.0
    # A rewrite of the rewrite is closest to it, and joins the cluster stored with it: the seed's.
    again = tmp_path / "again.json"
    again.write_text(json.dumps([{"title": SEED_TITLE, "content": body + "\n\nوهذا ما أكده المتحدث لاحقا. وأضاف أن "
                                  "الاجتماع المقبل سيعقد في الشهر القادم.", "source": "third"}], ensure_ascii=False),
                     encoding="utf-8")
    assert ingest_flow(inputs=[str(again)], warehouse=str(wh))["published"] == 1
    assert {c for (c,) in _q(wh, "select cluster_id from articles")} == {seed_id}


def test_batches_that_delete_gold_rows_compact_them(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    """Each batch of two records replaces the ``source_daily`` row of one source, 'wire', and adds
    one of a new source: every batch's file of that table keeps one row and loses the other."""
    from akhbar.flows.pipeline import ingest_flow
    from akhbar.warehouse.compact import table_files
    from akhbar.warehouse.gold import drift

    root = tmp_path / "in"
    root.mkdir()
    rows = [{"title": f"خبر {i}", "body": f"وصل وزير الخارجية إلى الرياض في زيارة رقم {i}.",
             "source": "wire" if i % 2 == 0 else f"outlet{i}", "url": f"https://a.example/{i}"} for i in range(8)]
    (root / "x.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    wh = tmp_path / "wh"
    monkeypatch.setenv("AKHBAR_COMPACT_DELETED_FRACTION", "0.3")
    summary = ingest_flow(inputs=[str(root)], warehouse=str(wh), batch_size=2)
    assert (summary["batches"], summary["published"]) == (4, 8)
    assert len(summary["batch_seconds"]["compact"]) == 4
    con = Warehouse(wh).connect()
    files = table_files(con, Warehouse(wh), ["source_daily"])["source_daily"]
    # Uncompacted: 8 rows written in 4 files, 3 of them deleted (0.375). Batch 3 crossed 0.3
    # (2 of 6) and was compacted; batch 4 then deleted 1 of 6.
    assert (files.rows, files.deleted) == (6, 1), files
    assert _q(wh, "select records from source_daily where source = 'wire'") == [(4,)]
    assert set(drift(con).values()) == {0}
    con.close()


def test_full_collections_wait_for_the_end_of_a_batch(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    """Inside a run Python starts no full collection by itself (``akhbar.collector``): the flow runs one
    after each batch, and the collector's thresholds are the caller's again once the run ends."""
    import gc

    from akhbar.collector import FULL_NEVER
    from akhbar.flows import pipeline

    root = tmp_path / "in"
    root.mkdir()
    rows = [{"title": f"خبر {i}", "body": f"وصل وزير الخارجية إلى الرياض في زيارة رقم {i}.",
             "url": f"https://a.example/{i}"} for i in range(6)]
    (root / "x.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    full_collections = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections[0] += 1

    thresholds_inside: list[int] = []
    fulls_before_batch: list[int] = []
    finish = pipeline._finish_batch

    def spy(state, job, last: bool = False) -> None:
        thresholds_inside.append(gc.get_threshold()[2])
        fulls_before_batch.append(full_collections[0])
        finish(state, job, last)

    monkeypatch.setattr(pipeline, "_finish_batch", spy)
    before = gc.get_threshold()
    gc.callbacks.append(count)
    try:
        summary = pipeline.ingest_flow(inputs=[str(root)], warehouse=str(tmp_path / "wh"), batch_size=2)
    finally:
        gc.callbacks.remove(count)
    assert (summary["batches"], summary["published"]) == (3, 6)
    assert thresholds_inside == [FULL_NEVER] * 3
    # one full collection (at least) once each batch is done, before the next one starts
    assert all(later > earlier for earlier, later in zip(fulls_before_batch, fulls_before_batch[1:]))
    assert gc.get_threshold() == before
