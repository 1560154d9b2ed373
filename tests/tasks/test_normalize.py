from __future__ import annotations

from akhbar.tasks.normalize import matching_key, normalize_display, normalize_line


def test_display_keeps_diacritics_and_spelling_but_drops_artefacts() -> None:
    assert normalize_line("مُحَمَّد  يقـــول ، نعم") == "مُحَمَّد يقول، نعم"
    assert normalize_line("\ufe83\ufee3\ufef4\ufeae") == "أمير"  # presentation forms → letters
    assert normalize_line("80٪ و 3.5") == "80٪ و 3.5"  # display keeps the outlet's digits and signs


def test_display_text_has_single_blank_lines_between_paragraphs() -> None:
    assert normalize_display("أ\r\n\r\n\r\n\r\nب \n") == "أ\n\nب"


def test_matching_key_folds_spelling_variants_together() -> None:
    assert matching_key("إقرأ أيضاً") == matching_key("اقرا ايضا")
    assert matching_key("مدرسة  على") == matching_key("مدرسه علي")
    assert matching_key("عام ٢٠١٥") == "عام 2015"
    assert matching_key("Read MORE") == "read more"


def test_matching_key_is_idempotent() -> None:
    text = "الْمَمْلَكَة ـ ﺍﻟﺮﻳﺎﺽ ٢٠١٥"
    assert matching_key(matching_key(text)) == matching_key(text)


def test_plain_word_fast_path_equals_the_full_key() -> None:
    """Plain words take a one-translate shortcut; an invisible character forces the full path."""
    from akhbar.tasks.normalize import plain_matching_key

    words = ["وزارة", "أإآؤئىة", "الدفاع الروسية", "NATO", "Kyiv 2024", "١٢٣ ۴۵", "عبد الله"]
    for word in words:
        assert plain_matching_key(word) == matching_key(word) == matching_key(word + "\u200b")
    for text in ["مُحَمَّد", " وزارة", "a  b", "U.S.", "Choïgou", "ﻻ", "x\ny", ""]:
        assert plain_matching_key(text) is None  # anything else goes the full way
    assert matching_key("  a \t b\u2003c\n") == "a b c"
