"""tasks/feeds.py: real legacy-encoded feeds decode right, unsafe XML is refused, summaries fetch pages."""

from __future__ import annotations

import codecs
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from akhbar.tasks.feeds import FeedState, decode_feed_bytes, feed_records_from_bytes, iter_feed_records
from akhbar.tasks.fetch import FetchPolicy
from akhbar.tasks.ingest import IngestLimits
from akhbar.tasks.sources import records_for_source

SHARED_FEEDS = Path(__file__).resolve().parents[3] / "shared" / "corpora" / "feeds"
CHAR_DATASET = SHARED_FEEDS / "char-dataset_real_feeds"
LOCAL = FetchPolicy(allow_private=True, connect_timeout=2, read_timeout=2, total_timeout=10)
LIMITS = IngestLimits()

# File-name prefix → codecs that count as the right answer (a superset decodes the same text).
FAMILIES = {
    "ascii": None, "utf_8": {"utf-8"}, "big5": {"big5", "cp950", "big5hkscs"}, "cp932": {"cp932", "shift_jis"},
    "cp949": {"cp949", "euc_kr"}, "euc_jp": {"euc_jp", "euc_jis_2004"}, "euc_kr": {"euc_kr", "cp949"},
    "gb2312": {"gb2312", "gbk", "gb18030"}, "ibm855": {"cp855"}, "ibm866": {"cp866"},
    "iso8859_2": {"iso8859-2"}, "iso8859_5": {"iso8859-5"}, "iso8859_7": {"iso8859-7"}, "iso8859_9": {"iso8859-9"},
    "koi8_r": {"koi8-r"}, "mac_cyrillic": {"mac-cyrillic"}, "shift_jis": {"shift_jis", "cp932"},
    "tis_620": {"tis-620", "cp874"}, "windows_1250": {"cp1250"}, "windows_1251": {"cp1251"},
    "windows_1255": {"cp1255"},
}


def _expected(name: str) -> tuple[str, set[str] | None]:
    for prefix in sorted(FAMILIES, key=len, reverse=True):
        if name.startswith(prefix + "_"):
            return prefix, FAMILIES[prefix]
    raise AssertionError(f"no expected encoding in file name {name}")


def _feed_files() -> list[Path]:
    files = sorted(CHAR_DATASET.glob("*.xml")) if CHAR_DATASET.is_dir() else []
    return files


@pytest.mark.slow
def test_char_dataset_feeds_decode_to_expected_encoding():
    files = _feed_files()
    if not files:
        pytest.skip(f"feeds corpus not found under {CHAR_DATASET} (../shared is absent)")
    outcomes = {"items": 0, "error": 0}
    for path in files:
        data = path.read_bytes()
        records, _, parsed = feed_records_from_bytes(data, str(path), path.stem)
        assert records, path.name
        if parsed is None:
            assert len(records) == 1 and records[0].error, path.name
            outcomes["error"] += 1
            continue
        outcomes["items"] += 1
        assert not any(r.error for r in records), path.name
        prefix, family = _expected(path.name)
        text = "\n".join(f"{r.fields.get('title') or ''}\n{r.fields.get('content') or ''}" for r in records)
        assert "\ufffd" not in text[:20000] or parsed.decoded.method == "declared-lossy", path.name
        if family is None:
            continue
        if family == {"utf-8"}:
            assert parsed.decoded.encoding == "utf-8", path.name
            assert not re.search("[ÃÐÑ][\u0080-\u00bf]", text), f"mojibake in {path.name}"
            continue
        assert parsed.decoded.encoding in family, (path.name, parsed.decoded)
        # The decoded text must be text of that encoding: its non-ASCII letters re-encode in it
        # (entities such as &#8217; may add a few characters the code page lacks).
        letters = [ch for ch in text if ord(ch) > 127 and ch.isalpha()]
        if letters:
            codec = sorted(family)[0] if prefix not in ("gb2312", "big5") else ("gb18030" if prefix == "gb2312" else "big5hkscs")
            ok = sum(1 for ch in letters if _encodes(ch, parsed.decoded.encoding))
            assert ok / len(letters) > 0.98, (path.name, codec, ok, len(letters))
    assert outcomes["items"] >= 300  # measured: 306 of 314 yield items; the rest are HTML pages / truncated


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
        return True
    except UnicodeEncodeError:
        return False


ARABIC_TITLE = "انطلاق القمة العربية في الرياض"
ARABIC_BODY = "قال وزير الخارجية إن الاجتماع سيناقش الأوضاع الاقتصادية في المنطقة."


def _arabic_rss(declared: str | None) -> str:
    decl = f'<?xml version="1.0" encoding="{declared}"?>\n' if declared else ""
    return (f"{decl}<rss version=\"2.0\"><channel><title>أخبار</title><link>http://example.com/</link>"
            f"<item><title>{ARABIC_TITLE}</title><link>http://example.com/a1</link><guid>a1</guid>"
            f"<description>{ARABIC_BODY}</description><pubDate>Mon, 01 Jan 2024 10:00:00 +0300</pubDate></item>"
            "</channel></rss>")


@pytest.mark.parametrize("declared,codec", [
    ("windows-1256", "cp1256"), (None, "cp1256"), ("iso-8859-1", "cp1256"), ("ISO-8859-6", "iso8859-6"),
    ("utf-8", "utf-8"),
])
def test_arabic_feeds_decode_whatever_the_declaration(declared, codec):
    data = _arabic_rss(declared).encode(codec)
    records, _, parsed = feed_records_from_bytes(data, "mem.xml", "mem")
    assert parsed is not None and len(records) == 1
    f = records[0].fields
    assert f["title"] == ARABIC_TITLE and f["content"] == ARABIC_BODY
    assert f["source"] == "أخبار" and f["url"] == "http://example.com/a1"
    assert f["published"] == "2024-01-01T07:00:00+00:00"
    assert records[0].location == "mem.xml#a1" and records[0].format == "json"


def test_persian_blog_feed():
    path = SHARED_FEEDS / "pear_xml_feed_parser_samples" / "hoder.xml"
    if not path.is_file():
        pytest.skip("../shared is absent")
    records, _, parsed = feed_records_from_bytes(path.read_bytes(), str(path), "hoder")
    assert parsed is not None and records
    assert any(re.search("[\u0600-\u06ff]{3}", r.fields.get("content") or "") for r in records)


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title><item><title>&xxe;</title><description>x</description></item></channel></rss>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>t</title><item><title>&lol3;</title><description>x</description></item></channel></rss>"""


@pytest.mark.parametrize("doc,reason", [(XXE, "XXE"), (LAUGHS, "billion laughs"),
                                        (XXE.replace(b"</rss>", b"<broken>"), "XXE")])
def test_unsafe_xml_refused_without_expansion(doc, reason):
    records, emitted, parsed = feed_records_from_bytes(doc, "evil.xml", "evil")
    assert parsed is None and emitted == [] and len(records) == 1
    assert records[0].error and reason in records[0].error
    assert b"root:" not in records[0].content and b"lollollol" not in records[0].content


def test_drupal_style_doctype_is_allowed():
    doc = _arabic_rss("utf-8").replace(
        "<rss", '<!DOCTYPE rss [<!ENTITY % HTMLlat1 PUBLIC "-//W3C//ENTITIES Latin 1 for XHTML//EN" '
        '"http://www.w3.org/TR/xhtml1/DTD/xhtml-lat1.ent">]>\n<rss', 1).encode("utf-8")
    records, _, parsed = feed_records_from_bytes(doc, "d.xml", "d")
    assert parsed is not None and records[0].fields["title"] == ARABIC_TITLE


def test_not_a_feed_and_truncated_feed_are_one_error_record():
    for data, reason in [(b"<html><body>hi</body></html>", "not an RSS/Atom feed"), (b"", "empty"),
                         (_arabic_rss("utf-8").encode()[:60], "")]:
        records, _, parsed = feed_records_from_bytes(data, "x.xml", "x")
        assert parsed is None and len(records) == 1 and reason in (records[0].error or "")


def test_decode_prefers_declared_superset():
    text = "髙橋の記事"  # 髙 is only in cp932, not in strict Shift_JIS
    data = f'<?xml version="1.0" encoding="Shift_JIS"?><rss><channel><title>{text}</title></channel></rss>'.encode("cp932")
    assert decode_feed_bytes(data).encoding == "cp932"


# ---- summary-only items: the linked page is fetched from a local server and extracted

PAGE = ("<html><head><title>" + ARABIC_TITLE + "</title></head><body><nav>الرئيسية | أخبار</nav><article><h1>"
        + ARABIC_TITLE + "</h1>" + "".join(f"<p>{ARABIC_BODY} الفقرة رقم {i} من التقرير الكامل.</p>" for i in range(8))
        + "</article><footer>جميع الحقوق محفوظة</footer></body></html>")


@contextmanager
def _serve(routes: dict[str, tuple[int, bytes, dict[str, str]]]) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, body, headers = routes.get(self.path, (404, b"", {}))
            if "ETag" in headers and self.headers.get("If-None-Match") == headers["ETag"]:
                status, body = 304, b""
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _summary_feed(base: str) -> bytes:
    items = "".join(
        f"<item><title>{ARABIC_TITLE} {n}</title><link>{base}/{path}</link><guid>tag:akhbar,2024:{n}</guid>"
        f"<description>{ARABIC_BODY}</description></item>"
        for n, path in ((1, "page"), (2, "missing"))
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>أخبار</title>{items}'
            "</channel></rss>").encode("utf-8")


def test_summary_only_item_fetches_page_and_failure_keeps_summary(tmp_path):
    routes: dict[str, tuple[int, bytes, dict[str, str]]] = {
        "/page": (200, PAGE.encode("cp1256"), {"Content-Type": "text/html; charset=windows-1256"}),
    }
    with _serve(routes) as base:
        routes["/feed"] = (200, _summary_feed(base), {"Content-Type": "application/rss+xml", "ETag": '"f1"'})
        records, state = iter_feed_records(f"{base}/feed", None, LOCAL, LIMITS, fetch_pages=True)
        assert len(records) == 2
        full, failed = (r.fields for r in records)
        assert "الفقرة رقم 7" in full["content"] and full["summary"] == ARABIC_BODY and "fetch_error" not in full
        assert failed["content"] == ARABIC_BODY and failed["fetch_error"] == "HTTP 404"
        assert state.etag == '"f1"' and state.seen_ids == ["tag:akhbar,2024:1", "tag:akhbar,2024:2"]
        state = FeedState.from_json(state.to_json())

        # Unchanged feed → 304 → nothing; changed feed → only the new item.
        again, state2 = iter_feed_records(f"{base}/feed", state, LOCAL, LIMITS)
        assert again == [] and state2.seen_ids == state.seen_ids
        routes["/feed"] = (200, _summary_feed(base).replace(b"2024:2</guid>", b"2024:3</guid>"),
                           {"Content-Type": "application/rss+xml", "ETag": '"f2"'})
        new, state3 = iter_feed_records(f"{base}/feed", state2, LOCAL, LIMITS)
        assert [r.fields["guid"] for r in new] == ["tag:akhbar,2024:3"] and state3.etag == '"f2"'

        # The same through records_for_source with a state directory.
        first = list(records_for_source(f"{base}/feed", LIMITS, state_dir=tmp_path, policy=LOCAL))
        second = list(records_for_source(f"{base}/feed", LIMITS, state_dir=tmp_path, policy=LOCAL))
        assert len(first) == 2 and second == [] and len(list(tmp_path.glob("*.json"))) == 1


def test_unreachable_feed_is_one_error_record():
    records, state = iter_feed_records("http://127.0.0.1:9/feed", FeedState(etag='"x"'),
                                       FetchPolicy(connect_timeout=1), LIMITS)
    assert len(records) == 1 and "non-public" in (records[0].error or "") and state.etag == '"x"'


def test_feed_file_dispatch(tmp_path):
    p = tmp_path / "news.feed"
    p.write_bytes(_arabic_rss("windows-1256").encode("cp1256"))
    records = list(records_for_source(str(p), LIMITS))
    assert len(records) == 1 and records[0].fields["title"] == ARABIC_TITLE
    assert codecs.lookup("cp1256")
