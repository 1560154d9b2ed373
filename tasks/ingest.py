"""Ingestion: turn files, directories and zips into raw records, one per input document.

A raw record is the unit of accounting: every one ends published, duplicate or quarantined, so a
file that cannot be read still becomes a record (with ``error`` set) rather than a log line. The
record keeps its bytes unmodified so everything downstream can be rebuilt from ``raw_documents``.

Identity: ``raw_id`` is a hash of the record's bytes, so the same record read twice (a re-run, or the
same file under another name) is recognised and skipped. JSON records are hashed in a canonical
serialization (sorted keys, no insignificant white space) so that the same object in a ``.json``
array and in a ``.jsonl`` line is one record; the canonical form keeps every key and value.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TEXT_SUFFIXES = (".txt", ".text")
JSON_SUFFIXES = (".json",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")
HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
ZIP_SUFFIXES = (".zip",)

# Common spellings of each article field, most specific first: a record that has both `published`
# and `date_extracted` is dated by when it was published, not when it was scraped.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "title": ("title", "headline", "heading", "subject"),
    "body": ("content", "body", "text", "article", "article_body", "articlebody", "maintext", "story"),
    "url": ("url", "link", "href", "uri", "permalink"),
    "published": (
        "published_at", "published", "date_published", "datepublished", "pubdate", "pub_date",
        "date", "datetime", "time", "timestamp", "created_at", "date_extracted",
    ),
    "source": ("source", "site", "outlet", "publisher", "sitename", "site_name", "domain", "newspaper"),
    "author": ("author", "authors", "byline", "writer", "creator"),
}
ARTICLE_FIELDS = tuple(FIELD_ALIASES)
_CONTAINER_KEYS = ("articles", "items", "data", "results", "records", "documents", "docs", "entries")


@dataclass(frozen=True)
class RawRecord:
    """One input document, before any interpretation of its content."""

    raw_id: str
    location: str  # where it came from: path, `zip!member`, `#line` or `[index]`
    source_name: str  # the input it was found under (directory or file stem)
    format: str  # txt | json | jsonl | html | unknown
    content: bytes  # JSON records: the object in canonical form (``canonical_json``)
    error: str | None = None  # why it cannot be read; such records are quarantined at ingest
    url: str | None = None  # where an HTML record was fetched from (feeds, WARC), if known

    @property
    def fields(self) -> Mapping[str, Any] | None:
        """The JSON object of a readable json/jsonl record, parsed from ``content`` at each use.

        Not kept beside the bytes: the parsed copy doubled what a batch of records costs (SaudiNewsNet,
        5,000 records: 44 MB with it, 21 MB without), in the flow, which holds up to three batches, and
        in every pickle to the workers. Each record is read once or twice (17 µs a parse, SaudiNewsNet).
        """
        if self.error is not None or self.format not in JSON_FORMATS:
            return None
        value = json.loads(self.content)
        return value if isinstance(value, dict) else None


# Formats whose content is a JSON object (a feed entry is stored as one).
JSON_FORMATS = frozenset({"json", "jsonl"})


@dataclass(frozen=True)
class IngestLimits:
    """Size caps that keep memory bounded on hostile or accidental input."""

    max_record_bytes: int = 20_000_000
    max_file_bytes: int = 2_000_000_000


@dataclass
class FieldMap:
    """Which key of a JSON record holds each article field: detected, or given by the user."""

    explicit: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, pairs: Iterable[str]) -> FieldMap:
        """Parse ``field=key`` pairs from the command line, e.g. ``body=article_text``."""
        explicit: dict[str, str] = {}
        for pair in pairs:
            name, sep, key = pair.partition("=")
            if not sep or name not in FIELD_ALIASES or not key:
                raise ValueError(
                    f"bad field mapping {pair!r}: use FIELD=KEY with FIELD one of {', '.join(ARTICLE_FIELDS)}"
                )
            explicit[name] = key
        return cls(explicit)

    def extract(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Pick the article fields out of a JSON object (keys matched case-insensitively)."""
        lowered = {str(k).lower(): k for k in obj}
        out: dict[str, Any] = {}
        for name, aliases in FIELD_ALIASES.items():
            candidates = (self.explicit[name],) if name in self.explicit else aliases
            out[name] = None
            for alias in candidates:
                key = alias if alias in obj else lowered.get(alias.lower())
                if key is not None and obj[key] not in (None, ""):
                    out[name] = obj[key]
                    break
        return out


def raw_id_for(content: bytes) -> str:
    """Stable id of a record's bytes (128-bit BLAKE2b, hex)."""
    return hashlib.blake2b(content, digest_size=16).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, compact, UTF-8 (not ASCII-escaped)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _record(location: str, source_name: str, fmt: str, content: bytes, **kw: Any) -> RawRecord:
    return RawRecord(raw_id_for(content), location, source_name, fmt, content, **kw)


def _error(location: str, source_name: str, fmt: str, content: bytes, reason: str) -> RawRecord:
    return _record(location, source_name, fmt, content, error=reason)


def format_of(name: str) -> str:
    """The input format implied by a file name (``unknown`` if none)."""
    lower = name.lower()
    for fmt, suffixes in (
        ("txt", TEXT_SUFFIXES), ("jsonl", JSONL_SUFFIXES), ("json", JSON_SUFFIXES),
        ("html", HTML_SUFFIXES), ("zip", ZIP_SUFFIXES),
    ):
        if lower.endswith(suffixes):
            return fmt
    return "unknown"


def _is_ignorable(name: str) -> bool:
    """OS metadata that is not a document (macOS resource forks, hidden files)."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return base.startswith(".") or name.startswith("__MACOSX/") or "/__MACOSX/" in name


def records_from_bytes(
    data: bytes, location: str, source_name: str, fmt: str, limits: IngestLimits
) -> Iterator[RawRecord]:
    """Split one file's bytes into raw records according to its format."""
    if fmt == "jsonl":
        yield from _jsonl_records(data, location, source_name, limits)
    elif fmt == "json":
        yield from _json_records(data, location, source_name, limits)
    elif fmt in ("txt", "html"):
        if len(data) > limits.max_record_bytes:
            yield _error(location, source_name, fmt, data[:4096],
                         f"record larger than the size limit ({len(data)} > {limits.max_record_bytes} bytes; "
                         "raise AKHBAR_MAX_RECORD_BYTES)")
        elif not data.strip():
            yield _error(location, source_name, fmt, data, "empty file")
        else:
            yield _record(location, source_name, fmt, data)
    else:
        yield _error(location, source_name, "unknown", data[:4096],
                     f"unsupported file type {Path(location).suffix or '(no suffix)'}: "
                     "expected .txt, .json, .jsonl, .html or .zip")


def _json_object_record(obj: Any, location: str, source_name: str, fmt: str) -> RawRecord:
    content = canonical_json(obj)
    if not isinstance(obj, dict):
        return _error(location, source_name, fmt, content,
                      f"JSON value is a {type(obj).__name__}, expected an object with article fields")
    return _record(location, source_name, fmt, content)


def _jsonl_records(data: bytes, location: str, source_name: str, limits: IngestLimits,
                   first_line: int = 1) -> Iterator[RawRecord]:
    for lineno, line in enumerate(data.splitlines(), start=first_line):
        where = f"{location}#{lineno}"
        if not line.strip():
            continue
        if len(line) > limits.max_record_bytes:
            yield _error(where, source_name, "jsonl", line[:4096], "line larger than max_record_bytes")
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            yield _error(where, source_name, "jsonl", line, f"invalid JSON: {exc}")
            continue
        yield _json_object_record(obj, where, source_name, "jsonl")


def _json_records(data: bytes, location: str, source_name: str, limits: IngestLimits) -> Iterator[RawRecord]:
    if not data.strip():
        yield _error(location, source_name, "json", data, "empty file")
        return
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        yield _error(location, source_name, "json", data[: limits.max_record_bytes], f"invalid JSON: {exc}")
        return
    if isinstance(doc, dict):
        doc = _unwrap_container(doc)
    if isinstance(doc, list):
        for index, obj in enumerate(doc):
            yield _json_object_record(obj, f"{location}[{index}]", source_name, "json")
    else:
        yield _json_object_record(doc, location, source_name, "json")


def _unwrap_container(doc: dict[str, Any]) -> dict[str, Any] | list[Any]:
    """``{"articles": [...]}`` is a list of articles, not one article without a body."""
    if any(k.lower() in FIELD_ALIASES["body"] for k in doc):
        return doc
    for key, value in doc.items():
        if key.lower() in _CONTAINER_KEYS and isinstance(value, list) and value and isinstance(value[0], dict):
            return value
    return doc


def _cap(fmt: str, limits: IngestLimits) -> tuple[int, str]:
    """The size cap for a file of this format, and the setting that controls it."""
    if fmt in ("json", "jsonl"):
        return limits.max_file_bytes, "max_file_bytes"
    return limits.max_record_bytes, "max_record_bytes"


def _read_capped(path: Path, limit: int) -> bytes | None:
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


def iter_path_records(path: Path, limits: IngestLimits, source_name: str | None = None) -> Iterator[RawRecord]:
    """Every raw record under ``path`` (a file, a directory walked recursively, or a zip)."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"input not found: {path}")
    name = source_name or (path.name if path.is_dir() else path.stem) or "input"
    if path.is_dir():
        yield from _walk_directory(path, limits, name)
    else:
        yield from _file_records(path, str(path), limits, name)


def directory_files(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a stable order, hidden and OS-metadata files excluded.

    followlinks=False: a symlink loop cannot make the walk infinite; linked files are still read.
    """
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _is_ignorable(d))
        for fname in sorted(filenames):
            if not _is_ignorable(fname):
                yield Path(dirpath) / fname


def _walk_directory(root: Path, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    for path in directory_files(root):
        yield from _file_records(path, str(path), limits, source_name)


def _file_records(path: Path, location: str, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    fmt = format_of(path.name)
    try:
        st = path.stat()
    except OSError as exc:  # dangling symlink, permission denied
        yield _error(location, source_name, fmt, location.encode(), f"cannot read file: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(st.st_mode):
        yield _error(location, source_name, fmt, location.encode(), "not a regular file")
        return
    if fmt == "zip":
        yield from _zip_records(path, location, limits, source_name)
        return
    if fmt == "jsonl":
        yield from _jsonl_file_records(path, location, limits, source_name)
        return
    if fmt == "html":
        yield from _html_file_record(path, location, limits, source_name)
        return
    cap, setting = _cap(fmt, limits)
    try:
        data = _read_capped(path, cap)
    except OSError as exc:
        yield _error(location, source_name, fmt, location.encode(), f"cannot read file: {exc}")
        return
    if data is None:
        yield _error(location, source_name, fmt, location.encode(),
                     f"file larger than the size limit ({st.st_size} > {cap} bytes; raise AKHBAR_{setting.upper()})")
        return
    yield from records_from_bytes(data, location, source_name, fmt, limits)


def _jsonl_file_records(path: Path, location: str, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    """Stream a JSONL file line by line: memory stays bounded by one line, whatever the file size."""
    try:
        with path.open("rb") as fh:
            lineno = 0
            while True:
                line = fh.readline(limits.max_record_bytes + 1)
                if not line:
                    break
                lineno += 1
                if len(line) > limits.max_record_bytes and not line.endswith(b"\n"):
                    while line and not line.endswith(b"\n"):  # skip the rest of the oversized line
                        line = fh.readline(1 << 20)
                    yield _error(f"{location}#{lineno}", source_name, "jsonl", b"",
                                 "line larger than the size limit; raise AKHBAR_MAX_RECORD_BYTES")
                    continue
                yield from _jsonl_records(line, location, source_name, limits, first_line=lineno)
    except OSError as exc:
        yield _error(location, source_name, "jsonl", location.encode(), f"cannot read file: {exc}")


def _html_file_record(path: Path, location: str, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    """One HTML page; gzip bodies (by magic bytes) inflated with a cap, so a gzip bomb is refused."""
    from akhbar.tasks.html_extract import read_html_file

    try:
        data = read_html_file(path, max_bytes=limits.max_record_bytes)
    except (ValueError, OSError, EOFError) as exc:
        yield _error(location, source_name, "html", _head(path), f"{exc}; raise AKHBAR_MAX_RECORD_BYTES if the page is real")
        return
    yield from records_from_bytes(data, location, source_name, "html", limits)


def _zip_records(path: Path, location: str, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        yield _error(location, source_name, "zip", _head(path), f"not a readable zip archive: {exc}")
        return
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or _is_ignorable(info.filename):
                continue
            where = f"{location}!{info.filename}"
            fmt = format_of(info.filename)
            cap, setting = _cap(fmt, limits)
            if info.file_size > cap:
                yield _error(where, source_name, fmt, info.filename.encode(),
                             f"zip member larger than the size limit ({info.file_size} > {cap} bytes; "
                             f"raise AKHBAR_{setting.upper()})")
                continue
            try:
                with archive.open(info) as member:
                    data = member.read(cap + 1)  # the header may lie: cap what we actually inflate
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                yield _error(where, source_name, fmt, info.filename.encode(), f"cannot read zip member: {exc}")
                continue
            if len(data) > cap:
                yield _error(where, source_name, fmt, info.filename.encode(),
                             f"zip member inflates beyond the size limit ({cap} bytes): possible zip bomb")
                continue
            if fmt == "zip":
                yield from _nested_zip(data, where, limits, source_name)
            else:
                yield from records_from_bytes(data, where, source_name, fmt, limits)


def _nested_zip(data: bytes, where: str, limits: IngestLimits, source_name: str) -> Iterator[RawRecord]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        yield _error(where, source_name, "zip", data[:4096], f"not a readable zip archive: {exc}")
        return
    with archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            if info.is_dir() or _is_ignorable(info.filename):
                continue
            member = f"{where}!{info.filename}"
            fmt = format_of(info.filename)
            if fmt == "zip" or info.file_size > limits.max_file_bytes:
                yield _error(member, source_name, fmt, info.filename.encode(),
                             "nested zip too deep or member too large")
                continue
            with archive.open(info) as fh:
                yield from records_from_bytes(fh.read(limits.max_file_bytes), member, source_name, fmt, limits)


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as fh:
            return fh.read(4096)
    except OSError:
        return str(path).encode()


def iter_records(paths: Iterable[Path | str], limits: IngestLimits | None = None) -> Iterator[RawRecord]:
    """All raw records of all inputs, in a deterministic order."""
    limits = limits or IngestLimits()
    for path in paths:
        yield from iter_path_records(Path(path), limits)


def count_input_files(inputs: list[str]) -> int:
    """Files (and zip members) to read: the denominator of the progress shown in the UI and CLI."""
    total = 0
    for raw in inputs:
        if raw.lower().startswith(("http://", "https://")):
            total += 1
            continue
        path = Path(raw)
        files = directory_files(path) if path.is_dir() else [path]
        for f in files:
            if f.suffix.lower() == ".zip" and f.is_file():
                try:
                    with zipfile.ZipFile(f) as z:
                        total += sum(1 for i in z.infolist() if not i.is_dir())
                except (zipfile.BadZipFile, OSError):
                    total += 1
            else:
                total += 1
    return total


def batched(records: Iterable[RawRecord], size: int) -> Iterator[list[RawRecord]]:
    """Group records into lists of at most ``size``: the unit of validation and atomic publish."""
    batch: list[RawRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
