"""prepare_records counts a batch's template lines from the lines it cleans, as a separate pass would."""

from __future__ import annotations

from akhbar.tasks.clean import TemplateStats
from akhbar.tasks.ingest import FieldMap, RawRecord, canonical_json
from akhbar.tasks.prepare import count_template_lines, observe_templates, prepare_records, readable_bodies

FOOTER = "للتواصل أرسل sms إلى 88548\nزين تبدأ بالرمز 158 مسافة ثم الرسالة"


def _records() -> list[RawRecord]:
    records = []
    for i in range(12):
        body = f"الفقرة الأولى من الخبر رقم {i} عن الاقتصاد.\n\nالفقرة الثانية رقم {i} عن السياسة.\n\n{FOOTER}"
        records.append(RawRecord(f"r{i}", f"in.jsonl#{i}", "in", "jsonl",
                                 canonical_json({"title": f"عنوان {i}", "content": body, "source": "paper"})))
    records.append(RawRecord("bad", "in.jsonl#99", "in", "jsonl", canonical_json({"title": "بلا نص"})))  # no body
    records.append(RawRecord("scrape", "a.txt", "in", "txt", "عنوان\nنص الخبر.".encode()))  # title is None
    return records


def _prepare(records: list[RawRecord], templates: TemplateStats, **kwargs):
    return prepare_records(records, field_map=FieldMap.parse([]), templates=templates, run_id="r",
                           pipeline_version="v", timezone_name="Asia/Riyadh", **kwargs)


def test_batch_counts_equal_a_separate_observation_pass() -> None:
    records = _records()
    separate = observe_templates(records, FieldMap.parse([]), TemplateStats(min_articles=3, min_share=0.0))
    prepared = _prepare(records, TemplateStats(min_articles=3, min_share=0.0), count_templates=True)
    assert prepared.templates_seen is not None
    assert prepared.templates_seen.to_rows(min_articles=1) == separate.to_rows(min_articles=1)
    assert prepared.templates_seen.n_articles == separate.n_articles == {"paper": 12, "in": 1}
    assert len(readable_bodies(records, FieldMap.parse([]))) == 13
    assert count_template_lines(readable_bodies(records, FieldMap.parse([])), separate.settings()).n_articles == \
        separate.n_articles


def test_learn_first_lets_a_batch_clean_with_its_own_counts() -> None:
    records = _records()
    empty = TemplateStats(min_articles=3, min_share=0.0)
    plain = _prepare(records, empty, count_templates=True)
    learned = _prepare(records, empty, count_templates=True, learn_first=True)
    assert all("88548" in c["body"] for c in plain.candidates if c["source"] == "paper")
    assert not any("88548" in c["body"] for c in learned.candidates)
    assert empty.counts == {}  # the caller's statistics are not modified
    assert [q.raw_id for q in learned.quarantined] == ["bad"]


def test_counts_without_some_records_equal_a_count_of_the_others() -> None:
    """A batch whose records were partly published first by another batch keeps only its own counts."""
    records = _records()
    settings = {"min_articles": 3, "min_share": 0.0}
    whole = observe_templates(records, FieldMap.parse([]), TemplateStats(**settings))
    raced = [r for r in records if r.raw_id in {"r0", "r5", "scrape"}]
    rest = [r for r in records if r not in raced]
    less = whole.without(observe_templates(raced, FieldMap.parse([]), TemplateStats(**settings)))
    counted = observe_templates(rest, FieldMap.parse([]), TemplateStats(**settings))
    assert less.to_rows(min_articles=1) == counted.to_rows(min_articles=1)
    assert less.n_articles == counted.n_articles == {"paper": 10}
    assert less.counts.keys() == counted.counts.keys() and less.settings() == whole.settings()
