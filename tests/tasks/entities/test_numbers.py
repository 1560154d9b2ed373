"""Numeric mentions: percent/money/number with normalized values, offsets into the original text."""

from __future__ import annotations

import pytest

from akhbar.tasks.entities.numbers import find_numeric_mentions


def one(text: str):
    found = find_numeric_mentions(text)
    assert len(found) == 1, found
    m = found[0]
    assert text[m.start : m.end] == m.text
    return m


@pytest.mark.parametrize(
    "text, surface, value",
    [
        ("أكثر من 80٪ من مؤسسات الدولة", "80٪", 80.0),
        ("نحو ٨٠ بالمئة من السكان", "٨٠ بالمئة", 80.0),
        ("80 في المئة من الأصوات", "80 في المئة", 80.0),
        ("ارتفع 2020 في المائة", "2020 في المائة", 2020.0),  # a percent is never a year
        ("بنسبة 3,5% فقط", "3,5%", 3.5),
        ("%80 من الناخبين", "%80", 80.0),
    ],
)
def test_percent(text: str, surface: str, value: float) -> None:
    m = one(text)
    assert (m.text, m.label, m.value, m.unit) == (surface, "PERCENT", value, "%")


@pytest.mark.parametrize(
    "text, surface, value, unit",
    [
        ("بلغت 5 ملايين دولار", "5 ملايين دولار", 5e6, "USD"),
        ("raised $3.5 billion in", "$3.5 billion", 3.5e9, "USD"),
        ("خصصت مليار ريال للمشروع", "مليار ريال", 1e9, "SAR"),
        ("بتكلفة 100 ألف جنيه", "100 ألف جنيه", 1e5, "EGP"),
        ("قرض بقيمة ٢٫٥ مليار يورو", "٢٫٥ مليار يورو", 2.5e9, "EUR"),
        ("200 دينار كويتي", "200 دينار كويتي", 200.0, "KWD"),
        ("500 مليون ريال قطري", "500 مليون ريال قطري", 5e8, "QAR"),
        ("10 ملايين جنيه إسترليني", "10 ملايين جنيه إسترليني", 1e7, "GBP"),
        ("a $3.5bn deal", "$3.5bn", 3.5e9, "USD"),
        ("ألفي دولار", "ألفي دولار", 2000.0, "USD"),
    ],
)
def test_money(text: str, surface: str, value: float, unit: str) -> None:
    m = one(text)
    assert (m.text, m.label, m.value, m.unit) == (surface, "MONEY", value, unit)


def test_money_vague_and_ambiguous_currency() -> None:
    m = one("خسائر بملايين الدولارات")
    assert (m.label, m.value, m.unit) == ("MONEY", None, "USD")
    m = one("دفع 300 دينار")
    assert (m.label, m.value, m.unit) == ("MONEY", 300.0, None)  # which dinar? do not guess


@pytest.mark.parametrize(
    "text, surface, value",
    [
        ("قتل 12 شخصا", "12", 12.0),
        ("يسكنها ١٥٠٠ شخص", "١٥٠٠", 1500.0),
        ("نزح ألف شخص", "ألف", 1000.0),
        ("نحو 3 آلاف جندي", "3 آلاف", 3000.0),
        ("يبلغ عدد السكان 1,500,000 نسمة", "1,500,000", 1.5e6),
        ("سكانها 5 ملايين نسمة", "5 ملايين", 5e6),
        ("1.2 مليار نسمة", "1.2 مليار", 1.2e9),
    ],
)
def test_number(text: str, surface: str, value: float) -> None:
    m = one(text)
    assert (m.text, m.label, m.value, m.unit) == (surface, "NUMBER", value, None)


def test_clitic_before_digit_is_not_part_of_the_mention() -> None:
    m = one("قتل و3 آلاف جريح")
    assert m.text == "3 آلاف"


def test_identifiers_are_not_numbers() -> None:
    assert find_numeric_mentions("طائرات F-16 وقمة G20 وجائحة كوفيد-19") == []


def test_exclude_skips_date_spans() -> None:
    text = "في 6 فبراير 2019 قتل 5 أشخاص"
    date = (text.index("6"), text.index("2019") + 4)
    found = find_numeric_mentions(text, exclude=[date])
    assert [(m.text, m.label) for m in found] == [("5", "NUMBER")]


def test_offsets_in_seed_article_text() -> None:
    text = "وقال الدبيبة إن “أكثر من 80٪ من مؤسسات الدولة الليبية متحدة”، في 6 فبراير / شباط، في أبريل 2019"
    found = find_numeric_mentions(text)
    assert all(text[m.start : m.end] == m.text for m in found)
    assert found[0].label == "PERCENT" and found[0].value == 80.0


def test_arabic_comma_decimal_and_css_noise() -> None:
    m = one("نسبة مئوية تقدر بـ 2،5%، وعلى")
    assert (m.text, m.label, m.value) == ("2،5%", "PERCENT", 2.5)
    assert find_numeric_mentions("#eee 1px, #f8f8f8 25px; بدقة 4K و5G") == []


def test_core_lookahead_changes_no_match() -> None:
    """The first-character lookahead only skips positions where no match can start."""
    import re

    from akhbar.tasks.entities import numbers

    for alternative in numbers._SCALE_ALONE.split("|"):
        assert alternative[0] in numbers._CORE_FIRST
    prefix = f"(?=[{numbers._CORE_FIRST}])(?:"
    assert numbers._CORE.pattern.startswith(prefix) and numbers._CORE.pattern.endswith(")")
    bare = re.compile(numbers._CORE.pattern[len(prefix):-1], re.IGNORECASE)
    text = ("ملايين الدولارات و5 آلاف ريال وألفا دينار و٣ مليار، 3.5bn و200m و10 m و80٪ و%80 و$5 "
            "F-16 وكوفيد-19 وبـ5 تريليونات ومليونا و1,000,000 و3،5% MILLION 4 Billion")
    assert [(m.span(), m.groupdict()) for m in numbers._CORE.finditer(text)] == \
        [(m.span(), m.groupdict()) for m in bare.finditer(text)]
