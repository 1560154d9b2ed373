"""Scheduled deployments of the ingest flow: what ``akhbar serve`` registers with a Prefect server.

Why a flow of its own (``scheduled_ingest``) instead of deploying ``ingest_flow`` directly: a
deployment's runs are named by the flow's ``flow_run_name``; ``ingest_flow`` is named after its raw
``inputs`` list (fine on the command line, unreadable in the UI for a feed URL). ``scheduled_ingest``
has the same flow name (``akhbar-ingest``, so CLI and scheduled runs sit under one flow in the UI)
and names each run ``<deployment> · <scheduled local time>``; it runs the body of ``ingest_flow``
in the same flow run (``ingest_flow.fn``), so the run-summary and progress artifacts are attached
to the scheduled run itself, not to a nested sub-run.

:func:`build_deployments` is pure (no server needed): it turns source specs into
``RunnerDeployment`` objects that ``prefect.serve(*deployments)`` serves.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from prefect import flow
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from akhbar import __version__
from akhbar.flows.pipeline import ingest_flow
from akhbar.tasks.sources import SourceSpec

__all__ = ["DEFAULT_CRON", "DEFAULT_DEPLOYMENT", "build_deployments", "run_name", "scheduled_ingest"]

DEFAULT_CRON = "0 * * * *"  # hourly, on the hour
DEFAULT_DEPLOYMENT = "akhbar-hourly"


def run_name() -> str:
    """``bbc-arabic · 2026-11-29 13:00 Asia/Riyadh`` (manual runs: ``… · manual 2026-11-29 13:04``)."""
    from prefect.runtime import deployment, flow_run

    name = deployment.name or "akhbar"
    params = flow_run.parameters or {}
    tz_name = params.get("timezone") or "UTC"
    try:
        tz = ZoneInfo(tz_name)
    except Exception:  # noqa: BLE001 - a bad zone must not fail the run over its name
        tz, tz_name = ZoneInfo("UTC"), "UTC"
    when = flow_run.scheduled_start_time
    try:
        local = datetime.fromtimestamp(when.timestamp(), tz)
    except Exception:  # noqa: BLE001
        local = datetime.now(tz)
    auto = bool(flow_run.get_tags() and "auto-scheduled" in flow_run.get_tags())
    label = local.strftime("%Y-%m-%d %H:%M")
    return f"{name} · {label} {tz_name}" if auto else f"{name} · manual {label} {tz_name}"


def _accepts(fn: Any, name: str) -> bool:
    return name in inspect.signature(fn).parameters


@flow(name="akhbar-ingest", flow_run_name=run_name, log_prints=True)
def scheduled_ingest(sources: list[str], warehouse: str | None = None, source_name: str | None = None,
                     fetch_pages: bool = False, timezone: str = "UTC") -> dict[str, Any]:
    """Ingest ``sources`` (feed URLs, files, directories) into ``warehouse``: a scheduled akhbar run.

    ``source_name`` and ``fetch_pages`` come from the source registry; they are passed on to the
    pipeline when it accepts them. ``timezone`` only names the run (the schedule carries its own).
    """
    kwargs: dict[str, Any] = {"inputs": list(sources), "warehouse": warehouse}
    if _accepts(ingest_flow.fn, "source_name"):
        kwargs["source_name"] = source_name
    if _accepts(ingest_flow.fn, "fetch_pages"):
        kwargs["fetch_pages"] = fetch_pages
    return ingest_flow.fn(**kwargs)


def _tags(spec: SourceSpec) -> list[str]:
    return ["akhbar", f"source:{spec.name}", spec.kind, spec.language]


def build_deployments(specs: Iterable[SourceSpec] | None, warehouse: str | Path | None,
                      default_cron: str = DEFAULT_CRON, timezone: str = "UTC", *,
                      default_sources: list[str] | None = None,
                      default_name: str = DEFAULT_DEPLOYMENT) -> list[RunnerDeployment]:
    """One deployment per enabled source spec, or one default deployment when ``specs`` is None.

    * a spec runs on its own ``schedule`` in its own ``timezone``; a spec without a schedule gets an
      on-demand deployment (no schedule: "absent = run only on demand", see tasks/sources.py);
      disabled specs get no deployment;
    * ``specs is None``: one deployment ``default_name`` (``akhbar-hourly``) over ``default_sources``
      (the seeds when empty) on ``default_cron`` in ``timezone``;
    * parameters are ``sources`` (list of locations) and ``warehouse`` (absolute path or None = the
      worker's AKHBAR_WAREHOUSE), plus ``source_name``, ``fetch_pages`` and ``timezone``.
    """
    wh = str(Path(warehouse).absolute()) if warehouse is not None else None
    deployments: list[RunnerDeployment] = []
    common = {"version": __version__, "entrypoint_type": EntrypointType.MODULE_PATH,
              "concurrency_limit": 1}  # never two runs of one source at once (feed state, template stats)
    if specs is None:
        sources = list(default_sources or [])
        if not sources:
            from akhbar.config import get_settings

            sources = [str(get_settings().seeds_dir / "articles")]
        deployments.append(scheduled_ingest.to_deployment(
            name=default_name,
            schedules=[Cron(default_cron, timezone=timezone)],
            parameters={"sources": sources, "warehouse": wh, "timezone": timezone},
            tags=["akhbar"],
            description=f"akhbar ingest of {', '.join(sources)} ({default_cron}, {timezone})",
            **common,
        ))
        return deployments
    for spec in specs:
        if not spec.enabled:
            continue
        cron = spec.schedule
        deployments.append(scheduled_ingest.to_deployment(
            name=spec.name,
            schedules=[Cron(cron, timezone=spec.timezone)] if cron else [],
            parameters={"sources": [spec.location], "warehouse": wh, "source_name": spec.name,
                        "fetch_pages": spec.fetch_pages, "timezone": spec.timezone},
            tags=_tags(spec),
            description=f"{spec.kind} source {spec.name} ({spec.language}): {spec.location} — "
                        + (f"{cron} {spec.timezone}" if cron else "on demand"),
            **common,
        ))
    return deployments
