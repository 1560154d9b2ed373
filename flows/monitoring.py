"""What a run shows in the Prefect UI besides its logs: the Great Expectations results as a table.

Two pieces, used by ``flows/pipeline.py``:

* :func:`validation_rows` turns the validator's ``history`` (the candidate audit and every
  staged-table audit of the run, passing or failing) into one row per suite run;
* :func:`post_validation_artifact` posts those rows as a table artifact (key
  ``akhbar-validation``) whose description links to that run's Data Docs pages.

Artifacts are posted only inside a flow run; outside one (plain function calls in tests) nothing is
posted and the function returns None.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

__all__ = ["VALIDATION_ARTIFACT_KEY", "outcome_row", "post_validation_artifact", "validation_rows",
           "validation_markdown"]

VALIDATION_ARTIFACT_KEY = "akhbar-validation"
COLUMNS = ("suite", "batch", "evaluated", "success", "failed expectations")
_BATCH = re.compile(r"-b(\d+)(?:-(\w+))?$")


def _batch_label(run_name: str) -> str:
    """``<run_id>-b3-candidates`` → ``3 (candidates)``; ``<run_id>-b3`` → ``3 (publish)``."""
    match = _BATCH.search(run_name or "")
    if not match:
        return run_name or ""
    return f"{match.group(1)} ({match.group(2) or 'publish'})"


def outcome_row(outcome: Any, batch: str | int) -> dict[str, Any]:
    """One table row for a ``ValidationOutcome`` (akhbar.tasks.validate)."""
    failed = sorted({f.expectation for f in getattr(outcome, "failures", [])})
    return {
        "suite": outcome.suite,
        "batch": str(batch),
        "evaluated": int(outcome.evaluated),
        "success": bool(outcome.success),
        "failed expectations": ", ".join(failed) if failed else "",
    }


def validation_rows(validator: Any) -> list[dict[str, Any]]:
    """One row per suite run by ``validator`` in this run (from its ``history``)."""
    return [outcome_row(outcome, _batch_label(run_name)) for run_name, outcome in validator.history]


def _docs_pages(data_docs_path: str | Path | None, run_id: str) -> list[Path]:
    """The validation-result pages of this run under a Data Docs site (``…/local_site/index.html``)."""
    if not data_docs_path:
        return []
    site = Path(data_docs_path)
    site = site.parent if site.suffix == ".html" else site
    validations = site / "validations"
    if not validations.is_dir():
        return []
    return sorted(p for p in validations.glob(f"*/{run_id}-b*/*/*.html"))


def validation_markdown(run_id: str, rows: list[dict[str, Any]], data_docs_path: str | Path | None) -> str:
    """The artifact description: totals and links to the Data Docs index and this run's pages."""
    failed = [r for r in rows if not r["success"]]
    lines = [f"Great Expectations results of akhbar run `{run_id}`: {len(rows)} validation(s), "
             f"{len(failed)} failed, {sum(int(r['evaluated']) for r in rows):,} rows evaluated."]
    if data_docs_path:
        index = Path(data_docs_path)
        lines.append(f"\nData Docs: [{index}]({index.as_uri() if index.is_absolute() else index}) "
                     "(open it from the machine that ran the flow; browsers do not follow file links from "
                     "a web page, so copy the link into the address bar)")
        pages = _docs_pages(data_docs_path, run_id)
        if pages:
            lines.append("\nThis run's pages:\n")
            lines += [f"- [{p.parent.parent.parent.name} · {p.parent.parent.name}]({p.as_uri()})" for p in pages[:50]]
            if len(pages) > 50:
                lines.append(f"- … and {len(pages) - 50} more")
    else:
        lines.append("\nData Docs: not built for this run.")
    return "\n".join(lines)


def post_validation_artifact(run_id: str, outcomes_rows: list[dict[str, Any]],
                             data_docs_path: str | Path | None) -> Any:
    """Post the run's validation rows as a Prefect table artifact; returns its id (None outside a run).

    ``outcomes_rows``: dicts with ``suite``, ``batch``, ``evaluated``, ``success``, ``failed
    expectations`` (see :func:`outcome_row`). ``data_docs_path``: the Data Docs index (what
    ``Validator.build_docs`` returns) or None.
    """
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.context import FlowRunContext, TaskRunContext

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    table = [{c: row.get(c, "") for c in COLUMNS} for row in outcomes_rows] or [
        {"suite": "(none)", "batch": "", "evaluated": 0, "success": True, "failed expectations": ""}]
    description = validation_markdown(run_id, outcomes_rows, data_docs_path)
    artifact_id = create_table_artifact(table, key=VALIDATION_ARTIFACT_KEY,
                                        description=description.splitlines()[0])
    # The table's description is one line in the UI; the links go in a markdown artifact beside it.
    create_markdown_artifact(description, key=f"{VALIDATION_ARTIFACT_KEY}-docs",
                             description=f"Data Docs of akhbar run {run_id}")
    return artifact_id
