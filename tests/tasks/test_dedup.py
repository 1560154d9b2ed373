"""Exact dedup: skipped vs duplicate vs new, and the outcome of repeated bytes."""

from __future__ import annotations

from datetime import datetime, timezone

from akhbar.tasks.dedup import PriorOutcome, resolve_repeats, split_by_raw_id, split_duplicates
from akhbar.tasks.ingest import RawRecord

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _rec(raw_id: str, loc: str = "f") -> RawRecord:
    return RawRecord(raw_id, loc, "src", "json", b"{}")


def test_split_by_raw_id() -> None:
    records = [_rec("a"), _rec("b"), _rec("a", "g"), _rec("c"), _rec("d")]
    # c was read here before (a re-run: skipped); d's bytes were read elsewhere (a repeat).
    fresh, repeats, skipped = split_by_raw_id(records, {"c", "d"}, {("c", "f"), ("d", "elsewhere")})
    assert [r.raw_id for r in fresh] == ["a", "b"]
    assert [(r.raw_id, r.location) for r in repeats] == [("a", "g"), ("d", "f")]
    assert skipped == 1


def test_split_duplicates_first_wins_and_known_ids_are_duplicates() -> None:
    rows = [{"article_id": x, "raw_id": r, "location": r, "source": "s", "url": None} for x, r in
            [("A", "1"), ("B", "2"), ("A", "3"), ("K", "4")]]
    articles, dups = split_duplicates(rows, {"K"}, run_id="r", now=NOW)
    assert [a["raw_id"] for a in articles] == ["1", "2"]
    assert [(d["raw_id"], d["article_id"], d["kind"]) for d in dups] == [("3", "A", "same_text"), ("4", "K", "same_text")]


def test_repeats_follow_their_first_occurrence() -> None:
    prior = {"a": PriorOutcome("article", "A"), "q": PriorOutcome("quarantine", None, "empty file")}
    dups, quar = resolve_repeats([_rec("a", "x"), _rec("q", "y")], prior, run_id="r", now=NOW)
    assert [(d["raw_id"], d["article_id"], d["kind"]) for d in dups] == [("a", "A", "same_bytes")]
    assert quar[0]["raw_id"] == "q" and "empty file" in quar[0]["reason"]
