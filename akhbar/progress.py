"""Progress of a running pipeline, for whoever is watching (the CLI's bar; Prefect has its artifact).

The flow cannot take a callback as a parameter (Prefect parameters must serialize), so listeners
register here and the flow reports after every record batch. With no listener, reporting is free.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Listener = Callable[[int, int], None]  # (files read, records read)
_listeners: list[Listener] = []


def report(files_read: int, records_read: int) -> None:
    """Tell every listener how far the run is."""
    for listener in list(_listeners):
        listener(files_read, records_read)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


@contextmanager
def cli_progress(console: Console, inputs: list[str]) -> Iterator[Any]:
    """A progress bar over input files (zip members count one each), with the record count."""
    from akhbar.tasks.ingest import count_input_files

    total = count_input_files(inputs)
    columns = (SpinnerColumn(), TextColumn("[bold]ingesting"), BarColumn(), MofNCompleteColumn(),
               TextColumn("files · {task.fields[records]:,} records"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task_id = bar.add_task("ingest", total=total or None, records=0)

        def update(files: int, records: int) -> None:
            bar.update(task_id, completed=files, records=records)

        with listening(update):
            yield bar


@contextmanager
def record_progress(console: Console, total: int, label: str = "reprocessing") -> Iterator[Any]:
    """A progress bar over a known number of records (``akhbar reprocess`` reads no files)."""
    columns = (SpinnerColumn(), TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("records"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task_id = bar.add_task(label, total=total or None)

        def update(files: int, records: int) -> None:
            bar.update(task_id, completed=min(records, total) if total else records)

        with listening(update):
            yield bar
