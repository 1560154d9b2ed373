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
# Only runs that the substitution changes: a lone " " already is what it would become, and
# matching (and re-inserting) every word's space was a third of normalize_line's time.
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]{2,}|[\t\u00a0\u2000-\u200a\u202f\u205f\u3000]")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t\u00a0]+([،؛؟,;:!?](?!\d))")
# The lookahead lets the engine skip positions that are no space before it tries the lookbehind.
_SPACE_BEFORE_PERIOD = re.compile(r"(?=[ \t\u00a0])(?<=\w)[ \t\u00a0]+\.(?=\s|$)")
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


# Words of plain Arabic letters (hamza forms, ى and ة included), digits and ASCII letters, joined by
# single spaces: nothing in them is a presentation form, invisible, a diacritic or a combining mark
# (so NFC leaves them as they are) and there is no whitespace to fold, so their matching key is just
# a per-character fold. Most word types and n-grams of Arabic news are of this shape.
_PLAIN_WORDS = re.compile(
    "[\u0621-\u063a\u0641-\u064a0-9A-Za-z\u0660-\u0669\u06f0-\u06f9]+"
    "(?: [\u0621-\u063a\u0641-\u064a0-9A-Za-z\u0660-\u0669\u06f0-\u06f9]+)*"
)
_PLAIN_FOLD = str.maketrans({**_FOLD, **{chr(c): chr(c + 32) for c in range(ord("A"), ord("Z") + 1)}})


def plain_matching_key(text: str) -> str | None:
    """:func:`matching_key` of a text of plain words (see ``_PLAIN_WORDS``), None for any other text.

    The result holds only undecomposable Arabic letters, ASCII digits/lower-case letters and single
    spaces, which also lets ``linking.mkey`` skip its accent folding. Why: the entity linker keys
    ~100k new word types and n-grams per 2,000 articles; one translate instead of five regex
    passes, NFC and 32 replaces makes a word's key ~4x cheaper.
    """
    if _PLAIN_WORDS.fullmatch(text):
        return text.translate(_PLAIN_FOLD)
    return None


def matching_key(text: str) -> str:
    """Fold spelling variation away so that variants of the same text compare equal.

    Diacritics and tatweel removed, alef/hamza forms unified, ى→ي and ة→ه folded, Arabic-Indic
    digits → ASCII, Latin case-folded, whitespace folded to single spaces. Used for exact dedup
    (hashing), full-text search and entity linking; never shown to readers.
    """
    if len(text) < 64 and (key := plain_matching_key(text)) is not None:
        return key
    text = _PRESENTATION_FORMS.sub(_nfkc_match, text)
    text = _INVISIBLE_RE.sub("", unicodedata.normalize("NFC", text))
    text = fold_chars(_DIACRITICS.sub("", text)).casefold()
    # Whitespace runs to one space, ends stripped: str.split's whitespace is exactly regex \s (checked
    # on every code point), and splitting is 2.5x faster than re.sub(r"\s+", " ", …) on bodies.
    return " ".join(text.split())
