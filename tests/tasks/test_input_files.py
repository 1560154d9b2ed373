"""Files a completed run accounted for are skipped unparsed; changed or new files are read."""

from __future__ import annotations

import json
from pathlib import Path

from akhbar.tasks.ingest import IngestLimits
from akhbar.tasks.input_files import FileFilter, FileLedger
from akhbar.tasks.sources import records_for_source


def _write(path: Path, titles: list[str]) -> None:
    path.write_text("\n".join(json.dumps({"title": t, "body": f"نص {t}"}, ensure_ascii=False) for t in titles) + "\n",
                    encoding="utf-8")


def _read(root: Path, ledger: FileLedger) -> list[str]:
    files = FileFilter(skip=lambda p: ledger.known_records(p) is not None, done=ledger.note_read)
    return [r.location for r in records_for_source(str(root), IngestLimits(10**6, 10**8), files=files)]


def test_unchanged_files_are_skipped_and_changed_ones_read(tmp_path: Path) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    _write(root / "a.jsonl", ["أ", "ب"])
    _write(root / "b.jsonl", ["ج"])
    first = FileLedger()
    assert len(_read(root, first)) == 3
    assert {Path(p).name: n for p, _, _, n in first.rows()} == {"a.jsonl": 2, "b.jsonl": 1}

    second = FileLedger.from_rows(first.rows())  # what the next run loads from input_files
    assert _read(root, second) == []
    assert second.known_records(root / "a.jsonl") == 2

    _write(root / "b.jsonl", ["ج", "د"])  # same path, new bytes
    _write(root / "c.jsonl", ["هـ"])      # a new file
    third = FileLedger.from_rows(first.rows())
    locations = _read(root, third)
    assert sorted(Path(loc.split("#")[0]).name for loc in locations) == ["b.jsonl", "b.jsonl", "c.jsonl"]


def test_same_size_other_bytes_is_not_skipped(tmp_path: Path) -> None:
    f = tmp_path / "x.jsonl"
    _write(f, ["أ"])
    ledger = FileLedger()
    ledger.note_read(f, 1)
    _write(f, ["ب"])  # same length, different content
    assert FileLedger.from_rows(ledger.rows()).known_records(f) is None
    f.unlink()
    assert FileLedger.from_rows(ledger.rows()).known_records(f) is None
