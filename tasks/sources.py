"""Where records come from: dispatch a source (URL, feed file, WARC, plain files) and a registry.

Why a separate wiring point: ingest only knows files; feeds and WARCs have their own readers and
URL feeds need state between runs. :func:`records_for_source` hides that behind one iterator of
RawRecords, so the ingest flow treats every source alike.

Source registry format (TOML, read with :func:`load_sources`; example: ``seeds/sources.example.toml``)::

    [[source]]
    name = "bbc-arabic"                 # required, unique; [A-Za-z0-9_.-]; also the state file name
    kind = "feed"                       # required: files | feed | warc
    location = "https://feeds.bbci.co.uk/arabic/rss.xml"   # URL (feed) or path (files/feed/warc)
    language = "ar"                     # optional hint (ISO 639-1), default "ar"
    schedule = "*/30 * * * *"           # optional cron (5 fields); absent = run only on demand
    timezone = "Asia/Riyadh"            # optional IANA zone for the schedule, default "UTC"
    fetch_pages = true                  # optional (feeds): fetch linked pages of summary-only items
    enabled = true                      # optional, default true

Relative paths in ``location`` are resolved against the TOML file's directory.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from akhbar.tasks.feeds import FeedState, iter_feed_records, looks_like_feed
from akhbar.tasks.fetch import FetchPolicy
from akhbar.tasks.input_files import FileFilter, filtered
from akhbar.tasks.ingest import IngestLimits, RawRecord, directory_files, iter_path_records
from akhbar.tasks.warc import is_warc_path, iter_warc_records

__all__ = ["SourceSpec", "load_sources", "records_for_source", "records_for_spec", "state_path_for", "source_kind"]

FEED_SUFFIXES = (".rss", ".atom", ".xml")
KINDS = ("files", "feed", "warc")
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$|^[A-Za-z]{3}(-[A-Za-z]{3})?$")


@dataclass(frozen=True)
class SourceSpec:
    """One registered source (see the module docstring for the TOML format)."""

    name: str
    kind: str
    location: str
    language: str = "ar"
    schedule: str | None = None
    timezone: str = "UTC"
    fetch_pages: bool = False
    enabled: bool = True


def _check_cron(expr: str) -> None:
    fields = expr.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(f"schedule {expr!r} is not a 5-field cron expression")


def load_sources(path: Path | str) -> list[SourceSpec]:
    """Read and validate a source registry; raise ValueError naming the bad entry."""
    path = Path(path)
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    entries = doc.get("source", [])
    if not isinstance(entries, list):
        raise ValueError(f"{path}: [[source]] must be an array of tables")
    specs: list[SourceSpec] = []
    names: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"{path}: source #{i + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: not a table")
        unknown = set(entry) - {"name", "kind", "location", "language", "schedule", "timezone", "fetch_pages",
                                "enabled"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        name, kind, location = entry.get("name"), entry.get("kind"), entry.get("location")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{where}: name must match {_NAME.pattern}")
        if name in names:
            raise ValueError(f"{where}: duplicate name {name!r}")
        if kind not in KINDS:
            raise ValueError(f"{where} ({name}): kind must be one of {', '.join(KINDS)}")
        if not isinstance(location, str) or not location.strip():
            raise ValueError(f"{where} ({name}): location is required")
        if not location.lower().startswith(("http://", "https://")):
            if kind != "feed" and "://" in location:
                raise ValueError(f"{where} ({name}): only feeds may be URLs")
            if "://" not in location:
                location = str((path.parent / location).resolve()) if not Path(location).is_absolute() else location
        elif kind != "feed":
            raise ValueError(f"{where} ({name}): only feeds may be URLs")
        schedule = entry.get("schedule")
        if schedule is not None:
            if not isinstance(schedule, str):
                raise ValueError(f"{where} ({name}): schedule must be a string")
            try:
                _check_cron(schedule)
            except ValueError as exc:
                raise ValueError(f"{where} ({name}): {exc}") from None
        tz = entry.get("timezone", "UTC")
        try:
            ZoneInfo(str(tz))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{where} ({name}): unknown timezone {tz!r}") from None
        names.add(name)
        specs.append(SourceSpec(name, kind, location, str(entry.get("language", "ar")), schedule, str(tz),
                                bool(entry.get("fetch_pages", False)), bool(entry.get("enabled", True))))
    return specs


def state_path_for(state_dir: Path, source: str) -> Path:
    """The JSON state file of a source: readable prefix + hash (URLs are not file names)."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", source.split("://", 1)[-1]).strip("-")[:60] or "source"
    digest = hashlib.blake2b(source.encode("utf-8"), digest_size=8).hexdigest()
    return Path(state_dir) / f"{slug}-{digest}.json"


def _load_state(path: Path) -> FeedState | None:
    try:
        return FeedState.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return None  # a damaged state file costs one full re-fetch (raw_id dedup absorbs it), not a crash


def _save_state(path: Path, state: FeedState) -> None:
    """Atomic write: a crash mid-write must not leave half a state file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(state.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def source_kind(source: str) -> str:
    """``feed`` | ``warc`` | ``files`` for a URL or path (files sniffed when the suffix is ambiguous)."""
    lower = source.lower()
    if lower.startswith(("http://", "https://")):
        return "feed"
    if is_warc_path(lower):
        return "warc"
    if lower.endswith(FEED_SUFFIXES):
        return "feed"
    path = Path(source)
    if path.is_file() and not lower.endswith((".json", ".jsonl", ".ndjson", ".txt", ".text", ".zip", ".html",
                                              ".htm", ".gz")):
        try:
            with path.open("rb") as fh:
                if looks_like_feed(fh.read(4096)):
                    return "feed"
        except OSError:
            pass
    return "files"


def records_for_source(
    source: str,
    limits: IngestLimits,
    *,
    state_dir: Path | None = None,
    policy: FetchPolicy | None = None,
    source_name: str | None = None,
    fetch_pages: bool = False,
    files: FileFilter | None = None,
) -> Iterator[RawRecord]:
    """Every raw record of one source: a feed URL, a feed/WARC file, or files/directories.

    URL feeds keep their state in ``state_dir`` (one JSON file per source): an unchanged feed
    answers 304 and yields nothing; items already emitted are not emitted again. The state is
    written only once this iterator has been exhausted, i.e. after the caller consumed every
    record; a run that dies before that re-emits on the next run and raw_id dedup drops the
    repeats. Without ``state_dir`` every run starts from scratch.
    A directory is walked and each file dispatched by its kind; ``files`` may skip local files
    that earlier runs accounted for (see ``akhbar.tasks.input_files``).
    """
    kind = source_kind(source)
    if kind == "feed" and source.lower().startswith(("http://", "https://")):
        state_file = state_path_for(state_dir, source) if state_dir is not None else None
        state = _load_state(state_file) if state_file is not None else None
        records, new_state = iter_feed_records(source, state, policy, limits, source_name=source_name,
                                               fetch_pages=fetch_pages)
        yield from records
        if state_file is not None:
            _save_state(state_file, new_state)
        return
    path = Path(source)
    if path.is_dir():
        name = source_name or path.name or "input"
        for file in directory_files(path):
            yield from filtered(file, _file_records(file, limits, name, policy, fetch_pages), files)
        return
    if not path.exists():
        raise FileNotFoundError(f"input not found: {path}")
    yield from filtered(path, _file_records(path, limits, source_name or path.stem, policy, fetch_pages, kind=kind),
                        files)


def _file_records(path: Path, limits: IngestLimits, name: str, policy: FetchPolicy | None, fetch_pages: bool,
                  kind: str | None = None) -> Iterator[RawRecord]:
    kind = kind or source_kind(str(path))
    if kind == "warc":
        yield from iter_warc_records(path, limits, source_name=name)
    elif kind == "feed":
        records, _ = iter_feed_records(str(path), None, policy, limits, source_name=name, fetch_pages=fetch_pages)
        yield from records
    else:
        yield from iter_path_records(path, limits, source_name=name)


def records_for_spec(spec: SourceSpec, limits: IngestLimits, *, state_dir: Path | None = None,
                     policy: FetchPolicy | None = None) -> Iterator[RawRecord]:
    """Records of a registered source (its ``kind`` is informative; dispatch is by location)."""
    return records_for_source(spec.location, limits, state_dir=state_dir, policy=policy, source_name=spec.name,
                              fetch_pages=spec.fetch_pages)
