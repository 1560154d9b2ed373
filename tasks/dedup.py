"""Exact deduplication: records seen before, and stories already published.

Two kinds of "seen before" need different answers:

* the same **occurrence** (the same bytes at the same location) is *skipped*: a re-run over the
  same inputs must add nothing and count nothing twice;
* the same bytes at another location, or the same **cleaned text** from another file or outlet,
  is a *duplicate*: one ``duplicates`` row pointing to the article it repeats, so every input
  record still ends in exactly one place — whether or not the run was interrupted in between.

Near-duplicates (syndicated copies with small edits) are clustered separately, not merged here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from akhbar.tasks.ingest import RawRecord


@dataclass(frozen=True)
class PriorOutcome:
    """Where a raw record already ended: ``article``/``duplicate`` (with its article) or ``quarantine``."""

    kind: str
    article_id: str | None
    reason: str | None = None


def split_by_raw_id(
    records: Sequence[RawRecord], ingested: Collection[str], seen_occurrences: Collection[tuple[str, str]]
) -> tuple[list[RawRecord], list[RawRecord], int]:
    """Split a batch into (records to process, repeats of known bytes, count skipped).

    An *occurrence* is a record's bytes at a location. An occurrence the warehouse already holds
    (a re-run over the same input) is skipped. Bytes the warehouse holds, or that came earlier in
    this batch, seen at a new location are a repeat: its outcome follows the first occurrence.
    """
    fresh: list[RawRecord] = []
    repeats: list[RawRecord] = []
    skipped = 0
    seen: set[str] = set()
    for record in records:
        if (record.raw_id, record.location) in seen_occurrences:
            skipped += 1
        elif record.raw_id in ingested or record.raw_id in seen:
            repeats.append(record)
        else:
            seen.add(record.raw_id)
            fresh.append(record)
    return fresh, repeats, skipped


def split_duplicates(
    candidates: Iterable[dict[str, Any]], published_ids: set[str], *, run_id: str, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split candidates into (new articles, duplicate rows). First occurrence in input order wins."""
    articles: list[dict[str, Any]] = []
    duplicates: list[dict[str, Any]] = []
    seen = set(published_ids)
    for row in candidates:
        if row["article_id"] in seen:
            duplicates.append(duplicate_row(row["raw_id"], row["location"], row["article_id"], "same_text",
                                            row.get("source"), row.get("url"), run_id, now))
        else:
            seen.add(row["article_id"])
            articles.append(row)
    return articles, duplicates


def duplicate_row(raw_id: str, location: str, article_id: str, kind: str, source: str | None,
                  url: str | None, run_id: str, now: datetime) -> dict[str, Any]:
    return {"raw_id": raw_id, "location": location, "article_id": article_id, "kind": kind,
            "source": source, "url": url, "detected_at": now, "run_id": run_id}


def resolve_repeats(
    repeats: Sequence[RawRecord], prior: Mapping[str, PriorOutcome], *, run_id: str, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Give each in-run repeat of identical bytes the outcome of its first occurrence.

    Returns (duplicate rows, quarantine rows): a repeat of a published record is a ``same_bytes``
    duplicate of its article; a repeat of a quarantined record is quarantined for the same reason.
    """
    duplicates: list[dict[str, Any]] = []
    quarantine: list[dict[str, Any]] = []
    for record in repeats:
        first = prior.get(record.raw_id)
        if first is None:
            raise RuntimeError(f"no outcome recorded for the first occurrence of {record.raw_id} ({record.location})")
        if first.article_id is not None:
            duplicates.append(duplicate_row(record.raw_id, record.location, first.article_id, "same_bytes",
                                            None, None, run_id, now))
        else:
            quarantine.append(quarantine_row(record.raw_id, record.location, record.source_name, "ingest",
                                             f"identical to a quarantined record: {first.reason}", None,
                                             run_id, now))
    return duplicates, quarantine


def quarantine_row(raw_id: str, location: str, source_name: str, stage: str, reason: str,
                   expectation: str | None, run_id: str, now: datetime) -> dict[str, Any]:
    return {"raw_id": raw_id, "location": location, "source_name": source_name, "stage": stage,
            "expectation": expectation, "reason": reason, "quarantined_at": now, "run_id": run_id,
            "resolved_at": None, "resolution": None, "resolved_by_run": None}
