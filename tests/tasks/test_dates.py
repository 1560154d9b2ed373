from __future__ import annotations

from datetime import datetime, timezone

from akhbar.tasks.dates import find_date_mentions, parse_date, publication_date


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_iso_and_rfc2822() -> None:
    assert parse_date("2015-07-21").value_utc == _utc(2015, 7, 21)
    assert parse_date("2015-07-21").precision == "day"
    p = parse_date("2015-07-21T10:20:00")  # naive: read in Asia/Riyadh (UTC+3)
    assert (p.value_utc, p.precision) == (_utc(2015, 7, 21, 7, 20), "datetime")
    assert parse_date("2015-07-21T10:20:00Z").value_utc == _utc(2015, 7, 21, 10, 20)
    assert parse_date("Tue, 21 Jul 2015 10:00:00 +0300").value_utc == _utc(2015, 7, 21, 7, 0)


def test_arabic_months_of_both_traditions_and_indic_digits() -> None:
    assert parse_date("6 فبراير / شباط 2021").value_utc == _utc(2021, 2, 6)
    assert parse_date("١٥ نيسان ٢٠٢٠").value_utc == _utc(2020, 4, 15)
    assert parse_date("3 كانون الثاني 2019").value_utc == _utc(2019, 1, 3)
    assert parse_date("21 أبريل 2019").value_utc == _utc(2019, 4, 21)
    assert parse_date("21/07/2015").value_utc == _utc(2015, 7, 21)  # day first
    assert parse_date("21 juillet 2015").value_utc == _utc(2015, 7, 21)


def test_month_only_date_keeps_month_precision() -> None:
    p = parse_date("في أبريل 2019")
    assert p.precision == "month" and p.value_utc == _utc(2019, 4, 1)


def test_no_date() -> None:
    assert parse_date("") is None
    assert parse_date("أكثر من 80٪ من المؤسسات") is None
    assert parse_date("2015-13-45") is None


def test_mentions_have_exact_offsets_and_years_need_context() -> None:
    text = "قال إن 80٪ من 2015 شخصا حضروا في 6 فبراير / شباط، وفي أبريل 2019 وعام 2015 و1436 هـ."
    mentions = find_date_mentions(text)
    assert all(text[m.start : m.end] == m.text for m in mentions)
    assert [m.text for m in mentions] == ["6 فبراير / شباط", "أبريل 2019", "عام 2015"]
    assert mentions[0].parsed.precision == "day" and mentions[0].parsed.value_utc is None  # no year given
    assert [m.parsed.precision for m in mentions[1:]] == ["month", "year"]


def test_mention_offsets_survive_diacritics() -> None:
    text = "وُلِدَ فِي ٢١ يُولْيُو ٢٠١٥ هُنَاكَ"
    (m,) = find_date_mentions(text)
    assert text[m.start : m.end] == m.text == "٢١ يُولْيُو ٢٠١٥"
    assert m.parsed.value_utc == _utc(2015, 7, 21)


def test_publication_date_prefers_metadata_then_url_then_dateline() -> None:
    url = "https://example.com/news/2015/07/21/story"
    text = "الرياض 26 شوال 1436 هـ الموافق 11 أغسطس 2015 م واس\nنص الخبر"
    assert publication_date("2015-07-22 01:01:26", url, text).value_utc == _utc(2015, 7, 21, 22, 1, 26)
    assert publication_date(None, url, text).value_utc == _utc(2015, 7, 21)
    assert publication_date(None, "https://example.com/a?id=5", text).value_utc == _utc(2015, 8, 11)
    assert publication_date(None, None, "لا تاريخ هنا") is None


def test_month_anchor_trie_matches_the_flat_alternation() -> None:
    import re

    from akhbar.tasks import dates

    flat = re.compile(dates._M)
    trie = dates._ANCHORS["month"][0]
    names = list(dates._MONTH_BY_NAME)
    for text in [" ".join(names), "".join(names), "لمارس وممارسة janv. janvier sept septembre اب ابريل ماي مايو"]:
        assert [m.span() for m in trie.finditer(text)] == [m.span() for m in flat.finditer(text)]


def test_many_dates_in_one_text_keep_first_pattern_wins() -> None:
    text = " ".join(f"{d} مارس 2019، 2019-03-{d:02d}" for d in range(1, 29))
    found = find_date_mentions(text)
    assert len(found) == 56
    assert all(a.end <= b.start for a, b in zip(found, found[1:]))
