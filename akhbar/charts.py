"""Charts of entities over time and of their company, with Arabic labels that read correctly.

Arabic in matplotlib: text must be *shaped* (letters take their joined forms) and laid out
right to left. matplotlib ≥ 3.11 is built with libraqm, which does both itself: the logical string
is drawn correctly as is, and pre-shaping it with ``arabic_reshaper`` + ``bidi.get_display`` would
reverse it a second time (we rendered both and looked). Older matplotlib draws glyphs one by one,
left to right, so there the label must be converted to shaped *visual* order first. :func:`label`
picks the right treatment; :func:`rtl` is the conversion itself.

Font: DejaVu Sans as shipped inside the matplotlib wheel (``mpl-data/fonts/ttf/DejaVuSans.ttf``;
Bitstream Vera / DejaVu licence, free), which has the Arabic block and the Arabic presentation forms
A and B. It is loaded by path, so charts look the same on any machine with the pinned matplotlib,
whatever fonts the system has.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import arabic_reshaper  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from bidi import get_display  # noqa: E402
from matplotlib import font_manager, ft2font  # noqa: E402
from matplotlib.dates import DateFormatter  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from akhbar.tasks.normalize import matching_key  # noqa: E402
from akhbar.warehouse.lake import Warehouse, WarehouseError  # noqa: E402

FONT_PATH = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
_ARABIC = re.compile("[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")
# matplotlib built with libraqm shapes and reorders complex scripts itself.
MATPLOTLIB_SHAPES = bool(getattr(ft2font, "__libraqm_version__", None))
MAX_SOURCES = 8


def rtl(text: str) -> str:
    """Logical-order Arabic → shaped glyphs in visual (left-to-right drawing) order."""
    return get_display(arabic_reshaper.reshape(text)) if _ARABIC.search(text or "") else text


def label(text: str | None) -> str:
    """A string ready for matplotlib: as is where matplotlib shapes Arabic itself, else :func:`rtl`."""
    text = "" if text is None else str(text)
    return text if MATPLOTLIB_SHAPES else rtl(text)


def _font() -> font_manager.FontProperties:
    if not FONT_PATH.exists():  # pragma: no cover - part of every matplotlib wheel
        raise WarehouseError(f"font {FONT_PATH} missing: reinstall matplotlib")
    font_manager.fontManager.addfont(str(FONT_PATH))
    return font_manager.FontProperties(fname=str(FONT_PATH))


def _session(warehouse: Warehouse | Path | str):
    from akhbar.warehouse.sql import read_only_connection
    from akhbar.warehouse.views import create_views

    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    con = read_only_connection(wh)
    create_views(con)
    return con


def resolve_entity(con, name_or_id: str) -> tuple[str, str | None, str | None]:
    """(entity_id, name_ar, name_en) for an id, or a name matched through the matching key.

    A name is compared (after ``matching_key``: diacritics, hamza, ى/ي, ة/ه, case) with every
    entity's Arabic and English names and aliases, then with the mention texts; several matches
    go to the entity with the most mentions. Merged ids resolve to the entity they were merged into.
    """
    query = (name_or_id or "").strip()
    if not query:
        raise WarehouseError("no entity given")
    row = con.execute("SELECT coalesce(r.to_id, e.entity_id), n.name_ar, n.name_en FROM entity_names e "
                      "LEFT JOIN entity_redirects r ON r.from_id = e.entity_id "
                      "JOIN entity_names n ON n.entity_id = coalesce(r.to_id, e.entity_id) "
                      "WHERE e.entity_id = ?", [query]).fetchone()
    if row:
        return row
    key = matching_key(query)
    con.create_function("_akhbar_key", matching_key, ["VARCHAR"], "VARCHAR", side_effects=False)
    found = con.execute(
        """WITH names AS (
               SELECT entity_id, unnest(list_concat([name_ar, name_en], coalesce(aliases, []))) AS name
               FROM lake.entities),
           hits AS (
               SELECT DISTINCT entity_id FROM names WHERE name IS NOT NULL AND _akhbar_key(name) = ?
               UNION
               SELECT DISTINCT linked_id FROM mentions WHERE _akhbar_key(normalized) = ? OR _akhbar_key(surface) = ?)
           SELECT coalesce(r.to_id, h.entity_id) AS entity_id, count(m.article_id) AS n
           FROM hits h LEFT JOIN entity_redirects r ON r.from_id = h.entity_id
           LEFT JOIN mentions m ON m.entity_id = coalesce(r.to_id, h.entity_id)
           GROUP BY 1 ORDER BY n DESC, entity_id LIMIT 1""", [key, key, key]).fetchone()
    if not found:
        raise WarehouseError(f"no entity named {query!r} (nor with that id); try "
                             "`akhbar sql \"select entity_id, name_ar, name_en from entities where name_ar like '%…%'\"`")
    name_ar, name_en = con.execute("SELECT name_ar, name_en FROM entity_names WHERE entity_id = ?",
                                   [found[0]]).fetchone() or (None, None)
    return found[0], name_ar, name_en


def _display_name(name_ar: str | None, name_en: str | None, entity_id: str) -> str:
    return name_ar or name_en or entity_id


def _as_date(value: date | datetime | str | None) -> date | None:
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, datetime):
        return value.date()
    return date.fromisoformat(str(value))


def entity_daily_by_source(warehouse: Warehouse | Path | str, name_or_id: str,
                           since: date | datetime | str | None = None) -> dict[str, Any]:
    """The data of :func:`chart_entity`: ``{entity_id, name_ar, name_en, rows: [(day, source, mentions)]}``."""
    con = _session(warehouse)
    try:
        entity_id, name_ar, name_en = resolve_entity(con, name_or_id)
        rows = con.execute(
            "SELECT day, source, sum(mentions)::BIGINT FROM article_entities "
            "WHERE entity_id = ? AND day IS NOT NULL AND (?::DATE IS NULL OR day >= ?::DATE) "
            "GROUP BY day, source ORDER BY day, source", [entity_id, _as_date(since), _as_date(since)]).fetchall()
    finally:
        con.close()
    return {"entity_id": entity_id, "name_ar": name_ar, "name_en": name_en, "rows": rows}


def chart_entity(warehouse: Warehouse | Path | str, name_or_id: str, since: date | datetime | str | None,
                 out_png: Path | str) -> dict[str, Any]:
    """Stacked bars of an entity's mentions per day, one colour per source (top 8, the rest 'other').

    Undated articles are left out (they have no day). Returns what was drawn:
    ``{entity_id, name, days, sources, mentions, path}``.
    """
    data = entity_daily_by_source(warehouse, name_or_id, since)
    font = _font()
    name = _display_name(data["name_ar"], data["name_en"], data["entity_id"])
    totals: dict[str, int] = {}
    for _, source, n in data["rows"]:
        totals[source or "?"] = totals.get(source or "?", 0) + n
    top = [s for s, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_SOURCES]]
    days = sorted({d for d, _, _ in data["rows"]})
    series: dict[str, list[int]] = {}
    for day, source, n in data["rows"]:
        key = (source or "?") if (source or "?") in top else "other"
        series.setdefault(key, [0] * len(days))[days.index(day)] += n
    fig, ax = plt.subplots(figsize=(max(7.0, 0.35 * len(days) + 4), 4.8), layout="constrained")
    bottom = [0] * len(days)
    for source in [*top, "other"]:
        if source not in series:
            continue
        ax.bar(days, series[source], bottom=bottom, label=label(source), width=0.8)
        bottom = [b + v for b, v in zip(bottom, series[source])]
    since_txt = f" since {_as_date(since)}" if since else ""
    # The name on its own line: a line mixing Arabic and Latin puts neutral punctuation where bidi
    # rules say, which readers find surprising; separate lines keep each in its own direction.
    ax.set_title(label(name) + "\n" + f"mentions per day by source{since_txt}", fontproperties=font, fontsize=13)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("mentions", fontproperties=font)
    if not days:
        ax.text(0.5, 0.5, label(f"no dated mentions of {name}{since_txt}"), ha="center", va="center",
                transform=ax.transAxes, fontproperties=font)
    else:
        ax.legend(prop=font, fontsize=9, loc="upper left", frameon=False)
        ax.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
        if len(days) <= 31:
            ax.set_xticks(days)
        fig.autofmt_xdate()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return {"entity_id": data["entity_id"], "name": name, "days": len(days), "sources": len(totals),
            "mentions": sum(totals.values()), "path": str(out)}


def entity_pairs_top(warehouse: Warehouse | Path | str, name_or_id: str, top: int = 15) -> dict[str, Any]:
    """The data of :func:`chart_pairs`: ``{entity_id, name_ar, name_en, rows: [(other_id, name, articles)]}``."""
    con = _session(warehouse)
    try:
        entity_id, name_ar, name_en = resolve_entity(con, name_or_id)
        # The all-days gold table: its files are sorted by entity, so one entity's row groups are
        # read, not every mention or every (pair, day) row (docs/benchmarks.md).
        rows = con.execute(
            """SELECT other_id, coalesce(other_name_ar, other_name_en, other_id) AS name, articles
               FROM entity_pair_totals WHERE entity_id = $1
               ORDER BY articles DESC, other_id LIMIT $2""", [entity_id, int(top)]).fetchall()
    finally:
        con.close()
    return {"entity_id": entity_id, "name_ar": name_ar, "name_en": name_en, "rows": rows}


def chart_pairs(warehouse: Warehouse | Path | str, name_or_id: str, out_png: Path | str,
                top: int = 15) -> dict[str, Any]:
    """Horizontal bars: the ``top`` entities most often mentioned in the same articles (all days)."""
    data = entity_pairs_top(warehouse, name_or_id, top)
    font = _font()
    name = _display_name(data["name_ar"], data["name_en"], data["entity_id"])
    rows = list(reversed(data["rows"]))  # largest at the top
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.4 * len(rows) + 1.6)), layout="constrained")
    if rows:
        ax.barh(range(len(rows)), [r[2] for r in rows], color="#3b6ea5")
        ax.set_yticks(range(len(rows)), [label(r[1]) for r in rows], fontproperties=font, fontsize=11)
        for i, r in enumerate(rows):
            ax.text(r[2], i, f" {r[2]}", va="center", fontsize=9)
    else:
        ax.text(0.5, 0.5, label(f"{name}: no co-occurring entities"), ha="center", va="center",
                transform=ax.transAxes, fontproperties=font)
    ax.set_xlabel("articles mentioning both", fontproperties=font)
    ax.set_title(label(name) + "\n" + "entities most often in the same articles", fontproperties=font, fontsize=13)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return {"entity_id": data["entity_id"], "name": name, "pairs": len(rows), "path": str(out)}
