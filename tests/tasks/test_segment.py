from __future__ import annotations

from akhbar.tasks.segment import segment


def _texts(body: str) -> list[str]:
    return [body[s.start : s.end] for s in segment(body)]


def test_sentences_point_into_the_body_and_are_stripped() -> None:
    body = "الجملة الأولى. الجملة الثانية؟\n\nفقرة ثانية!"
    sentences = segment(body)
    assert _texts(body) == ["الجملة الأولى.", "الجملة الثانية؟", "فقرة ثانية!"]
    assert [(s.paragraph_index, s.sentence_index) for s in sentences] == [(0, 0), (0, 1), (1, 0)]


def test_abbreviations_initials_and_decimals_do_not_split() -> None:
    body = "قال د. محمد وأ.د. علي وم. سعيد إن النمو 3.5 في المئة. The U.S. team met Dr. Lee and J. Smith. Done."
    assert _texts(body) == [
        "قال د. محمد وأ.د. علي وم. سعيد إن النمو 3.5 في المئة.",
        "The U.S. team met Dr. Lee and J. Smith.",
        "Done.",
    ]


def test_ellipsis_semicolon_and_arabic_question_mark_split() -> None:
    assert _texts("أولا… ثانيا؛ ثالثا; رابعا؟ خامسا") == ["أولا…", "ثانيا؛", "ثالثا;", "رابعا؟", "خامسا"]


def test_era_marker_after_a_year_ends_the_sentence() -> None:
    assert _texts("تأسست عام 1932 م. ثم توسعت.") == ["تأسست عام 1932 م.", "ثم توسعت."]


def test_empty_body_has_no_sentences() -> None:
    assert segment("") == [] and segment("\n\n  \n") == []
