"""Numeric mentions (PERCENT, MONEY, NUMBER) in Arabic news text, with a normalized value.

Why a separate, rule-based module: numbers in Arabic news follow a small closed grammar (digits
in two scripts, scale words ألف/مليون/مليار, a handful of percent phrasings and currency words),
so rules are both more precise and much cheaper than asking the CRF NER to learn them. Values are
normalized (``«5 ملايين دولار»`` → 5_000_000.0, ``USD``) so the warehouse can aggregate them.

Design choices:

* Offsets always point into the *original* text (``text[start:end] == mention.text``); digits
  are folded to ASCII only for parsing, never in the returned text.
* A percent is never a year: ``«80٪»`` and ``«2020 بالمئة»`` are PERCENT whatever the number.
* Dates are found by another module; their spans are passed as ``exclude`` and any candidate
  overlapping them is dropped, so «6 فبراير» or «أبريل 2019» are not double counted.
* Ambiguous currencies keep ``unit=None`` rather than guess (a plain «دينار» could be any of
  seven currencies); a vague amount («ملايين الدولارات») keeps ``value=None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Literal

NumericLabel = Literal["PERCENT", "MONEY", "NUMBER"]


@dataclass(frozen=True, slots=True)
class NumericMention:
    """One numeric expression; ``value`` is the normalized quantity (a percent stays 0–100)."""

    start: int
    end: int
    text: str
    label: NumericLabel
    value: float | None
    unit: str | None  # ISO 4217 code for MONEY, "%" for PERCENT, None for NUMBER


_DIGIT = "0-9\u0660-\u0669\u06f0-\u06f9"
_DIGITS_TO_ASCII = str.maketrans(
    {**{chr(0x0660 + d): str(d) for d in range(10)}, **{chr(0x06F0 + d): str(d) for d in range(10)}}
)
_AR_LETTER = "\u0621-\u064a\u0671-\u06d3"
# A number: digit groups joined by . , ٫ ٬ (thousands or decimal, decided when parsing).
_NUM = rf"[{_DIGIT}]+(?:[.,\u060c\u066b\u066c][{_DIGIT}]+)*"  # \u060c «،» as in «2،5%»

# Scale words. The order inside each alternation puts longer forms first so the regex engine
# takes «ملايين» before «مليون»-like prefixes. Dual forms («مليونين», «ألفي») mean 2 × scale.
_SCALES: list[tuple[str, float, str]] = [
    # (pattern, multiplier, kind) kind: "sg" singular, "pl" plural (vague alone), "du" dual
    (r"تريليونات|ترليونات", 1e12, "pl"),
    (r"تريليونين|تريليونان|ترليونين", 1e12, "du"),
    (r"تريليون[اًا]*|ترليون[اًا]*", 1e12, "sg"),
    (r"مليارات|بلايين", 1e9, "pl"),
    (r"مليارين|ملياران|ملياري", 1e9, "du"),
    (r"مليار[اًا]*|بليون[اًا]*", 1e9, "sg"),
    (r"ملايين", 1e6, "pl"),
    (r"مليونين|مليونان|مليوني", 1e6, "du"),
    (r"مليون[اًا]*", 1e6, "sg"),
    (r"آلاف|الاف|ألوف|الوف", 1e3, "pl"),
    (r"ألفين|ألفان|ألفي|الفين|الفان", 1e3, "du"),
    (r"ألف[اًا]*|الف[اًا]*|آلف", 1e3, "sg"),
    (r"trillions?", 1e12, "sg"),
    (r"billions?|bn", 1e9, "sg"),
    (r"millions?|mn|m", 1e6, "sg"),
    (r"thousands?", 1e3, "sg"),  # no "k": «4K» is a resolution far more often than 4000
]
_SCALE_RES = [(re.compile(rf"(?:{p})(?![{_AR_LETTER}A-Za-z])", re.IGNORECASE), m, k) for p, m, k in _SCALES]
_SCALE_ANY = "|".join(f"(?:{p})" for p, _, _ in _SCALES)

# A numeric core: a number optionally followed by a scale word, or an Arabic scale word alone
# («مليار ريال»). Latin short scales (m, bn) only count directly after digits.
_SCALE_ALONE = (
    r"تريليونات|ترليونات|تريليونين|تريليونان|تريليون[اًا]*|ترليون[اًا]*|مليارات|بلايين|مليارين|ملياران|ملياري|"
    r"مليار[اًا]*|بليون[اًا]*|ملايين|مليونين|مليونان|مليوني|مليون[اًا]*|آلاف|ألوف|ألفين|ألفان|ألفي|ألف[اًا]*"
)
# Every match starts with a digit or with the first letter of a scale word. Saying so up front
# lets the engine skip all other positions before it tries the lookbehinds of both branches
# (the same matches, ~3.5x faster on SaudiNewsNet bodies: 0.62 s → 0.17 s for 2,000 articles).
_CORE_FIRST = _DIGIT + "".join(sorted({alt[0] for alt in _SCALE_ALONE.split("|")}))
_CORE = re.compile(
    rf"(?=[{_CORE_FIRST}])(?:"
    # Not glued to a word (F-16, G20, كوفيد-19), except a one-letter clitic: «و3 آلاف», «بـ5».
    rf"(?:(?<![{_AR_LETTER}A-Za-z{_DIGIT}\u0640])(?<![{_AR_LETTER}A-Za-z]-)"
    r"|(?<=(?<![^\s(«\"'])[وبلفك])|(?<=(?<![^\s(«\"'])[وبلفك]\u0640))"
    rf"(?P<num>{_NUM})(?:\s?(?P<scale>{_SCALE_ANY})(?![{_AR_LETTER}A-Za-z]))?(?(scale)|(?![A-Za-z{_DIGIT}]))"
    rf"|(?:(?<![{_AR_LETTER}])|(?<=(?<![^\s(«\"'])[وبلفك]))(?P<scale_alone>{_SCALE_ALONE})(?![{_AR_LETTER}])"
    r")",
    re.IGNORECASE,
)
# Latin short scales glued to digits: "3.5bn", "200m" (but not "10 m" = metres).
_SHORT_SCALE = re.compile(r"(?:bn|mn|m)$", re.IGNORECASE)

_PERCENT_AFTER = re.compile(
    r"\s?[%\u066a]|\s+(?:بال?مئة|بال?مائة|بالمية|في\s+ال?مئة|في\s+ال?مائة|في\s+المية|percent|per\s+cent|pct)"
    rf"(?![{_AR_LETTER}A-Za-z])",
    re.IGNORECASE,
)
_PERCENT_BEFORE = re.compile(r"[%\u066a]\s?$")  # "%80" as typed in right-to-left text

_CURRENCY_SYMBOL_BEFORE = re.compile(r"(?:US\$|\$|€|£|¥|USD|EUR|GBP)\s?$")
_SYMBOL_CODE = {"us$": "USD", "$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "usd": "USD", "eur": "EUR", "gbp": "GBP"}

_Q_USA = r"أمريكي|أميركي|امريكي|اميركي"
# Currency words that follow an amount: (word regex, default ISO code or None, qualifiers).
_CURRENCY_WORDS: list[tuple[str, str | None, list[tuple[str, str]]]] = [
    (r"(?:ال)?دولار(?:ات|اً|ا)?", "USD", [(_Q_USA, "USD"), ("كندي", "CAD"), ("أسترالي|استرالي", "AUD")]),
    (r"(?:ال)?يورو(?:هات)?", "EUR", []),
    (r"(?:ال)?جنيه(?:ات|اً|ا)?", "EGP", [("إسترليني|استرليني", "GBP"), ("مصري", "EGP"), ("سوداني", "SDG")]),
    (r"(?:ال)?ريال(?:ات|اً|ا)?", "SAR", [("سعودي", "SAR"), ("قطري", "QAR"), ("عماني|عُماني", "OMR"), ("يمني", "YER"), ("إيراني|ايراني", "IRR")]),
    (r"(?:ال)?دره?م(?:اً|ا)?|(?:ال)?دراهم", "AED", [("إماراتي|اماراتي", "AED"), ("مغربي", "MAD")]),
    (r"(?:ال)?دينار(?:اً|ا)?|(?:ال)?دنانير", None, [("كويتي", "KWD"), ("عراقي", "IQD"), ("أردني|اردني", "JOD"), ("ليبي", "LYD"), ("بحريني", "BHD"), ("جزائري", "DZD"), ("تونسي", "TND")]),
    (r"(?:ال)?ليرة|(?:ال)?ليرات", None, [("تركية", "TRY"), ("سورية", "SYP"), ("لبنانية", "LBP")]),
    (r"(?:ال)?روبل(?:اً|ا)?|(?:ال)?روبلات", "RUB", []),
    (r"(?:ال)?يوان(?:اً|ا)?", "CNY", []),
    (r"(?:ال)?ين\s+ياباني", "JPY", []),
    (r"(?:ال)?فرنك(?:اً|ا)?\s+سويسري", "CHF", []),
    (r"(?:ال)?أوقية|(?:ال)?أوقيات", "MRU", []),
    (r"US\s+dollars?|dollars?", "USD", []),
    (r"euros?", "EUR", []),
    (r"pounds?\s+sterling|pounds?|sterling", "GBP", []),
    (r"riyals?", "SAR", []),
    (r"dirhams?", "AED", []),
    (r"roubles?|rubles?", "RUB", []),
    (r"yuan", "CNY", []),
    (r"USD|EUR|GBP|SAR|AED|EGP|QAR|KWD|TRY|RUB|CNY|JPY", "", []),  # code itself; "" = use the match
]
_CURRENCY_RES = [
    (
        re.compile(rf"\s+(?:{word})(?![{_AR_LETTER}A-Za-z])", re.IGNORECASE),
        code,
        [(re.compile(rf"\s+(?:ال)?(?:{q})(?:ة|ا|اً)?(?![{_AR_LETTER}])"), qcode) for q, qcode in quals],
    )
    for word, code, quals in _CURRENCY_WORDS
]


def _parse_number(raw: str) -> float | None:
    """Parse digits with ambiguous separators: ٬ is thousands, ٫ decimal, ',' and '.' by shape.

    "1,000,000" and "1.000.000" are thousands groups; "3,5" and "3.5" are decimals (Arabic
    outlets write the decimal comma as often as the point).
    """
    s = raw.translate(_DIGITS_TO_ASCII).replace("\u066c", "").replace("\u066b", ".").replace("\u060c", ",")
    if "," in s and "." in s:  # both present: the last one is the decimal separator
        if s.rfind(",") > s.rfind("."):
            s = s.replace(".", "").replace(",", ".")
        else:
            s = s.replace(",", "")
    elif "," in s:
        s = s.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+", s) else s.replace(",", ".")
    elif s.count(".") > 1:
        s = s.replace(".", "") if re.fullmatch(r"\d{1,3}(?:\.\d{3})+", s) else s
    try:
        return float(s)
    except ValueError:
        return None


def _scale_of(word: str) -> tuple[float, str]:
    for rx, mult, kind in _SCALE_RES:
        if rx.fullmatch(word):
            return mult, kind
    return 1.0, "sg"


def _overlaps(start: int, end: int, spans: Iterable[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def find_numeric_mentions(text: str, exclude: Iterable[tuple[int, int]] = ()) -> list[NumericMention]:
    """Find PERCENT, MONEY and NUMBER mentions in ``text``, skipping spans overlapping ``exclude``.

    Mentions are returned sorted by start offset and never overlap each other.
    """
    excluded = sorted(exclude)
    out: list[NumericMention] = []
    for m in _CORE.finditer(text):
        start, end = m.start(), m.end()
        value: float | None
        if m.group("num") is not None:
            value = _parse_number(m.group("num"))
            scale = m.group("scale")
            if scale:
                if _SHORT_SCALE.fullmatch(scale) and m.end("num") != m.start("scale"):
                    # "10 m" is ten metres, not ten million: short scales must be glued.
                    end = m.end("num")
                else:
                    mult, _kind = _scale_of(scale)
                    value = value * mult if value is not None else None
        else:
            mult, kind = _scale_of(m.group("scale_alone"))
            value = {"sg": mult, "du": 2 * mult}.get(kind)  # plural alone («ملايين») is vague
        label: NumericLabel = "NUMBER"
        unit: str | None = None

        head = text[max(0, start - 5) : start]
        sym = _CURRENCY_SYMBOL_BEFORE.search(head)
        pct_before = _PERCENT_BEFORE.search(head)
        pct_after = _PERCENT_AFTER.match(text, end)
        if pct_after or pct_before:
            label, unit = "PERCENT", "%"
            if pct_after:
                end = pct_after.end()
            else:
                start -= len(pct_before.group(0))  # type: ignore[union-attr]
        elif sym:
            label, unit = "MONEY", _SYMBOL_CODE[sym.group(0).strip().lower()]
            start -= len(sym.group(0))
        else:
            for rx, code, quals in _CURRENCY_RES:
                cm = rx.match(text, end)
                if not cm:
                    continue
                label, end = "MONEY", cm.end()
                unit = cm.group(0).strip().upper() if code == "" else code
                for qrx, qcode in quals:
                    qm = qrx.match(text, end)
                    if qm:
                        unit, end = qcode, qm.end()
                        break
                break
        if label == "NUMBER" and m.group("num") is None and value is None:
            continue  # «ملايين» alone with no currency: too vague to be worth a mention
        if excluded and _overlaps(start, end, excluded):
            continue
        if out and start < out[-1].end:
            continue
        out.append(NumericMention(start, end, text[start:end], label, value, unit))
    return out
