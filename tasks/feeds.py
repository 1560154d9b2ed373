"""RSS / Atom feeds → raw records, one per item; hardened parse, right decoding, incremental state.

Why each step is here:

* **Decoding before parsing.** feedparser trusts the XML declaration and falls back to
  windows-1252, which turns an undeclared (or ``iso-8859-1``-declared) windows-1256 feed into
  mojibake. So the bytes are decoded here first (:func:`decode_feed_bytes`): a byte-order mark or
  valid UTF-8 wins; a declared non-Latin, non-Arabic charset (koi8-r, Shift_JIS, Big5...) is
  honoured when the bytes decode in it (or in its usual superset: gb2312→gb18030, big5→cp950,
  shift_jis→cp932, euc-kr→cp949...); everything else -- no declaration, a Latin-1/cp1252 claim
  (the common lie on Arabic sites), an Arabic charset -- goes through
  :func:`akhbar.tasks.decode.decode_bytes`, which validates Arabic code pages by plausibility.
  (decode_bytes alone is the wrong judge for declared CJK feeds: it scores Japanese as
  mixed-script garbage and picks cp1256.) The text is re-encoded as UTF-8 with a UTF-8 XML
  declaration, so feedparser and expat see one unambiguous encoding.
* **defusedxml before feedparser.** The UTF-8 bytes are run through a defusedxml parser that
  refuses external general entities (XXE), unparsed entities and any entity whose value
  refers to other entities (the "billion laughs" pattern), *before* feedparser sees them.
  Simple entities (``<!ENTITY nbsp "&#160;">``) and the declared-but-unused external parameter
  entity Drupal puts in every feed are allowed: nothing is ever fetched or expanded recursively.
  A well-formedness error is not a refusal (feedparser's tolerant parse handles those), but an
  ill-formed document that *declares entities* is refused, since the strict check could not see them.
* **feedparser for the tolerant parse**, always given a byte stream: given bytes or a str it
  would treat them as a file name or URL and open it itself, bypassing :mod:`akhbar.tasks.fetch`.
* **One record per item**, a JSON record whose fields name what prepare's FieldMap detects
  (title, url, published, author, source, content). A feed that cannot be parsed becomes ONE
  error record with the reason, so it is quarantined and counted, never silently dropped.
* **Summaries → pages.** Items that carry only a summary can have their linked page fetched
  (through :mod:`akhbar.tasks.fetch`) and extracted; a page that cannot be fetched keeps the
  summary and records ``fetch_error`` -- the item is never lost.
* **Incremental state** (:class:`FeedState`): ETag / Last-Modified for conditional GET and the
  ids of items already emitted, so scheduled runs emit only new items.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import charset_normalizer
import feedparser
import lxml.html
from lxml import etree
from defusedxml import DefusedXmlException, EntitiesForbidden
from defusedxml.ElementTree import DefusedXMLParser

from akhbar.tasks.decode import BinaryDataError, decode_bytes, normalize_charset
from akhbar.tasks.fetch import FetchError, Fetcher, FetchPolicy, FetchResult
from akhbar.tasks.html_extract import extract_html
from akhbar.tasks.ingest import IngestLimits, RawRecord, canonical_json, raw_id_for

__all__ = [
    "FeedState",
    "FeedDecoded",
    "ParsedFeed",
    "UnsafeXmlError",
    "decode_feed_bytes",
    "check_xml_safety",
    "parse_feed_bytes",
    "feed_records_from_bytes",
    "iter_feed_records",
    "looks_like_feed",
    "html_to_text",
]

FEED_ACCEPT = "application/rss+xml, application/atom+xml, application/rdf+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.3"
MAX_SEEN_IDS = 20_000  # per source; old ids fall off (an item that old will not reappear in a feed)
SUMMARY_FULL_CHARS = 500  # a <content> shorter than this is treated as a summary too
MAX_ENTITY_DECLS = 64
MAX_ENTITY_VALUE = 1024

# --------------------------------------------------------------------------- decoding

# Declared label → codecs to try, in order: the declared one, then its common superset, since real
# feeds declaring gb2312/big5/shift_jis routinely use characters only the superset has.
_SUPERSETS: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb2312", "gbk", "gb18030"),
    "gbk": ("gbk", "gb18030"),
    "big5": ("big5", "cp950", "big5hkscs"),
    "cp950": ("cp950", "big5hkscs"),
    "shift_jis": ("shift_jis", "cp932", "shift_jis_2004"),
    "cp932": ("cp932", "shift_jis_2004"),
    "euc_jp": ("euc_jp", "euc_jis_2004", "cp932"),
    "euc_kr": ("euc_kr", "cp949"),
    "iso8859-8": ("iso8859-8", "cp1255"),
    "tis-620": ("tis-620", "cp874"),
    "iso8859-11": ("iso8859-11", "cp874"),
    "iso8859-9": ("iso8859-9", "cp1254"),
}
# Declarations that are routinely wrong (or are Arabic code pages, which decode_bytes validates).
_DECIDE_BY_CONTENT = frozenset({"cp1252", "utf-8", "utf-8-sig", "cp1256", "iso8859-6", "mac-arabic", "cp864", "cp720"})
_CJK = frozenset({"cp932", "shift_jis", "euc_jp", "euc_kr", "cp949", "gb2312", "gbk", "gb18030", "big5", "cp950",
                  "big5hkscs", "iso2022_jp"})
_XML_DECL = re.compile(r"^\s*<\?xml\b[^>]*\?>", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]*?\bencoding\s*=\s*[\"']([A-Za-z0-9._:\-]+)[\"']", re.IGNORECASE)
_LOSSY_PER = 1000  # a declared charset may replace at most 1 in 1000 non-ASCII characters


@dataclass(frozen=True)
class FeedDecoded:
    """A feed's text and how it was decided (``method`` explains it, for reports and tests)."""

    text: str
    encoding: str  # Python codec name
    declared: str | None  # what the XML declaration / HTTP header claimed
    method: str  # bom-or-utf8 | declared | declared-superset | declared-lossy | content | content-cjk


def _codec(label: str | None) -> str | None:
    name = normalize_charset(label)
    if name is None:
        return None
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def declared_xml_encoding(data: bytes) -> str | None:
    """The ``encoding`` pseudo-attribute of the XML declaration, if any."""
    m = _XML_DECL_ENCODING.match(data[:1024])
    return m.group(1).decode("ascii") if m else None


def decode_feed_bytes(data: bytes, http_charset: str | None = None) -> FeedDecoded:
    """Decode a feed's bytes (see the module docstring for the order). Raises BinaryDataError."""
    xml_declared = declared_xml_encoding(data)
    declared = http_charset or xml_declared  # RFC 7303: the HTTP charset wins over the prolog
    has_bom = data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if has_bom:
        d = decode_bytes(data)
        return FeedDecoded(d.text, d.encoding, declared, "bom-or-utf8")
    try:
        return FeedDecoded(data.decode("utf-8"), "utf-8", declared, "bom-or-utf8")
    except UnicodeDecodeError:
        pass
    codec = _codec(declared)
    if codec is None and http_charset and xml_declared:
        codec = _codec(xml_declared)
    if codec is not None and codec not in _DECIDE_BY_CONTENT and not codec.startswith("utf-"):
        candidates = _SUPERSETS.get(codec, (codec,))
        for i, cand in enumerate(candidates):
            try:
                return FeedDecoded(data.decode(cand), cand, declared, "declared" if i == 0 else "declared-superset")
            except (UnicodeDecodeError, LookupError):
                continue
        # A few bad bytes in an otherwise well-declared feed: replace them rather than guess anew.
        best = candidates[-1]
        try:
            text = data.decode(best, errors="replace")
        except LookupError:
            text = ""
        non_ascii = sum(1 for ch in text if ch >= "\u0080") or 1
        if text and text.count("\ufffd") * _LOSSY_PER <= max(3 * _LOSSY_PER, non_ascii):
            return FeedDecoded(text, best, declared, "declared-lossy")
    d = decode_bytes(data, declared=declared)
    if d.confidence < 0.5:
        # decode_bytes is Arabic-first; an undeclared CJK feed scores as mixed-script garbage there.
        # A multi-byte CJK code page that decodes the whole document strictly is strong evidence.
        best_match = charset_normalizer.from_bytes(data[:200_000]).best()
        guess = _codec(best_match.encoding) if best_match is not None else None
        if guess in _CJK and best_match is not None and best_match.chaos < 0.05:
            try:
                return FeedDecoded(data.decode(guess), guess, declared, "content-cjk")
            except UnicodeDecodeError:
                pass
    return FeedDecoded(d.text, d.encoding, declared, "content")


def as_utf8_xml(text: str) -> bytes:
    """The text as UTF-8 bytes whose XML declaration (if any) says UTF-8."""
    text = text.lstrip("\ufeff")
    m = _XML_DECL.match(text)
    if m:
        decl = re.sub(r"""\bencoding\s*=\s*["'][^"']*["']""", 'encoding="utf-8"', m.group().strip())
        text = decl + text[m.end():]
    return text.encode("utf-8")


# --------------------------------------------------------------------------- XML safety


class UnsafeXmlError(ValueError):
    """The document uses XML features that can read local files or explode in memory."""


class _FeedSafetyParser(DefusedXMLParser):
    """defusedxml's parser with a feed-specific entity policy (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(target=_NullTarget(), forbid_dtd=False, forbid_entities=True, forbid_external=True)
        self.entity_count = 0

    def defused_entity_decl(self, name: str, is_parameter_entity: bool, value: str | None, base: str | None,
                            sysid: str | None, pubid: str | None, notation_name: str | None) -> None:
        self.entity_count += 1
        if self.entity_count > MAX_ENTITY_DECLS:
            raise UnsafeXmlError(f"more than {MAX_ENTITY_DECLS} entity declarations")
        if value is None:  # external (SYSTEM/PUBLIC) or unparsed entity
            if is_parameter_entity and notation_name is None:
                return  # declared, never loaded: expat does not read external parameter entities here
            raise UnsafeXmlError(f"external entity {name!r} -> {sysid or pubid!r} (XXE) refused")
        if is_parameter_entity:
            raise UnsafeXmlError(f"internal parameter entity {name!r} refused")
        if len(value) > MAX_ENTITY_VALUE:
            raise UnsafeXmlError(f"entity {name!r} value longer than {MAX_ENTITY_VALUE} characters")
        if re.search(r"&(?!#)|%", value):
            raise UnsafeXmlError(f"entity {name!r} refers to other entities (entity-expansion / billion laughs)")


class _NullTarget:
    """Discard the tree: the safety pass only needs the parser's events, not the document."""

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        pass

    def end(self, tag: str) -> None:
        pass

    def data(self, data: str) -> None:
        pass

    def close(self) -> None:
        return None


_ENTITY_DECL = re.compile(rb"<!ENTITY", re.IGNORECASE)


def check_xml_safety(utf8: bytes) -> str | None:
    """Why the (UTF-8) document is unsafe to parse, or None. Malformed-but-harmless XML passes."""
    parser = _FeedSafetyParser()
    try:
        parser.feed(utf8)
        parser.close()
    except UnsafeXmlError as exc:
        return str(exc)
    except EntitiesForbidden as exc:  # unparsed entity declarations (defusedxml's own handler)
        return f"entity declaration refused: {exc}"
    except DefusedXmlException as exc:
        return f"unsafe XML refused: {type(exc).__name__}: {exc}"
    except (ET.ParseError, ValueError, LookupError):  # ValueError: expat refuses some declared encodings
        # Ill-formed: the strict pass may have stopped before the DTD's declarations; refuse any.
        if len(_ENTITY_DECL.findall(utf8[:200_000])) > parser.entity_count:
            return "entity declarations in ill-formed XML refused (cannot be checked)"
        return None
    return None


# --------------------------------------------------------------------------- parsing


@dataclass
class ParsedFeed:
    """A parsed feed: its title/link/language and feedparser's entries."""

    title: str | None
    link: str | None
    language: str | None
    entries: list[Any]
    version: str
    bozo: str | None  # feedparser's complaint, for the record (the parse may still be usable)
    decoded: FeedDecoded


class FeedParseError(ValueError):
    """The bytes are not a usable feed; ``str(exc)`` is the quarantine reason."""


def parse_feed_bytes(data: bytes, *, http_charset: str | None = None, base_url: str | None = None) -> ParsedFeed:
    """Decode, safety-check and parse; raise FeedParseError (with the reason) if unusable."""
    if not data.strip():
        raise FeedParseError("empty feed document")
    try:
        decoded = decode_feed_bytes(data, http_charset)
    except BinaryDataError as exc:
        raise FeedParseError(f"not a text feed: {exc.reason}") from exc
    utf8 = as_utf8_xml(decoded.text)
    unsafe = check_xml_safety(utf8)
    if unsafe is not None:
        raise FeedParseError(f"unsafe XML: {unsafe}")
    headers = {"content-type": "application/xml; charset=utf-8"}
    if base_url:
        headers["content-location"] = base_url
    # A stream, never bytes/str: feedparser would open a str as a URL or path itself.
    result = feedparser.parse(io.BytesIO(utf8), response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    bozo = f"{type(result.bozo_exception).__name__}: {result.bozo_exception}" if result.get("bozo") else None
    feed = result.get("feed", {})
    if not result.get("version") and not result.entries:
        raise FeedParseError("not an RSS/Atom feed" + (f" ({_short(bozo)})" if bozo else ""))
    if not result.entries and bozo:
        # A truncated or broken feed that yields nothing must be counted, not look like an empty feed.
        raise FeedParseError(f"ill-formed feed with no readable items ({_short(bozo)})")
    return ParsedFeed(feed.get("title") or None, feed.get("link") or None, feed.get("language") or None,
                      list(result.entries), result.get("version") or "", bozo, decoded)


def _short(text: str | None, n: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 1] + "…"


_BLOCK_TAGS = frozenset("p div br li tr h1 h2 h3 h4 h5 h6 blockquote pre section article ul ol table dd dt figcaption".split())


def html_to_text(html: str) -> str:
    """Feed HTML → plain text, paragraphs separated by blank lines (scripts and styles dropped)."""
    if "<" not in html and "&" not in html:
        return _tidy(html)
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (ValueError, etree.ParserError):
        return _tidy(re.sub(r"<[^>]+>", " ", html))
    for bad in root.xpath(".//script|.//style|.//noscript|.//iframe|.//object"):
        bad.drop_tree()
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.lower() in _BLOCK_TAGS:
            el.tail = "\n\n" + (el.tail or "")
            if el.tag.lower() != "br":
                el.text = "\n\n" + (el.text or "")
    return _tidy(root.text_content())


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip().replace("\n\n\n", "\n\n")


def _detail_text(detail: Any) -> str:
    value = (detail or {}).get("value") or ""
    kind = ((detail or {}).get("type") or "text/html").lower()
    return _tidy(value) if kind == "text/plain" else html_to_text(value)


def _iso(struct: Any) -> str | None:
    if not struct:
        return None
    try:
        return datetime(*struct[:6], tzinfo=timezone.utc).isoformat()
    except (TypeError, ValueError):
        return None


def entry_id(entry: Any) -> str:
    """The item's identity across fetches: guid/id, else link, else a hash of its text."""
    for key in ("id", "link"):
        value = entry.get(key)
        if value:
            return str(value)
    basis = f"{entry.get('title', '')}\n{entry.get('summary', '')}"
    return "sha1:" + hashlib.sha1(basis.encode("utf-8")).hexdigest()


def entry_fields(entry: Any, source: str, feed_url: str | None) -> tuple[dict[str, Any], bool]:
    """The record fields of one item, and whether it carries only a summary."""
    contents = [_detail_text(c) for c in entry.get("content") or []]
    content_text = max(contents, key=len) if contents else ""
    summary_text = _detail_text(entry.get("summary_detail")) if entry.get("summary_detail") else \
        html_to_text(entry.get("summary") or "")
    # RSS <description> / Atom <summary> are summaries by definition; a <content> that is short
    # (or no longer than the summary) is one too.
    summary_only = not content_text or len(content_text) < SUMMARY_FULL_CHARS
    body = content_text if len(content_text) >= len(summary_text) else summary_text
    title_detail = entry.get("title_detail")
    title = _detail_text(title_detail) if title_detail else (entry.get("title") or None)
    # dict.get, not entry.get: feedparser's own get() silently maps updated→published (and warns).
    published_raw = dict.get(entry, "published") or dict.get(entry, "updated")
    parsed_date = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    fields: dict[str, Any] = {
        "title": title or None,
        "url": entry.get("link") or None,
        "published": _iso(parsed_date) or published_raw or None,
        "author": entry.get("author") or None,
        "source": source,
        "content": body or None,
        "guid": entry.get("id") or None,
    }
    if published_raw:
        fields["published_raw"] = published_raw
    if feed_url:
        fields["feed"] = feed_url
    if summary_text and body != summary_text:
        fields["summary"] = summary_text
    return fields, summary_only


_HTML_TYPES = ("text/html", "application/xhtml+xml")


def enrich_from_page(fields: dict[str, Any], fetch: Callable[[str], FetchResult]) -> dict[str, Any]:
    """Replace a summary by the linked page's extracted text; on failure keep it and say why."""
    url = fields.get("url")
    summary = fields.get("content") or ""
    out = dict(fields)
    if not url:
        out["fetch_error"] = "item has no link"
        return out
    try:
        result = fetch(url)
    except FetchError as exc:
        out["fetch_error"] = exc.reason
        return out
    if result.content_type and result.content_type not in _HTML_TYPES:
        out["fetch_error"] = f"linked page is not HTML ({result.content_type})"
        return out
    try:
        page = extract_html(result.content, url=result.url, declared_charset=result.charset)
    except (BinaryDataError, ValueError) as exc:
        out["fetch_error"] = f"cannot extract page: {exc}"
        return out
    if page is None or not page.body.strip():
        out["fetch_error"] = "no article text in linked page"
        return out
    if len(page.body) < len(summary):
        out["fetch_error"] = "page text shorter than the feed summary; kept the summary"
        return out
    out["content"] = page.body
    out["summary"] = summary or None
    if result.url != url:
        out["page_url"] = result.url
    if not out.get("title") and page.title:
        out["title"] = page.title
    if not out.get("author") and page.author:
        out["author"] = page.author
    return out


# --------------------------------------------------------------------------- state


@dataclass
class FeedState:
    """What a scheduled run needs to remember about one feed between runs (JSON-serializable)."""

    etag: str | None = None
    last_modified: str | None = None
    last_fetch: str | None = None  # ISO-8601 UTC of the last successful fetch (200 or 304)
    seen_ids: list[str] = field(default_factory=list)  # oldest first, capped at MAX_SEEN_IDS

    def to_json(self) -> str:
        return json.dumps({"etag": self.etag, "last_modified": self.last_modified, "last_fetch": self.last_fetch,
                           "seen_ids": self.seen_ids}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> FeedState:
        obj = json.loads(text)
        if not isinstance(obj, dict):
            raise ValueError("feed state must be a JSON object")
        seen = obj.get("seen_ids") or []
        return cls(obj.get("etag"), obj.get("last_modified"), obj.get("last_fetch"), [str(s) for s in seen])

    def with_seen(self, new_ids: list[str]) -> list[str]:
        merged = self.seen_ids + [i for i in new_ids if i not in set(self.seen_ids)]
        return merged[-MAX_SEEN_IDS:]


# --------------------------------------------------------------------------- records


def _error_record(location: str, source_name: str, content: bytes, reason: str) -> RawRecord:
    body = content[:4096] or location.encode("utf-8")
    return RawRecord(raw_id_for(body), location, source_name, "feed", body, error=reason)


def feed_records_from_bytes(
    data: bytes,
    location: str,
    source_name: str,
    *,
    http_charset: str | None = None,
    base_url: str | None = None,
    seen: set[str] | None = None,
    fetch_page: Callable[[str], FetchResult] | None = None,
    max_page_fetches: int = 100,
) -> tuple[list[RawRecord], list[str], ParsedFeed | None]:
    """Records of one feed document, the ids of the items emitted, and the parse (None on error).

    Items whose id is in ``seen`` are skipped. ``fetch_page`` (if given) is used for summary-only
    items, at most ``max_page_fetches`` per feed.
    """
    try:
        parsed = parse_feed_bytes(data, http_charset=http_charset, base_url=base_url)
    except FeedParseError as exc:
        return [_error_record(location, source_name, data, str(exc))], [], None
    except Exception as exc:  # noqa: BLE001 -- a parser bug on hostile input must cost one record, not the run
        return [_error_record(location, source_name, data, f"feed parser failed: {type(exc).__name__}: {exc}")], [], None
    feed_url = base_url or None
    source = parsed.title or (urlsplit(base_url).hostname if base_url else None) or \
        (urlsplit(parsed.link).hostname if parsed.link else None) or source_name
    seen = set(seen or ())
    records: list[RawRecord] = []
    emitted: list[str] = []
    fetched = 0
    for i, entry in enumerate(parsed.entries):
        ident = entry_id(entry)
        if ident in seen:
            continue
        seen.add(ident)
        fields, summary_only = entry_fields(entry, source, feed_url)
        if parsed.language:
            fields["feed_language"] = parsed.language
        if summary_only and fetch_page is not None and fetched < max_page_fetches:
            fetched += 1
            fields = enrich_from_page(fields, fetch_page)
        fields = {k: v for k, v in fields.items() if v is not None}
        content = canonical_json(fields)
        where = f"{location}#{entry.get('id')}" if entry.get("id") else f"{location}#item{i}"
        records.append(RawRecord(raw_id_for(content), where, source_name, "json", content, url=fields.get("url")))
        emitted.append(ident)
    return records, emitted, parsed


def _now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def iter_feed_records(
    source: str,
    state: FeedState | None,
    policy: FetchPolicy | None,
    limits: IngestLimits,
    *,
    source_name: str | None = None,
    fetch_pages: bool = False,
    max_page_fetches: int = 100,
) -> tuple[list[RawRecord], FeedState]:
    """All new records of one feed (a URL or a file path) and the state for the next run.

    URL: conditional GET with the state's ETag / Last-Modified; 304 → no records. A fetch that
    fails or is refused → one error record, state unchanged (the next run retries). Items already
    in ``state.seen_ids`` are not re-emitted. The returned state should be saved only after the
    records are safely stored (a lost run then re-emits; raw_id dedup absorbs the repeat).
    """
    state = state or FeedState()
    policy = policy or FetchPolicy()
    is_url = source.lower().startswith(("http://", "https://"))
    name = source_name or (urlsplit(source).hostname if is_url else Path(source).stem) or "feed"
    new_state = FeedState(state.etag, state.last_modified, state.last_fetch, list(state.seen_ids))
    with Fetcher(policy) as fetcher:
        http_charset = None
        base_url: str | None = None
        if is_url:
            feed_policy_max = min(policy.max_bytes, limits.max_file_bytes)
            try:
                result = fetcher.get(source, etag=state.etag, last_modified=state.last_modified, accept=FEED_ACCEPT)
            except FetchError as exc:
                return [_error_record(source, name, source.encode("utf-8"), f"feed fetch failed: {exc.reason}")], state
            new_state.last_fetch = _now_iso()
            if result.not_modified:
                return [], new_state
            if len(result.content) > feed_policy_max:
                return [_error_record(source, name, result.content, "feed larger than the size limit")], state
            data, http_charset, base_url = result.content, result.charset, result.url
            new_state.etag = result.etag
            new_state.last_modified = result.last_modified
        else:
            path = Path(source)
            try:
                with path.open("rb") as fh:
                    data = fh.read(limits.max_file_bytes + 1)
            except OSError as exc:
                return [_error_record(source, name, source.encode("utf-8"), f"cannot read feed file: {exc}")], state
            if len(data) > limits.max_file_bytes:
                return [_error_record(source, name, data, f"feed file larger than the size limit "
                                      f"({limits.max_file_bytes} bytes)")], state
            new_state.last_fetch = _now_iso()

        def fetch_page(url: str) -> FetchResult:
            return fetcher.get(url, accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5")

        records, emitted, parsed = feed_records_from_bytes(
            data, source, name, http_charset=http_charset, base_url=base_url, seen=set(state.seen_ids),
            fetch_page=fetch_page if fetch_pages else None, max_page_fetches=max_page_fetches)
    if parsed is None:  # unparseable: keep the old validators so the next run fetches it again
        new_state.etag, new_state.last_modified = state.etag, state.last_modified
    new_state.seen_ids = state.with_seen(emitted)
    oversized = [r for r in records if len(r.content) > limits.max_record_bytes]
    if oversized:
        records = [r if len(r.content) <= limits.max_record_bytes else
                   _error_record(r.location, r.source_name, r.content, "feed item larger than max_record_bytes")
                   for r in records]
    return records, new_state


_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF|RDF)\b", re.IGNORECASE)


def looks_like_feed(head: bytes) -> bool:
    """True if the first bytes of a file look like an RSS/Atom/RDF document."""
    sample = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            sample = sample.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            return False
    return sample.startswith(b"<") and _FEED_ROOT.search(sample) is not None
