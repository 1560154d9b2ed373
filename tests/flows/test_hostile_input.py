"""Hostile input: every file ends published or quarantined with a reason, and the run carries on."""

from __future__ import annotations

import gzip
import json
import os
import zipfile
from pathlib import Path

import pytest

from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.sql import run_query

pytestmark = pytest.mark.slow


def build_hostile_corpus(root: Path) -> int:
    """Write the corpus; returns how many records it holds."""
    root.mkdir()
    (root / "empty.txt").write_bytes(b"")
    (root / "garbage.txt").write_bytes(bytes(range(256)) * 64)
    (root / "truncated.txt").write_bytes("عنوان الخبر\n\nنص عربي مقطوع في".encode() + "وسط".encode()[:-1])
    with open(root / "huge.txt", "wb") as fh:  # sparse: 300 MB on paper, nothing on disk
        fh.truncate(300 * 1024 * 1024)
    (root / "nested.html").write_text("<html><body>" + "<div>" * 5000 + "<p>عمق</p>" + "</div>" * 5000
                                      + "</body></html>", encoding="utf-8")
    with gzip.open(root / "bomb.html.gz", "wb") as fh:
        fh.write(b"<html>" + b" " * (30 * 1024 * 1024) + b"</html>")
    with zipfile.ZipFile(root / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("big.json", "[" + " " * (30 * 1024 * 1024) + "]")
    good = {"title": "خبر سليم", "body": "نص سليم عن الرياض وجدة.", "url": "https://ok.example/1"}
    (root / "mixed.jsonl").write_text(json.dumps(good, ensure_ascii=False) + "\n{nope\n\"a string\"\n",
                                      encoding="utf-8")
    (root / "اسم غريب\u202e.txt").write_text("عنوان\n\nنص باسم ملف غريب.", encoding="utf-8")
    (root / "new\nline.json").write_text(json.dumps({"title": "t", "content": "نص في ملف باسم فيه سطر جديد."},
                                                    ensure_ascii=False), encoding="utf-8")
    # A corrupt web archive and a truncated feed: their error records must be publishable rows.
    (root / "broken.warc.gz").write_bytes(gzip.compress(b"WARC/1.0\r\nWARC-Type: response\r\n"
                                                        b"Content-Length: 999\r\n\r\nnot really"))
    (root / "broken.rss").write_text('<?xml version="1.0"?><rss><channel><title>x</title><item><title>y</title>'
                                     "<description>z", encoding="utf-8")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.txt").symlink_to(root / "missing")
    return 15  # files above (the loop is not followed), with mixed.jsonl counting three records


def test_hostile_corpus_every_record_accounted(prefect_harness, tmp_path: Path, monkeypatch) -> None:
    from akhbar.flows.pipeline import ingest_flow

    monkeypatch.setenv("AKHBAR_MAX_RECORD_BYTES", str(10 * 1024 * 1024))
    monkeypatch.setenv("AKHBAR_MAX_FILE_BYTES", str(20 * 1024 * 1024))
    expected = build_hostile_corpus(tmp_path / "in")
    wh = tmp_path / "wh"
    summary = ingest_flow(inputs=[str(tmp_path / "in")], warehouse=str(wh))
    assert summary["status"] == "completed"
    assert summary["records_in"] == expected
    assert summary["records_in"] == summary["published"] + summary["duplicates"] + summary["quarantined"]
    reasons = dict(run_query(Warehouse(wh), "select location, reason from quarantine").rows)
    assert all(reasons.values())
    by_name = {os.path.basename(k.split("!")[0].split("#")[0]): v for k, v in reasons.items()}
    assert "empty" in by_name["empty.txt"]
    assert "binary" in by_name["garbage.txt"] or "not text" in by_name["garbage.txt"]
    assert "size limit" in by_name["huge.txt"]
    assert "cap" in by_name["bomb.html.gz"] or "size" in by_name["bomb.html.gz"]
    assert "size limit" in by_name["bomb.zip"]
    assert "cannot read" in by_name["dangling.txt"]
    assert "WARC" in by_name["broken.warc.gz@0"]
    titles = {t for (t,) in run_query(Warehouse(wh), "select title from articles").rows}
    assert "خبر سليم" in titles  # the good line of a broken JSONL survives
