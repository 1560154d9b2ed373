"""What every ``akhbar`` command shares: consoles, the --warehouse option, output formats, errors.

Output keeps Arabic in logical order (never reshaped or reversed): terminals with bidi support show
it right to left, CSV and JSON keep it intact (UTF-8, no ``\\u`` escapes).
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)

WarehouseOpt = Annotated[
    Path | None,
    typer.Option("--warehouse", "-w", help="Warehouse directory \\[env: AKHBAR_WAREHOUSE; default: ./var/warehouse]."),
]


class OutputFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error that says what to do, and return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def jsonable(value: Any) -> Any:
    """A value as JSON/CSV can hold it (dates ISO, bytes as text, floats rounded for reading)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return value


def print_rows(rows: list[dict[str, Any]], fmt: OutputFormat, columns: list[str] | None = None,
               show_lines: bool = False) -> None:
    """Rows as a table (with a row count), CSV or JSON on stdout."""
    columns = columns if columns is not None else (list(rows[0]) if rows else [])
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps([{c: jsonable(r.get(c)) for c in columns} for r in rows], ensure_ascii=False,
                                    indent=2) + "\n")
    elif fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[jsonable(r.get(c)) for c in columns] for r in rows])
    else:
        table = Table(show_lines=show_lines)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(jsonable(row.get(c))) for c in columns))
        console.print(table)
        console.print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", style="dim")
