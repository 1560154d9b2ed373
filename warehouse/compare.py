"""Compare two warehouses row by row: the check behind crash, concurrency and soak tests.

Columns that differ between runs by design (run ids and timestamps) are left out; so are the
input-name column (a file given alone is its own source) and the per-batch template deltas, which
are compared as totals, since they depend on how the input was split into runs and batches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.schema import DATA_TABLES, Table

VOLATILE = frozenset({"run_id", "ingested_at", "detected_at", "quarantined_at", "merged_at"})


def snapshot(root: Path | str, tables: Sequence[Table] = DATA_TABLES) -> dict[str, list[tuple]]:
    """Every data table's (or each of ``tables``') rows (sorted), without the volatile columns."""
    con = Warehouse(root).connect(read_only=True)
    try:
        out = {}
        for table in tables:
            cols = ", ".join(f'"{c}"' for c in table.column_names if c not in VOLATILE)
            out[table.name] = sorted(con.execute(f"SELECT {cols} FROM {table.name}").fetchall(), key=repr)
        return out
    finally:
        con.close()


def comparable(snap: dict[str, list[tuple]], tables: Sequence[Table] = DATA_TABLES) -> dict[str, list[tuple]]:
    """A snapshot reduced to what must not depend on how inputs were split into runs and batches."""
    out: dict[str, list[tuple]] = {}
    for table in tables:
        names = [c for c in table.column_names if c not in VOLATILE]
        rows = snap[table.name]
        if table.name in ("source_templates", "source_totals"):
            i = names.index("n_articles")  # summed over batches; every other column is the key
            totals: Counter = Counter()
            for row in rows:
                totals[row[:i] + row[i + 1:]] += row[i]
            out[table.name] = sorted(((*k, n) for k, n in totals.items()), key=repr)
        elif "source_name" in names:
            i = names.index("source_name")
            out[table.name] = sorted((r[:i] + r[i + 1:] for r in rows), key=repr)
        else:
            out[table.name] = rows
    return out


def differences(a: dict[str, list[tuple]], b: dict[str, list[tuple]]) -> dict[str, tuple[int, int]]:
    """Per table: (rows only in a, rows only in b), counting duplicates; empty when equal."""
    out = {}
    for name in a.keys() | b.keys():
        ca, cb = Counter(map(repr, a.get(name, []))), Counter(map(repr, b.get(name, [])))
        only_a, only_b = sum((ca - cb).values()), sum((cb - ca).values())
        if only_a or only_b:
            out[name] = (only_a, only_b)
    return out
