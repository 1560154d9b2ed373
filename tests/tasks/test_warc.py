"""tasks/warc.py on WARCs built here with warcio's writer (nothing large is committed)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from akhbar.tasks.ingest import IngestLimits
from akhbar.tasks.sources import records_for_source
from akhbar.tasks.warc import WarcStats, iter_warc_records

PAGE1 = "<html><head><meta charset='utf-8'><title>خبر</title></head><body><p>مرحبا بالعالم</p></body></html>".encode()
PAGE2 = b"<html><body><p>second page</p></body></html>"


def _write(path: Path, gz: bool) -> None:
    with path.open("wb") as fh:
        w = WARCWriter(fh, gzip=gz)
        w.write_record(w.create_warcinfo_record("test.warc", {"software": "akhbar tests"}))
        responses = [
            ("https://news.example/1", [("Content-Type", "text/html; charset=utf-8")], PAGE1),
            ("https://news.example/logo.png", [("Content-Type", "image/png")], b"\x89PNG\r\n\x1a\n...."),
            # Content-Encoding gzip: the stored payload must be the decompressed HTML.
            ("https://news.example/2", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
             gzip.compress(PAGE2)),
        ]
        for uri, headers, body in responses:
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(uri, "response", payload=io.BytesIO(body), http_headers=http))
        req = StatusAndHeaders("GET /1 HTTP/1.1", [("Host", "news.example")], is_http_request=True)
        w.write_record(w.create_warc_record("https://news.example/1", "request", payload=io.BytesIO(b""),
                                            http_headers=req))


@pytest.mark.parametrize("gz", [True, False])
def test_two_html_responses_become_two_records(tmp_path, gz):
    path = tmp_path / ("cc.warc.gz" if gz else "cc.warc")
    _write(path, gz)
    stats = WarcStats()
    records = list(iter_warc_records(path, IngestLimits(), stats=stats))
    assert [r.url for r in records] == ["https://news.example/1", "https://news.example/2"]
    assert all(r.format == "html" and r.error is None for r in records)
    assert records[0].content == PAGE1 and records[1].content == PAGE2
    assert all(r.location.startswith(f"{path}@") for r in records) and records[0].location != records[1].location
    assert stats.html_records == 2
    assert stats.skipped == {"warcinfo record": 1, "non-HTML response (image/png)": 1, "request record": 1}
    # dispatch by suffix gives the same records
    assert [r.raw_id for r in records_for_source(str(path), IngestLimits())] == [r.raw_id for r in records]


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_warc_yields_an_error_record(tmp_path, gz):
    path = tmp_path / ("cut.warc.gz" if gz else "cut.warc")
    _write(path, gz)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    records = list(iter_warc_records(path, IngestLimits()))
    errors = [r for r in records if r.error]
    assert len(errors) == 1 and records[-1] is errors[0]
    assert "corrupt or truncated WARC" in errors[0].error


def test_garbage_and_size_cap(tmp_path):
    junk = tmp_path / "junk.warc"
    junk.write_bytes(b"this is not a warc file\n" * 20)
    records = list(iter_warc_records(junk, IngestLimits()))
    assert len(records) == 1 and "not a WARC record" in records[0].error

    path = tmp_path / "cap.warc.gz"
    _write(path, True)
    records = list(iter_warc_records(path, IngestLimits(max_record_bytes=50)))
    assert [bool(r.error) for r in records] == [True, False]  # PAGE1 is over 50 bytes, PAGE2 is not
    assert "size limit" in records[0].error and records[0].url == "https://news.example/1"
