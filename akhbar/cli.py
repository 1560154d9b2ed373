"""The ``akhbar`` command line: run the pipeline, query the warehouse, inspect results.

Output is meant for people reading Arabic: text is printed in logical order and never reshaped or
reversed (terminals with bidi support render it right to left; CSV and JSON keep it intact), JSON is
written with real characters rather than ``\\u`` escapes, and errors say what to do next.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from akhbar.cli_common import OutputFormat, WarehouseOpt, console
from akhbar.cli_common import fail as _fail
from akhbar.cli_common import print_rows as _print_rows
from akhbar.config import get_settings

if TYPE_CHECKING:
    from akhbar.warehouse.lake import Warehouse

app = typer.Typer(
    help="akhbar (أخبار): turn raw news articles into a clean, validated, entity-annotated warehouse.\n\n"
    "Typical session:\n\n"
    "  akhbar run                      # ingest the embedded seeds/ articles\n\n"
    "  akhbar run DIR_OR_ZIP ...       # ingest your files (txt, json, jsonl, html, zip; dirs recursively)\n\n"
    "  akhbar sql \"select title from articles limit 5\"",
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def _check_field_map(field_map: list[str] | None) -> None:
    """Refuse a malformed --map before Prefect starts (a clear message, not a failed flow run)."""
    from akhbar.tasks.ingest import FieldMap

    try:
        FieldMap.parse(field_map or [])
    except ValueError as exc:
        raise _fail(str(exc)) from exc


@app.command()
def run(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(help="Files, directories (read recursively), .zip archives, RSS/Atom feeds (files or "
                       "http(s) URLs) and WARC files. Default: the seeds/ articles."),
    ] = None,
    warehouse: WarehouseOpt = None,
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help="Map an article field to a JSON key, e.g. --map body=article_text "
                     "(fields: title, body, url, published, source, author). Repeatable."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Records per atomic batch \\[env: AKHBAR_BATCH_SIZE].")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Ingest articles, clean them, validate every batch with Great Expectations and publish it atomically.

    Every input record ends in exactly one place: published, duplicate (mapped to its article),
    quarantined (with a reason) or skipped (already ingested by an earlier run).
    """
    settings = get_settings(warehouse=warehouse, batch_size=batch_size)
    paths = [str(p) for p in (inputs or [settings.seeds_dir / "articles"])]
    missing = [p for p in paths if not p.lower().startswith(("http://", "https://")) and not Path(p).exists()]
    if missing:
        raise _fail(f"input not found: {', '.join(missing)}")
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from akhbar.flows.pipeline import ingest_flow  # Prefect import is slow: only when running
    from akhbar.progress import cli_progress

    _check_field_map(field_map)
    with cli_progress(console, paths):
        try:
            summary = ingest_flow(inputs=paths, warehouse=str(settings.warehouse), field_map=field_map or [],
                                  batch_size=settings.batch_size)
        except Exception as exc:  # noqa: BLE001 - the message is the product here
            raise _fail(f"the run failed: {exc}\nThe warehouse is unchanged for the failed batch; "
                        "fix the cause and run again (already published batches are skipped).") from exc
    _print_summary(summary)


def _print_summary(s: dict[str, Any]) -> None:
    table = Table(title=f"akhbar run {s['run_id']} — {s['status']}", show_header=True)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for label, key in (("read", "records_in"), ("published", "published"), ("duplicates", "duplicates"),
                       ("quarantined", "quarantined"), ("skipped (already ingested)", "skipped")):
        table.add_row(label, f"{s[key]:,}")
    console.print(table)
    if s["records_in"] and s["skipped"] == s["records_in"]:
        console.print("Nothing new: every record was already ingested by an earlier run; no rows were added.")
    for reason, n in sorted(s.get("quarantine_reasons", {}).items(), key=lambda kv: -kv[1]):
        console.print(f"  quarantined {n:,}: {reason}")
    console.print(f"validation: {'passed' if s['validation_success'] else 'FAILED'}; "
                  f"{s['seconds']:.1f} s; warehouse: {s['warehouse']}")
    if s.get("data_docs"):
        console.print(f"Data Docs: file://{s['data_docs']}")


REPROCESS_HELP = (
    "Rebuild every derived table from raw_documents with the current code, then switch readers at once.\n\n"
    "When: after an upgrade that changes cleaning, entity extraction or a model, or after changing a setting "
    "that decides outcomes (AKHBAR_MIN_BODY_CHARS, AKHBAR_NEAR_DUPLICATE_THRESHOLD, AKHBAR_TIMEZONE…). Every "
    "record the warehouse holds goes through the pipeline again, as in a fresh ingest; nothing is read from "
    "the inputs (records quarantined while being read keep their reason). To give only quarantined records "
    "another chance, `akhbar quarantine replay` is quicker.\n\n"
    "How: articles, duplicates, quarantine, entities, mentions, clusters and gold tables are built in a shadow "
    "warehouse (<warehouse>/reprocess/<run_id>/: needs about as much free disk as the warehouse) and replace "
    "the old ones in one transaction. `akhbar sql` keeps answering and sees the old state or the new one, never "
    "a mix; a crash before the switch changes nothing. Every derived row then carries the new pipeline_version "
    "(set AKHBAR_PIPELINE_VERSION to tag a change that is not a new akhbar release); the old rows stay "
    "readable with `akhbar sql --as-of RUN_ID` until snapshots are expired. Refused while another run is "
    "active; runs started meanwhile are waited for, and what they published is reprocessed too.\n\n"
    "Example: AKHBAR_MIN_BODY_CHARS=80 akhbar reprocess"
)


@app.command(help=REPROCESS_HELP)
def reprocess(
    warehouse: WarehouseOpt = None,
    field_map: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help="Field mapping the inputs were ingested with (as for `run`; not stored "
                     "in the warehouse). Repeatable."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(
        help="Records per atomic batch of the shadow warehouse (env: AKHBAR_BATCH_SIZE).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Rebuild the derived tables from raw_documents and switch readers atomically (help: REPROCESS_HELP)."""
    from akhbar.warehouse.lake import Warehouse, WarehouseError

    settings = get_settings(warehouse=warehouse, batch_size=batch_size)
    try:
        total = _reprocess_total(Warehouse(settings.warehouse))
    except WarehouseError as exc:
        raise _fail(str(exc)) from exc
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from akhbar.flows.reprocess import reprocess_flow
    from akhbar.progress import record_progress

    _check_field_map(field_map)
    with record_progress(console, total):
        try:
            summary = reprocess_flow(warehouse=str(settings.warehouse), field_map=field_map or [],
                                     batch_size=settings.batch_size)
        except Exception as exc:  # noqa: BLE001 - the message is the product here
            raise _fail(f"the reprocess failed: {exc}\nThe warehouse is unchanged; fix the cause and run "
                        "`akhbar reprocess` again.") from exc
    _print_reprocess_summary(summary)


def _reprocess_total(wh: Warehouse) -> int:
    """Records a reprocess will stream (for the progress bar)."""
    from akhbar.warehouse.reprocess import count_occurrences, current_snapshot

    con = wh.connect(read_only=True)
    try:
        return count_occurrences(con, current_snapshot(con))
    finally:
        con.close()


def _print_reprocess_summary(s: dict[str, Any]) -> None:
    console.print(f"[bold]akhbar reprocess {s['run_id']} — {s['status']}[/]")
    table = Table(show_header=True)
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for label, key in (("records", "records_in"), ("published", "published"), ("duplicates", "duplicates"),
                       ("quarantined", "quarantined")):
        table.add_row(label, f"{s[key]:,}")
    console.print(table)
    counts = Table(title="rows per table", show_header=True)
    for column in ("table", "before", "after"):
        counts.add_column(column, justify="left" if column == "table" else "right")
    for name, after in s["after"].items():
        counts.add_row(name, f"{s['before'].get(name, 0):,}", f"{after:,}")
    console.print(counts)
    for reason, n in sorted(s.get("quarantine_reasons", {}).items(), key=lambda kv: -kv[1]):
        console.print(f"  quarantined {n:,}: {reason}")
    if s.get("caught_up"):
        console.print(f"{s['caught_up']:,} records published by other runs meanwhile were reprocessed too.")
    console.print(f"pipeline_version: {s['pipeline_version']}; {s['seconds']:.1f} s; search index: "
                  f"{s.get('search_index') or 'not refreshed'}; warehouse: {s['warehouse']}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only query, e.g. \"select title from articles\". "
                                         "Tables: articles, raw_documents, duplicates, quarantine, runs.")],
    warehouse: WarehouseOpt = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json (UTF-8, Arabic kept as is).")] = OutputFormat.table,
    timeout: Annotated[float, typer.Option(help="Interrupt the query after this many seconds.")] = 60.0,
    memory_limit: Annotated[str | None, typer.Option(help="DuckDB memory limit, e.g. 2GB.")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Print at most this many rows.")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", metavar="RUN_ID",
                                              help="Query the warehouse as it was when this (completed) run "
                                                   "finished; run ids are in the runs table.")] = None,
) -> None:
    """Run a read-only SQL query against the warehouse (DuckDB dialect). Writes are refused."""
    from akhbar.warehouse.lake import Warehouse, WarehouseError
    from akhbar.warehouse.sql import QueryRefused, run_query

    settings = get_settings(warehouse=warehouse)
    try:
        result = run_query(Warehouse(settings.warehouse), query, timeout_s=timeout, memory_limit=memory_limit,
                           max_rows=max_rows, as_of=as_of)
    except (QueryRefused, WarehouseError, TimeoutError) as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - DuckDB errors are already clear; keep them short
        raise _fail(str(exc).strip().splitlines()[0]) from exc
    _print_rows([dict(zip(result.columns, row)) for row in result.rows], fmt, columns=result.columns)


quarantine_app = typer.Typer(help="Inspect and replay quarantined records.", no_args_is_help=True)
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    warehouse: WarehouseOpt = None,
    stage: Annotated[str | None, typer.Option(help="Only this stage: ingest, prepare or validate.")] = None,
    summary: Annotated[bool, typer.Option("--summary", "-s", help="Counts per stage and reason instead of rows.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.")] = 50,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
) -> None:
    """Open quarantine rows (not yet settled by a replay): where each record came from and why."""
    from akhbar.warehouse.lake import Warehouse, WarehouseError
    from akhbar.warehouse.sql import run_query

    where = "resolved_at IS NULL" + (f" AND stage = '{stage}'" if stage in ("ingest", "prepare", "validate") else "")
    if summary:
        query = (f"SELECT stage, split_part(reason, ':', 1) AS reason, count(*) AS records FROM quarantine "
                 f"WHERE {where} GROUP BY ALL ORDER BY records DESC LIMIT {int(limit)}")
    else:
        query = (f"SELECT location, stage, expectation, reason, run_id FROM quarantine WHERE {where} "
                 f"ORDER BY quarantined_at DESC, location LIMIT {int(limit)}")
    try:
        result = run_query(Warehouse(get_settings(warehouse=warehouse).warehouse), query)
    except WarehouseError as exc:
        raise _fail(str(exc)) from exc
    _print_rows([dict(zip(result.columns, row)) for row in result.rows], fmt)


@quarantine_app.command("replay")
def quarantine_replay(
    warehouse: WarehouseOpt = None,
    stage: Annotated[str | None, typer.Option(help="Only records quarantined at this stage.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only records whose reason contains this text.")] = None,
    field_map: Annotated[list[str] | None, typer.Option("--map", "-m", help="Field mapping, as for `run`.")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Run open quarantined records through the pipeline again (after a fix or a settings change).

    Each one ends in exactly one place — published, duplicate or quarantined again — and its old
    quarantine row is marked resolved in the same transaction. Example, after lowering the body
    threshold: AKHBAR_MIN_BODY_CHARS=0 akhbar quarantine replay --stage validate
    """
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    from akhbar.flows.pipeline import replay_flow

    settings = get_settings(warehouse=warehouse)
    try:
        summary = replay_flow(warehouse=str(settings.warehouse), stage=stage, reason=reason, field_map=field_map or [])
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"the replay failed: {exc}") from exc
    _print_summary(summary)


ner_app = typer.Typer(help="Arabic named-entity recognition: evaluate the shipped model, tag text.",
                      no_args_is_help=True)
app.add_typer(ner_app, name="ner")


@ner_app.command("eval")
def ner_eval(
    conll: Annotated[Path, typer.Argument(help="CoNLL file: `token TAG` per line (BIO; PERS or PER, LOC, ORG; "
                                          "MISC ignored), blank line between sentences.", exists=True,
                                          dir_okay=False)],
    no_doc: Annotated[bool, typer.Option("--no-doc", help="Disable document-level propagation.")] = False,
) -> None:
    """Tag exactly the given tokens and print precision/recall/F1 per type; the last line is micro_f1=…"""
    from akhbar.tasks.entities.ner import evaluate_conll, format_report

    try:
        report = evaluate_conll(conll, doc_propagation=not no_doc)
    except ValueError as exc:
        raise _fail(f"{conll}: {exc}") from exc
    sys.stdout.write(format_report(report).rstrip("\n") + "\n")


@ner_app.command("tag")
def ner_tag(
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="table, csv or json.")] = OutputFormat.table,
    link: Annotated[bool, typer.Option(help="Also link each mention to an entity id.")] = True,
    lang: Annotated[str, typer.Option("--lang", help="ar (Arabic) or en (English, spaCy).")] = "ar",
    backend: Annotated[str | None, typer.Option(
        "--backend", help="Arabic tagger: crf (shipped) or transformer (a local model, see --model); "
        "default AKHBAR_NER_BACKEND.")] = None,
    model: Annotated[Path | None, typer.Option(
        "--model", help="Directory of a token-classification model for --backend transformer; "
        "default AKHBAR_NER_MODEL_PATH.")] = None,
) -> None:
    """Tag text read from stdin: persons, places, organisations, with character offsets.

    Example: echo "استقبل بوتين أردوغان في موسكو" | akhbar ner tag
    Example: echo "Putin met Erdogan in Moscow" | akhbar ner tag --lang en
    """
    text = sys.stdin.read()
    if not text.strip():
        raise _fail("no text on standard input (try: echo 'نص' | akhbar ner tag)")
    try:
        mentions = _ner_tagger(lang, backend, model).extract(text)
    except (ImportError, OSError, ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from exc
    rows: list[dict[str, Any]] = [
        {"start": m.start, "end": m.end, "text": m.text, "label": m.label, "confidence": m.confidence}
        for m in mentions
    ]
    if link and mentions:
        from akhbar.tasks.entities.linking import EntityLinker

        linker = EntityLinker.from_reference(get_settings().seeds_dir)
        for row, linked in zip(rows, linker.link_document(text, mentions)):
            row["entity_id"] = linked.entity_id
            record = linker.record(linked.entity_id)
            row["entity"] = (record.name_ar or record.name_en) if record else None
    _print_rows(rows, fmt)


def _ner_tagger(lang: str, backend: str | None, model: Path | None) -> Any:
    """The tagger for ``ner tag``: spaCy for English; the CRF or a local transformer for Arabic."""
    if lang == "en":
        from akhbar.tasks.entities.english import EnglishNER

        return EnglishNER.load()
    if lang != "ar":
        raise ValueError(f"--lang must be ar or en, not {lang!r}")
    settings = get_settings(ner_backend=backend, ner_model_path=model)
    if settings.ner_backend == "transformer":
        from akhbar.tasks.entities.transformer_ner import TransformerNER

        if settings.ner_model_path is None:
            raise ValueError("--backend transformer needs --model DIR (or AKHBAR_NER_MODEL_PATH)")
        return TransformerNER.load(settings.ner_model_path)
    from akhbar.tasks.entities.ner import ArabicNER

    return ArabicNER.load()


from akhbar.cli_query import register as _register_query  # noqa: E402 - search and chart commands

_register_query(app)

from akhbar.ops import register as _register_ops  # noqa: E402 - server and serve commands

_register_ops(app)


if __name__ == "__main__":  # pragma: no cover
    app()
