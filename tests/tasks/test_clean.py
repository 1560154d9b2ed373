from __future__ import annotations

import json
import zipfile
from pathlib import Path

from akhbar.tasks.clean import (
    COMMENT_FORM,
    LINK_LINE,
    REPEATED_HEADLINE,
    TEMPLATE,
    WIRE_SIGNOFF,
    TemplateStats,
    clean_article,
    split_scrape,
    template_key,
)
from akhbar.tasks.language import detect_language

SEED_TITLE = "روسيا تأمل بتعميق العلاقات العسكرية مع ليبيا"


def test_split_scrape_takes_first_non_empty_line() -> None:
    assert split_scrape("\n\n  عنوان  \n\nنص") == ("عنوان", "\nنص")
    assert split_scrape("") == ("", "")


def test_seed_article(seed_text: str) -> None:
    title, rest = split_scrape(seed_text)
    article = clean_article(title, rest)
    paragraphs = article.body.split("\n\n")
    assert article.title == SEED_TITLE
    assert SEED_TITLE not in article.body  # the two repeats are gone …
    assert [r.reason for r in article.removed].count(REPEATED_HEADLINE) == 2
    assert "تعميق العلاقات العسكرية مع ليبيا" in paragraphs and "طلب تركي" in paragraphs  # … sub-headings kept
    assert not any(p.startswith("اقرأ ايضا") for p in paragraphs)
    assert "اترك تعليقاً" not in article.body and "بريدك الإلكتروني" not in article.body
    assert " ،" not in article.body and "\n\n\n" not in article.body
    assert "80٪" in article.body and "6 فبراير / شباط" in article.body
    assert {r.reason for r in article.removed} == {REPEATED_HEADLINE, LINK_LINE, COMMENT_FORM}
    assert detect_language(article.body)[0] == "ar"


def test_title_none_means_bare_scrape(seed_text: str) -> None:
    assert clean_article(None, seed_text).title == SEED_TITLE


def test_mentions_of_boilerplate_words_in_prose_are_kept() -> None:
    body = (
        "المزيد من المعاناة\n"
        "شارك الأمير في افتتاح المعرض الدولي للكتاب.\n"
        "وقال إن حقوق النشر محفوظة للمؤلفين بموجب النظام الجديد الذي أقره مجلس الوزراء أمس بعد نقاش طويل"
        " استمر عدة أسابيع بين الجهات المعنية وممثلي دور النشر في المملكة وخارجها."
    )
    article = clean_article("عنوان", body)
    assert article.removed == []
    assert article.body.count("\n\n") == 2


def test_wire_signoff_glued_to_the_last_sentence_is_cut_and_recorded() -> None:
    article = clean_article("عنوان", "نص الخبر الأول.\nوأضاف أن الاجتماع انتهى. // انتهى //")
    assert article.body == "نص الخبر الأول.\n\nوأضاف أن الاجتماع انتهى."
    assert [r.reason for r in article.removed] == [WIRE_SIGNOFF]


_TOPICS = ["الماء", "الكهرباء", "التعليم", "الصحة", "النقل", "الإسكان", "السياحة", "الزراعة", "الرياضة", "الثقافة"]


def _column(i: int, code: int) -> str:
    topic, other = _TOPICS[i % 10], _TOPICS[(i // 10) % 10]
    return (
        f"يكتب الكاتب اليوم عن {topic} وعلاقته ب{other} في حياة الناس.\n"
        "السطر الأخير :\n"
        f"خاتمة عن {topic} و{other}.\n"
        f"للتواصل أرسل sms إلى 88548\nزين تبدأ بالرمز {code} مسافة ثم الرسالة"
    )


def test_template_stats_learn_a_source_footer_and_keep_a_recurring_subheading() -> None:
    stats = TemplateStats(min_articles=5, min_share=0.1)
    for i in range(20):
        stats.observe("paper", _column(i, 100 + i % 3))
    stats.observe("other", _column(0, 1))
    article = clean_article("عنوان", _column(99, 777), templates=stats, source="paper")
    assert article.body.endswith("خاتمة عن الثقافة والثقافة.")
    assert "السطر الأخير:" in article.body  # recurring, but inside the article: content
    assert [r.reason for r in article.removed] == [TEMPLATE, TEMPLATE]
    # another source never saw it often enough
    assert clean_article("عنوان", _column(99, 777), templates=stats, source="other").removed == []


def test_template_key_collides_across_numbers_punctuation_and_line_breaks() -> None:
    one_line = "للتواصل أرسل sms إلى 88548 الاتصالات ،636250 موبايلي"
    two_lines = "للتواصل أرسل SMS إلى 88548\nالاتصالات, 636250 موبايلي"
    assert template_key(one_line) == template_key(two_lines)


def test_template_stats_round_trip_and_merge() -> None:
    a, b = TemplateStats(min_articles=2, min_share=0.0), TemplateStats(min_articles=2, min_share=0.0)
    a.observe("s", "نص\n// انتهى //")
    b.observe("s", "نص آخر\n// انتهى //")
    assert not a.is_template("s", "// انتهى //")
    merged = a.merge(b)
    assert merged.is_template("s", "//انتهى//")
    rows = merged.to_rows()
    assert ("s", template_key("// انتهى //"), 2) in rows
    restored = TemplateStats.from_rows(rows, {"s": 2}, min_articles=2, min_share=0.0)
    assert restored.is_template("s", "// انتهى //")


def test_saudinewsnet_day_loses_signoffs_and_sms_blocks(saudinewsnet_zips: list[Path]) -> None:
    articles = []
    for path in saudinewsnet_zips[-3:]:
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                articles.extend(json.loads(zf.read(name)))
    stats = TemplateStats(min_articles=2, min_share=0.0)  # three days only: the full-corpus run uses the defaults
    for a in articles:
        stats.observe(a["source"], a["content"] or "")
    cleaned = [clean_article(a["title"], a["content"] or "", templates=stats, source=a["source"]) for a in articles]
    assert sum("انتهى //" in a["content"] for a in articles) > 0
    assert not any("انتهى //" in c.body for c in cleaned)
    assert not any("88591 - Stc" in c.body or "مسافة ثم الرسالة" in c.body for c in cleaned)


def test_template_counts_stay_bounded_and_keep_every_template(monkeypatch) -> None:
    """Every article brings its own edge lines, so exact counts grew with the corpus. Past the cap
    the rarest keys are dropped; the footer every tenth article carries, and a sign-off that only
    starts late, are still judged template exactly as with unbounded counts."""
    from akhbar.tasks import clean

    def word(i: int) -> str:  # numbers are masked in template keys: unique lines need unique letters
        return "".join("ابتثجحخدذر"[int(d)] for d in str(i))

    def article(i: int) -> str:
        lines = [f"افتتاحية {word(i)} عن موضوع {word(i * 7)}", "فقرة من متن الخبر لا تتكرر في الحواف أبدا هنا"]
        if i % 10 == 0:
            lines.append("تابعونا على تويتر وفيسبوك")
        if i >= 1500 and i % 5 == 0:
            lines.append("// انتهى //")
        return "\n".join(lines + [f"خاتمة {word(i)}"])

    def counted(cap: int) -> tuple[TemplateStats, list[int]]:
        monkeypatch.setattr(clean, "MAX_TEMPLATE_KEYS", cap)
        stats, held = TemplateStats(min_articles=10, min_share=0.02), []
        for start in range(0, 2000, 100):  # merged chunk by chunk, as the warm-up does
            part = TemplateStats(**stats.settings())
            for i in range(start, start + 100):
                part.observe("paper", article(i))
            stats.merge(part)
            held.append(sum(len(c) for c in stats.counts.values()))
        return stats, held

    exact, held_exact = counted(10**9)
    bounded, held = counted(1000)
    assert held_exact[-1] > 10_000 and max(held) <= 1000  # the cap holds; exact counts did not stop
    for line in ("تابعونا على تويتر وفيسبوك", "// انتهى //", f"خاتمة {word(7)}", f"افتتاحية {word(3)} عن موضوع {word(21)}"):
        assert bounded.is_template("paper", line) == exact.is_template("paper", line)
    assert exact.is_template("paper", "// انتهى //") and not exact.is_template("paper", f"خاتمة {word(7)}")
    assert bounded.compact().counts == exact.compact().counts
