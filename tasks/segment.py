"""Paragraphs and sentences of a cleaned body, as character offsets into it.

Offsets rather than copies: entities, quotes and search hits found later are stored as spans of
``body``, and a sentence table that points into the same string lets them be joined without
re-splitting (and without the two splits ever disagreeing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Sentence:
    """``body[start:end]`` is the sentence, stripped; indexes count from 0 within the body / paragraph."""

    start: int
    end: int
    paragraph_index: int
    sentence_index: int


# A boundary candidate: a run of terminal punctuation plus closing quotes/brackets, then a space
# or the end of the line. "3.5", "U.S.A" and "www.spa.gov.sa" have no space after the dot.
_TERMINAL = re.compile(r"(?:\.{2,}|…+|[.!?؟;؛]+)[\"'”’»)\]]*(?=\s|$)")
_LINE = re.compile(r"[^\n]+")

# Titles and Latin abbreviations that end in a dot inside a sentence. Arabic ones are almost all a
# single letter («د.» doctor, «م.» engineer, «أ.د.» professor), handled by the initials rule.
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st jr sr vs etc e.g i.e no nos gen col lt maj capt sgt gov sen rep rev inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec mt ft approx dept est fig vol p pp ph.d m.d b.a m.a "
    "mme mlle cf av apr. ج ص".split()
)
_INITIALS = re.compile(r"^(?:\w\.)*\w$")  # «د», «أ.د», "U.S", "J"
_PROCLITICS = "وفبل"
_ERA_AFTER_NUMBER = re.compile(r"\d\s*$")  # «2015 م.» / «1436 هـ.» end sentences


def segment(body: str) -> list[Sentence]:
    """Split into paragraphs at line breaks, then into sentences at . ! ? ؟ … ; (abbreviation-aware)."""
    sentences: list[Sentence] = []
    for p_index, line in enumerate(m for m in _LINE.finditer(body) if m.group(0).strip()):
        spans = _sentence_spans(body, line.start(), line.end())
        sentences.extend(Sentence(s, e, p_index, i) for i, (s, e) in enumerate(spans))
    return sentences


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Stripped sentence spans within text[start:end] (one line)."""
    spans: list[tuple[int, int]] = []
    cursor = start
    for m in _TERMINAL.finditer(text, start, end):
        single_dot = m.group(0).startswith(".") and not m.group(0).startswith("..")
        if single_dot and (_is_abbreviation(text, start, m.start()) or _continues_lowercase(text, m.end(), end)):
            continue
        spans.append((cursor, m.end()))
        cursor = m.end()
    spans.append((cursor, end))
    return [s for s in (_strip(text, a, b) for a, b in spans) if s[0] < s[1]]


def _is_abbreviation(text: str, line_start: int, dot: int) -> bool:
    """True if the dot at ``dot`` closes an abbreviation or an initial, not a sentence."""
    before = text[line_start:dot]
    token = before.rsplit(None, 1)[-1] if before.strip() else ""
    token = token.lstrip("(«\"'“[").casefold()
    if not token:
        return False
    if token in _ABBREVIATIONS:
        return True
    if len(token) > 1 and token[0] in _PROCLITICS and _INITIALS.match(token[1:]):
        token = token[1:]  # «وأ.د.», «وم.»: the conjunction is written joined to the title
    if _INITIALS.match(token) and not token.isdigit():
        # a lone «م» or «هـ» after a number is the era marker closing a date, often sentence-final
        rest = before[: len(before) - len(token)]
        return not (len(token) <= 2 and _ERA_AFTER_NUMBER.search(rest))
    return False


def _continues_lowercase(text: str, pos: int, end: int) -> bool:
    """In Latin text a sentence never starts lower case: "approx. two" continues the sentence."""
    rest = text[pos:end].lstrip()
    return bool(rest) and rest[0].isascii() and rest[0].islower()


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
