"""Turn a scraped article into its display title and body, recording everything that was cut.

A scrape carries more than the story: the headline repeated by the page template, "read also"
links, share buttons, comment forms, copyright footers and the outlet's own recurring lines (a
wire sign-off, a columnist's SMS contact block). Two mechanisms remove them:

* **rules** that hold for any outlet (Arabic, English, French phrasings of links, forms, footers);
* **per-source statistics** (:class:`TemplateStats`): a line that recurs at the top or bottom of
  many articles of one source is part of that source's template, whatever its wording.

Nothing is dropped silently: every removal is returned as a :class:`RemovedLine` with its reason,
so a wrong cut can be found in the warehouse and the rule fixed. Lines in the middle of the
article are only removed by explicit rules; the statistics act on the edges only, because a
recurring sub-heading ("السطر الأخير :") is content while a recurring footer is not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from akhbar.tasks.dates import has_month_name
from akhbar.tasks.normalize import matching_key, normalize_display

# Reasons recorded on RemovedLine, stable strings the warehouse can group by.
REPEATED_HEADLINE = "repeated_headline"
LINK_LINE = "link_line"
COMMENT_FORM = "comment_form"
SHARE_LINE = "share_line"
COPYRIGHT = "copyright"
WIRE_SIGNOFF = "wire_signoff"
TEMPLATE = "template"


@dataclass(frozen=True)
class RemovedLine:
    """One line cut from the body and why; kept so that every deletion can be audited."""

    text: str
    reason: str


@dataclass
class CleanedArticle:
    """Display title, body (paragraphs separated by exactly one blank line) and the audit trail."""

    title: str
    body: str
    removed: list[RemovedLine] = field(default_factory=list)


# --- splitting ---------------------------------------------------------------------------------


def split_scrape(text: str) -> tuple[str, str]:
    """Split a plain-text scrape into (headline, rest).

    Text scrapers write the page's ``<h1>`` first; taking the first non-empty line is the only
    assumption that holds across outlets. The rest is returned untouched so that cleaning can
    still see (and record) the headline repeats that follow.
    """
    text = text.lstrip("\ufeff")
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip():
            return line.strip(), "\n".join(lines[i + 1 :])
    return "", ""


# Scrapers glue adjacent block elements: "name@yahoo.comللتواصل مع الكاتب…". A Latin e-mail or
# URL directly followed by an Arabic letter is such a seam; splitting it there lets the contact
# block be recognised as the same line the outlet prints elsewhere on its own.
_GLUED_CONTACT = re.compile(
    r"((?:[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)|(?:(?:https?://|www\.)[A-Za-z0-9./?=&_%#~:-]+))"
    r"(?=[\u0621-\u064a])"
)


def body_lines(body: str) -> list[str]:
    """Display-normalized, non-empty lines of a body; the unit both cleaning and statistics see."""
    text = _GLUED_CONTACT.sub(r"\1\n", normalize_display(body))
    return [line for line in text.split("\n") if line]


# --- rules ---------------------------------------------------------------------------------------
# Patterns run on matching_key(line): diacritics, hamza forms, ة/ى and case are folded, so
# «إقرأ أيضاً», «اقرأ ايضا» and "READ MORE" each need a single spelling here.

_LEAD = r"^[\s\-–—•*>»«:|.…]*"
# Phrases that only ever introduce a link to another story.
_LINK = re.compile(
    _LEAD
    + r"(?:(?:اقرا|طالع|شاهد|انظر) (?:ايضا|كذلك)|اقرا المزيد|اخبار ذات صله|مواضيع ذات صله|مقالات ذات صله"
    r"|(?:read more|للمزيد|المزيد|en savoir plus)\s*:|read also|see also|related(?: articles| stories| news)?\s*:"
    r"|(?:a |à )?lire aussi|(?:a|à) lire (?:aussi|egalement|également)|voir aussi)"
    r"(?:\s*[:\-–.…]|\s*$|\s)"
)
# Words that are a link only when they are (nearly) the whole line: "المزيد من الضحايا…" is prose.
_SHORT_LINK = re.compile(_LEAD + r"(?:للمزيد|المزيد|read more|more|continue reading|lire la suite|en savoir plus)[\s.…:»>]*$")
_SHORT_LINK_WORDS = 3
_COMMENT_FORM = re.compile(
    r"اترك تعليقا|اضف تعليق|اكتب تعليق|لن يتم نشر (?:عنوان )?بريدك|الحقول (?:الالزاميه|المطلوبه) (?:مشار|معلمه)"
    r"|^(?:الاسم|البريد الالكتروني|الموقع الالكتروني|التعليق)\s*\*?$"
    r"|leave a (?:reply|comment)|your email address will not be published|required fields are marked"
    r"|^(?:name|email|website|comment)\s*\*?$|post comment"
    r"|laisser un commentaire|votre adresse (?:e-mail|email|de messagerie) ne sera pas publiee"
    r"|votre adresse (?:e-mail|email|de messagerie) ne sera pas publiée|les champs obligatoires sont indiqu"
)
# A share line is a share verb followed only by network names: "شارك عبر: فيسبوك تويتر".
_SHARE_START = re.compile(
    _LEAD
    + r"(?:شارك(?:ها)?(?: هذا)?(?: الخبر| المقال)?|مشاركه(?: الخبر| المقال)?|انشر(?: الخبر)?"
    r"|share(?: this)?(?: article| story)?|partager(?: cet article)?|partagez(?: cet article)?|tweet)"
    r"\s*[:：]?\s*(?:على|عبر|في|on|via|sur)?\s*[:：]?"
)
_SOCIAL_WORDS = frozenset(
    "facebook twitter whatsapp telegram linkedin pinterest email print tweet share x "
    "فيسبوك فيس بوك تويتر واتساب واتس اب تلغرام تليجرام لينكد ان طباعه ارسال البريد مشاركه شارك".split()
)
_COPYRIGHT = re.compile(
    r"©|\(c\) ?\d{4}|جميع الحقوق محفوظه|حقوق (?:النشر|الطبع) محفوظه|all rights reserved|copyright"
    r"|tous droits reserves|tous droits réservés"
)
# Wire agencies close a dispatch with "// انتهى //" (end) or "// يتبع //" (continues); outlets that
# reprint the dispatch keep the marker, sometimes glued to the last sentence.
_WIRE_SIGNOFF_LINE = re.compile(r"^\s*/+\s*(?:انتهي|يتبع|انتهي الخبر)\s*/+\s*$")
_WIRE_SIGNOFF_TAIL = re.compile(r"\s*//\s*(?:انتهى|انتهي|يتبع)\s*//\s*$")

_MAX_RULE_WORDS = 30  # longer lines are prose that merely mentions "share" or "copyright"


def boilerplate_reason(line: str) -> str | None:
    """Return the rule that makes a display line boilerplate, or None if it is content."""
    if len(line.split()) > _MAX_RULE_WORDS:  # cheap test first: most lines are long paragraphs
        return None
    key = matching_key(line)
    n_words = len(key.split())
    if _WIRE_SIGNOFF_LINE.match(key):
        return WIRE_SIGNOFF
    if _LINK.match(key) or (n_words <= _SHORT_LINK_WORDS and _SHORT_LINK.match(key)):
        return LINK_LINE
    if _COMMENT_FORM.search(key):
        return COMMENT_FORM
    if n_words <= 8 and _is_share_line(key):
        return SHARE_LINE
    if n_words <= 20 and _COPYRIGHT.search(key):
        return COPYRIGHT
    return None


def _is_share_line(key: str) -> bool:
    """A share verb and/or nothing but social-network names."""
    start = _SHARE_START.match(key)
    rest = key[start.end() :] if start and start.end() else key
    words = re.findall(r"\w+", rest)
    if start and start.end():
        return all(w in _SOCIAL_WORDS for w in words)
    return len(words) >= 2 and all(w in _SOCIAL_WORDS for w in words)  # a lone «تويتر:» labels a handle


# --- headline repeats ----------------------------------------------------------------------------

_HEADLINE_SIMILARITY = 0.9


def is_headline_repeat(line: str, title: str) -> bool:
    """True if a line is the headline again, allowing small variations (punctuation, one word).

    Templates print the headline in the breadcrumb, the ``<h1>`` and the share card, each a
    little different ("روسيا تأمل…" vs "روسيا تأمل …:"), so exact equality misses repeats.
    """
    a, b = matching_key(line), matching_key(title)
    if not a or not b:
        return False
    if a == b:
        return True
    if 2 * min(len(a), len(b)) < _HEADLINE_SIMILARITY * (len(a) + len(b)):
        return False  # lengths alone bound the ratio below the threshold; skip the O(n²) match
    return SequenceMatcher(None, a, b, autojunk=False).ratio() >= _HEADLINE_SIMILARITY


def strip_repeated_headline(lines: list[str], title: str) -> tuple[list[str], list[RemovedLine]]:
    """Drop the headline wherever it is repeated at the top of the body (any number of times).

    Only the leading run is touched: the same words later in the article are a sub-heading or a
    quote and stay.
    """
    i = 0
    while i < len(lines) and is_headline_repeat(lines[i], title):
        i += 1
    if i == 1 and _looks_like_verse(lines[1:]):
        return lines, []  # a poem titled by its first verse: that verse is content
    return lines[i:], [RemovedLine(line, REPEATED_HEADLINE) for line in lines[:i]]


def _looks_like_verse(lines: list[str]) -> bool:
    """Poems come as many short lines; news prose as fewer, long paragraphs."""
    head = lines[:10]
    return len(head) >= 6 and sum(len(line.split()) <= 10 for line in head) >= 0.7 * len(head)


# --- per-source templates ------------------------------------------------------------------------

_NON_WORD = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")


def template_key(text: str) -> str:
    """Key under which variants of one template line collide.

    Built on :func:`matching_key`, then punctuation and spaces dropped and every number masked:
    a columnist's SMS block differs only in the author code ("بالرمز 158") and in where the
    scraper broke the lines, and both must map to one key.
    """
    return _DIGITS.sub("0", _NON_WORD.sub("", matching_key(text)))


# Edge keys held at most before the rarest are dropped (TemplateStats.merge). Almost every key is
# one article's own first or last lines (SaudiNewsNet: 128,674 keys, 97.5% seen once), so exact
# counts grew with the corpus: a million synthetic articles' warm-up reached 1.8 GB before it was
# stopped (~2.7 KB an article). SaudiNewsNet stays below the cap, so its counts stay exact.
MAX_TEMPLATE_KEYS = 250_000
_MAX_TEMPLATE_WORDS = 40  # a longer line is an article paragraph even if syndicated many times
_MAX_BLOCK_WORDS = 80  # an edge block longer than this cannot be all template lines worth keying
_MIN_KEY_CHARS = 3


def _templatable(line: str) -> bool:
    """Lines the statistics may judge: short, with letters, and not a dateline (place + date)."""
    return len(line.split()) <= _MAX_TEMPLATE_WORDS and not has_month_name(line)


@dataclass
class TemplateStats:
    """Per-source counts of the lines (and short runs of lines) found at article edges.

    ``observe`` every body of a source; a line then counts as template when it was seen at the
    top or bottom of at least ``min_articles`` articles AND at least ``min_share`` of that
    source's articles. Both floors matter: the count keeps a rare coincidence out in small
    sources, the share keeps a phrase common in a big source ("والله من وراء القصد.") from
    being taken for a footer unless it really is everywhere. Runs of up to ``edge_lines`` lines
    are counted joined, so a block broken across lines differently still collides.

    Measured on SaudiNewsNet (31,030 articles, 14 sources) with the defaults, see
    ``benchmarks/clean_saudinewsnet.py``.
    """

    min_articles: int = 10
    min_share: float = 0.002
    edge_lines: int = 4
    counts: dict[str, Counter[str]] = field(default_factory=dict)
    n_articles: Counter[str] = field(default_factory=Counter)

    def settings(self) -> dict[str, Any]:
        """The thresholds, to start an empty set of counts judged the same way."""
        return {"min_articles": self.min_articles, "min_share": self.min_share, "edge_lines": self.edge_lines}

    def observe(self, source: str, body: str) -> None:
        """Count the edge lines and edge blocks of one article of ``source``."""
        self.observe_lines(source, _edge_body_lines(body, self.edge_lines))

    def observe_lines(self, source: str, lines: list[str]) -> None:
        """:meth:`observe` for a body already split by :func:`body_lines` (all of them, or at
        least its first and last ``edge_lines``): cleaning splits every body anyway, and
        normalizing it twice cost a worker 5% of its time."""
        self.n_articles[source] += 1
        texts = _edge_texts(lines, self.edge_lines)
        keys = {template_key(text) for text in texts if len(text.split()) <= _MAX_BLOCK_WORDS}
        keys.discard("")
        self.counts.setdefault(source, Counter()).update(keys)

    def is_template(self, source: str, line: str) -> bool:
        """True if this line (or joined block of lines) recurs at the edges of ``source``'s articles."""
        key = template_key(line)
        if len(key) < _MIN_KEY_CHARS:
            return False
        n = self.counts.get(source, Counter()).get(key, 0)
        return n >= self.min_articles and n >= self.min_share * self.n_articles[source]

    def compact(self) -> TemplateStats:
        """A copy holding only the lines that already count as template: same ``is_template``
        answers, a tiny fraction of the size (it is sent to every worker with every batch)."""
        out = TemplateStats(min_articles=self.min_articles, min_share=self.min_share, edge_lines=self.edge_lines)
        out.n_articles = Counter(self.n_articles)
        for source, counter in self.counts.items():
            floor = max(self.min_articles, self.min_share * self.n_articles[source])
            kept = Counter({k: n for k, n in counter.items() if n >= floor})
            if kept:
                out.counts[source] = kept
        return out

    def without(self, other: TemplateStats) -> TemplateStats:
        """New statistics: these counts minus ``other``'s, where ``other`` counted some of the same
        articles (a batch less the records another batch published first). Keys and sources
        left with nothing are dropped, as if those articles had never been counted."""
        out = TemplateStats(**self.settings())
        for source, counter in self.counts.items():
            left = counter - other.counts.get(source, Counter())
            if left:
                out.counts[source] = left
        out.n_articles = self.n_articles - other.n_articles
        return out

    def merge(self, other: TemplateStats) -> TemplateStats:
        """Add another run's counts into this one (e.g. today's batch onto the warehouse's).

        Bounded: past ``MAX_TEMPLATE_KEYS`` keys the rarest are dropped (:meth:`forget_rarest`).
        """
        for source, counter in other.counts.items():
            self.counts.setdefault(source, Counter()).update(counter)
        self.n_articles.update(other.n_articles)
        self.forget_rarest(MAX_TEMPLATE_KEYS)
        return self

    def forget_rarest(self, max_keys: int) -> int:
        """Once more than ``max_keys`` keys are held, drop those seen at most ``t`` times, with
        ``t`` the smallest count that leaves at most half of ``max_keys`` (never ``min_articles``
        or more, so no key that may already be template is dropped). Returns ``t`` (0: nothing
        dropped).

        Why this is safe (lossy counting): a template line recurs at the edges of at least
        ``min_share`` of its source's articles, so between two prunes it is seen many times and
        survives them; a line dropped early restarts from zero and can lose at most ``t`` counts
        per prune, and only while it is still that rare. Halving rather than trimming to the cap
        keeps prunes rare (one per 35,000–40,000 synthetic articles, each dropping
        only keys seen once; 300,000 of them kept the same template keys and counts as exact
        counting).
        """
        total = sum(len(counter) for counter in self.counts.values())
        if total <= max_keys:
            return 0
        histogram = Counter(n for counter in self.counts.values() for n in counter.values())
        threshold, kept = 0, total
        while kept > max_keys // 2 and threshold + 1 < self.min_articles:
            threshold += 1
            kept -= histogram.get(threshold, 0)
        for source, counter in self.counts.items():
            self.counts[source] = Counter({key: n for key, n in counter.items() if n > threshold})
        return threshold

    def to_rows(self, min_articles: int = 2) -> list[tuple[str, str, int]]:
        """Rows ``(source, line_key, n_articles)`` for the warehouse.

        Keys seen in fewer than ``min_articles`` articles are left out: they are almost all
        unique article edges, and keeping them would make the table as large as the corpus.
        """
        return sorted(
            (source, key, n)
            for source, counter in self.counts.items()
            for key, n in counter.items()
            if n >= min_articles
        )

    @classmethod
    def from_rows(
        cls,
        rows: Iterable[tuple[str, str, int]],
        n_articles_by_source: dict[str, int],
        **params: float,
    ) -> TemplateStats:
        """Rebuild the statistics from persisted rows plus each source's article count."""
        stats = cls(**params)  # type: ignore[arg-type]
        for source, key, n in rows:
            stats.counts.setdefault(source, Counter())[key] += int(n)
        stats.n_articles.update(n_articles_by_source)
        return stats


def _edge_body_lines(body: str, edge: int) -> list[str]:
    """The first and last lines of :func:`body_lines` without normalizing the whole body.

    Learning reads every article of a source; normalizing only a margin of raw lines around each
    edge halves its cost and yields the same edge lines (the margin absorbs lines that
    normalization empties or splits).
    """
    raw = [line for line in body.splitlines() if line.strip()]
    margin = edge + 2
    if len(raw) <= 2 * margin:
        return body_lines(body)
    head = body_lines("\n".join(raw[:margin]))[:edge]
    tail = body_lines("\n".join(raw[-margin:]))[-edge:]
    return head + tail


def _edge_texts(lines: list[str], edge: int) -> Iterable[str]:
    """Single lines and joined runs of 2..edge lines at both ends of the article."""
    for k in range(1, min(edge, len(lines)) + 1):
        head, tail = lines[:k], lines[-k:]
        yield "\n".join(head)
        yield "\n".join(tail)
        yield lines[k - 1]
        yield lines[-k]


def strip_template_edges(
    lines: list[str], stats: TemplateStats, source: str
) -> tuple[list[str], list[RemovedLine]]:
    """Remove runs of template lines from the bottom, then the top, of the article.

    The walk stops at the first line that is not template, so a recurring sub-heading inside
    the article survives even if it also appears near an edge elsewhere.
    """
    removed_tail: list[RemovedLine] = []
    while lines:
        k = _template_run(lines, stats, source, from_top=False)
        if not k:
            break
        removed_tail[:0] = [RemovedLine(line, TEMPLATE) for line in lines[-k:]]
        lines = lines[:-k]
    removed_head: list[RemovedLine] = []
    while lines:
        k = _template_run(lines, stats, source, from_top=True)
        if not k:
            break
        removed_head.extend(RemovedLine(line, TEMPLATE) for line in lines[:k])
        lines = lines[k:]
    return lines, removed_head + removed_tail


def _template_run(lines: list[str], stats: TemplateStats, source: str, *, from_top: bool) -> int:
    """Length of the longest template block at one edge (0 if none)."""
    for k in range(min(stats.edge_lines, len(lines)), 0, -1):
        block = lines[:k] if from_top else lines[-k:]
        text = "\n".join(block)
        if len(text.split()) <= _MAX_BLOCK_WORDS and all(_templatable(line) for line in block) and stats.is_template(source, text):
            return k
    return 0


# --- the whole article ---------------------------------------------------------------------------


def _apply_rules(lines: list[str]) -> tuple[list[str], list[RemovedLine]]:
    """Drop rule-matched lines anywhere and cut wire sign-offs glued to the last sentence."""
    kept: list[str] = []
    removed: list[RemovedLine] = []
    for line in lines:
        reason = boilerplate_reason(line)
        if reason:
            removed.append(RemovedLine(line, reason))
            continue
        tail = _WIRE_SIGNOFF_TAIL.search(line)
        if tail:
            removed.append(RemovedLine(tail.group(0).strip(), WIRE_SIGNOFF))
            line = line[: tail.start()].rstrip()
        kept.append(line)
    return kept, removed


def clean_article(
    title: str | None,
    body: str,
    *,
    templates: TemplateStats | None = None,
    source: str | None = None,
    lines: list[str] | None = None,
) -> CleanedArticle:
    """Clean one article: display-normalize, drop boilerplate, keep every paragraph of content.

    ``title`` None means the input is a bare scrape whose first line is the headline. Per-source
    template removal runs only when both ``templates`` and ``source`` are given. The body comes
    back with one paragraph per source line, separated by exactly ``"\\n\\n"``. ``lines`` are
    ``body_lines(body)`` when the caller has them already (not for a bare scrape: its title is split off first).
    """
    if title is None:
        title, body, lines = *split_scrape(body), None
    title = normalize_display(title).replace("\n", " ")
    if lines is None:
        lines = body_lines(body)
    lines, removed = strip_repeated_headline(lines, title)
    lines, by_rule = _apply_rules(lines)
    removed += by_rule
    if templates is not None and source is not None:
        lines, by_template = strip_template_edges(lines, templates, source)
        removed += by_template
    return CleanedArticle(title=title, body="\n\n".join(lines), removed=removed)
