"""Entity linking: map NER mentions (PER/LOC/ORG spans) to stable entity ids.

Why this shape:

* Arabic news spells the same name many ways (hamza, ة/ه, ى/ي, غ/ج for a foreign G, a dropped
  final vowel: شويغو/شويغ) and glues clitics onto it (لروسيا, واليونان, بموسكو). All lookups
  therefore happen in *matching-key space* (``normalize.matching_key`` plus Latin accent folding),
  where most spelling variation has already collided, and only the rest is handled here.
* Reference data (hand-reviewed seeds, CLDR countries, GeoNames cities) is loaded once per run into
  dicts keyed by matching key, so the common case — an exact alias — is one dict lookup; results
  that do not depend on the document are cached per surface form (31k articles per run).
* Unknown entities get ids derived from type + canonical key ("ak:" + hash), so two runs that see
  the same name produce the same id without a shared counter or a database round trip.
* The linker never silently rewrites history: when evidence shows that a discovered entity is the
  same as another one (a reference entity, or the fuller name in a document), it records an
  :class:`EntityMerge` that the warehouse can apply and audit.

Resolution order for one mention: (a) exact alias, (a') clitic/honorific-stripped alias,
(b) partial name → fuller name in the same document, (c) fuzzy variant within a blocking bucket,
(d) a new, stable, discovered entity.
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Literal, Mapping, Protocol, Sequence

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from akhbar.tasks.normalize import matching_key, plain_matching_key

EntityType = Literal["PER", "LOC", "ORG"]
Origin = Literal["reference", "country", "city", "discovered"]
LinkMethod = Literal["alias", "clitic", "doc-variant", "fuzzy", "new"]

ENTITY_TYPES: frozenset[str] = frozenset({"PER", "LOC", "ORG"})
SEEDS_FILE = "entities.csv"

# Alias priorities: a hand-reviewed seed alias beats a CLDR country name, which beats a GeoNames
# alternate name, which beats a name discovered by this pipeline. Lower is stronger.
_PRIORITY: dict[str, int] = {"reference": 0, "country": 1, "city": 2, "discovered": 3}


class MentionLike(Protocol):
    """What the NER produces; a Protocol so this module does not import the NER while it evolves."""

    start: int
    end: int
    text: str
    label: str
    confidence: float
    method: str


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """One row of the ``entities`` table.

    ``aliases`` are extra surface forms beyond ``name_ar``/``name_en`` (which are aliases too).
    """

    entity_id: str
    type: str
    name_ar: str | None
    name_en: str | None
    wikidata_id: str | None = None
    geonames_id: int | None = None
    iso_code: str | None = None
    aliases: tuple[str, ...] = ()
    origin: str = "discovered"

    def names(self) -> tuple[str, ...]:
        """All surface forms of the entity, display names first."""
        return tuple(n for n in (self.name_ar, self.name_en, *self.aliases) if n)

    def to_row(self) -> dict[str, object]:
        """Warehouse row; aliases as a list (a DuckDB ``VARCHAR[]``)."""
        return {
            "entity_id": self.entity_id,
            "type": self.type,
            "name_ar": self.name_ar,
            "name_en": self.name_en,
            "wikidata_id": self.wikidata_id,
            "geonames_id": self.geonames_id,
            "iso_code": self.iso_code,
            "aliases": list(self.aliases),
            "origin": self.origin,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, object]) -> "EntityRecord":
        """Inverse of :meth:`to_row`; also accepts CSV rows (pipe-separated aliases, '' as null)."""

        def opt(name: str) -> str | None:
            v = row.get(name)
            return None if v is None or v == "" else str(v)

        aliases = row.get("aliases") or ()
        if isinstance(aliases, str):
            aliases = [a for a in aliases.split("|")]
        gid = opt("geonames_id")
        return cls(
            entity_id=str(row["entity_id"]),
            type=str(row["type"]),
            name_ar=opt("name_ar"),
            name_en=opt("name_en"),
            wikidata_id=opt("wikidata_id"),
            geonames_id=int(gid) if gid else None,
            iso_code=opt("iso_code"),
            aliases=tuple(a.strip() for a in aliases if a and str(a).strip()),  # type: ignore[union-attr]
            origin=opt("origin") or "reference",
        )


@dataclass(frozen=True, slots=True)
class LinkedMention:
    """One row of the ``entity_mentions`` table (plus the document id the caller adds)."""

    start: int
    end: int
    surface: str
    label: str
    entity_id: str
    normalized: str
    method: str
    confidence: float


@dataclass(frozen=True, slots=True)
class EntityMerge:
    """A recorded decision that ``from_id`` denotes the same entity as ``to_id``."""

    from_id: str
    to_id: str
    reason: str
    evidence: str


# ---------------------------------------------------------------------------------------------
# Keys and clitics
# ---------------------------------------------------------------------------------------------

_ARABIC_CHAR = re.compile(r"[\u0600-\u06ff]")
_PUNCT_DROP = str.maketrans({c: None for c in ".'’‘`ʼ\"«»()[]*!?؟"})
_PUNCT_SPACE = str.maketrans({c: " " for c in "-_/–—،,:;"})
_ABD = re.compile(r"(?:(?<=\s)|^)عبد (?=ال)")  # «عبد الحميد» and «عبدالحميد» are the same name


# Most keys asked for are n-grams seen once: 8,000 SaudiNewsNet records asked for 305,000 distinct
# keys, 57% of calls hit with 500,000 entries and 54% with 100,000. In a worker probe the smaller
# memo ended 29 MB lower after those records (~140 bytes an entry), at the same CPU time: full, the
# larger one holds ~70 MB in every process (flow and each worker), the smaller ~14 MB.
@lru_cache(maxsize=100_000)
def mkey(text: str) -> str:
    """Matching key used for every lookup: ``normalize.matching_key`` + Latin accents folded,
    punctuation dropped and «عبد ال…» joined, so "Choïgou" ~ "choigou" and "U.S." ~ "us"."""
    k = plain_matching_key(text)
    if k is not None:  # no punctuation, accents or extra spaces to fold (most word types and n-grams)
        return _ABD.sub("عبد", k) if "عبد " in k else k
    k = matching_key(text).translate(_PUNCT_DROP).translate(_PUNCT_SPACE)
    if not k.isascii():
        decomposed = unicodedata.normalize("NFD", k)
        k = "".join(c for c in decomposed if not (unicodedata.combining(c) and not _ARABIC_CHAR.match(c)))
        k = unicodedata.normalize("NFC", k)
    k = " ".join(k.split())
    return _ABD.sub("عبد", k)


# Proclitics, outermost first: conjunction (و ف), then preposition (ب ل ك). «لل» is ل + ال.
_CONJ = ("و", "ف")
_PREP = ("ب", "ل", "ك")
_MIN_STEM = 3  # never strip down to fewer letters than this
# The letters a key must start with for clitic_variants to find anything: a conjunction or a
# preposition («لل» starts with ل). Tested first, so a word without one costs a set lookup.
_CLITIC_FIRST = frozenset(_CONJ + _PREP)
# Word types memoised per linker by the reference pre-filters; past this the rest are computed each
# time (the caches live in every batch worker, whose memory should not grow with the corpus).
_CACHE_ENTRIES = 200_000

# Titles and generic heads that precede names; dropped only when the rest is a known name
# (or, for PER titles, a multi-word name).
_HONORIFICS: dict[str, tuple[str, ...]] = {
    "PER": tuple(
        mkey(t)
        for t in (
            "الرئيس", "الرئيسة", "الملك", "الملكة", "الأمير", "الأميرة", "الشيخ", "الشيخة", "السيد",
            "السيدة", "الدكتور", "الدكتورة", "المشير", "اللواء", "الفريق", "العقيد", "الجنرال",
            "الوزير", "الوزيرة", "السلطان", "العاهل", "الإمام", "آية الله", "ولي العهد", "سمو",
            "فخامة", "President", "King", "Prince", "Sheikh", "Mr", "Mrs", "Dr", "General",
        )
    ),
    "ORG": tuple(mkey(t) for t in ("حلف", "منظمة", "حركة", "جماعة", "تنظيم", "مجموعة", "شركة", "وكالة")),
    "LOC": tuple(mkey(t) for t in ("مدينة", "العاصمة", "دولة", "جمهورية", "مملكة", "إمارة")),
}


_HONORIFIC_HEADS: frozenset[str] = frozenset(h.split()[0] for hs in _HONORIFICS.values() for h in hs)


def _strip_leading(surface: str, n: int) -> str:
    """Drop ``n`` letters from the start of ``surface`` together with their diacritics/tatweel."""
    i = 0
    for _ in range(n):
        i += 1
        while i < len(surface) and (unicodedata.combining(surface[i]) or surface[i] == "\u0640"):
            i += 1
    return surface[i:]


def clitic_variants(surface: str) -> list[str]:
    """Surface forms with proclitics removed, least-stripped first; the input itself excluded.

    Works on the surface so the result keeps the outlet's spelling (hamza etc.); each variant is
    judged in key space by the caller.
    """
    s = surface.strip()
    k = mkey(s)
    out: list[str] = []
    if not k or k[0] not in _CLITIC_FIRST:  # no proclitic to strip (most words): nothing below applies
        return out

    def add(v: str) -> None:
        if len(mkey(v).replace(" ", "")) >= _MIN_STEM and v not in out:
            out.append(v)

    heads: list[tuple[str, str]] = [(s, k)]
    if k[0] in _CONJ:
        heads.append((_strip_leading(s, 1), k[1:]))
    for hs, hk in heads:
        if hs is not s:
            add(hs)
        if hk.startswith("لل") and len(hk) > 4:  # للناتو → الناتو
            rest = _strip_leading(hs, 2)
            add("ال" + rest)
        if hk and hk[0] in _PREP:
            add(_strip_leading(hs, 1))
    return out


def honorific_variant(surface: str, label: str) -> tuple[str, bool] | None:
    """``(remainder, strong)`` if the surface starts with a title/generic head for ``label``.

    ``strong`` means the remainder may be used even if unknown (a PER title before a multi-word
    name); otherwise the caller keeps it only when the remainder is a known alias.
    """
    k = mkey(surface)
    first = k.split(" ", 1)[0]
    if first not in _HONORIFIC_HEADS:
        return None
    for h in _HONORIFICS.get(label, ()):
        if k.startswith(h + " "):
            n_tokens = len(h.split())
            parts = surface.strip().split()
            if len(parts) <= n_tokens:
                return None
            rest = " ".join(parts[n_tokens:])
            return rest, (label == "PER" and len(parts) - n_tokens >= 2)
    return None


def _stem(token: str) -> str:
    return token[2:] if token.startswith("ال") and len(token) > 4 else token


def _variant_ok(a: str, b: str) -> bool:
    """Are two different keys spelling variants of one name? Deliberately strict.

    * identical once spaces are removed («أبو ظبي»/«أبوظبي»);
    * otherwise the same number of words, all equal but one; in that word (article removed) the
      first letter agrees and: stems under 4 letters never match; 4 letters only as a one-letter
      truncation/extension at the end (شويغ/شويغو); 5–6 letters one inserted/deleted letter
      (تايلند/تايلاند), never a substitution; 7–8 letters within one edit; 9+ within two. So «الخليج»≠«الخليل», «محمد الخامس»≠«محمد السادس».
    """
    if a.replace(" ", "") == b.replace(" ", ""):
        return True
    ta, tb = a.split(), b.split()
    if len(ta) != len(tb):
        return False
    diff = [(x, y) for x, y in zip(ta, tb) if x != y]
    if len(diff) != 1:
        return False
    x, y = (_stem(t) for t in diff[0])
    if not x or not y or x[0] != y[0]:
        return False
    n = min(len(x), len(y))
    if n < 4:
        return False
    if n == 4:
        return abs(len(x) - len(y)) == 1 and (x.startswith(y) or y.startswith(x))
    if n <= 6:  # a substitution in a short name is usually another name (بوسطن/بوسان, بورتو/بوردو)
        return abs(len(x) - len(y)) == 1 and Levenshtein.distance(x, y) == 1
    return Levenshtein.distance(x, y) <= (1 if n < 9 else 2)


def stable_id(label: str, canonical_key: str) -> str:
    """Deterministic id for a discovered entity: same type + canonical key → same id, every run."""
    return "ak:" + hashlib.sha1(f"{label}\x1f{canonical_key}".encode("utf-8")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# Linker
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Entity:
    record: EntityRecord
    country_code: str | None = None
    population: int = 0


@dataclass(frozen=True, slots=True)
class _Resolution:
    entity_id: str
    normalized: str
    method: str
    confidence: float


# Words after which the rest of a person's name is not a surname (bin, ibn, bint, abu/abi, umm,
# abd, and al- of a family, «آل»): «محمد بن سلمان», «أبو مازن», «فيصل آل سعود». As matching keys:
# hamza and madda folded, so «أبو» is «ابو» and «آل» is «ال».
_NAME_LINKS = frozenset({"بن", "ابن", "بنت", "ابو", "ابي", "ام", "عبد", "ال"})


@lru_cache(maxsize=1)
def _given_names() -> frozenset[str]:
    """Matching keys of the first names the NER learnt from its training split (models/per_first.txt)."""
    from akhbar.tasks.entities.gazetteer import read_set

    path = Path(__file__).parent / "models" / "per_first.txt"
    return frozenset(mkey(name) for name in read_set(path) if name.strip()) if path.exists() else frozenset()


def _is_given_name(words: list[str]) -> bool:
    """«عبد» and a divine name (one word once ``mkey`` joins «عبد ال…»), or one word of the first names."""
    return words[0] == "عبد" or words[0].startswith("عبدال") or (len(words) == 1 and words[0] in _given_names())


def _bucket_key(label: str, key: str) -> tuple[str, str, int]:
    body = key[2:] if key.startswith("ال") and len(key) > 4 else key
    return (label, body[:1], len(key))


@dataclass
class EntityLinker:
    """Links mentions to entity ids. Build once per run; :meth:`link_document` per article."""

    _entities: dict[str, _Entity] = field(default_factory=dict)
    _alias: dict[str, dict[str, int]] = field(default_factory=dict)  # key → {entity_id: priority}
    _buckets: dict[tuple[str, str, int], list[str]] = field(default_factory=dict)  # fuzzy blocks
    _bucket_gen: dict[tuple[str, str, int], int] = field(default_factory=dict)
    _redirect: dict[str, str] = field(default_factory=dict)
    _merges: list[EntityMerge] = field(default_factory=list)
    _new: dict[str, EntityRecord] = field(default_factory=dict)
    _static_cache: dict[tuple[str, str], tuple[object, ...]] = field(default_factory=dict)
    _ref_first: frozenset[str] | None = None
    _ref_buckets: dict[tuple, list[str]] | None = None
    _first_cache: dict[str, bool] = field(default_factory=dict)
    _surface_cache: dict[str, str | None] = field(default_factory=dict)

    # ---- construction ------------------------------------------------------------------------

    @classmethod
    def from_reference(cls, seeds_dir: Path, *, cities: bool = True) -> "EntityLinker":
        """Seeds (hand-reviewed) + CLDR countries + GeoNames cities, merged by ISO / GeoNames id."""
        from akhbar.tasks.entities.gazetteer_countries import city_entries, country_entries

        linker = cls()
        seeds = load_seed_records(Path(seeds_dir) / SEEDS_FILE)
        by_iso = {r.iso_code: r.entity_id for r in seeds if r.iso_code}
        by_gn = {r.geonames_id: r.entity_id for r in seeds if r.geonames_id and not r.iso_code}
        for rec in seeds:
            linker._put(rec, _PRIORITY["reference"])
        generated = list(country_entries()) + (list(city_entries()) if cities else [])
        for entry in generated:
            rec = entry.record
            target = by_iso.get(rec.iso_code) if rec.iso_code else by_gn.get(rec.geonames_id)
            prio = _PRIORITY[rec.origin]
            if target:  # the seed row IS this country/city: fold the generated names into it
                linker._absorb(target, rec, prio)
                ent = linker._entities[target]
                ent.country_code, ent.population = entry.country_code, entry.population
            else:
                linker._put(rec, prio, entry.country_code, entry.population)
        return linker

    def _put(self, rec: EntityRecord, prio: int, country_code: str | None = None, population: int = 0) -> None:
        if rec.type not in ENTITY_TYPES:
            raise ValueError(f"{rec.entity_id}: unknown type {rec.type!r}")
        if rec.iso_code and country_code is None:
            country_code = rec.iso_code
        self._entities[rec.entity_id] = _Entity(rec, country_code, population)
        for name in rec.names():
            self._index(mkey(name), rec.entity_id, rec.type, prio)

    def _absorb(self, target: str, rec: EntityRecord, prio: int) -> None:
        ent = self._entities[target]
        old = ent.record
        extra = tuple(n for n in rec.names() if n not in old.names())
        ent.record = EntityRecord(
            entity_id=old.entity_id,
            type=old.type,
            name_ar=old.name_ar or rec.name_ar,
            name_en=old.name_en or rec.name_en,
            wikidata_id=old.wikidata_id or rec.wikidata_id,
            geonames_id=old.geonames_id or rec.geonames_id,
            iso_code=old.iso_code or rec.iso_code,
            aliases=old.aliases + extra,
            origin=old.origin,
        )
        for name in extra:
            self._index(mkey(name), target, old.type, prio)

    def _index(self, key: str, eid: str, label: str, prio: int) -> None:
        if not key:
            return
        slot = self._alias.setdefault(key, {})
        if eid in slot:
            slot[eid] = min(slot[eid], prio)
            return
        slot[eid] = prio
        b = _bucket_key(label, key)
        self._buckets.setdefault(b, []).append(key)
        self._bucket_gen[b] = self._bucket_gen.get(b, 0) + 1
        self._static_cache.pop((key, label), None)

    def add_known(self, records: Iterable[EntityRecord],
                  memo: dict[tuple, tuple[str | None, str, str]] | None = None) -> None:
        """Register entities already in the warehouse (discovered in earlier runs).

        A known record that turns out to be a variant of a reference entity (same alias key, or
        a conservative fuzzy match) is not re-indexed under its old id: an :class:`EntityMerge`
        is recorded and its id redirects to the reference entity.

        ``memo`` carries those reference matches from one linker to the next: they depend only on
        the record and the reference data, and the flow rebuilds its linker after every batch
        (the fuzzy matching was 3.6 s of a rebuild with 70k discovered entities).
        """
        for rec in records:
            if rec.entity_id in self._entities:
                self._absorb(rec.entity_id, rec, _PRIORITY["discovered"])
                continue
            if memo is None:
                target, reason, evidence = self._reference_match(rec)
            else:
                key = (rec.entity_id, rec.type, tuple(rec.names()))
                if key not in memo:
                    memo[key] = self._reference_match(rec)
                target, reason, evidence = memo[key]
            if target:
                self._record_merge(rec.entity_id, target, reason, evidence)
                self._absorb(target, rec, _PRIORITY["discovered"])
                continue
            self._put(rec, _PRIORITY["discovered"])

    def _reference_match(self, rec: EntityRecord) -> tuple[str | None, str, str]:
        for name in rec.names():
            k = mkey(name)
            for eid, prio in self._alias.get(k, {}).items():
                if prio < _PRIORITY["discovered"] and self._type(eid) == rec.type:
                    return self._find(eid), "alias", f"{name!r} is an alias of {eid}"
        for name in rec.names():
            hit = self._fuzzy(mkey(name), rec.type, reference_only=True)
            if hit:
                eid, matched, dist = hit
                return eid, "fuzzy", f"{name!r} ~ {matched!r} (edit distance {dist})"
        return None, "", ""

    def _record_merge(self, from_id: str, to_id: str, reason: str, evidence: str) -> None:
        if from_id == to_id or self._redirect.get(from_id) == to_id:
            return
        self._redirect[from_id] = to_id
        self._merges.append(EntityMerge(from_id, to_id, reason, evidence))
        self._static_cache.clear()

    # ---- accessors ---------------------------------------------------------------------------

    def _find(self, eid: str) -> str:
        seen = 0
        while eid in self._redirect and seen < 16:
            eid, seen = self._redirect[eid], seen + 1
        return eid

    def _type(self, eid: str) -> str | None:
        ent = self._entities.get(eid)
        return ent.record.type if ent else None

    def record(self, entity_id: str) -> EntityRecord | None:
        ent = self._entities.get(self._find(entity_id))
        return ent.record if ent else None

    def records(self) -> list[EntityRecord]:
        return [e.record for e in self._entities.values()]

    def new_entities(self) -> list[EntityRecord]:
        """Entities discovered by this linker instance (with every surface form seen)."""
        return [self._entities[eid].record for eid in self._new if eid in self._entities]

    def merges(self) -> list[EntityMerge]:
        return list(self._merges)

    def counts_by_origin(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for e in self._entities.values():
            out[e.record.origin] = out.get(e.record.origin, 0) + 1
        return out

    # ---- lookups -----------------------------------------------------------------------------

    def _candidates(self, key: str, label: str) -> list[tuple[int, str]]:
        slot = self._alias.get(key)
        if not slot:
            return []
        best: dict[str, int] = {}
        for eid, prio in slot.items():
            eid = self._find(eid)
            if self._type(eid) == label:
                best[eid] = min(prio, best.get(eid, 99))
        return sorted(((p, e) for e, p in best.items()), key=lambda pe: (pe[0], pe[1]))

    def is_known(self, text: str, label: str | None = None) -> bool:
        k = mkey(text)
        if label is None:
            return k in self._alias
        return bool(self._candidates(k, label))

    def reference_label(self, text: str) -> str | None:
        """Type of the hand-reviewed reference entity or country named ``text``, or None.

        Only priorities reference/country count: GeoNames city names include common Arabic words.
        """
        slot = self._alias.get(mkey(text))
        if not slot:
            return None
        prio, eid = min((p, e) for e, p in slot.items())
        return self._type(self._find(eid)) if prio <= _PRIORITY["country"] else None

    def _reference_buckets(self) -> dict[tuple, list[str]]:
        """The fuzzy-matching buckets restricted to reference/country/city aliases.

        Why separate: a reference-only match must not depend on which discovered names happen to
        be indexed (rapidfuzz keeps the 8 closest keys, and discovered ones could crowd a
        reference key out), so that it can be memoised across linker rebuilds. Reference aliases
        are fixed once the linker is built from the reference data.
        """
        if self._ref_buckets is None:
            ref = _PRIORITY["discovered"]
            self._ref_buckets = {
                b: kept for b, keys in self._buckets.items()
                if (kept := [k for k in keys if min(self._alias[k].values()) < ref])}
        return self._ref_buckets

    def reference_first_tokens(self) -> frozenset[str]:
        """First words (matching key) of every reference/country alias: a cheap pre-filter."""
        if self._ref_first is None:
            self._ref_first = frozenset(
                key.split(" ", 1)[0] for key, slot in self._alias.items()
                if key and min(slot.values()) <= _PRIORITY["country"]
            )
        return self._ref_first

    def may_start_reference(self, token: str) -> bool:
        """Whether ``token``, or it without proclitics, is the first word of a reference alias.

        Asked once per token of every Arabic article; news vocabulary repeats heavily, so the
        answer is memoised per word type (this pre-filter was 12 s of a 3,000-article batch).
        """
        hit = self._first_cache.get(token)
        if hit is None:
            firsts = self.reference_first_tokens()
            hit = any(mkey(h) in firsts for h in (token, *clitic_variants(token)))
            if len(self._first_cache) < _CACHE_ENTRIES:
                self._first_cache[token] = hit
        return hit

    def reference_starts(self, tokens: Sequence[tuple[str, int, int]], skip: bytearray) -> list[int]:
        """Indexes ``i`` of the tokens with ``not skip[i]`` for which :meth:`may_start_reference` holds.

        The same answers, asked in one comprehension over the memo: a batch asks about every token
        of every Arabic article (~400 per article, 808k per 2,000 SaudiNewsNet articles), and a
        method call per token cost more than the memoised lookup it makes; only unseen words
        still go through :meth:`may_start_reference`.
        """
        memo = self._first_cache.get
        may_start = self.may_start_reference
        return [i for i, (tok, _, _) in enumerate(tokens)
                if not skip[i] and (hit := memo(tok)) is not False and (hit or may_start(tok))]

    def reference_label_of_surface(self, surface: str) -> str | None:
        """``reference_label`` of ``surface`` or, failing that, of its first clitic variant that has one.

        Memoised per surface like :meth:`may_start_reference` (the reference aliases are fixed once
        the linker is built): a batch asks it for every n-gram that starts like a reference name.
        """
        if surface in self._surface_cache:
            return self._surface_cache[surface]
        label = next((lab for v in [surface, *clitic_variants(surface)] if (lab := self.reference_label(v))), None)
        if len(self._surface_cache) < _CACHE_ENTRIES:
            self._surface_cache[surface] = label
        return label

    def known_label(self, text: str) -> str | None:
        """The type of the best-known entity named exactly ``text`` (None if unknown).

        Used to find mentions by gazetteer alone in languages the NER does not cover.
        """
        slot = self._alias.get(mkey(text))
        if not slot:
            return None
        prio, eid = min((p, e) for e, p in slot.items())
        if prio >= _PRIORITY["discovered"]:
            return None  # only reference names: a discovered Arabic guess is no evidence here
        return self._type(self._find(eid))

    def _choose(self, cands: list[tuple[int, str]], ctx: frozenset[str]) -> tuple[str, bool]:
        """Pick one candidate: priority, then document context (a city in a country mentioned in
        the same article), then country over city, then population. Returns (id, ambiguous)."""
        if len(cands) == 1:
            return cands[0][1], False

        def score(pe: tuple[int, str]) -> tuple[int, int, str]:
            prio, eid = pe
            ent = self._entities[eid]
            s = 2 * prio
            if ent.record.iso_code:
                s -= 1
            elif ent.country_code and ent.country_code in ctx:
                s -= 3
            return (s, -ent.population, eid)

        return min(cands, key=score)[1], True

    def normalize_mention(self, text: str, label: str, doc_keys: Iterable[str] = ()) -> str:
        """Strip clitics/titles from ``text`` only when that is supported by evidence.

        Evidence is: the stripped form is a known alias (for ``label``), or — for names nobody
        knows yet — the stripped form occurs as another mention key in the same document. The
        unstripped form wins when it is itself known, so «لبنان», «فرنسا», «بغداد» stay intact.
        """
        text = text.strip()
        if self.is_known(text, label):
            return text
        doc = set(doc_keys)
        variants = clitic_variants(text)
        for v in [text, *variants]:
            hv = honorific_variant(v, label)
            if hv and (self.is_known(hv[0], label) or hv[1]):
                return hv[0]
        for v in variants:
            if self.is_known(v, label):
                return v
        for v in variants:
            if mkey(v) in doc:
                return v
        return text

    def _fuzzy(self, key: str, label: str, *, reference_only: bool = False) -> tuple[str, str, int] | None:
        """Conservative variant match within blocking buckets (type, first letter, length).

        rapidfuzz only proposes candidates inside the buckets (never all pairs); each proposal must
        then pass :func:`_variant_ok` (same words but one, that one a small edit of the other), and
        the best entity must be unique — two entities equally close means we do not guess.
        """
        if len(key.replace(" ", "")) < 4:
            return None
        max_d = 2
        choices: list[str] = []
        block = _bucket_key(label, key)[:2]
        buckets = self._reference_buckets() if reference_only else self._buckets
        for ln in range(len(key) - max_d, len(key) + max_d + 1):
            choices.extend(buckets.get(block + (ln,), ()))
        if not choices:
            return None
        hits = process.extract(key, choices, scorer=Levenshtein.distance, score_cutoff=max_d, limit=8)
        best: dict[str, tuple[int, str]] = {}
        for matched, dist, _ in hits:
            if matched == key or not _variant_ok(key, matched):
                continue
            for eid, prio in self._alias.get(matched, {}).items():
                if reference_only and prio >= _PRIORITY["discovered"]:
                    continue
                eid = self._find(eid)
                if self._type(eid) != label:
                    continue
                if eid not in best or dist < best[eid][0]:
                    best[eid] = (int(dist), matched)
        if not best:
            return None
        ranked = sorted((d, eid, m) for eid, (d, m) in best.items())
        if len(ranked) > 1 and ranked[1][0] == ranked[0][0]:
            return None  # two different entities equally close: do not guess
        d, eid, m = ranked[0]
        return eid, m, d

    def _static(self, surface: str, label: str) -> tuple[object, ...]:
        """Document-independent resolution, cached per (surface, label).

        Returns ("alias"|"clitic", candidates, normalized) when an alias matched,
        ("fuzzy", eid, normalized, distance) for a fuzzy hit, or ("none", gens) with the bucket
        generations it was computed against (a miss is stale once a bucket grows).
        """
        ck = (surface, label)
        hit = self._static_cache.get(ck)
        if hit is not None:
            if hit[0] != "none" or hit[1] == self._gens(mkey(surface), label):
                return hit
        key = mkey(surface)
        res: tuple[object, ...]
        cands = self._candidates(key, label)
        if cands:
            res = ("alias", tuple(cands), surface)
        else:
            norm = self.normalize_mention(surface, label)
            nk = mkey(norm)
            cands = self._candidates(nk, label) if norm != surface else []
            if cands:
                res = ("clitic", tuple(cands), norm)
            else:
                fz = self._fuzzy(nk, label)
                res = ("fuzzy", fz[0], norm, fz[2]) if fz else ("none", self._gens(key, label))
        if len(self._static_cache) > 1_000_000:
            self._static_cache.clear()
        self._static_cache[ck] = res
        return res

    def _gens(self, key: str, label: str) -> tuple[int, ...]:
        b = _bucket_key(label, key)
        return tuple(self._bucket_gen.get(b[:2] + (ln,), 0) for ln in range(len(key) - 2, len(key) + 3))

    # ---- documents ---------------------------------------------------------------------------

    def link_document(self, text: str, mentions: Sequence[MentionLike]) -> list[LinkedMention]:
        """Link every mention of one article; output order follows the input order."""
        n = len(mentions)
        results: list[_Resolution | None] = [None] * n
        pending: list[tuple[int, str, tuple[object, ...]]] = []
        ctx: set[str] = set()
        keys = [mkey(m.text) for m in mentions]
        labels = [m.label if m.label in ENTITY_TYPES else "ORG" for m in mentions]

        # (a) exact / clitic aliases; unambiguous country hits become document context.
        for i, m in enumerate(mentions):
            st = self._static(m.text, labels[i])
            if st[0] in ("alias", "clitic"):
                cands = list(st[1])  # type: ignore[arg-type]
                if len(cands) == 1:
                    eid = cands[0][1]
                    iso = self._entities[eid].record.iso_code
                    if iso:
                        ctx.add(iso)
                pending.append((i, labels[i], st))
        fctx = frozenset(ctx)
        weak: dict[int, _Resolution] = {}
        for i, label, st in pending:
            eid, ambiguous = self._choose(list(st[1]), fctx)  # type: ignore[arg-type]
            method = str(st[0])
            prio = dict((e, p) for p, e in st[1]).get(eid, 3)  # type: ignore[misc]
            conf = (0.95 if method == "alias" else 0.9) - (0.15 if ambiguous else 0) - (0.25 if prio >= 3 else 0)
            res = _Resolution(eid, str(st[2]), method, round(conf, 3))
            if prio >= _PRIORITY["discovered"]:
                weak[i] = res  # only our own earlier guess: let in-document evidence speak first
            else:
                results[i] = res

        # (b) partial names → fuller names in the same document; fuller names first.
        todo = [i for i in range(n) if results[i] is None]
        todo.sort(key=lambda i: (-len(keys[i].split()), i))
        doc_keys = set(keys)
        # Distinct resolved names of this document by type: token tuple → {entity_id: surface}.
        fulls: dict[str, dict[tuple[str, ...], dict[str, str]]] = {}
        for j, r in enumerate(results):
            if r is not None:
                self._note_full(fulls, labels[j], r)
        for i in todo:
            res = self._resolve_rest(mentions[i], labels[i], doc_keys, fulls, weak.get(i), fctx)
            results[i] = res
            self._note_full(fulls, labels[i], res)

        out = []
        for m, r in zip(mentions, results):
            assert r is not None
            out.append(LinkedMention(m.start, m.end, m.text, m.label, self._find(r.entity_id), r.normalized, r.method, r.confidence))
        return out

    def _resolve_rest(
        self,
        m: MentionLike,
        label: str,
        doc_keys: set[str],
        fulls: dict[str, dict[tuple[str, ...], dict[str, str]]],
        weak: _Resolution | None,
        fctx: frozenset[str],
    ) -> _Resolution:
        """Steps (b)–(d) for a mention that no reference alias resolved."""
        norm = self.normalize_mention(m.text, label, doc_keys)
        nk = mkey(norm)
        # A partial LOC is usually another place (السودان/جنوب السودان), so only PER and ORG.
        target = self._doc_variant(nk, fulls.get(label, {})) if label != "LOC" else None
        if target is not None:
            eid, full = target
            self._maybe_merge_partial(nk, label, eid, norm, full)
            return _Resolution(eid, norm, "doc-variant", 0.85)
        if weak is not None:
            return weak
        surface = m.text.strip()
        if norm == surface:
            st = self._static(m.text, label)
            if st[0] == "fuzzy":
                dist = int(st[3])  # type: ignore[call-overload]
                return _Resolution(self._find(str(st[1])), str(st[2]), "fuzzy", round(0.8 - 0.1 * dist, 3))
        else:
            cands = self._candidates(nk, label)
            if cands:
                eid, amb = self._choose(cands, fctx)
                return _Resolution(eid, norm, "clitic", 0.7 if amb else 0.8)
            fz = self._fuzzy(nk, label)
            if fz:
                return _Resolution(fz[0], norm, "fuzzy", round(0.8 - 0.1 * fz[2], 3))
        return self._discover(norm, nk, label)

    @staticmethod
    def _note_full(fulls: dict[str, dict[tuple[str, ...], dict[str, str]]], label: str, r: _Resolution) -> None:
        toks = tuple(mkey(r.normalized).split())
        if len(toks) > 1:
            fulls.setdefault(label, {}).setdefault(toks, {}).setdefault(r.entity_id, r.normalized)

    def _doc_variant(self, nk: str, fulls: dict[tuple[str, ...], dict[str, str]]) -> tuple[str, str] | None:
        """The unique fuller name (same type, same document) whose tokens contain this mention's
        tokens as a contiguous run: «الدبيبة» inside «عبد الحميد الدبيبة»."""
        toks = tuple(nk.split())
        if not toks or not fulls or len(nk.replace(" ", "")) < 3:
            return None
        n = len(toks)
        found: dict[str, str] = {}
        for ft, ids in fulls.items():
            if len(ft) <= n or toks[0] not in ft:
                continue
            if any(ft[s : s + n] == toks for s in range(len(ft) - n + 1)):
                for eid, surface in ids.items():
                    found.setdefault(self._find(eid), surface)
        if len(found) == 1:
            return next(iter(found.items()))
        return None

    def _maybe_merge_partial(self, nk: str, label: str, eid: str, norm: str, full: str) -> None:
        """A person's surname discovered alone earlier («الفلاني») that a document now ties to a
        fuller name («أحمد الفلاني») is recorded as a merge into the fuller entity.

        Only a trailing part of a person's name (a surname: «السنيورة» of «فؤاد السنيورة») is
        evidence enough to merge entities across documents; a first name alone is linked
        in-document only, and so is:
        - the last word of an organisation, which qualifies it rather than names it: «الأهلي» (a
          football club) is not «اللجنة الوطنية للتعليم الأهلي», nor «الشرق الأوسط» a bank of that name;
        - a name after «بن», «أبو», «عبد»…: «سلمان» of «محمد بن سلمان» is his father's name, and
          alone it means the king;
        - a given name: one word in the NER's lexicon of first names («محمد» of «رأس محمد»), or
          «عبد» and a divine name («عبد الوهاب» of «محمد عبد الوهاب», his father's name).
        A merge re-attributes every stored mention of the partial id, so a wrong one also costs: on
        SaudiNewsNet amplified to a million articles one batch's merges moved 109,140 stored
        articles, 28,084 with these rules (docs/decisions.md).
        """
        words, part = mkey(full).split(), nk.split()
        n = len(part)
        if (label != "PER" or len(words) <= n or words[-n:] != part or len(nk.replace(" ", "")) < 4
                or words[-n - 1] in _NAME_LINKS or _is_given_name(part)):
            return
        partial_id = stable_id(label, nk)
        if partial_id in self._entities and partial_id != eid and partial_id not in self._redirect:
            ent = self._entities[partial_id]
            if ent.record.origin == "discovered":
                self._record_merge(partial_id, eid, "doc-variant", f"{norm!r} next to {full!r} in one document")

    def _discover(self, norm: str, nk: str, label: str) -> _Resolution:
        eid = stable_id(label, nk)
        ent = self._entities.get(eid)
        if ent is None:
            arabic = bool(_ARABIC_CHAR.search(norm))
            rec = EntityRecord(
                entity_id=eid,
                type=label,
                name_ar=norm if arabic else None,
                name_en=None if arabic else norm,
                aliases=(),
                origin="discovered",
            )
            self._put(rec, _PRIORITY["discovered"])
            self._new[eid] = rec
            return _Resolution(eid, norm, "new", 0.5)
        if norm not in ent.record.names():
            self._absorb(eid, EntityRecord(eid, label, None, None, aliases=(norm,)), _PRIORITY["discovered"])
        return _Resolution(self._find(eid), norm, "alias", 0.7)


# ---------------------------------------------------------------------------------------------
# Seeds and module-level helpers
# ---------------------------------------------------------------------------------------------


def load_seed_records(path: Path) -> list[EntityRecord]:
    """Read ``seeds/entities.csv`` (hand-reviewed reference entities)."""
    with open(path, encoding="utf-8", newline="") as f:
        return [EntityRecord.from_row({**row, "origin": "reference"}) for row in csv.DictReader(f)]


def default_seeds_dir() -> Path:
    """``<repo>/seeds`` for an editable install (tasks/entities/linking.py → repo root)."""
    return Path(__file__).resolve().parents[2] / "seeds"


@lru_cache(maxsize=1)
def _default_linker() -> EntityLinker:
    return EntityLinker.from_reference(default_seeds_dir())


def normalize_mention(text: str, label: str) -> str:
    """Module-level convenience over :meth:`EntityLinker.normalize_mention` with the reference
    gazetteer of this repository (built lazily once). Pipelines should call the method on their
    own linker, which also knows the entities discovered so far."""
    return _default_linker().normalize_mention(text, label)
