"""Dates in Arabic (and English/French) news: parse one string, find mentions in a text.

Arabic outlets name Gregorian months in two traditions (فبراير in Egypt and the Gulf, شباط in the
Levant and Iraq, often both: «6 فبراير / شباط 2021»), the Maghreb has its own (جانفي, أفريل,
جويلية), digits may be Arabic-Indic, and the order is day-first. A date is also often partial: a
month and year with no day. :class:`ParsedDate` keeps the precision next to the value so that a
month-only date is never mistaken for the 1st of that month.

Convention for ``value_utc``: with precision ``"datetime"`` it is the instant in UTC (naive times
are read in ``tz``). With a coarser precision it is the calendar date at 00:00 UTC **without** a
timezone shift (so ``.date()`` reads the date the text gave), the missing parts set to 1: «أبريل
2019» → 2019-04-01 with precision ``"month"``. Consumers must look at the precision before using
the day. ``value_utc`` is None when the text gives no year (e.g. «6 فبراير»).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Literal

import pytz

from akhbar.tasks.normalize import matching_key

Precision = Literal["datetime", "day", "month", "year"]


@dataclass(frozen=True)
class ParsedDate:
    """A date with how much of it the source actually stated."""

    value_utc: datetime | None
    precision: Precision
    original: str


@dataclass(frozen=True)
class DateMention:
    """A date found in a text; ``text[start:end] == self.text``."""

    start: int
    end: int
    text: str
    parsed: ParsedDate | None


# Month names, written in the folded form produced by _fold (hamza → ا, ة → ه, ى → ي, lower case).
_MONTH_NAMES: dict[int, tuple[str, ...]] = {
    1: ("يناير", "كانون الثاني", "جانفي", "january", "jan", "janvier", "janv"),
    2: ("فبراير", "شباط", "فيفري", "february", "feb", "fevrier", "février", "fevr", "févr"),
    3: ("مارس", "اذار", "march", "mar", "mars"),
    4: ("ابريل", "نيسان", "افريل", "april", "apr", "avril", "avr"),
    5: ("مايو", "ايار", "ماي", "may", "mai"),
    6: ("يونيو", "يونيه", "حزيران", "جوان", "june", "jun", "juin"),
    7: ("يوليو", "يوليه", "تموز", "جويليه", "july", "jul", "juillet", "juil"),
    8: ("اغسطس", "اغسطوس", "اب", "اوت", "august", "aug", "aout", "août"),
    9: ("سبتمبر", "ايلول", "september", "sep", "sept", "septembre"),
    10: ("اكتوبر", "تشرين الاول", "october", "oct", "octobre"),
    11: ("نوفمبر", "تشرين الثاني", "november", "nov", "novembre"),
    12: ("ديسمبر", "كانون الاول", "december", "dec", "decembre", "décembre", "déc"),
}
_MONTH_BY_NAME = {name: month for month, names in _MONTH_NAMES.items() for name in names}
# Hijri months: recognised so a dateline is known as one, not converted (no calendar table here).
_HIJRI_MONTHS = (
    "محرم", "صفر", "ربيع الاول", "ربيع الثاني", "ربيع الاخر", "جمادي الاولي", "جمادي الاخره",
    "جمادي الثانيه", "رجب", "شعبان", "رمضان", "شوال", "ذو القعده", "ذي القعده", "ذو الحجه", "ذي الحجه",
)  # fmt: skip


def _alternation(names: list[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


_M = rf"(?:{_alternation(list(_MONTH_BY_NAME))})(?!\w)"
# "فبراير / شباط", "شباط (فبراير)", "July/juillet": both traditions naming one month.
_MONTH = rf"(?P<month>{_M})(?:\s*[/(\-–]\s*{_M}(?:\s*\))?)?"
_NB = r"(?<![\w.])"  # no letter/digit glued before a number
_NA = r"(?![\w%٪])"  # nor after: «80٪» or «2015x» is not a date part
_YEAR = rf"(?P<year>(?:1[89]|2[01])\d\d){_NA}(?!\s*ه(?!\w))"  # Gregorian range; «1436 هـ» is Hijri
# Start of a word, also after a one-letter proclitic: «وعام 2015», «بأبريل 2019».
_WORD_START = r"(?:(?<!\w)|(?<=[وفبل])(?<!\w[وفبل]))"
_DAY = rf"{_NB}(?P<day>[0-3]?\d)(?:st|nd|rd|th|er)?"
_TIME = r"(?:[t ,]\s*(?P<hh>[0-2]?\d):(?P<mi>[0-5]\d)(?::(?P<ss>[0-5]\d))?(?:\.\d+)?\s*(?P<tzd>z|[+-]\d\d:?\d\d)?)?"

_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(rf"{_NB}(?P<year>\d{{4}})-(?P<mon>[01]?\d)-(?P<day>[0-3]?\d){_TIME}(?![\d])")),
    ("ymd", re.compile(rf"{_NB}(?P<year>\d{{4}})[/.](?P<mon>[01]?\d)[/.](?P<day>[0-3]?\d){_NA}")),
    ("dmy", re.compile(rf"{_NB}(?P<day>[0-3]?\d)[/.\-](?P<mon>[01]?\d)[/.\-](?P<year>\d{{4}}){_NA}")),
    ("day_month", re.compile(rf"{_DAY}\s*(?:من\s+|de\s+|of\s+)?{_MONTH}(?:\s*,?\s*(?:عام|سنه)?\s*{_YEAR})?")),
    ("month_day", re.compile(rf"{_WORD_START}{_MONTH}\.?\s+(?P<day>[0-3]?\d)(?:st|nd|rd|th)?,?\s+{_YEAR}")),
    ("month_year", re.compile(rf"{_WORD_START}{_MONTH}\s*,?\s*(?:من\s+)?(?:عام|سنه|العام)?\s*{_YEAR}")),
    ("year", re.compile(rf"{_WORD_START}(?:عام|العام|سنه|لعام|العام الميلادي|year|in|en|annee|année)\s+{_YEAR}")),
    ("year", re.compile(rf"{_NB}{_YEAR}\s*م(?!\w)")),  # «2015م»: the Gregorian marker
]

_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_FOLD = str.maketrans(
    {
        "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ئ": "ي", "ؤ": "و", "ة": "ه",
        **{chr(0x0660 + d): str(d) for d in range(10)},
        **{chr(0x06F0 + d): str(d) for d in range(10)},
        "٪": "%",
    }
)  # fmt: skip


_PRESENTATION = re.compile("[\ufb50-\ufeff]")
_FOLD_PAIRS = tuple((chr(k), str(v) if isinstance(v, str) else chr(v)) for k, v in _FOLD.items())


def _fold_fast(text: str) -> str:
    """The same fold for text with nothing to drop or expand: one replace per folded char."""
    for src, dst in _FOLD_PAIRS:
        if src in text:
            text = text.replace(src, dst)
    return text.lower()


def _fold(text: str) -> tuple[str, list[int]]:
    """Fold text for matching and keep, for each folded char, the index of its source char.

    Mentions must carry offsets into the original text, and folding changes lengths (harakat
    dropped, presentation forms expanded), so the map is built char by char.
    """
    if not _PRESENTATION.search(text):
        # Common case: only harakat/tatweel to drop. Copy the runs between them (C speed).
        kept: list[str] = []
        index: list[int] = []
        pos = 0
        for m in _DIACRITICS.finditer(text):
            kept.append(text[pos:m.start()])
            index.extend(range(pos, m.start()))
            pos = m.end()
        kept.append(text[pos:])
        index.extend(range(pos, len(text)))
        folded = _fold_fast("".join(kept))
        if len(folded) == len(index):
            return folded, index
    out: list[str] = []
    index: list[int] = []
    for i, ch in enumerate(text):
        if _DIACRITICS.match(ch):
            continue
        folded = unicodedata.normalize("NFKC", ch) if "\ufb50" <= ch <= "\ufeff" else ch
        folded = folded.translate(_FOLD).lower()
        out.append(folded)
        index.extend([i] * len(folded))
    return "".join(out), index


def has_month_name(text: str) -> bool:
    """True if a month name (Gregorian of any tradition, or Hijri) stands next to a number.

    Used by cleaning to recognise datelines («الرياض 26 شوال 1436 هـ الموافق 11 أغسطس 2015 م»),
    which recur in shape across a source but carry the story's place and date.
    """
    if not _ANY_DIGIT.search(text):
        return False
    return bool(_DATELINE_MONTH.search(matching_key(text)))


_ANY_DIGIT = re.compile(r"\d")
_ANY_MONTH = _alternation(list(_MONTH_BY_NAME) + list(_HIJRI_MONTHS))
_DATELINE_MONTH = re.compile(rf"\d\s*(?:{_ANY_MONTH})(?!\w)|(?<!\w)(?:{_ANY_MONTH})\s*\d")


class _Spans:
    """Non-empty, pairwise disjoint spans, kept sorted: an overlap test is two bisections.

    Why: the test was a scan over every span taken so far, for every pattern match, which is
    quadratic in the dates of an article (tables of fixtures or prices hold hundreds).
    Disjoint non-empty spans sorted by start are sorted by end too, so the only span that can
    overlap ``[s, e)`` is the first one ending after ``s``.
    """

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []

    def overlaps(self, s: int, e: int) -> bool:
        i = bisect.bisect_right(self.ends, s)
        return i < len(self.starts) and self.starts[i] < e and s < self.ends[i]

    def add(self, s: int, e: int) -> None:
        i = bisect.bisect_right(self.starts, s)
        self.starts.insert(i, s)
        self.ends.insert(i, e)


def find_date_mentions(text: str, *, tz: str = "Asia/Riyadh") -> list[DateMention]:
    """All date mentions in a text, longest match first where patterns overlap, in text order.

    A bare 4-digit number is a year only in a date context («في أبريل 2019», «عام 2015»,
    «2015م»); percentages and other numbers are never taken for years.
    """
    folded, index = _fold(text)
    taken = _Spans()
    mentions: list[DateMention] = []
    windows = _anchor_windows(folded)
    for kind, pattern in _PATTERNS:
        for m in _finditer_windows(pattern, folded, windows[_ANCHOR_OF[kind]]):
            s, e = m.span()
            if taken.overlaps(s, e):
                continue
            parsed = _from_match(kind, m, tz)
            if kind in ("iso", "ymd", "dmy") and parsed is None:
                continue  # 2015-13-45 is not a date, leave it
            start, end = index[s], index[e - 1] + 1
            taken.add(s, e)
            original = text[start:end]
            if parsed is not None:
                parsed = ParsedDate(parsed.value_utc, parsed.precision, original)
            mentions.append(DateMention(start, end, original, parsed))
    return sorted(mentions, key=lambda mention: mention.start)


def _trie_alternation(words: list[str]) -> str:
    """A regex matching exactly ``words``, factored by common prefixes («ي(?:ناير|ونيو|…)»).

    Why: tried as a flat alternation, every one of the 79 month names is attempted at every
    position of every article; the factored form rejects a position after one character. With the
    ``(?!\\w)`` that follows, at most one month name can match at a position (a name that is a prefix
    of another is always followed by a letter there), so the matches are the same ones
    (month anchors in 2,000 SaudiNewsNet bodies: 0.29 s → 0.12 s).
    """
    trie: dict[str, dict] = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        if len(alts) == 1 and "" not in node:
            return alts[0]
        return "(?:" + "|".join(alts) + ")" + ("?" if "" in node else "")

    return emit(trie)


# Each pattern can only match around its anchor (a month name, a 4-digit year, digits joined by a
# separator). Running the patterns only in windows around anchors keeps the work proportional to
# the dates in a text rather than to its length × the number of month names (5× faster here).
_ANCHORS = {
    "month": (re.compile(rf"{_trie_alternation(list(_MONTH_BY_NAME))}(?!\w)"), 16, 48),
    "year": (re.compile(r"(?:1[89]|2[01])\d\d"), 40, 8),
    "numeric": (re.compile(r"\d[/.\-]\d"), 12, 24),
}
_ANCHOR_OF = {"iso": "numeric", "ymd": "numeric", "dmy": "numeric", "day_month": "month", "month_day": "month",
              "month_year": "month", "year": "year"}


def _anchor_windows(folded: str) -> dict[str, list[tuple[int, int]]]:
    """Merged (start, end) windows around each anchor kind's hits."""
    out: dict[str, list[tuple[int, int]]] = {}
    for name, (anchor, before, after) in _ANCHORS.items():
        merged: list[tuple[int, int]] = []
        for m in anchor.finditer(folded):
            a, b = max(0, m.start() - before), min(len(folded), m.end() + after)
            if merged and a <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
            else:
                merged.append((a, b))
        out[name] = merged
    return out


def _finditer_windows(pattern: re.Pattern[str], text: str, windows: list[tuple[int, int]]):
    """Matches of ``pattern`` inside the windows (lookbehinds still see the text before a window)."""
    for a, b in windows:
        yield from pattern.finditer(text, a, b)


def _from_match(kind: str, m: re.Match[str], tz: str) -> ParsedDate | None:
    """Build a ParsedDate from one regex match, or None if the numbers are not a valid date."""
    groups = m.groupdict()
    year = int(groups["year"]) if groups.get("year") else None
    if "month" in groups and groups["month"]:
        month = _MONTH_BY_NAME[groups["month"].strip()]
    elif groups.get("mon"):
        month = int(groups["mon"])
    else:
        month = None
    day = int(groups["day"]) if groups.get("day") else None
    if kind == "dmy" and month is not None and day is not None and month > 12 >= day:
        day, month = month, day  # US order 07/21/2015: only when day-first is impossible
    if groups.get("hh"):
        return _datetime(year, month, day, groups, tz, m.group(0))
    precision: Precision = "day" if day else "month" if month else "year"
    if year is None:
        return ParsedDate(None, precision, m.group(0)) if _valid(2000, month or 1, day or 1) else None
    if not _valid(year, month or 1, day or 1):
        return None
    return ParsedDate(datetime(year, month or 1, day or 1, tzinfo=timezone.utc), precision, m.group(0))


def _valid(year: int, month: int, day: int) -> bool:
    try:
        datetime(year, month, day)
    except ValueError:
        return False
    return True


def _datetime(
    year: int | None, month: int | None, day: int | None, groups: dict[str, str | None], tz: str, original: str
) -> ParsedDate | None:
    if year is None or month is None or day is None:
        return None
    try:
        local = datetime(year, month, day, int(groups["hh"] or 0), int(groups["mi"] or 0), int(groups["ss"] or 0))
    except ValueError:
        return None
    tzd = groups.get("tzd")
    if tzd:
        aware = datetime.fromisoformat(local.isoformat() + ("+00:00" if tzd == "z" else _colon(tzd)))
    else:
        aware = pytz.timezone(tz).localize(local)
    return ParsedDate(aware.astimezone(timezone.utc), "datetime", original)


def _colon(offset: str) -> str:
    return offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"


_RFC2822_HINT = re.compile(r"^\s*(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d\d:\d\d")


def parse_date(s: str, *, tz: str = "Asia/Riyadh") -> ParsedDate | None:
    """Parse one date string (metadata field, URL piece, dateline); None if it holds no date.

    Tries RFC 2822 (feeds), then ISO and the free-text patterns of :func:`find_date_mentions`,
    taking the first mention found.
    """
    if not s or not s.strip():
        return None
    original = s.strip()
    if _RFC2822_HINT.match(original):
        try:
            value = parsedate_to_datetime(original)
        except (TypeError, ValueError):
            value = None
        if value is not None:
            if value.tzinfo is None:
                value = pytz.timezone(tz).localize(value)
            return ParsedDate(value.astimezone(timezone.utc), "datetime", original)
    mentions = [m for m in find_date_mentions(original, tz=tz) if m.parsed is not None]
    if not mentions:
        return None
    parsed = mentions[0].parsed
    assert parsed is not None
    return ParsedDate(parsed.value_utc, parsed.precision, original)


_URL_DATE = [
    re.compile(r"/(?P<year>(?:19|20)\d\d)[/\-_](?P<mon>[01]?\d)[/\-_](?P<day>[0-3]?\d)(?=[/\-_.]|$)"),
    re.compile(r"/(?P<year>(?:19|20)\d\d)(?P<mon>[01]\d)(?P<day>[0-3]\d)(?=[/\-_.]|$)"),
    re.compile(r"/(?P<year>(?:19|20)\d\d)/(?P<mon>[01]?\d)(?=/)"),
]


def date_from_url(url: str) -> ParsedDate | None:
    """Date encoded in a URL path: /2015/07/21/, /2015-07-21-slug, /20150721/, or /2015/07/ (month)."""
    for pattern in _URL_DATE:
        m = pattern.search(url)
        if m:
            year, month = int(m["year"]), int(m["mon"])
            day = int(m.groupdict().get("day") or 0)
            if _valid(year, month, day or 1):
                precision: Precision = "day" if day else "month"
                return ParsedDate(datetime(year, month, day or 1, tzinfo=timezone.utc), precision, m.group(0))
    return None


_DATELINE_CHARS = 600  # a dateline sits in the first lines; a date further down is about the story


def publication_date(meta: str | None, url: str | None, text: str | None, *, tz: str = "Asia/Riyadh") -> ParsedDate | None:
    """Best publication date: metadata, else the URL, else the text's first dateline.

    Ordered by reliability: metadata is written by the CMS, the URL by the CMS at publishing
    time, while a date in the text may be the date of the event.
    """
    if meta:
        parsed = parse_date(meta, tz=tz)
        if parsed and parsed.value_utc is not None:
            return parsed
    if url:
        parsed = date_from_url(url)
        if parsed:
            return parsed
    if text:
        for mention in find_date_mentions(text[:_DATELINE_CHARS], tz=tz):
            p = mention.parsed
            if p and p.value_utc is not None and p.precision in ("datetime", "day"):
                return p
    return None
