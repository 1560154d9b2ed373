"""Views for the questions people ask most, created in each read-only ``akhbar sql`` session.

They are TEMPORARY views (in memory, over the lake tables), so they need no write access, always
reflect the snapshot the session reads, and change with the code rather than with a migration.
``create_views(con)`` creates them all; :data:`VIEWS` holds their SQL and :data:`VIEW_DOCS` one line
of documentation each (``akhbar sql "select * from akhbar_views"`` lists them in a session).

Conventions shared by every view (and by the gold tables, from the same definitions in
:mod:`akhbar.warehouse.gold`):
- ``day`` is the publication day in UTC (``published_at``); it is NULL for undated articles.
- Entity ids are resolved through ``entity_merges`` (a merged id counts as the entity it was merged
  into, following chains), and names come from ``entities`` (one row per id).
- ``source`` is the article's outlet; outlets that published the same story again are in
  ``story_outlets`` (from ``duplicates``).

No view may be named like a lake table: a temporary view shadows the table. ``entity_pairs`` was a
view until it became a gold table (same columns, without the unbounded ``article_ids`` list).
"""

from __future__ import annotations

import duckdb

from akhbar.warehouse.gold import ENTITY_REDIRECTS_SQL, utc_day
from akhbar.warehouse.lake import CATALOG_NAME

L = CATALOG_NAME

VIEWS: dict[str, str] = {
    # Helpers first: later views use them.
    "entity_redirects": ENTITY_REDIRECTS_SQL,
    "entity_names": f"""
        SELECT entity_id, any_value(type) AS type, any_value(name_ar) AS name_ar,
               any_value(name_en) AS name_en, any_value(wikidata_id) AS wikidata_id,
               any_value(origin) AS origin
        FROM {L}.entities GROUP BY entity_id""",
    "mentions": f"""
        SELECT m.article_id, coalesce(r.to_id, m.entity_id) AS entity_id, m.entity_id AS linked_id,
               m.surface, m.normalized, m.label, m.start, m."end", m.sentence_index, m.method, m.confidence
        FROM {L}.entity_mentions m LEFT JOIN entity_redirects r ON r.from_id = m.entity_id""",
    "article_entities": f"""
        SELECT a.article_id, a.title, a.source, a.published_at,
               {utc_day('a.published_at')} AS day,
               m.entity_id, coalesce(any_value(e.type), any_value(m.label)) AS type, e.name_ar, e.name_en,
               count(*) AS mentions, list(DISTINCT m.surface ORDER BY m.surface) AS surfaces,
               min(m.start) AS first_offset
        FROM {L}.articles a JOIN mentions m USING (article_id)
        LEFT JOIN entity_names e USING (entity_id)
        GROUP BY ALL""",
    "entity_timeline": """
        SELECT entity_id, any_value(type) AS type, any_value(name_ar) AS name_ar,
               any_value(name_en) AS name_en, day,
               sum(mentions) AS mentions, count(DISTINCT article_id) AS articles,
               count(DISTINCT source) AS sources, list(DISTINCT source ORDER BY source) AS source_list
        FROM article_entities GROUP BY entity_id, day""",
    "story_outlets": f"""
        WITH coverage AS (
            SELECT article_id, source AS outlet, url, 'published' AS kind, ingested_at AS seen_at,
                   location FROM {L}.articles
            UNION ALL
            SELECT article_id, source, url, kind, detected_at, location FROM {L}.duplicates)
        SELECT c.article_id, a.title, a.published_at, {utc_day('a.published_at')} AS day,
               c.outlet, c.url, c.kind, c.seen_at, c.location,
               count(DISTINCT c.outlet) OVER (PARTITION BY c.article_id) AS outlets,
               count(*) OVER (PARTITION BY c.article_id) AS copies
        FROM coverage c JOIN {L}.articles a USING (article_id)""",
}

VIEW_DOCS: dict[str, str] = {
    "entity_redirects": "from_id → to_id: where each merged entity id finally points (entity_merges: an id's "
                        "latest merge, chains followed).",
    "entity_names": "One row per entity_id: type, name_ar, name_en, wikidata_id, origin.",
    "mentions": "entity_mentions with entity_id resolved through merges (linked_id keeps the original).",
    "article_entities": "One row per (article, entity): title, source, published_at, day, entity names, "
                        "mentions, surfaces as written, first_offset.",
    "entity_timeline": "One row per (entity, day): mentions, articles, sources (distinct outlets), source_list.",
    "story_outlets": "Every outlet that carried a story: the published article (kind 'published') and its "
                     "duplicates (same_bytes | same_text), with outlets/copies per story.",
}


def create_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Create (or replace) the temporary views on ``con``; returns their names in creation order.

    Works on a read-only session: temporary views live in memory. A view named like a lake table
    would shadow it, so none is.
    """
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
    rows = ", ".join(f"('{name}', '{doc.replace(chr(39), chr(39) * 2)}')" for name, doc in VIEW_DOCS.items())
    con.execute(f"CREATE OR REPLACE TEMP VIEW akhbar_views AS SELECT * FROM (VALUES {rows}) v(view_name, description)")
    return [*VIEWS, "akhbar_views"]
