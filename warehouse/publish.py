"""Write → audit → publish: stage a batch as Parquet, validate the staged files, commit them at once.

Staging first means the audit sees exactly the bytes that will be published (not an in-memory
object that may differ), and a crash before the commit leaves only files under ``staging/``, which
no reader ever sees and the next run deletes. The commit is one DuckLake transaction across all
tables, so readers see the whole batch or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from akhbar.tasks.validate import ValidationError, ValidationOutcome, Validator
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.schema import TABLES

if TYPE_CHECKING:
    import pandas as pd

# Which column identifies a row of each table in validation results.
ID_COLUMNS = {"articles": "raw_id", "raw_documents": "raw_id", "duplicates": "raw_id", "quarantine": "raw_id",
              "entities": "entity_id", "entity_mentions": "article_id", "quantities": "article_id"}
AUDITED_TABLES = tuple(ID_COLUMNS)


@dataclass
class BatchTables:
    """Rows to append, per table name: dicts in the table's column layout, or Arrow tables.

    ``pipeline_version`` is stamped here on every row of a table that has the column and a row that
    carries none: every published row passes through one batch, so no row builder can forget it.
    Tables with many rows a batch (mentions, sentences, quantities) arrive as Arrow tables, which
    cost a fraction of their rows as dicts.
    """

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tables: dict[str, list[pa.Table]] = field(default_factory=dict)
    pipeline_version: str | None = None

    def add(self, table: str, rows: list[dict[str, Any]] | pa.Table) -> None:
        stamp = self.pipeline_version is not None and "pipeline_version" in TABLES[table].column_names
        if isinstance(rows, pa.Table):
            rows = TABLES[table].conform(rows)
            if stamp:
                i = rows.schema.get_field_index("pipeline_version")
                unset = pc.fill_null(pc.equal(rows.column(i), ""), True)  # as for dicts: None or ""
                rows = rows.set_column(i, "pipeline_version",
                                       pc.if_else(unset, self.pipeline_version, rows.column(i)))
            self.tables.setdefault(table, []).append(rows)
            return
        if stamp:
            rows = [r if r.get("pipeline_version") else {**r, "pipeline_version": self.pipeline_version}
                    for r in rows]
        self.rows.setdefault(table, []).extend(rows)

    def arrow(self, table: str) -> pa.Table:
        parts = self.tables.get(table, [])
        if table in self.rows or not parts:
            parts = [TABLES[table].from_rows(self.rows.get(table, [])), *parts]
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def count(self, table: str) -> int:
        return len(self.rows.get(table, [])) + sum(t.num_rows for t in self.tables.get(table, []))


def suite_parameters(settings_min_body_chars: int, now: datetime | None = None) -> dict[str, Any]:
    """Values for the ``$PARAMETER`` placeholders in the suite files."""
    now = now or datetime.now(timezone.utc)
    params: dict[str, Any] = {
        "min_body_chars": settings_min_body_chars,
        # A date up to two days ahead is a time-zone artefact, not an error.
        "max_published_at": (now + timedelta(days=2)).isoformat(),
    }
    for name, table in TABLES.items():
        params[f"{name}_columns"] = table.column_names
    return params


def to_frame(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas for GX, keeping strings as Python objects and timestamps tz-aware."""
    return table.to_pandas(types_mapper=None, strings_to_categorical=False)


def stage(batch: BatchTables, directory: Path, tables: list[str]) -> dict[str, Path]:
    """Write each table's rows as one zstd Parquet file in ``directory``."""
    staged: dict[str, Path] = {}
    for name in tables:
        path = directory / f"{name}.parquet"
        pq.write_table(batch.arrow(name), path, compression="zstd")
        staged[name] = path
    return staged


def audit(validator: Validator, staged: dict[str, Path], *, run_name: str, parameters: dict[str, Any],
          entity_ids: set[str] | frozenset[str] = frozenset()) -> list[ValidationOutcome]:
    """Validate every staged file; any failure means this batch must not be published.

    ``entity_ids`` are the entities that exist once this batch is published (warehouse + batch):
    every mention must link to one of them.
    """
    outcomes: list[ValidationOutcome] = []
    bodies: dict[str, str] | None = None
    for name, path in staged.items():
        if name not in ID_COLUMNS:
            continue
        frame = to_frame(pq.read_table(path))
        if frame.empty:
            continue
        if name in ("entity_mentions", "quantities"):
            if bodies is None:
                cols = pq.read_table(staged["articles"], columns=["article_id", "body"]).to_pydict()
                bodies = dict(zip(cols["article_id"], cols["body"]))
            frame = with_audit_columns(frame, bodies, entity_ids if name == "entity_mentions" else None)
        outcome = validator.validate(name, frame, id_column=ID_COLUMNS[name], run_name=run_name,
                                     parameters=parameters)
        outcomes.append(outcome)
        if not outcome.success:
            # At the publish gate every failure is fatal: row-level problems were quarantined
            # before, so a failure here means the batch itself is wrong.
            raise ValidationError(outcome, outcome.failures)
    return outcomes


def with_audit_columns(frame: pd.DataFrame, bodies: dict[str, str], entity_ids: set[str] | None) -> pd.DataFrame:
    """Columns that let GX check references: ``body_slice`` (body[start:end] of the mention's
    article, None if that article is not in the batch) and ``entity_exists``."""
    frame = frame.copy()
    frame["body_slice"] = [
        bodies[a][s:e] if a in bodies else None
        for a, s, e in zip(frame["article_id"], frame["start"], frame["end"])
    ]
    if entity_ids is not None:
        # Arrow's hash lookup: pandas' isin on a string column first filters the ~70k ids in Python
        # (0.5 s per 100k mentions against 0.02 s).
        known = pa.array(list(entity_ids), pa.string())
        frame["entity_exists"] = pc.is_in(pa.array(frame["entity_id"], pa.string()), value_set=known).to_numpy(
            zero_copy_only=False)
    return frame


def commit(warehouse: Warehouse, con: duckdb.DuckDBPyConnection, staged: dict[str, Path],
           statements: list[tuple[str, list]] | None = None) -> None:
    """Append all staged tables (and run ``statements``) in one transaction."""
    non_empty = {name: path for name, path in staged.items() if pq.read_metadata(path).num_rows}
    warehouse.publish(con, non_empty, statements or [])
