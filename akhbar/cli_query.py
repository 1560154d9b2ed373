"""``akhbar search`` and ``akhbar chart …``: ranked Arabic full-text search and entity charts.

Registered on the main app by ``akhbar.cli`` with ``register(app)``. Kept apart from ``cli.py`` so
that importing it never imports matplotlib or the search code until a command actually runs.
Output follows ``akhbar sql``: text in logical order, never reshaped (terminals with bidi support
render it right to left), CSV and JSON in UTF-8 with the Arabic kept as is.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from akhbar.cli_common import OutputFormat as Format
from akhbar.cli_common import WarehouseOpt, console, err, print_rows
from akhbar.cli_common import fail as _fail
from akhbar.config import get_settings

def _print(rows: list[dict[str, Any]], columns: list[str], fmt: Format) -> None:
    print_rows(rows, fmt, columns=columns, show_lines=True)


def search_cmd(
    query: Annotated[str, typer.Argument(help="Words to look for, Arabic or Latin, e.g. \"الناتو\" or "
                                         "\"حلف الناتو\". Diacritics, hamza forms, ى/ي, ة/ه and tatweel "
                                         "do not matter; و/ف/ب/ك/ل/ال attached in the text do not either.")],
    warehouse: WarehouseOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Number of results.")] = 20,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, csv or json (UTF-8, Arabic kept as is).")] = Format.table,
    refresh: Annotated[bool, typer.Option(help="Bring the search index up to date first if the warehouse has "
                                          "newer articles (only new ones are indexed).")] = True,
    ids: Annotated[bool, typer.Option("--ids/--no-ids", help="Show article ids in the table output.")] = False,
) -> None:
    """Full-text search of the articles, best matches first (BM25).

    Examples:

      akhbar search الناتو                       # finds والناتو, بالناتو, للناتو, لحلف الناتو

      akhbar search "حفتر فاجنر" -n 5 -f json

      akhbar search "وزير الخارجية" -f csv > hits.csv

    The same search runs inside SQL: akhbar sql "select title, score from search('الناتو', lim := 5)"
    """
    from akhbar.warehouse.lake import Warehouse, WarehouseError
    from akhbar.warehouse.search import SEARCH_COLUMNS, is_stale, refresh_search_index, search

    wh = Warehouse(get_settings(warehouse=warehouse).warehouse)
    if not wh.exists():
        raise _fail(f"no warehouse at {wh.root}: run `akhbar run` first (or pass --warehouse)")
    try:
        if refresh and is_stale(wh):
            stats = refresh_search_index(wh)
            err.print(f"search index {stats.mode}: +{stats.added:,} articles, {stats.total:,} indexed "
                      f"({stats.seconds:.1f} s)", style="dim")
        rows = search(wh, query, limit=limit)
    except WarehouseError as exc:
        raise _fail(str(exc)) from exc
    columns = SEARCH_COLUMNS if ids or fmt is not Format.table else [c for c in SEARCH_COLUMNS if c != "article_id"]
    _print(rows, columns, fmt)


chart_app = typer.Typer(
    help="Charts of entities (PNG): mentions over time, most frequent companions. Arabic labels are "
    "shaped and right to left. An entity is named by id (per:khalifa-haftar) or by any of its names "
    "or aliases, in any spelling variant (حفتر, Haftar).",
    no_args_is_help=True,
)


@chart_app.command("entity")
def chart_entity_cmd(
    entity: Annotated[str, typer.Argument(help="Entity id or name, e.g. \"حفتر\", \"Haftar\", iso:LY.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("entity.png"),
    since: Annotated[str | None, typer.Option(help="First day to show, YYYY-MM-DD (default: all).")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Mentions of an entity per day, stacked by source (undated articles are left out).

    Example: akhbar chart entity "حفتر" --since 2015-07-01 --out haftar.png
    """
    from akhbar.charts import chart_entity
    from akhbar.warehouse.lake import WarehouseError

    if since:
        try:
            date.fromisoformat(since)
        except ValueError as exc:
            raise _fail(f"--since must be YYYY-MM-DD, not {since!r}") from exc
    try:
        info = chart_entity(get_settings(warehouse=warehouse).warehouse, entity, since, out)
    except WarehouseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{info['path']}: {info['name']} ({info['entity_id']}), {info['mentions']:,} mentions over "
                  f"{info['days']} days from {info['sources']} sources")


@chart_app.command("pairs")
def chart_pairs_cmd(
    entity: Annotated[str, typer.Argument(help="Entity id or name, e.g. \"الناتو\", \"NATO\", org:nato.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("pairs.png"),
    top: Annotated[int, typer.Option(min=1, help="How many companions to show.")] = 15,
    warehouse: WarehouseOpt = None,
) -> None:
    """The entities most often mentioned in the same articles as this one (horizontal bars).

    Example: akhbar chart pairs "حفتر" --top 10 --out haftar_pairs.png
    """
    from akhbar.charts import chart_pairs
    from akhbar.warehouse.lake import WarehouseError

    try:
        info = chart_pairs(get_settings(warehouse=warehouse).warehouse, entity, out, top=top)
    except WarehouseError as exc:
        raise _fail(str(exc)) from exc
    console.print(f"{info['path']}: {info['name']} ({info['entity_id']}), {info['pairs']} companions")


def register(app: typer.Typer) -> None:
    """Add ``search`` and the ``chart`` group to the main ``akhbar`` app."""
    app.command("search")(search_cmd)
    app.add_typer(chart_app, name="chart")
