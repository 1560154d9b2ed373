"""WARC / WARC.gz archives (e.g. Common Crawl CC-NEWS) → one raw HTML record per page.

Why: web archives are how news is collected at scale; each archived HTTP ``response`` with an
HTML body is one document, exactly like an ``.html`` file, so it becomes one ``html`` RawRecord
(with the page URL, which the extractor uses for metadata and the dedup/validation stages keep).
Everything else in a WARC -- ``request``, ``metadata``, ``warcinfo``, ``revisit`` records, images,
scripts, non-2xx responses -- is not a document; it is skipped but *counted* in
:class:`WarcStats`, so a run can say what it ignored instead of silently shrinking.

The payload is stored as the HTTP body bytes after undoing transfer/content encoding (warcio's
``content_stream``), read with a cap (``IngestLimits.max_record_bytes``) so a huge or
decompression-bomb body cannot exhaust memory. A WARC that is corrupt or truncated yields ONE
error record with the reason and the rest of that file is abandoned (record boundaries after a
corruption cannot be trusted); records already read stay valid.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator

from akhbar.tasks.ingest import IngestLimits, RawRecord, raw_id_for

__all__ = ["WarcStats", "iter_warc_records", "is_warc_path", "HTML_CONTENT_TYPES"]

HTML_CONTENT_TYPES = ("text/html", "application/xhtml+xml")
WARC_SUFFIXES = (".warc", ".warc.gz")


@dataclass
class WarcStats:
    """What a WARC contained: records emitted and skipped, by reason (for the run report)."""

    html_records: int = 0
    errors: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def skipped_total(self) -> int:
        return sum(self.skipped.values())


def is_warc_path(name: str) -> bool:
    return name.lower().endswith(WARC_SUFFIXES)


def _media_type(value: str | None) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


def _status(record: object) -> int | None:
    headers = getattr(record, "http_headers", None)
    line = getattr(headers, "statusline", "") if headers is not None else ""
    head = (line or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


def iter_warc_records(path: Path | str, limits: IngestLimits, *, source_name: str | None = None,
                      stats: WarcStats | None = None) -> Iterator[RawRecord]:
    """One ``html`` RawRecord per HTML response in the WARC at ``path`` (see module docstring)."""
    path = Path(path)
    name = source_name or path.name.split(".warc", 1)[0] or "warc"
    stats = stats if stats is not None else WarcStats()
    location = str(path)
    try:
        fh = path.open("rb")
    except OSError as exc:
        stats.errors += 1
        yield _error(location, name, f"cannot read WARC: {exc}")
        return
    offset = end = 0
    seen_any = False
    with fh:
        iterator = ArchiveIterator(fh, check_digests=False)
        try:
            for record in iterator:
                seen_any = True
                if not str(record.format).startswith("warc"):
                    # warcio reads any line-oriented text as ARC records; we accept WARC only.
                    raise ValueError(f"not a WARC record (warcio read it as {record.format!r})")
                payload, truncated = _consume(record, limits.max_record_bytes)
                # get_record_offset() reads the record to its end: only after the payload was read.
                offset = iterator.get_record_offset()
                end = offset + iterator.get_record_length()
                where = f"{location}@{offset}"
                if truncated:
                    raise _Truncated(f"record at offset {offset} ends before its Content-Length")
                if payload is None:
                    stats.skipped[_skip_reason(record)] += 1
                    continue
                uri = record.rec_headers.get_header("WARC-Target-URI")
                if len(payload) > limits.max_record_bytes:
                    stats.errors += 1
                    yield _error(where, name, f"WARC payload larger than the size limit "
                                 f"({limits.max_record_bytes} bytes; raise AKHBAR_MAX_RECORD_BYTES)", url=uri)
                    continue
                if not payload.strip():
                    stats.errors += 1
                    yield _error(where, name, "empty HTML payload", url=uri)
                    continue
                stats.html_records += 1
                yield RawRecord(raw_id_for(payload), where, name, "html", payload, url=uri)
        except Exception as exc:  # noqa: BLE001 -- any failure of the parser on this input means "corrupt"
            # warcio raises many types on damaged input (ArchiveLoadFailed, zlib.error, EOFError,
            # even AttributeError on a header-less record); all mean: this file cannot be trusted further.
            stats.errors += 1
            kind = "" if isinstance(exc, _Truncated) else f"{type(exc).__name__}: "
            yield _error(f"{location}@{offset}", name, f"corrupt or truncated WARC: {kind}{exc}")
            return
        if seen_any:
            # warcio stops silently when a file ends inside a record's headers: bytes left after
            # the last complete record mean the archive was cut.
            fh.seek(end)
            rest = fh.read(65536)
            if rest.strip(b"\r\n\0 "):
                stats.errors += 1
                yield _error(f"{location}@{end}", name,
                             f"corrupt or truncated WARC: {len(rest)}+ bytes after the last complete record at "
                             f"offset {offset} are not a readable record")
                return
    if not seen_any and path.stat().st_size > 0:
        stats.errors += 1
        yield _error(location, name, "no WARC records found: not a WARC file")


class _Truncated(Exception):
    """A record shorter than its declared length: the archive was cut (partial download)."""


def _is_html_response(record: object) -> bool:
    if getattr(record, "rec_type", None) != "response" or getattr(record, "http_headers", None) is None:
        return False
    media = _media_type(record.http_headers.get_header("Content-Type"))  # type: ignore[attr-defined]
    status = _status(record)
    return media in HTML_CONTENT_TYPES and (status is None or 200 <= status < 300)


def _skip_reason(record: object) -> str:
    rec_type = getattr(record, "rec_type", None)
    if rec_type != "response":
        return f"{rec_type} record"
    headers = getattr(record, "http_headers", None)
    if headers is None:
        return "response without HTTP headers"
    media = _media_type(headers.get_header("Content-Type"))
    if media not in HTML_CONTENT_TYPES:
        return f"non-HTML response ({media or 'no content type'})"
    return f"HTTP {_status(record)} response"


def _consume(record: object, cap: int) -> tuple[bytes | None, bool]:
    """Read a record: (payload if it is an HTML response else None, truncated?).

    Skipped records are drained too, so a truncation anywhere in the file is noticed: warcio
    itself just returns fewer bytes when a record is cut short.
    """
    raw = record.raw_stream  # type: ignore[attr-defined]
    if _is_html_response(record):
        payload = record.content_stream().read(cap + 1)  # type: ignore[attr-defined]
        if len(payload) > cap:
            return payload, False  # not read to the end on purpose; warcio skips the rest
    else:
        payload = None
        while raw.read(65536):
            pass
    remaining = getattr(raw, "limit", 0)
    return payload, bool(remaining and remaining > 0)


def _error(location: str, source_name: str, reason: str, url: str | None = None) -> RawRecord:
    content = f"{location}\n{reason}".encode("utf-8")
    return RawRecord(raw_id_for(content), location, source_name, "warc", content, error=reason, url=url)
