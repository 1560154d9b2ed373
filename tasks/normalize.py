"""Unicode normalization for Arabic news text: one form for display, one key for matching.

Two different jobs need two different strings. Readers must see the text as the outlet wrote it
(diacritics, hamza spelling and ة kept), only repaired where the bytes were a rendering artefact
(presentation forms, tatweel, stray spaces before punctuation). Dedup, search and entity linking
need the opposite: one key under which every spelling variant of a word collides. Keeping both in
the warehouse (``body`` and ``match_key``) means neither job compromises the other.
"""

from __future__ import annotations

import re
import unicodedata

TATWEEL = "\u0640"

# Arabic presentation forms (FB50–FDFF, FE70–FEFF) are glyph codes from legacy renderers; NFKC maps
# them back to letters. NFKC on the whole text would also fold things readers care about (e.g. ²,
# ﬁ, full-width forms), so it is applied to these blocks only.
_PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufefe]+")

# Invisible characters that scrapers leave behind and that carry no meaning in Arabic news text.
# ZWNJ (U+200C) is kept: Persian and Urdu spell with it. Bidi marks (LRM/RLM) are kept too, since
# they decide how mixed Arabic/Latin runs display.
_INVISIBLE_RE = re.compile("[\u200b\ufeff\u00ad\u2060]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t\u00a0]+([،؛؟,;:!?](?!\d))")
_SPACE_BEFORE_PERIOD = re.compile(r"(?<=\w)[ \t\u00a0]+\.(?=\s|$)")
_BLANK_LINES = re.compile(r"\n{3,}")

# Harakat, tanwin, shadda, sukun, superscript alef and Quranic annotation marks.
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]")
_FOLD = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ٲ": "ا",
        "ٳ": "ا",
        "ؤ": "و",
        "ئ": "ي",
        "ى": "ي",
        "ی": "ي",  # Persian yeh, common in scraped Arabic
        "ک": "ك",  # Persian keheh
        "ة": "ه",
        TATWEEL: None,
        **{chr(0x0660 + d): str(d) for d in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + d): str(d) for d in range(10)},  # Extended (Persian) digits
        "٪": "%",
        "٫": ".",
        "٬": ",",
    }
)
_WS = re.compile(r"\s+")


def _pairs(table: dict[int, int | str | None]) -> tuple[tuple[str, str], ...]:
    return tuple((chr(k), "" if v is None else chr(v) if isinstance(v, int) else v) for k, v in table.items())


# str.translate with a dict looks every character up in Python objects; on Arabic text that is
# ~25x slower than one str.replace per folded character (measured on SaudiNewsNet bodies,
# 740 µs vs 29 µs per article), and the output is identical.
_FOLD_PAIRS = _pairs(_FOLD)


def fold_chars(text: str) -> str:
    """Apply the matching fold table (hamza/alef, ى, ة, digits, tatweel) character by character."""
    for src, dst in _FOLD_PAIRS:
        if src in text:
            text = text.replace(src, dst)
    return text


def _nfkc_match(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group(0))


def normalize_line(line: str) -> str:
    """Normalize one line for display: the faithful text with rendering artefacts removed."""
    line = _PRESENTATION_FORMS.sub(_nfkc_match, line)
    line = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", line)).replace(TATWEEL, "")
    line = _SPACES.sub(" ", line)
    line = _SPACE_BEFORE_PUNCT.sub(r"\1", line)
    line = _SPACE_BEFORE_PERIOD.sub(".", line)
    return line.strip()


def normalize_display(text: str) -> str:
    """Normalize a multi-line text for display, keeping paragraph breaks (blank lines) intact.

    Line endings are unified to ``\\n``; each line goes through :func:`normalize_line`; runs of
    blank lines collapse to one so paragraphs stay separated by exactly one empty line.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n\n")
    lines = [normalize_line(line) for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def matching_key(text: str) -> str:
    """Fold spelling variation away so that variants of the same text compare equal.

    Diacritics and tatweel removed, alef/hamza forms unified, ى→ي and ة→ه folded, Arabic-Indic
    digits → ASCII, Latin case-folded, whitespace folded to single spaces. Used for exact dedup
    (hashing), full-text search and entity linking; never shown to readers.
    """
    text = _PRESENTATION_FORMS.sub(_nfkc_match, text)
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text))
    text = fold_chars(_DIACRITICS.sub("", text)).casefold()
    return _WS.sub(" ", text).strip()
