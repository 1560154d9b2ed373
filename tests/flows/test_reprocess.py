"""`akhbar reprocess`: derived tables rebuilt from raw_documents with the current code, swapped in at once.

The corpus is ingested with the default settings and version, then the settings and the pipeline
version change so that outcomes change (short articles become quarantined). A reprocess must then
equal a fresh ingest of the same corpus with the new settings, stamp every derived row with the new
version, leave raw_documents alone, be idempotent, and survive kill -9 before its commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from akhbar.faults import REPROCESS_POINTS
from akhbar.warehouse.compare import comparable, differences, snapshot
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.reprocess import KEPT
from akhbar.warehouse.schema import RAW_DOCUMENTS, TABLES
from akhbar.warehouse.sql import run_query

pytestmark = pytest.mark.slow

NEW_VERSION = "9.9.9+reprocess-test"
NEW_SETTINGS = {"AKHBAR_MIN_BODY_CHARS": "60", "AKHBAR_PIPELINE_VERSION": NEW_VERSION}
BATCH = 4
TOPICS = ["الاقتصاد", "الرياضة", "الطقس", "التعليم", "الصحة", "النفط", "السياحة", "الزراعة"]


def build_corpus(root: Path) -> Path:
    """Four files, 13 records: 8 stories (3 with bodies under 60 characters), an exact repeat of a long
    and of a short story in another file, the same long story with other bytes, an empty body, a line
    that is not JSON."""
    root.mkdir(parents=True)
    stories = []
    for i, topic in enumerate(TOPICS):
        body = f"تحدث وزير {topic} في الرياض عن خطط {topic} الجديدة."
        if i >= 3:  # long enough to stay published at 60 characters
            body += f" وقال إن العمل سيبدأ في {topic} خلال الأسابيع المقبلة بمشاركة القطاع الخاص والجامعات."
        stories.append({"title": f"خبر عن {topic}", "content": body, "source": "test", "url": f"https://example.com/{i}"})
    files = {
        "a.jsonl": stories[:4],
        "b.jsonl": stories[4:],
        "c.jsonl": [dict(stories[5]), dict(stories[0]),  # same bytes, other location
                    {**stories[6], "url": "https://mirror.example/6"},  # same text, other bytes
                    {"title": "بلا نص", "content": " ", "source": "test", "url": "https://example.com/x"}],
    }
    for name, rows in files.items():
        (root / name).write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    (root / "d.jsonl").write_text("{not json\n", encoding="utf-8")
    return root


def q(wh: Path, sql: str) -> list[tuple]:
    con = Warehouse(wh).connect(read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def occurrences(wh: Path) -> list[tuple]:
    """Every (raw_id, location) with an open outcome; each must appear exactly once."""
    return sorted(q(wh, "select raw_id, location from articles union all select raw_id, location from duplicates "
                        "union all select raw_id, location from quarantine where resolved_at is null"))


def derived_snapshot(wh: Path) -> dict[str, list[tuple]]:
    """Every table but runs (gold tables included), volatile columns left out."""
    return snapshot(wh, [t for name, t in TABLES.items() if name != "runs"])


@pytest.fixture
def ingested(prefect_harness, tmp_path: Path, monkeypatch) -> tuple[Path, Path]:
    """(corpus, warehouse) after an ingest with the default settings and version."""
    from akhbar.flows.pipeline import ingest_flow

    for key in (*NEW_SETTINGS, "AKHBAR_FAULT_AT"):
        monkeypatch.delenv(key, raising=False)
    corpus = build_corpus(tmp_path / "in")
    wh = tmp_path / "wh"
    first = ingest_flow(inputs=[str(corpus)], warehouse=str(wh), batch_size=BATCH)
    assert (first["records_in"], first["published"], first["duplicates"], first["quarantined"]) == (13, 8, 3, 2)
    return corpus, wh


def test_reprocess_equals_a_fresh_ingest_with_the_new_code(ingested, tmp_path: Path, monkeypatch) -> None:
    from akhbar import __version__
    from akhbar.flows.pipeline import ingest_flow
    from akhbar.flows.reprocess import reprocess_flow
    from akhbar.warehouse import gold

    corpus, wh = ingested
    assert_refused_while_another_run_is_active(wh)
    raw_before = snapshot(wh, [RAW_DOCUMENTS])
    with Warehouse(wh).connect() as con:  # a warehouse from before these columns existed
        con.execute("ALTER TABLE duplicates DROP COLUMN pipeline_version")
        con.execute("ALTER TABLE raw_documents DROP COLUMN url")
    old_arrivals = dict(q(wh, "select raw_id, ingested_at from raw_documents"))
    published_before = {r[0] for r in q(wh, "select raw_id from articles")}

    for key, value in NEW_SETTINGS.items():
        monkeypatch.setenv(key, value)
    result = reprocess_flow(warehouse=str(wh), batch_size=BATCH)
    assert result["status"] == "completed"
    assert (result["records_in"], result["published"], result["duplicates"], result["quarantined"]) == (13, 5, 2, 6)
    assert result["before"]["articles"] == 8 and result["after"]["articles"] == 5
    assert not list((wh / "reprocess").iterdir())

    # Every derived row was produced by the reprocess, with the new version.
    for table in TABLES.values():
        if "pipeline_version" in table.column_names and table.name != "runs":
            versions = q(wh, f"select distinct pipeline_version from {table.name}")
            assert versions in ([], [(NEW_VERSION,)]), (table.name, versions)
        if "run_id" in table.column_names and table.name not in KEPT:  # bronze and bookkeeping stay
            assert q(wh, f"select distinct run_id from {table.name}") in ([], [(result["run_id"],)]), table.name
    assert q(wh, "select status, inputs, pipeline_version, records_in from runs order by run_id") == [
        ("completed", json.dumps([str(corpus)]), __version__, 13),
        ("completed", '["reprocess"]', NEW_VERSION, 13)]

    # raw_documents untouched; each occurrence in exactly one place; arrival times kept.
    assert snapshot(wh, [RAW_DOCUMENTS]) == raw_before
    assert len(occurrences(wh)) == len(set(occurrences(wh))) == 13
    assert all(old_arrivals[rid] == at for rid, at in q(wh, "select raw_id, ingested_at from articles"))
    newly_quarantined = {r[0] for r in q(wh, "select raw_id from quarantine where stage = 'validate'")}
    assert len(published_before & newly_quarantined) == 3
    assert q(wh, "select count(*) from quarantine where reason like 'identical to a quarantined record%'") == [(1,)]
    with Warehouse(wh).connect(read_only=True) as con:
        assert not gold.needs_backfill(con)
    first_run = q(wh, "select min(run_id) from runs")[0][0]
    assert run_query(Warehouse(wh), "select count(*) from articles", as_of=first_run).rows == [(8,)]

    # Equal to a fresh ingest of the same corpus with the new code and settings.
    fresh = tmp_path / "fresh"
    ingest_flow(inputs=[str(corpus)], warehouse=str(fresh), batch_size=BATCH)
    assert differences(comparable(snapshot(wh)), comparable(snapshot(fresh))) == {}

    # Idempotent: a second reprocess changes no content.
    before_again = derived_snapshot(wh)
    again = reprocess_flow(warehouse=str(wh), batch_size=BATCH)
    assert again["status"] == "completed" and again["before"] == again["after"]
    assert differences(derived_snapshot(wh), before_again) == {}


def assert_refused_while_another_run_is_active(wh: Path) -> None:
    """A live run (its lock held) makes a reprocess refuse at once, changing nothing; once that run
    has died, its row no longer gets in the way."""
    from akhbar.flows.reprocess import ReprocessRefused, reprocess_flow

    warehouse, run_id = Warehouse(wh), "20000101T000000Z-live00"
    with warehouse.connect() as con:
        con.execute("INSERT INTO runs (run_id, status) VALUES (?, 'running')", [run_id])
    before = derived_snapshot(wh)
    lock = warehouse.run_lock(run_id)
    with lock:
        with pytest.raises(ReprocessRefused, match="another run is active"):
            reprocess_flow(warehouse=str(wh), batch_size=BATCH)
    assert derived_snapshot(wh) == before
    with warehouse.connect() as con:  # leave runs as the ingest left it (the rest of the test counts them)
        con.execute("DELETE FROM runs WHERE run_id = ?", [run_id])


def test_runs_published_during_a_reprocess_are_caught_up(ingested, tmp_path: Path, monkeypatch) -> None:
    """An ingest (with the old version) publishes while the shadow is being built: the swap must not
    drop its records; they are reprocessed under the publish lock with everything else."""
    from akhbar.flows import reprocess as flow_module
    from akhbar.flows.pipeline import ingest_flow

    corpus, wh = ingested
    extra = tmp_path / "extra"
    extra.mkdir()
    story = {"title": "خبر جديد عن المياه", "content": "أعلنت وزارة المياه في جدة عن مشروع جديد لتحلية المياه يخدم "
             "مليون نسمة ويبدأ العمل فيه خلال العام المقبل.", "source": "test", "url": "https://example.com/new"}
    repeat = (corpus / "b.jsonl").read_text(encoding="utf-8").splitlines()[0]  # same bytes, new location
    (extra / "e.jsonl").write_text(json.dumps(story, ensure_ascii=False) + "\n" + repeat + "\n", encoding="utf-8")
    original = flow_module._shadow_pass

    def shadow_pass_then_concurrent_ingest(*args, since=None, **kwargs):
        run = original(*args, since=since, **kwargs)
        if since is None:
            with monkeypatch.context() as old:
                for key in NEW_SETTINGS:
                    old.delenv(key)
                assert ingest_flow(inputs=[str(extra)], warehouse=str(wh), batch_size=BATCH)["records_in"] == 2
        return run

    for key, value in NEW_SETTINGS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(flow_module, "_shadow_pass", shadow_pass_then_concurrent_ingest)
    result = flow_module.reprocess_flow(warehouse=str(wh), batch_size=BATCH)
    assert (result["status"], result["caught_up"], result["records_in"]) == ("completed", 2, 15)
    assert len(occurrences(wh)) == len(set(occurrences(wh))) == 15
    for table in ("articles", "duplicates", "quarantine", "entity_mentions"):
        assert q(wh, f"select distinct pipeline_version from {table}") == [(NEW_VERSION,)], table
    assert q(wh, "select count(*) from articles where url = 'https://example.com/new'") == [(1,)]
    assert q(wh, "select kind from duplicates where location like '%e.jsonl%'") == [("same_bytes",)]


def _child(wh: Path, fault: str | None) -> subprocess.Popen:
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, **NEW_SETTINGS, "PREFECT_API_URL": PREFECT_API_URL.value(), "AKHBAR_BATCH_SIZE": str(BATCH)}
    env.pop("AKHBAR_FAULT_AT", None)
    if fault:
        env["AKHBAR_FAULT_AT"] = fault
    return subprocess.Popen([sys.executable, "-m", "akhbar.cli", "reprocess", "--warehouse", str(wh)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _read_while_running(wh: Path, child: subprocess.Popen) -> set[tuple]:
    """What `akhbar sql` sees while the reprocess runs: (versions of the outcome rows, occurrences)."""
    seen: set[tuple] = set()
    while child.poll() is None:
        rows = run_query(Warehouse(wh), "select pipeline_version, count(*) from (select pipeline_version from articles "
                                        "union all select pipeline_version from quarantine where resolved_at is null) "
                                        "group by all order by 1").rows
        (n,), = run_query(Warehouse(wh), "select (select count(*) from articles) + (select count(*) from duplicates) "
                                         "+ (select count(*) from quarantine where resolved_at is null)").rows
        seen.add((tuple(v for v, _ in rows), n))
        time.sleep(0.1)
    return seen


def test_kill_before_the_swap_changes_nothing_and_the_next_reprocess_completes(ingested) -> None:
    from akhbar import __version__

    _, wh = ingested
    before = derived_snapshot(wh)
    shadows: list[list[str]] = []
    for point in REPROCESS_POINTS:  # before the transaction, then inside it (every table replaced)
        killed = _child(wh, point)
        _, err = killed.communicate(timeout=300)
        assert killed.returncode == -9, (point, err[-3000:])
        assert derived_snapshot(wh) == before, point
        shadows.append([p.name for p in (wh / "reprocess").iterdir()])
    # Each dead reprocess left its shadow; the next one removed the previous one's.
    assert len(shadows[0]) == len(shadows[1]) == 1 and shadows[0] != shadows[1]

    resumed = _child(wh, None)  # `akhbar sql` reads all along: old state or new, never a mix
    seen = _read_while_running(wh, resumed)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    assert "akhbar reprocess" in out and "completed" in out and NEW_VERSION in out
    assert seen and seen <= {((__version__,), 13), ((NEW_VERSION,), 13)}, seen
    assert not list((wh / "reprocess").iterdir())
    assert [s for (s,) in q(wh, "select status from runs order by run_id")] == [
        "completed", "abandoned", "abandoned", "completed"]
    with Warehouse(wh).connect() as con:
        assert con.execute("select count(*) from ducklake_delete_orphaned_files('lake', dry_run => true, "
                           "cleanup_all => true)").fetchone() == (0,)
    assert q(wh, "select distinct pipeline_version from articles") == [(NEW_VERSION,)]
    assert run_query(Warehouse(wh), "select count(*) from articles").rows == [(5,)]  # what `akhbar sql` runs
