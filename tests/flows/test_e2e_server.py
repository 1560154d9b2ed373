"""End to end as in production: a real Prefect server, `akhbar serve`, a run triggered through the API.

Everything is on loopback: the Prefect server on its own free port (PREFECT_HOME in a temporary
directory, offline and quiet), a feed served by ``http.server`` from this test, `akhbar serve
--sources` with one feed source. The run is created through the REST API, watched until it is
Completed, and the warehouse is then read with ``run_query``: the feed's Arabic articles are there,
decoded, including the summary-only item whose page the pipeline fetched.

Skips (never fails) when something essential is missing: loopback sockets, the Prefect CLI, or the
pipeline's switch for fetching from private addresses (``AKHBAR_ALLOW_PRIVATE_FETCH``).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")

ROOT = Path(__file__).resolve().parents[2]
SOURCE = "local-feed"
SERVER_START_S = 120.0
RUN_TIMEOUT_S = 150.0

FULL_TITLE = "افتتاح معرض الرياض الدولي للكتاب بمشاركة واسعة"
FULL_BODY = (
    "افتتح أمس معرض الرياض الدولي للكتاب في دورته الجديدة بمشاركة أكثر من ألف دار نشر من ثلاثين دولة. "
    "وقال رئيس هيئة الأدب والنشر والترجمة إن المعرض يقدم هذا العام برنامجا ثقافيا يضم ندوات وأمسيات شعرية "
    "وورش عمل للأطفال والشباب، مضيفا أن عدد الزوار المتوقع يتجاوز مليون زائر خلال عشرة أيام. "
    "وشهد اليوم الأول إقبالا كبيرا من العائلات والطلاب، فيما خصصت أجنحة للكتب الرقمية والمخطوطات النادرة. "
    "ويستمر المعرض حتى نهاية الأسبوع المقبل، وتفتح أبوابه يوميا من العاشرة صباحا حتى منتصف الليل."
)
PAGE_TITLE = "ارتفاع أسعار النفط مع تراجع المخزونات الأمريكية"
PAGE_SUMMARY = "ارتفعت أسعار النفط في التعاملات الآسيوية."
PAGE_ONLY = "وقال محللون في بنك الاستثمار إن السوق تترقب قرار تحالف أوبك بلس في اجتماعه المقبل"
PAGE_HTML = f"""<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{PAGE_TITLE}</title></head>
<body><nav><a href="/">الرئيسية</a> | <a href="/economy">اقتصاد</a></nav>
<article><h1>{PAGE_TITLE}</h1>
<p>ارتفعت أسعار النفط في التعاملات الآسيوية اليوم الثلاثاء بعد أن أظهرت بيانات رسمية تراجع مخزونات الخام في
الولايات المتحدة أكثر من المتوقع للأسبوع الثالث على التوالي.</p>
<p>وصعدت العقود الآجلة لخام برنت بنسبة واحد في المئة لتصل إلى أعلى مستوى لها منذ شهرين، كما ارتفع خام غرب
تكساس الوسيط بنسبة مماثلة في تعاملات متقلبة.</p>
<p>{PAGE_ONLY}، والذي قد يحدد مستويات الإنتاج للربع الأول من العام المقبل.</p>
<p>ويرى خبراء أن الطلب القوي من آسيا وتراجع الإمدادات من بعض الدول المنتجة يدعمان الأسعار على المدى القصير.</p>
</article><footer>جميع الحقوق محفوظة</footer></body></html>
"""


def _feed(base: str) -> str:
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>أخبار محلية</title><link>{base}/</link><description>خلاصة اختبار</description><language>ar</language>
<item><title>{FULL_TITLE}</title><link>{base}/culture/book-fair.html</link><guid>{base}/culture/book-fair.html</guid>
<pubDate>{format_datetime(now)}</pubDate><description>افتتاح معرض الكتاب.</description>
<content:encoded><![CDATA[<p>{FULL_BODY}</p>]]></content:encoded></item>
<item><title>{PAGE_TITLE}</title><link>{base}/economy/oil.html</link><guid>{base}/economy/oil.html</guid>
<pubDate>{format_datetime(now)}</pubDate><description>{PAGE_SUMMARY}</description></item>
</channel></rss>
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGTERM the process group, then SIGKILL what is left (the server and serve spawn children)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # children may outlive the leader
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=5)


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-n:]
    except OSError:
        return ""


@pytest.fixture
def feed_server() -> Iterator[str]:
    """http://127.0.0.1:<port> serving /feed.xml and the pages its items link to."""
    pages: dict[str, tuple[bytes, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server API
            body, ctype = pages.get(self.path.split("?")[0], (b"not found", "text/plain"))
            self.send_response(200 if self.path.split("?")[0] in pages else 404)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    pages["/feed.xml"] = (_feed(base).encode("utf-8"), "application/rss+xml; charset=utf-8")
    pages["/economy/oil.html"] = (PAGE_HTML.encode("utf-8"), "text/html; charset=utf-8")
    pages["/culture/book-fair.html"] = (f"<html><body><p>{FULL_BODY}</p></body></html>".encode("utf-8"),
                                        "text/html; charset=utf-8")
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        httpd.shutdown()
        httpd.server_close()


def _base_env(prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update({
        "PREFECT_HOME": str(prefect_home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
        "PREFECT_SERVER_UI_V2_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    })
    return env


def _wait_health(client: httpx.Client, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Prefect server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if client.get("/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the Prefect server did not answer /api/health within {timeout:.0f} s:\n{_tail(log)}")


def _akhbar_command() -> list[str]:
    """`akhbar …` through the main CLI once it registers the ops commands, else through akhbar.ops."""
    from akhbar.cli import app

    names = {c.name for c in app.registered_commands}
    return [sys.executable, "-m", "akhbar.cli" if "serve" in names else "akhbar.ops"]


@pytest.mark.slow
def test_scheduled_deployment_runs_through_a_real_server(tmp_path: Path, feed_server: str) -> None:
    from akhbar.config import Settings

    if "allow_private_fetch" not in Settings.model_fields:
        pytest.skip("the pipeline cannot fetch from 127.0.0.1 yet: AKHBAR_ALLOW_PRIVATE_FETCH "
                    "(Settings.allow_private_fetch → FetchPolicy(allow_private=…)) is not wired")
    try:
        import prefect.cli  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"the Prefect CLI cannot be imported: {exc}")

    started = time.monotonic()
    try:
        port = _free_port()
    except OSError as exc:  # pragma: no cover - sandboxes without loopback networking
        pytest.skip(f"cannot listen on 127.0.0.1: {exc}")
    api = f"http://127.0.0.1:{port}/api"
    prefect_home = tmp_path / "prefect-home"
    prefect_home.mkdir()
    warehouse = tmp_path / "warehouse"
    registry = tmp_path / "sources.toml"
    registry.write_text(
        f'[[source]]\nname = "{SOURCE}"\nkind = "feed"\nlocation = "{feed_server}/feed.xml"\nlanguage = "ar"\n'
        'schedule = "0 * * * *"\ntimezone = "Asia/Riyadh"\nfetch_pages = true\n', encoding="utf-8")

    env = _base_env(prefect_home)
    server_env = dict(env, PREFECT_SERVER_API_HOST="127.0.0.1", PREFECT_SERVER_API_PORT=str(port),
                      PREFECT_API_URL=api)
    serve_env = dict(env, PREFECT_API_URL=api, AKHBAR_ALLOW_PRIVATE_FETCH="1", AKHBAR_WAREHOUSE=str(warehouse))
    server_log, serve_log = tmp_path / "server.log", tmp_path / "serve.log"
    procs: list[subprocess.Popen] = []
    try:
        with server_log.open("wb") as out:
            procs.append(subprocess.Popen([sys.executable, "-m", "prefect", "server", "start"], env=server_env,
                                          cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          start_new_session=True))
        client = httpx.Client(base_url=api, timeout=10, trust_env=False)
        _wait_health(client, procs[0], server_log, SERVER_START_S)

        with serve_log.open("wb") as out:
            procs.append(subprocess.Popen(_akhbar_command() + ["serve", "--sources", str(registry),
                                                               "--warehouse", str(warehouse)],
                                          env=serve_env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True))
        deployment = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and deployment is None:
            if procs[1].poll() is not None:
                pytest.fail(f"akhbar serve exited with {procs[1].returncode}:\n{_tail(serve_log)}")
            response = client.get(f"/deployments/name/akhbar-ingest/{SOURCE}")
            if response.status_code == 200:
                deployment = response.json()
            else:
                time.sleep(0.5)
        assert deployment is not None, f"deployment not registered:\n{_tail(serve_log)}"
        assert set(deployment["tags"]) == {"akhbar", f"source:{SOURCE}", "feed", "ar"}
        schedules = [s["schedule"] for s in deployment["schedules"]]
        assert schedules == [{"cron": "0 * * * *", "timezone": "Asia/Riyadh", "day_or": True}], schedules
        assert deployment["parameters"]["sources"] == [f"{feed_server}/feed.xml"]

        flow_run: dict = {}
        deadline = time.monotonic() + 60
        while "id" not in flow_run and time.monotonic() < deadline:  # a busy server may answer 5xx at first
            response = client.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
            flow_run = response.json() if response.status_code < 300 else {}
            if "id" not in flow_run:
                time.sleep(1)
        assert "id" in flow_run, f"could not create a flow run: {response.status_code} {response.text[:500]}"
        state, deadline = None, time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            run = client.get(f"/flow_runs/{flow_run['id']}").json()
            state = run.get("state") or {}
            if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            time.sleep(1)
        assert state and state.get("type") == "COMPLETED", (
            f"flow run ended {state}:\n{_tail(serve_log)}")
        assert run["name"].startswith(f"{SOURCE} · "), run["name"]

        artifacts = client.post("/artifacts/filter",
                                json={"artifacts": {"flow_run_id": {"any_": [flow_run["id"]]}}}).json()
        keys = {a.get("key") for a in artifacts}
        assert "akhbar-run-summary" in keys, keys
        import akhbar.flows.pipeline as pipeline

        if hasattr(pipeline, "post_validation_artifact"):
            assert "akhbar-validation" in keys, keys
            table = next(a for a in artifacts if a.get("key") == "akhbar-validation")
            assert table["type"] == "table"
    finally:
        for proc in reversed(procs):
            _kill_group(proc)

    from akhbar.warehouse.lake import Warehouse
    from akhbar.warehouse.sql import run_query

    rows = run_query(Warehouse(warehouse), "select title, body, source, url from articles order by title").rows
    by_title = {r[0]: r for r in rows}
    assert set(by_title) == {FULL_TITLE, PAGE_TITLE}, rows
    assert "معرض الرياض الدولي للكتاب" in by_title[FULL_TITLE][1]
    assert PAGE_ONLY in by_title[PAGE_TITLE][1], "the summary-only item's page was not fetched"
    assert {r[2] for r in rows} == {"أخبار محلية"}  # the feed's own title, decoded
    names = run_query(Warehouse(warehouse), "select distinct source_name from raw_documents").rows
    assert names == [(SOURCE,)]  # the registry name travels with the records
    quarantined = run_query(Warehouse(warehouse), "select count(*) from quarantine").rows[0][0]
    assert quarantined == 0
    assert time.monotonic() - started < 180


# --- the pure pieces, without a server (fast) ----------------------------------------------------


def test_build_deployments_one_per_enabled_source(tmp_path: Path) -> None:
    from akhbar.flows.deploy import build_deployments
    from akhbar.tasks.sources import load_sources

    specs = load_sources(ROOT / "seeds" / "sources.example.toml")
    deps = build_deployments(specs, tmp_path / "wh", "0 * * * *", "Asia/Riyadh")
    by_name = {d.name: d for d in deps}
    assert set(by_name) == {s.name for s in specs if s.enabled}  # the disabled WARC source has none
    bbc = by_name["bbc-arabic"]
    assert [(s.schedule.cron, s.schedule.timezone) for s in bbc.schedules] == [("*/30 * * * *", "Asia/Riyadh")]
    assert bbc.tags == ["akhbar", "source:bbc-arabic", "feed", "ar"]
    assert bbc.parameters["sources"] == ["https://feeds.bbci.co.uk/arabic/rss.xml"]
    assert bbc.parameters["warehouse"] == str((tmp_path / "wh").absolute())
    assert bbc.parameters["fetch_pages"] is True
    assert bbc.entrypoint == "akhbar.flows.deploy.scheduled_ingest"  # importable on any worker
    assert by_name["seed-articles"].schedules == []  # no schedule in the registry: on demand

    (default,) = build_deployments(None, None, "0 * * * *", "Asia/Riyadh")
    assert default.name == "akhbar-hourly"
    assert [(s.schedule.cron, s.schedule.timezone) for s in default.schedules] == [("0 * * * *", "Asia/Riyadh")]
    assert default.parameters["warehouse"] is None  # the worker's AKHBAR_WAREHOUSE


def test_validation_rows_are_recorded_per_suite_and_batch() -> None:
    from akhbar.flows.monitoring import post_validation_artifact, validation_markdown, validation_rows
    from akhbar.tasks.validate import ExpectationFailure, ValidationOutcome

    class History:  # the part of a Validator that the report reads
        history: list = []

    failures = [ExpectationFailure("expect_column_values_to_not_be_null(body)", "row", ("r1",), "1 row")]
    validator = History()
    validator.history = [
        ("20261129T000000Z-abc123-b1-candidates", ValidationOutcome("articles", False, 3, failures)),
        ("20261129T000000Z-abc123-b2", ValidationOutcome("raw_documents", True, 3, [])),
    ]
    rows = validation_rows(validator)
    assert rows == [
        {"suite": "articles", "batch": "1 (candidates)", "evaluated": 3, "success": False,
         "failed expectations": "expect_column_values_to_not_be_null(body)"},
        {"suite": "raw_documents", "batch": "2 (publish)", "evaluated": 3, "success": True, "failed expectations": ""},
    ]
    text = validation_markdown("20261129T000000Z-abc123", rows, None)
    assert "2 validation(s), 1 failed" in text and "not built" in text
    assert post_validation_artifact("x", rows, None) is None  # outside a flow run: nothing posted


def test_make_offline_rewrites_every_cdn_load_and_is_idempotent(tmp_path: Path) -> None:
    pytest.importorskip("xstatic.pkg.bootstrap")
    from akhbar.warehouse.datadocs import ASSETS, external_loads, make_offline

    site = tmp_path / "local_site"
    page = site / "validations" / "articles" / "run-b1" / "20261129T000000Z" / "akhbar-articles.html"
    page.parent.mkdir(parents=True)
    head = "".join(f'<script src="{u}"></script>\n' if not u.endswith(".css") else f'<link rel="stylesheet" href="{u}"/>\n'
                   for u in ASSETS)
    head += ('<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" '
             'integrity="sha384-x" crossorigin="anonymous"></script>\n'
             '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=1&dataContextId=2">\n'
             "<style>.x { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png') }</style>")
    page.write_text(f"<html><head>{head}</head><body>نص عربي</body></html>", encoding="utf-8")
    (site / "index.html").write_text(f"<html><head>{head}</head></html>", encoding="utf-8")
    assert len(external_loads(page.read_text(encoding="utf-8"))) > len(ASSETS)

    first = make_offline(site / "index.html")
    assert (first.pages, first.rewritten, first.external) == (2, 2, {})
    html = page.read_text(encoding="utf-8")
    assert "https://" not in html and "integrity=" not in html and "نص عربي" in html
    assert 'src="../../../../static/offline/jquery/jquery.min.js"' in html
    for local in first.assets:
        assert (site / local).is_file(), local
    assert (site / "static" / "offline" / "fontawesome" / "webfonts" / "fa-solid-900.woff2").is_file()
    second = make_offline(site)
    assert (second.rewritten, second.external) == (0, {})
    assert page.read_text(encoding="utf-8") == html
