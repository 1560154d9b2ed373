"""tasks/fetch.py against a local server: redirects, size cap, timeouts, 304, address/scheme refusal."""

from __future__ import annotations

import gzip
import ipaddress
import time

import pytest

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from akhbar.tasks.fetch import FetchFailed, FetchPolicy, FetchRefused, fetch, is_public_address

# ---- a tiny HTTP server on 127.0.0.1 (routes: path -> handler)
Route = Callable[[BaseHTTPRequestHandler], None]


def send(handler: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    handler.send_response(status)
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if body:
        handler.wfile.write(body)


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Run a server in a thread; yield its base URL (``http://127.0.0.1:PORT``)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            route = routes.get(self.path.split("?", 1)[0])
            if route is None:
                send(self, 404, b"not found")
            else:
                route(self)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

LOCAL = FetchPolicy(allow_private=True, connect_timeout=2, read_timeout=0.5, total_timeout=5, max_bytes=10_000,
                    max_redirects=3)


def _redirect(to: str):
    return lambda h: send(h, 302, headers={"Location": to})


def _big(h):
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()  # no Content-Length: only the streamed count can catch it
    for _ in range(100):
        h.wfile.write(b"x" * 1000)


def _slow(h):
    h.send_response(200)
    h.send_header("Content-Length", "10")
    h.end_headers()
    time.sleep(1.5)


def _etag(h):
    if h.headers.get("If-None-Match") == '"v1"':
        send(h, 304, headers={"ETag": '"v1"'})
    else:
        send(h, 200, b"<rss/>", {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT",
                                 "Content-Type": "application/rss+xml; charset=windows-1256"})


def _gzip_bomb(h):
    body = gzip.compress(b"\0" * 1_000_000)
    send(h, 200, body, {"Content-Encoding": "gzip", "Content-Type": "text/html"})


ROUTES = {
    "/ok": lambda h: send(h, 200, b"hello", {"Content-Type": "text/plain"}),
    "/r1": _redirect("/r2"), "/r2": _redirect("/r3"), "/r3": _redirect("/ok"),
    "/loop": _redirect("/loop"),
    "/big": _big,
    "/declared-big": lambda h: send(h, 200, b"y" * 20_000),
    "/slow": _slow,
    "/etag": _etag,
    "/bomb": _gzip_bomb,
    "/err": lambda h: send(h, 500, b"boom"),
}


@pytest.fixture(scope="module")
def base():
    with serve(ROUTES) as url:
        yield url


def test_ok_and_bounded_redirects(base):
    res = fetch(f"{base}/r1", LOCAL)
    assert res.content == b"hello" and res.url.endswith("/ok") and len(res.redirects) == 3
    with pytest.raises(FetchRefused, match="too many redirects"):
        fetch(f"{base}/loop", LOCAL)


def test_size_cap_streamed_and_declared(base):
    with pytest.raises(FetchRefused, match="too large"):
        fetch(f"{base}/big", LOCAL)
    with pytest.raises(FetchRefused, match="Content-Length"):
        fetch(f"{base}/declared-big", LOCAL)
    with pytest.raises(FetchRefused, match="too large"):  # the cap applies to the decompressed body
        fetch(f"{base}/bomb", LOCAL)


def test_read_timeout(base):
    t = time.monotonic()
    with pytest.raises(FetchFailed, match="timeout"):
        fetch(f"{base}/slow", LOCAL)
    assert time.monotonic() - t < 1.4


def test_conditional_get_304(base):
    first = fetch(f"{base}/etag", LOCAL)
    assert first.status == 200 and first.etag == '"v1"' and first.last_modified
    assert first.charset == "windows-1256" and first.content_type == "application/rss+xml"
    again = fetch(f"{base}/etag", LOCAL, etag=first.etag, last_modified=first.last_modified)
    assert again.not_modified and again.status == 304 and again.content == b""


def test_http_error_is_failure(base):
    with pytest.raises(FetchFailed, match="HTTP 500"):
        fetch(f"{base}/err", LOCAL)


def test_loopback_refused_by_default(base):
    policy = FetchPolicy(connect_timeout=2, read_timeout=2)
    with pytest.raises(FetchRefused, match="non-public address 127.0.0.1"):
        fetch(f"{base}/ok", policy)
    with pytest.raises(FetchRefused, match="non-public"):
        fetch("http://localhost:9/", policy)


def test_each_redirect_hop_is_rechecked():
    routes = {"/to-file": _redirect("file:///etc/passwd"), "/to-ftp": _redirect("ftp://127.0.0.1/x")}
    with serve(routes) as other:
        for path in routes:
            with pytest.raises(FetchRefused, match="scheme"):
                fetch(f"{other}{path}", LOCAL)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed.xml", "gopher://x/", "/etc/passwd",
                                 "http://user:pw@example.com/"])
def test_non_http_refused(url):
    with pytest.raises(FetchRefused):
        fetch(url, FetchPolicy())


@pytest.mark.parametrize("addr,public", [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("::1", False), ("::ffff:127.0.0.1", False), ("fe80::1", False),
    ("2002:7f00:1::", False), ("64:ff9b::a00:1", False), ("2606:4700::1111", True), ("0.0.0.0", False),
])
def test_public_address_classification(addr, public):
    assert is_public_address(ipaddress.ip_address(addr)) is public
