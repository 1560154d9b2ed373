"""Prepare: raw records → article candidates (decoded, extracted, cleaned, dated, language-tagged).

This stage decides what a record *says*; it does not decide whether it is new (dedup) or good
enough (validation). A record that cannot be interpreted at all (binary, no text, an ingest error)
leaves here as a quarantine row with ``stage='ingest'`` or ``'prepare'`` and a reason, so the
accounting ``records in = published + duplicate + quarantined + skipped`` always holds.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from akhbar.tasks.clean import TemplateStats, body_lines, clean_article
from akhbar.tasks.dates import publication_date
from akhbar.tasks.decode import BinaryDataError, decode_bytes
from akhbar.tasks.html_extract import extract_html
from akhbar.tasks.ingest import JSON_FORMATS, FieldMap, RawRecord
from akhbar.tasks.language import detect_languages
from akhbar.tasks.normalize import matching_key

# Bodies shorter than this (in matching-key characters) are identified by title + body, so two
# different stories that share a one-line body ("صورة", a bare link) are not merged.
SHORT_BODY_CHARS = 200


@dataclass(frozen=True)
class Quarantined:
    raw_id: str
    location: str
    source_name: str
    stage: str
    reason: str
    expectation: str | None = None


@dataclass
class PreparedBatch:
    """Article candidates (one dict per row, columns of the ``articles`` table) and rejects."""

    candidates: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    templates_seen: TemplateStats | None = None  # this batch's template counts, persisted on publish
    # article_id -> (shingle hashes, MinHash signature), computed by the analysing worker
    fingerprints: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Fields:
    title: str | None
    body: str
    url: str | None
    published: str | None
    source: str
    author: str | None


def article_id_for(title_key: str, body_key: str) -> str:
    """Stable id of a story: hash of its body's matching key (plus title when the body is short)."""
    basis = body_key if len(body_key) >= SHORT_BODY_CHARS else f"{title_key}\n{body_key}"
    return hashlib.blake2b(basis.encode("utf-8"), digest_size=16).hexdigest()


def _text(value: Any) -> str | None:
    """JSON values → text: lists (multi-author, paragraph lists) are joined, not dropped."""
    if value is None:
        return None
    if isinstance(value, list):
        parts = [_text(v) for v in value]
        return "\n\n".join(p for p in parts if p) or None
    if isinstance(value, dict):
        return _text(value.get("name") or value.get("text") or value.get("value"))
    return str(value)


def extract_fields(record: RawRecord, field_map: FieldMap) -> Fields:
    """Read title/body/url/date/source/author out of a record, whatever its format.

    Raises ValueError (with a reason for quarantine) if the record has no readable text.
    """
    if record.format in JSON_FORMATS:
        got = field_map.extract(record.fields or {})
        body = _text(got["body"])
        if body is None:
            raise ValueError("no body field (looked for " + ", ".join(_body_aliases(field_map)) + ")")
        return Fields(_text(got["title"]), body, _text(got["url"]), _text(got["published"]),
                      _text(got["source"]) or record.source_name, _text(got["author"]))
    if record.format == "html":
        page = extract_html(record.content, url=record.url)
        if page is None:
            raise ValueError("HTML page has no extractable article text")
        return Fields(page.title or "", page.body, record.url, page.published, page.sitename or record.source_name,
                      page.author)
    decoded = decode_bytes(record.content)  # txt: BinaryDataError propagates with its reason
    return Fields(None, decoded.text, None, None, record.source_name, None)


def _body_aliases(field_map: FieldMap) -> list[str]:
    from akhbar.tasks.ingest import FIELD_ALIASES

    return [field_map.explicit["body"]] if "body" in field_map.explicit else list(FIELD_ALIASES["body"])


def readable_bodies(records: Sequence[RawRecord], field_map: FieldMap) -> list[tuple[str, str]]:
    """``(source, body)`` of every record with readable text (what template statistics count)."""
    return [(fields.source, fields.body) for _, fields in _readable(records, field_map, PreparedBatch())]


def count_template_lines(bodies: Sequence[tuple[str, str]], settings: dict[str, Any]) -> TemplateStats:
    """Template statistics of ``(source, body)`` pairs: the unit of work a warm-up hands a worker."""
    stats = TemplateStats(**settings)
    for source, body in bodies:
        stats.observe(source, body)
    return stats


def observe_templates(records: Sequence[RawRecord], field_map: FieldMap, stats: TemplateStats) -> TemplateStats:
    """Feed each readable record's body to the per-source template statistics; returns ``stats``."""
    return stats.merge(count_template_lines(readable_bodies(records, field_map), stats.settings()))


def prepare_records(
    records: Sequence[RawRecord],
    *,
    field_map: FieldMap,
    templates: TemplateStats | None,
    run_id: str,
    pipeline_version: str,
    timezone_name: str,
    now: datetime | None = None,
    count_templates: bool = False,
    learn_first: bool = False,
) -> PreparedBatch:
    """Turn raw records into article candidates; unreadable records become quarantine rows.

    With ``count_templates`` the template lines of every readable body are counted into
    ``templates_seen`` (the batch's share of the statistics, persisted with it) from the lines
    cleaning splits anyway; with ``learn_first`` as well, those counts inform this batch's own
    cleaning (a run that had no warm-up pass over its records).
    """
    now = now or datetime.now(timezone.utc)
    out = PreparedBatch()
    readable = _readable(records, field_map, out)
    lines = [body_lines(fields.body) if count_templates or fields.title is not None else None for _, fields in readable]
    if count_templates:
        seen = TemplateStats(**(templates.settings() if templates is not None else {}))
        for (_, fields), body in zip(readable, lines):
            seen.observe_lines(fields.source, body or [])
        out.templates_seen = seen
        if learn_first:
            templates = copy.deepcopy(templates).merge(seen) if templates is not None else seen
    pending: list[tuple[RawRecord, Fields, Any]] = []
    for (record, fields), body in zip(readable, lines):
        cleaned = clean_article(fields.title, fields.body, templates=templates, source=fields.source,
                                lines=body if fields.title is not None else None)
        pending.append((record, fields, cleaned))
    return _candidates(out, pending, run_id=run_id, pipeline_version=pipeline_version,
                       timezone_name=timezone_name, now=now)


def _readable(records: Sequence[RawRecord], field_map: FieldMap, out: PreparedBatch) -> list[tuple[RawRecord, Fields]]:
    """Each record's fields; a record without readable text becomes a quarantine row in ``out``."""
    readable: list[tuple[RawRecord, Fields]] = []
    for record in records:
        if record.error:
            out.quarantined.append(Quarantined(record.raw_id, record.location, record.source_name, "ingest",
                                               record.error))
            continue
        try:
            fields = extract_fields(record, field_map)
        except (ValueError, BinaryDataError) as exc:
            out.quarantined.append(Quarantined(record.raw_id, record.location, record.source_name, "prepare",
                                               str(exc)))
            continue
        readable.append((record, fields))
    return readable


def _candidates(out: PreparedBatch, pending: list[tuple[RawRecord, Fields, Any]], *, run_id: str,
                pipeline_version: str, timezone_name: str, now: datetime) -> PreparedBatch:
    """One ``articles`` row per cleaned record: keys, id, date and language."""
    languages = detect_languages([f"{c.title}\n{c.body}" for _, _, c in pending])
    for (record, fields, cleaned), (lang, lang_conf) in zip(pending, languages):
        title_key, body_key = matching_key(cleaned.title), matching_key(cleaned.body)
        date = publication_date(fields.published, fields.url, cleaned.body[:400], tz=timezone_name)
        out.candidates.append({
            "article_id": article_id_for(title_key, body_key),
            "raw_id": record.raw_id,
            "source": fields.source,
            "url": fields.url,
            "title": cleaned.title,
            "body": cleaned.body,
            "author": fields.author,
            "published_at": date.value_utc if date else None,
            "published_precision": date.precision if date else None,
            "published_raw": date.original if date else fields.published,
            "language": lang,
            "language_confidence": float(lang_conf),
            "match_key": f"{title_key}\n{body_key}",
            "removed_lines": len(cleaned.removed),
            "cluster_id": None,  # assigned at publish, against everything published before
            "cluster_similarity": None,
            "location": record.location,
            "input_format": record.format,
            "ingested_at": now,
            "run_id": run_id,
            "pipeline_version": pipeline_version,
        })
    return out
