"""``akhbar server`` and ``akhbar serve``: run the pipeline on a schedule, watched in the Prefect UI.

Registered on the main app by ``akhbar.cli`` with ``register(app)``. Nothing here imports Prefect
until a command runs.

* ``akhbar server`` starts a local Prefect server (API + UI) with akhbar's offline, quiet settings
  (no telemetry, no promotional content, the V1 UI that makes no external requests). The port is set
  with ``PREFECT_SERVER_API_PORT`` — never ``prefect server start --port`` — so the UI calls the API
  on the port it is served from.
* ``akhbar serve`` registers the ingest deployment(s) with that server and runs their flow runs in
  this process: one hourly deployment over the given inputs, or one deployment per source of a
  TOML source registry (``--sources``), each on its own schedule.
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from akhbar import _PREFECT_DEFAULTS
from akhbar.cli_common import console
from akhbar.cli_common import fail as _fail
from akhbar.config import get_settings

DEFAULT_PORT = 4200

# Settings for the server process on top of akhbar's own defaults (akhbar/__init__.py).
SERVER_ENV = {
    **_PREFECT_DEFAULTS,
    "PREFECT_SERVER_UI_V2_ENABLED": "false",  # V1 UI: no external requests
}


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def server_env(host: str, port: int, database: str | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a Prefect server process: offline and quiet, port via PREFECT_SERVER_API_PORT."""
    env = dict(os.environ if base is None else base)
    for key, value in SERVER_ENV.items():
        env.setdefault(key, value)
    env["PREFECT_SERVER_API_HOST"] = host
    env["PREFECT_SERVER_API_PORT"] = str(port)
    # The server's own client settings must point at itself, not at another server the shell knows.
    env["PREFECT_API_URL"] = f"http://{host}:{port}/api"
    env.pop("PREFECT_UI_API_URL", None)
    if database:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database
    return env


def check_database_url(database: str) -> None:
    """Only PostgreSQL through asyncpg (or SQLite through aiosqlite) is accepted by Prefect's server."""
    if database.startswith("postgresql"):
        if not database.startswith("postgresql+asyncpg://"):
            raise ValueError("use a postgresql+asyncpg://user:password@host:5432/database URL")
        try:
            import asyncpg  # noqa: F401
        except ImportError as exc:
            raise ValueError("asyncpg is not installed: pip install asyncpg (Prefect's PostgreSQL driver)") from exc
    elif not database.startswith("sqlite+aiosqlite://"):
        raise ValueError("the database must be postgresql+asyncpg://… (or sqlite+aiosqlite:///path)")


def server_cmd(
    port: Annotated[int, typer.Option(help="API and UI port (sets PREFECT_SERVER_API_PORT).")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on. 0.0.0.0 lets workers on other machines in; "
                                      "put it behind a firewall or reverse proxy with authentication.")] = "127.0.0.1",
    database: Annotated[str | None, typer.Option(
        help="Server database, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/prefect "
        "(sets PREFECT_SERVER_DATABASE_CONNECTION_URL). Default: SQLite under PREFECT_HOME.")] = None,
) -> None:
    """Start a local Prefect server (API + UI), offline and quiet; prints the UI URL and PREFECT_API_URL.

    Then, in another shell: export PREFECT_API_URL=… (as printed) and run `akhbar serve`.
    """
    if database:
        try:
            check_database_url(database)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
    if not _port_free(host, port):
        raise _fail(f"port {port} on {host} is in use (another Prefect server?): choose another with --port")
    env = server_env(host, port, database)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    console.print(f"Prefect UI:  http://{shown}:{port}")
    console.print("In the shell where you run `akhbar serve` (or a worker), first:")
    console.print(f"  export PREFECT_API_URL=http://{shown}:{port}/api", highlight=False, soft_wrap=True)
    shown_db = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", database) if database else None
    console.print(f"database: {shown_db or 'SQLite under ' + env.get('PREFECT_HOME', '~/.prefect')}; "
                  "stop with Ctrl-C", style="dim", highlight=False)
    sys.stdout.flush()
    cmd = [sys.executable, "-m", "prefect", "server", "start"]
    os.execvpe(cmd[0], cmd, env)  # replace this process: Ctrl-C and signals go straight to the server


def _check_api(url: str, wait_s: float = 60.0) -> None:
    """Wait (a server that was just started may still be migrating its database) or explain."""
    import time

    import httpx

    deadline = time.monotonic() + wait_s
    while True:
        try:
            response = httpx.get(url.rstrip("/") + "/health", timeout=5.0, trust_env=False)
            response.raise_for_status()
            return
        except httpx.HTTPError as exc:
            if time.monotonic() > deadline:
                raise _fail(f"no Prefect server answers at {url} ({exc.__class__.__name__}): start one with "
                            "`akhbar server` and export the PREFECT_API_URL it prints") from exc
            time.sleep(1.0)


def serve_cmd(
    inputs: Annotated[list[str] | None, typer.Argument(
        help="What the default deployment ingests: files, directories, feed URLs. Default: the seeds/ "
        "articles. Ignored with --sources.")] = None,
    sources: Annotated[Path | None, typer.Option(
        "--sources", "-s", exists=True, dir_okay=False,
        help="TOML source registry (see seeds/sources.example.toml): one deployment per enabled source, "
        "on the source's own schedule.")] = None,
    warehouse: Annotated[Path | None, typer.Option(
        "--warehouse", "-w", help="Warehouse directory \\[env: AKHBAR_WAREHOUSE; default: ./var/warehouse].")] = None,
    cron: Annotated[str, typer.Option(help="Schedule of the default deployment (5-field cron).")] = "0 * * * *",
    timezone: Annotated[str | None, typer.Option(
        help="Time zone of --cron \\[env: AKHBAR_TIMEZONE; default: Asia/Riyadh].")] = None,
    name: Annotated[str, typer.Option(help="Name of the default deployment (not with --sources, where each "
                                      "source's name is used).")] = "akhbar-hourly",
    limit: Annotated[int | None, typer.Option(help="At most this many flow runs at once in this process.")] = None,
    work_pool: Annotated[str | None, typer.Option(
        "--work-pool", help="Register the deployment(s) with this work pool and exit instead of serving: "
        "workers started with `prefect worker start --pool NAME` on any machine with akhbar installed "
        "run them. Create the pool first: prefect work-pool create NAME --type process")] = None,
) -> None:
    """Register the ingest deployment(s) with the Prefect server and run them on schedule (Ctrl-C stops).

    With --work-pool the deployments are registered for workers instead, and the command exits.

    Needs PREFECT_API_URL (printed by `akhbar server`). Runs can also be started from the UI
    (deployment → Run) or with: prefect deployment run 'akhbar-ingest/akhbar-hourly'
    """
    api = os.environ.get("PREFECT_API_URL")
    if not api:
        raise _fail("PREFECT_API_URL is not set: start a server with `akhbar server` and export the "
                    "PREFECT_API_URL line it prints (without it runs would go to a throw-away server)")
    _check_api(api)
    settings = get_settings(warehouse=warehouse, timezone=timezone)
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(settings.timezone)
    except Exception as exc:  # noqa: BLE001
        raise _fail(f"unknown time zone {settings.timezone!r}") from exc
    from akhbar.tasks.sources import _check_cron, load_sources

    try:
        _check_cron(cron)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    specs = None
    if sources is not None:
        try:
            specs = load_sources(sources)
        except (ValueError, OSError) as exc:
            raise _fail(str(exc)) from exc
        if not any(s.enabled for s in specs):
            raise _fail(f"{sources}: no enabled source")
    else:
        missing = [p for p in inputs or [] if "://" not in p and not Path(p).exists()]
        if missing:
            raise _fail(f"input not found: {', '.join(missing)}")
    default_sources = [p if "://" in p else str(Path(p).resolve()) for p in inputs or []]

    from prefect import serve

    from akhbar.flows.deploy import build_deployments

    # Only an explicit warehouse is baked into the deployments: otherwise each machine that runs them
    # (a worker of a pool, too) uses its own AKHBAR_WAREHOUSE / default.
    explicit = warehouse or os.environ.get("AKHBAR_WAREHOUSE") or None
    deployments = build_deployments(specs, explicit, cron, settings.timezone,
                                    default_sources=default_sources, default_name=name)
    ui = api.rstrip("/").removesuffix("/api")
    for dep in deployments:
        when = ", ".join(f"{s.schedule.cron} {s.schedule.timezone}" for s in dep.schedules) or "on demand"
        console.print(f"deployment [bold]akhbar-ingest/{dep.name}[/]: {when}; sources {dep.parameters['sources']}",
                      highlight=False, soft_wrap=True)
    console.print(f"warehouse: {settings.warehouse}; UI: {ui}/deployments", highlight=False, soft_wrap=True)
    if work_pool:
        from prefect import deploy

        try:
            ids = deploy(*deployments, work_pool_name=work_pool, build=False, push=False,
                         print_next_steps_message=False, ignore_warnings=True)
        except ValueError as exc:
            raise _fail(str(exc)) from exc
        console.print(f"{len(ids)} deployment(s) registered with work pool {work_pool!r}; start workers with: "
                      f"prefect worker start --pool {work_pool}", highlight=False, soft_wrap=True)
        return
    kwargs = {"limit": limit} if limit else {}
    serve(*deployments, print_starting_message=False, **kwargs)


def register(app: typer.Typer) -> None:
    """Add ``server`` and ``serve`` to the main ``akhbar`` app."""
    app.command("server")(server_cmd)
    app.command("serve")(serve_cmd)


if __name__ == "__main__":  # pragma: no cover - `python -m akhbar.ops serve …` before cli.py registers us
    from akhbar.cli import app as _app

    if not any(c.name in ("server", "serve") for c in _app.registered_commands):
        register(_app)
    _app()
