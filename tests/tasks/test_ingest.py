"""Ingestion: every input document becomes exactly one raw record, readable or not."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from akhbar.tasks.ingest import FieldMap, IngestLimits, canonical_json, count_input_files, iter_records, raw_id_for


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_txt_json_jsonl_zip_and_directories(tmp_path: Path) -> None:
    _write(tmp_path / "in" / "a.txt", "عنوان\n\nنص الخبر")
    _write(tmp_path / "in" / "sub" / "b.json", json.dumps([{"title": "t1", "content": "c1"}, {"title": "t2", "content": "c2"}]))
    _write(tmp_path / "in" / "c.jsonl", '{"headline": "h", "body": "b"}\n\n{"headline": "h2", "body": "b2"}\n')
    with zipfile.ZipFile(tmp_path / "in" / "d.zip", "w") as z:
        z.writestr("day/one.json", json.dumps({"title": "z", "text": "zz"}))
        z.writestr("__MACOSX/._one.json", "junk")
    records = list(iter_records([tmp_path / "in"]))
    assert [r.format for r in records] == ["txt", "jsonl", "jsonl", "json", "json", "json"]
    assert all(r.error is None for r in records)
    # files of a directory first (sorted), then its sub-directories
    assert records[3].location.endswith("d.zip!day/one.json")
    assert records[4].location.endswith("b.json[0]")
    assert records[1].location.endswith("c.jsonl#1") and records[2].location.endswith("c.jsonl#3")
    assert count_input_files([str(tmp_path / "in")]) == 5  # 4 files, the zip counted by its 2 members


def test_raw_id_is_stable_and_format_independent(tmp_path: Path) -> None:
    obj = {"title": "روسيا", "content": "نص"}
    _write(tmp_path / "a.json", json.dumps(obj, ensure_ascii=True, indent=4))
    _write(tmp_path / "b.jsonl", json.dumps(obj, ensure_ascii=False) + "\n")
    a, b = list(iter_records([tmp_path / "a.json", tmp_path / "b.jsonl"]))
    assert a.raw_id == b.raw_id == raw_id_for(canonical_json(obj))
    assert json.loads(a.content) == obj  # canonical form keeps every key and value


def test_malformed_jsonl_line_does_not_lose_the_good_ones(tmp_path: Path) -> None:
    _write(tmp_path / "x.jsonl", '{"title": "ok", "body": "1"}\n{"title": broken\n["not", "an", "object"]\n{"title": "ok2", "body": "2"}\n')
    records = list(iter_records([tmp_path / "x.jsonl"]))
    assert [r.error is None for r in records] == [True, False, False, True]
    assert "invalid JSON" in records[1].error
    assert "expected an object" in records[2].error


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty file"),
        ("bad.json", b"{not json", "invalid JSON"),
        ("notes.csv", b"a,b\n1,2\n", "unsupported file type .csv"),
        ("broken.zip", b"PK\x03\x04 not really", "not a readable zip archive"),
    ],
)
def test_unreadable_inputs_become_error_records(tmp_path: Path, name: str, data: bytes, reason: str) -> None:
    (record,) = list(iter_records([_write(tmp_path / name, data)]))
    assert record.error is not None and reason in record.error


def test_size_limits_bound_memory(tmp_path: Path) -> None:
    limits = IngestLimits(max_record_bytes=100, max_file_bytes=1000)
    _write(tmp_path / "big.txt", "x" * 500)
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("huge.json", "[" + " " * 100_000 + "]")  # inflates far beyond the cap
    big, bomb = list(iter_records([tmp_path / "big.txt", tmp_path / "bomb.zip"], limits))
    assert "AKHBAR_MAX_RECORD_BYTES" in big.error
    assert "size limit" in bomb.error


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    _write(tmp_path / "d" / "a.txt", "t\n\nb")
    (tmp_path / "d" / "loop").symlink_to(tmp_path / "d", target_is_directory=True)
    assert len(list(iter_records([tmp_path / "d"]))) == 1


def test_field_detection_and_explicit_mapping() -> None:
    rec = {"Headline": "h", "article_text": "x", "Body": "b", "link": "https://e.com/a", "date_extracted": "2015-07-21",
           "published": "2015-07-20", "site": "s", "byline": "a"}
    got = FieldMap().extract(rec)
    assert got == {"title": "h", "body": "b", "url": "https://e.com/a", "published": "2015-07-20", "source": "s", "author": "a"}
    assert FieldMap.parse(["body=article_text"]).extract(rec)["body"] == "x"
    with pytest.raises(ValueError, match="FIELD=KEY"):
        FieldMap.parse(["bodytext"])


def test_container_object_is_unwrapped(tmp_path: Path) -> None:
    _write(tmp_path / "feed.json", json.dumps({"status": "ok", "articles": [{"title": "a", "body": "b"}, {"title": "c", "body": "d"}]}))
    assert len(list(iter_records([tmp_path / "feed.json"]))) == 2


def test_missing_input_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        list(iter_records([tmp_path / "nope"]))


def test_a_json_record_holds_its_bytes_only_and_parses_them_when_read(tmp_path: Path) -> None:
    """The flow holds batches of records and pickles them to the workers: no parsed copy beside the bytes."""
    import pickle

    obj = {"title": "عنوان", "content": "نص الخبر " * 500, "Source": "صحيفة"}
    [record] = iter_records([_write(tmp_path / "a.jsonl", json.dumps(obj, ensure_ascii=False) + "\n")])
    assert record.fields == obj and record.content == canonical_json(obj)
    assert len(pickle.dumps(record)) < len(record.content) + 400
    [broken] = iter_records([_write(tmp_path / "b.jsonl", "[1, 2]\n")])
    assert broken.error and broken.fields is None
