"""Tests for akhbar.tasks.html_extract.

Golden files (tests/golden/html/<name>.html + <name>.json) pin the whole HtmlArticle; a mismatch
prints a unified diff of the JSON. The shared Arabic pages check runs against
../shared/corpora/extraction/arabic_pages and skips with a message when ../shared is absent.
"""

from __future__ import annotations

import dataclasses
import difflib
import gzip
import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from akhbar.tasks.html_extract import (
    HtmlArticle,
    extract_html,
    is_link_or_boilerplate_line,
    read_html_file,
    sniff_declared_charset,
    strip_repeated_headline,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "html"
SHARED = Path(os.environ.get("AKHBAR_SHARED", ROOT.parent / "shared"))
ARABIC_PAGES = SHARED / "corpora" / "extraction" / "arabic_pages"

GOLDEN_CASES = sorted(p.stem for p in GOLDEN.glob("*.html"))


def _as_json(article: HtmlArticle | None) -> str:
    return json.dumps(dataclasses.asdict(article) if article else None, ensure_ascii=False, indent=2)


@pytest.mark.parametrize("name", GOLDEN_CASES)
def test_golden(name: str) -> None:
    expected = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    got = extract_html((GOLDEN / f"{name}.html").read_bytes())
    assert got is not None, f"{name}: no article extracted"
    for field in ("title", "body"):
        assert getattr(got, field), f"{name}: empty {field}"
    want = json.dumps(expected, ensure_ascii=False, indent=2)
    have = _as_json(got)
    diff = "\n".join(difflib.unified_diff(want.splitlines(), have.splitlines(), "expected", "got", lineterm=""))
    assert have == want, f"{name} differs from golden JSON:\n{diff}"


def test_golden_set_covers_required_cases() -> None:
    assert {"ar_repeated_headline", "ar_cp1256_meta"} <= set(GOLDEN_CASES)
    raw = (GOLDEN / "ar_repeated_headline.html").read_text(encoding="utf-8")
    assert raw.count("افتتاح مهرجان قرطاج الدولي بحضور جماهيري كبير") >= 4 and "اقرأ أيضا" in raw
    cp = (GOLDEN / "ar_cp1256_meta.html").read_bytes()
    assert sniff_declared_charset(cp) == "windows-1256"
    with pytest.raises(UnicodeDecodeError):
        cp.decode("utf-8")


def test_headline_kept_once_and_links_dropped() -> None:
    art = extract_html((GOLDEN / "ar_repeated_headline.html").read_bytes())
    assert art is not None and art.title == "افتتاح مهرجان قرطاج الدولي بحضور جماهيري كبير"
    assert art.title not in art.body
    assert "اقرأ أيضا" not in art.body and "شاهد أيضاً" not in art.body and "جميع الحقوق" not in art.body
    assert art.language == "ar"


@pytest.mark.parametrize(
    "line",
    [
        "اقرأ ايضا: وزارة الصحة تعلن",
        "اقرأ أيضاً: وزارة الصحة تعلن",
        "إقرأ أيضا",
        "شاهد أيضا: فيديو الحادث",
        "إقرأ المزيد",
        "» اقرأ المزيد: تفاصيل القرار",
        "للمزيد من الأخبار:",
        "Read more: Residents split over parking",
        "READ ALSO: the full statement",
        "Share this article",
        "شارك على فيسبوك",
        "facebook twitter whatsapp",
        "جميع الحقوق محفوظة © 2017",
        "Copyright © 2024 Example News. All rights reserved.",
        "أضف تعليقك",
        "Leave a Reply",
        "Your email address will not be published. Required fields are marked *",
        "|  | تحميل |  |",
        "-----",
    ],
)
def test_boilerplate_lines(line: str) -> None:
    assert is_link_or_boilerplate_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "وقال الوزير إن القراءة أيضا مهمة في تكوين الأطفال، مشيرا إلى برنامج وطني جديد.",
        "افتتحت مساء الجمعة الدورة الثالثة والخمسون لمهرجان قرطاج الدولي.",
        "The council will read more than 200 submissions before deciding, officials said on Monday.",
        "He said the comments section of the report had been rewritten, and all rights reserved by the "
        "original authors were respected in the new edition published this week.",
        "شارك أكثر من ألف عداء في ماراثون تونس الدولي يوم الأحد.",
    ],
)
def test_article_lines_are_kept(line: str) -> None:
    assert not is_link_or_boilerplate_line(line)


def test_strip_repeated_headline() -> None:
    title = "جزء ثالث لـالخُطًّابْ على الباب : الشيخ تحيفة يوضّح"
    lines = [
        "ثقافة 2017/02/25 13:39",
        'جزء ثالث لـ"الخُطًّابْ على الباب" : "الشيخ تحيفة" يوضّح',
        "جزء ثالث لـ«الخطاب على الباب»: الشيخ تحيفة يوضح",
        "كثُر الحديث مؤخرا في مواقع التواصل الاجتماعي عن وجود نيّة لتصوير جزء جديد.",
        'جزء ثالث لـ"الخُطًّابْ على الباب" : "الشيخ تحيفة" يوضّح',  # later quote of the headline stays
    ]
    assert strip_repeated_headline(lines, title) == lines[3:]
    # No title metadata: back-to-back duplicates still collapse to one.
    assert strip_repeated_headline(["عنوان الخبر", "عنوان الخبر", "نص الخبر"], None) == ["عنوان الخبر", "نص الخبر"]


def test_read_html_file_plain_gzip_and_cap(tmp_path: Path) -> None:
    page = (GOLDEN / "ar_repeated_headline.html").read_bytes()
    plain = tmp_path / "a.html"
    plain.write_bytes(page)
    assert read_html_file(plain) == page
    gz = tmp_path / "b.html"  # gzip detected by magic bytes, not by name
    gz.write_bytes(gzip.compress(page))
    assert read_html_file(gz) == page
    bomb = tmp_path / "bomb.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b"a" * 3_000_000))
    with pytest.raises(ValueError, match="cap"):
        read_html_file(bomb, max_bytes=1_000_000)
    with pytest.raises(ValueError, match="cap"):
        read_html_file(plain, max_bytes=100)


def test_str_input_and_declared_charset_lie() -> None:
    raw = (GOLDEN / "ar_cp1256_meta.html").read_bytes()
    expected = json.loads((GOLDEN / "ar_cp1256_meta.json").read_text(encoding="utf-8"))
    # A transport header claiming UTF-8 / Latin-1 must not win over what the bytes are.
    assert extract_html(raw, declared_charset="iso-8859-1").body == expected["body"]
    assert extract_html(raw.decode("cp1256")).body == expected["body"]
    assert extract_html(b"") is None
    assert extract_html("<html><body></body></html>") is None


# --------------------------------------------------------------------------- shared Arabic pages


def _words(text: str) -> Counter[str]:
    return Counter(re.findall(r"\w+", text))


def _trec(text: str, field: str) -> str:
    m = re.search(rf"<{field}>(.*?)</{field}>", text, re.S)
    return m.group(1).strip() if m else ""


def _jawhara_pages() -> list[Path]:
    folder = ARABIC_PAGES / "jawharafm_rsscrawler"
    return sorted(folder.glob("*.html")) if folder.is_dir() else []


@pytest.mark.parametrize("page", _jawhara_pages() or [None], ids=lambda p: p.name if p else "absent")
def test_shared_jawharafm_pages(page: Path | None) -> None:
    if page is None:
        pytest.skip(f"shared Arabic pages not found at {ARABIC_PAGES} (../shared absent)")
    doc = page.with_suffix(".txt").read_text(encoding="utf-8")
    title, reference = _trec(doc, "TITLE"), _trec(doc, "TEXT")
    art = extract_html(read_html_file(page))
    assert art is not None and art.language == "ar"
    ours, ref = _words(art.body), _words(reference)
    overlap = sum((ours & ref).values())
    f1 = 2 * overlap / (sum(ours.values()) + sum(ref.values()))
    assert f1 >= 0.9, f"{page.name}: word F1 {f1:.3f} vs the source's own extraction"
    squash = lambda s: re.sub(r"\W+", "", s)  # noqa: E731
    assert squash(title) not in squash(art.body.split("\n\n")[0]), f"{page.name}: headline left at top of body"
    assert squash(art.body).count(squash(title)) <= 1, f"{page.name}: headline repeated in body"


def test_shared_cnn_and_assabah_pages() -> None:
    if not ARABIC_PAGES.is_dir():
        pytest.skip(f"shared Arabic pages not found at {ARABIC_PAGES} (../shared absent)")
    cnn = ARABIC_PAGES / "cnn_arabic_newspaper4k"
    art = extract_html(read_html_file(cnn / "arabic_article.html"))
    ref = _words((cnn / "arabic_article.txt").read_text(encoding="utf-8"))
    assert art is not None
    assert sum((_words(art.body) & ref).values()) / sum(ref.values()) >= 0.9
    ann = next(iter(json.loads((ARABIC_PAGES / "assabah_trafilatura" / "annotation.json").read_text(encoding="utf-8")).values()))
    art = extract_html(read_html_file(ARABIC_PAGES / "assabah_trafilatura" / ann["file"]))
    assert art is not None
    for snippet in ann["with"]:
        assert snippet in art.body
    for snippet in ann["without"]:
        assert snippet not in art.body
