"""The warehouse tables, declared once: DuckDB DDL and Arrow schemas are both derived from here.

Keeping one declaration means the staging Parquet files, the Great Expectations frames and the
DuckLake tables can never drift apart: a column added here exists everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported on first use, not here: the analysis workers import this module for the
# column layouts only, and Arrow in the workers cost each ~70 MB (SaudiNewsNet: both workers'
# mean RSS 896 MB with it, 752-754 MB without).
_ARROW_TYPES = {
    "VARCHAR": "string",
    "BLOB": "binary",
    "BIGINT": "int64",
    "INTEGER": "int32",
    "DOUBLE": "float64",
    "BOOLEAN": "bool_",
    "DATE": "date32",
}


def arrow_type(sql_type: str) -> pa.DataType:
    import pyarrow as pa

    if sql_type == "TIMESTAMPTZ":
        return pa.timestamp("us", tz="UTC")
    if sql_type == "VARCHAR[]":
        return pa.list_(pa.string())
    return getattr(pa, _ARROW_TYPES[sql_type])()


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    doc: str


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return _arrow_schema(self)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def column_list(self) -> str:
        """Quoted, comma-separated column names for SQL (``start``/``end`` are keywords)."""
        return ", ".join(f'"{c}"' for c in self.column_names)

    def ddl(self) -> str:
        cols = ",\n  ".join(f'"{c.name}" {c.sql_type}' for c in self.columns)
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n  {cols}\n)"

    def empty(self) -> pa.Table:
        return self.arrow_schema.empty_table()

    def from_rows(self, rows: list[dict]) -> pa.Table:
        """Rows as dicts → an Arrow table in this exact column order and types."""
        import pyarrow as pa

        return pa.Table.from_pylist(rows, schema=self.arrow_schema)

    @property
    def keyed_schema(self) -> pa.Schema:
        """This table's schema behind a ``raw_id`` column: rows of many documents before publishing."""
        import pyarrow as pa

        return pa.schema([pa.field("raw_id", pa.string()), *self.arrow_schema])

    def conform(self, table: pa.Table) -> pa.Table:
        """``table``'s columns of this table, in its order and types (extra columns such as
        ``raw_id`` dropped, missing ones null)."""
        import pyarrow as pa

        n = table.num_rows
        return pa.Table.from_arrays(
            [table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(n, f.type)
             for f in self.arrow_schema], schema=self.arrow_schema)


class DocumentRows:
    """Rows of one table for a batch of documents, held column by column beside each row's ``raw_id``.

    Why columns: a batch of 5,000 articles has ~150k mention, sentence and quantity rows. As one
    dict per row they took 4-5× the memory (SaudiNewsNet, a batch's linked mentions: 61 MB as dicts,
    15 MB as an Arrow table), and they cross from the workers to the flow by pickle. The workers
    send plain lists (Arrow there cost each worker ~70 MB); the flow makes them Arrow tables. Keyed
    by ``raw_id``, not ``article_id``: two candidates can share an ``article_id`` while their bodies,
    and so their offsets, differ; only the published one's rows are kept (:func:`rows_of`).
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self.columns: dict[str, list] = {"raw_id": [], **{name: [] for name in TABLES[table].column_names}}
        self._row_columns = list(self.columns.items())[1:]  # append() runs ~150k times a batch

    def append(self, raw_id: str, row: dict) -> None:
        self.columns["raw_id"].append(raw_id)
        for name, values in self._row_columns:
            values.append(row.get(name))

    def extend(self, other: DocumentRows) -> None:
        for name, values in self.columns.items():
            values.extend(other.columns[name])

    def __len__(self) -> int:
        return len(self.columns["raw_id"])

    def to_arrow(self) -> pa.Table:
        import pyarrow as pa

        return pa.table(self.columns, schema=TABLES[self.table].keyed_schema)


def keyed_empty(table: str) -> pa.Table:
    return TABLES[table].keyed_schema.empty_table()


def rows_of(keyed: pa.Table, raw_ids: set[str]) -> pa.Table:
    """The rows of the documents ``raw_ids``, grouped by ``raw_id`` in sorted order, each document's
    rows in their original order (Arrow's sort is stable)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kept = keyed.filter(pc.is_in(keyed.column("raw_id"), pa.array(sorted(raw_ids), pa.string())))
    return kept.take(pc.sort_indices(kept, sort_keys=[("raw_id", "ascending")]))


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


RAW_DOCUMENTS = Table(
    "raw_documents",
    "Bronze: every distinct input record, byte for byte, so everything downstream can be rebuilt.",
    _cols(
        ("raw_id", "VARCHAR", "BLAKE2b-128 of content: the record's identity"),
        ("location", "VARCHAR", "where it was first read: path, zip!member, #line or [index]"),
        ("source_name", "VARCHAR", "the input it was found under"),
        ("format", "VARCHAR", "txt | json | jsonl | html | unknown"),
        ("content", "BLOB", "the record's bytes (JSON records in canonical form)"),
        ("byte_size", "BIGINT", "length of content"),
        ("url", "VARCHAR", "where an HTML record was fetched from (WARC, feed page), if known: reprocessing needs it"),
        ("ingested_at", "TIMESTAMPTZ", "when it was published to the warehouse"),
        ("run_id", "VARCHAR", "the run that ingested it"),
    ),
)

ARTICLES = Table(
    "articles",
    "Silver: one row per distinct story (by the matching key of its cleaned text).",
    _cols(
        ("article_id", "VARCHAR", "BLAKE2b-128 of the matching key of the cleaned text"),
        ("raw_id", "VARCHAR", "the raw record it was built from"),
        ("source", "VARCHAR", "outlet (from the record) or the input name"),
        ("url", "VARCHAR", "article URL if known"),
        ("title", "VARCHAR", "cleaned headline, display form"),
        ("body", "VARCHAR", "cleaned text, display form; paragraphs separated by a blank line"),
        ("author", "VARCHAR", "byline if known"),
        ("published_at", "TIMESTAMPTZ", "publication time in UTC (start of period if imprecise)"),
        ("published_precision", "VARCHAR", "datetime | day | month | year"),
        ("published_raw", "VARCHAR", "the date string as found"),
        ("language", "VARCHAR", "ISO 639-1 code, 'und' if unknown"),
        ("language_confidence", "DOUBLE", "0..1"),
        ("match_key", "VARCHAR", "matching key of title and body: dedup, search, linking"),
        ("removed_lines", "INTEGER", "lines the cleaner removed (boilerplate, repeated headline)"),
        ("cluster_id", "VARCHAR", "near-duplicate cluster (MinHash/LSH, verified Jaccard): the founding article's id"),
        ("cluster_similarity", "DOUBLE", "verified similarity to the nearest earlier member (1.0 for a founder)"),
        ("location", "VARCHAR", "where the raw record was read"),
        ("input_format", "VARCHAR", "txt | json | jsonl | html"),
        ("ingested_at", "TIMESTAMPTZ", "when it was published"),
        ("run_id", "VARCHAR", "the run that published it"),
        ("pipeline_version", "VARCHAR", "code and model version that produced this row"),
    ),
)

DUPLICATES = Table(
    "duplicates",
    "A record whose content was already published: mapped to the article it duplicates.",
    _cols(
        ("raw_id", "VARCHAR", "the duplicate record"),
        ("location", "VARCHAR", "where the duplicate was read"),
        ("article_id", "VARCHAR", "the article it duplicates"),
        ("kind", "VARCHAR", "same_bytes (identical record) | same_text (same cleaned text)"),
        ("source", "VARCHAR", "outlet of the duplicate"),
        ("url", "VARCHAR", "URL of the duplicate"),
        ("detected_at", "TIMESTAMPTZ", "when"),
        ("run_id", "VARCHAR", "the run that saw it"),
        ("pipeline_version", "VARCHAR", "code and model version that produced this row"),
    ),
)

QUARANTINE = Table(
    "quarantine",
    "Records that could not be published, with the stage and the reason.",
    _cols(
        ("raw_id", "VARCHAR", "the record (its bytes are in raw_documents)"),
        ("location", "VARCHAR", "where it was read"),
        ("source_name", "VARCHAR", "the input it was found under"),
        ("stage", "VARCHAR", "ingest | prepare | validate"),
        ("expectation", "VARCHAR", "the failed GX expectation, if any"),
        ("reason", "VARCHAR", "human-readable cause"),
        ("quarantined_at", "TIMESTAMPTZ", "when"),
        ("run_id", "VARCHAR", "the run that quarantined it"),
        ("resolved_at", "TIMESTAMPTZ", "when a replay settled it (NULL while open)"),
        ("resolution", "VARCHAR", "published | duplicate | quarantined again (by the replay)"),
        ("resolved_by_run", "VARCHAR", "the replay run"),
        ("pipeline_version", "VARCHAR", "code and model version that produced this row"),
    ),
)

RUNS = Table(
    "runs",
    "One row per flow run: what went in, where each record ended, and the validation outcome.",
    _cols(
        ("run_id", "VARCHAR", "akhbar run id (time-sortable)"),
        ("flow_run_id", "VARCHAR", "Prefect flow run id"),
        ("started_at", "TIMESTAMPTZ", ""),
        ("ended_at", "TIMESTAMPTZ", ""),
        ("status", "VARCHAR", "running | completed | failed | abandoned"),
        ("inputs", "VARCHAR", "JSON list of input paths"),
        ("records_in", "BIGINT", "records read"),
        ("published", "BIGINT", "new articles"),
        ("duplicates", "BIGINT", "records mapped to an existing article"),
        ("quarantined", "BIGINT", "records quarantined"),
        ("skipped", "BIGINT", "records already ingested by an earlier run"),
        ("batches", "INTEGER", "batches published"),
        ("validation_success", "BOOLEAN", "every batch passed its table-level expectations"),
        ("data_docs", "VARCHAR", "location of this run's Data Docs"),
        ("pipeline_version", "VARCHAR", ""),
        ("error", "VARCHAR", "why the run failed, if it did"),
        ("stage_seconds", "VARCHAR", "JSON: wall seconds per stage (prepare, entities, audit, publish, …)"),
        ("batch_seconds", "VARCHAR", "JSON: per stage, the seconds of each batch in order (do batches slow "
                                     "down as the warehouse grows?)"),
    ),
)

SOURCE_TEMPLATES = Table(
    "source_templates",
    "Per-source counts of lines seen at article edges (append-only deltas; SUM to read). The cleaner "
    "learns each outlet's template lines from them, so later runs learn from what the warehouse holds.",
    _cols(
        ("source", "VARCHAR", "outlet"),
        ("line_key", "VARCHAR", "template key of the line or block (numbers masked)"),
        ("n_articles", "BIGINT", "articles of this batch whose edges carry it"),
        ("run_id", "VARCHAR", ""),
        ("pipeline_version", "VARCHAR", "code version that counted it"),
    ),
)

SOURCE_TOTALS = Table(
    "source_totals",
    "Articles observed per source (append-only deltas), the denominator of source_templates.",
    _cols(
        ("source", "VARCHAR", "outlet"),
        ("n_articles", "BIGINT", "articles of this batch"),
        ("run_id", "VARCHAR", ""),
        ("pipeline_version", "VARCHAR", "code version that counted it"),
    ),
)

ARTICLE_SIGNATURES = Table(
    "article_signatures",
    "MinHash signature of each article, so near-duplicate clustering continues across runs.",
    _cols(
        ("article_id", "VARCHAR", "the article"),
        ("signature", "BLOB", "MinHash signature (uint64 per permutation)"),
        ("run_id", "VARCHAR", ""),
        ("pipeline_version", "VARCHAR", "code version that computed it"),
    ),
)

SENTENCES = Table(
    "sentences",
    "Paragraphs and sentences of each article as character offsets into articles.body.",
    _cols(
        ("article_id", "VARCHAR", "the article"),
        ("sentence_index", "INTEGER", "0-based, in body order (entity_mentions.sentence_index refers to it)"),
        ("paragraph_index", "INTEGER", "0-based paragraph (body lines separated by a blank line)"),
        ("start", "INTEGER", "offset of the sentence in body"),
        ("end", "INTEGER", "end offset (exclusive)"),
        ("pipeline_version", "VARCHAR", "code version that segmented the body"),
    ),
)

ENTITIES = Table(
    "entities",
    "Every entity mentions can link to: reference data (seeds/entities.csv), countries (ISO 3166, "
    "from CLDR), cities (GeoNames) and entities discovered in the news. Insert-only; ids are stable.",
    _cols(
        ("entity_id", "VARCHAR", "stable id: seed id, iso:XX, gn:<geonames id>, or ak:<hash> if discovered"),
        ("type", "VARCHAR", "PER | LOC | ORG"),
        ("name_ar", "VARCHAR", "canonical Arabic name"),
        ("name_en", "VARCHAR", "canonical English name"),
        ("wikidata_id", "VARCHAR", "Q-id where known"),
        ("geonames_id", "BIGINT", "GeoNames id for places where known"),
        ("iso_code", "VARCHAR", "ISO 3166-1 alpha-2 for countries"),
        ("aliases", "VARCHAR[]", "other names and spellings, several languages"),
        ("origin", "VARCHAR", "reference | country | city | discovered"),
        ("run_id", "VARCHAR", "the run that added it"),
        ("pipeline_version", "VARCHAR", "code and model version of the run that added it"),
    ),
)

ENTITY_MENTIONS = Table(
    "entity_mentions",
    "Each named-entity mention in a published article, linked to an entity. body[start:end] == surface.",
    _cols(
        ("article_id", "VARCHAR", "the article"),
        ("entity_id", "VARCHAR", "the entity (see entities; merges in entity_merges)"),
        ("surface", "VARCHAR", "the text as written, e.g. لروسيا"),
        ("normalized", "VARCHAR", "the name after clitic stripping, e.g. روسيا"),
        ("label", "VARCHAR", "PER | LOC | ORG"),
        ("start", "INTEGER", "character offset into articles.body"),
        ("end", "INTEGER", "end offset (exclusive)"),
        ("sentence_index", "INTEGER", "sentence of the body it occurs in (0-based)"),
        ("method", "VARCHAR", "how it was linked: alias | clitic | doc-variant | fuzzy | new | …"),
        ("confidence", "DOUBLE", "0..1"),
        ("run_id", "VARCHAR", ""),
        ("pipeline_version", "VARCHAR", "code and model version"),
    ),
)

QUANTITIES = Table(
    "quantities",
    "Dates, percentages, amounts of money and numbers mentioned in published articles.",
    _cols(
        ("article_id", "VARCHAR", "the article"),
        ("label", "VARCHAR", "DATE | PERCENT | MONEY | NUMBER"),
        ("surface", "VARCHAR", "the text as written (Arabic-Indic digits kept)"),
        ("start", "INTEGER", "character offset into articles.body"),
        ("end", "INTEGER", "end offset (exclusive)"),
        ("sentence_index", "INTEGER", ""),
        ("value", "DOUBLE", "numeric value (percent as 0–100, money in its currency)"),
        ("unit", "VARCHAR", "ISO 4217 currency for MONEY, % for PERCENT"),
        ("date_value", "TIMESTAMPTZ", "for DATE: start of the stated period, UTC"),
        ("date_precision", "VARCHAR", "for DATE: datetime | day | month | year"),
        ("run_id", "VARCHAR", ""),
        ("pipeline_version", "VARCHAR", ""),
    ),
)

ENTITY_MERGES = Table(
    "entity_merges",
    "Recorded decisions that one entity id denotes another (never a silent rewrite).",
    _cols(
        ("from_id", "VARCHAR", "the id that is redirected"),
        ("to_id", "VARCHAR", "the entity it is the same as"),
        ("reason", "VARCHAR", "alias | fuzzy | …"),
        ("evidence", "VARCHAR", "why, in words"),
        ("run_id", "VARCHAR", ""),
        ("merged_at", "TIMESTAMPTZ", ""),
        ("pipeline_version", "VARCHAR", "code and model version that decided the merge"),
    ),
)

# Gold tables: aggregates computed by SQL from the tables above (akhbar.warehouse.gold), never staged
# from Python rows. Every gold ``day`` is a UTC calendar date (gold.utc_day), NULL for undated articles.
ENTITY_DAILY = Table(
    "entity_daily",
    "Gold: one row per (entity, publication day): how much the news talked about it. Each batch adds "
    "its counts in the publish transaction.",
    _cols(
        ("entity_id", "VARCHAR", "the entity, merged ids resolved through entity_merges (chains followed)"),
        ("name_ar", "VARCHAR", "canonical Arabic name (entities.name_ar)"),
        ("name_en", "VARCHAR", "canonical English name (entities.name_en)"),
        ("label", "VARCHAR", "PER | LOC | ORG: the entity's type (the mentions' label if it has none)"),
        ("day", "DATE", "publication day: UTC date of articles.published_at; NULL for undated articles"),
        ("mentions", "BIGINT", "mentions in the articles of that day"),
        ("articles", "BIGINT", "articles of that day mentioning it"),
        ("sources", "BIGINT", "distinct outlets (articles.source) of those articles"),
        ("outlets", "VARCHAR[]", "those outlets, sorted (kept so a batch can add to a day without re-reading it)"),
    ),
)

ENTITY_PAIRS = Table(
    "entity_pairs",
    "Gold: entities mentioned in the same article, per publication day (entity_a < entity_b). Sum "
    "`articles` over days for totals.",
    _cols(
        ("day", "DATE", "publication day (UTC date of articles.published_at); NULL for undated articles"),
        ("entity_a", "VARCHAR", "the smaller entity id of the pair (merges resolved)"),
        ("name_a_ar", "VARCHAR", "entity_a's Arabic name"),
        ("name_a_en", "VARCHAR", "entity_a's English name"),
        ("entity_b", "VARCHAR", "the larger entity id of the pair (merges resolved)"),
        ("name_b_ar", "VARCHAR", "entity_b's Arabic name"),
        ("name_b_en", "VARCHAR", "entity_b's English name"),
        ("articles", "BIGINT", "articles of that day mentioning both"),
        ("joint_mentions", "BIGINT", "sum over those articles of min(mentions of a, mentions of b)"),
    ),
)

ENTITY_PAIR_TOTALS = Table(
    "entity_pair_totals",
    "Gold: entities mentioned in the same article, over all days: one row per ordered pair, so "
    "`WHERE entity_id = …` finds everyone an entity appears with (sorted by entity_id, which row "
    "groups skip on). entity_pairs summed over days, kept in step by each batch.",
    _cols(
        ("entity_id", "VARCHAR", "the entity (merges resolved)"),
        ("other_id", "VARCHAR", "an entity mentioned in the same articles (each pair appears both ways)"),
        ("other_name_ar", "VARCHAR", "other_id's Arabic name"),
        ("other_name_en", "VARCHAR", "other_id's English name"),
        ("articles", "BIGINT", "articles mentioning both, all days (dated or not)"),
        ("joint_mentions", "BIGINT", "sum over those articles of min(mentions of each)"),
    ),
)

SOURCE_DAILY = Table(
    "source_daily",
    "Gold: per source and processing day, where its records ended (published, duplicate, quarantined). "
    "Records settled by a replay count once, where they ended: records = articles + duplicates + quarantined.",
    _cols(
        ("source", "VARCHAR", "the best-known outlet: articles.source; for duplicates their own source, or "
                              "(same_bytes copies, which carry none) the source of the first record with the same "
                              "bytes; for quarantine quarantine.source_name (the outlet if the record was parsed, "
                              "else the input name — the same fallback articles.source uses)"),
        ("day", "DATE", "processing day: UTC date of ingested_at / detected_at / quarantined_at (a quarantined "
                        "record has no publication date, so rates are per day of arrival)"),
        ("records", "BIGINT", "articles + duplicates + quarantined"),
        ("articles", "BIGINT", "articles published"),
        ("duplicates", "BIGINT", "records found to be copies of a published article"),
        ("quarantined", "BIGINT", "open quarantine rows (resolved_at IS NULL; a replayed record counts where it ended)"),
        ("languages", "VARCHAR[]", "distinct languages of the published articles, sorted"),
        ("duplicate_rate", "DOUBLE", "duplicates / records"),
        ("quarantine_rate", "DOUBLE", "quarantined / records"),
    ),
)

STORY_CLUSTERS = Table(
    "story_clusters",
    "Gold: one row per story (near-duplicate cluster of articles), with every outlet that carried it.",
    _cols(
        ("cluster_id", "VARCHAR", "articles.cluster_id (the founding article's id; its own id if NULL)"),
        ("title", "VARCHAR", "representative title: the founding article's"),
        ("first_seen", "TIMESTAMPTZ", "earliest published_at of its articles (NULL if all undated)"),
        ("last_seen", "TIMESTAMPTZ", "latest published_at of its articles"),
        ("first_day", "DATE", "publication day of first_seen (UTC date)"),
        ("size", "BIGINT", "articles in the cluster"),
        ("duplicates", "BIGINT", "duplicate records of those articles"),
        ("outlets", "VARCHAR[]", "distinct outlets of its articles and duplicates, sorted"),
        ("sources", "BIGINT", "number of outlets"),
        ("languages", "VARCHAR[]", "distinct languages of its articles, sorted"),
    ),
)

INPUT_FILES = Table(
    "input_files",
    "Local input files whose every record a completed run accounted for: a later run finding the same "
    "bytes at the same path skips the file without parsing it.",
    _cols(
        ("path", "VARCHAR", "absolute path of the file (a zip, a JSONL file, a WARC …)"),
        ("byte_size", "BIGINT", "its size when it was read"),
        ("fingerprint", "VARCHAR", "BLAKE2b-128 of its bytes"),
        ("records", "BIGINT", "records it held (all published, duplicates, quarantined or skipped)"),
        ("run_id", "VARCHAR", "the completed run that read it"),
        ("recorded_at", "TIMESTAMPTZ", "when that run ended"),
    ),
)

DATA_TABLES: tuple[Table, ...] = (RAW_DOCUMENTS, ARTICLES, DUPLICATES, QUARANTINE, SOURCE_TEMPLATES, SOURCE_TOTALS,
                                  ARTICLE_SIGNATURES, SENTENCES, ENTITIES, ENTITY_MENTIONS, QUANTITIES, ENTITY_MERGES)
GOLD_TABLES: tuple[Table, ...] = (ENTITY_DAILY, ENTITY_PAIRS, ENTITY_PAIR_TOTALS, SOURCE_DAILY, STORY_CLUSTERS)
ALL_TABLES: tuple[Table, ...] = (*DATA_TABLES, RUNS, INPUT_FILES, *GOLD_TABLES)
TABLES = {t.name: t for t in ALL_TABLES}


@lru_cache(maxsize=None)
def _arrow_schema(table: Table) -> pa.Schema:
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c.sql_type)) for c in table.columns])
