"""News HTML -> article (title, body, metadata), Arabic-aware.

Why trafilatura and not our own DOM rules: body extraction is a solved-enough problem whose
hard part is the long tail of site layouts; trafilatura is maintained, measured on public
benchmarks, runs offline, and is what akhbar's benchmark (``benchmarks/aeb.py``) compares against
its peers. What we add is what a generic extractor does not know about Arabic news sites:

* "read also" / "watch also" link lines (``اقرأ أيضا:``, ``شاهد أيضاً``...), share bars, copyright
  and comment-form lines that sit inside the article container;
* headlines repeated at the top of the body (JawharaFM repeats them 2-5 times), which would
  otherwise double-count the headline in search, dedup and entity statistics;
* bytes in windows-1256 / ISO-8859-6 with or without a ``<meta charset>``: decoding goes through
  :mod:`akhbar.tasks.decode`, which validates the declared charset instead of trusting it.

Everything here is a pure function of its input (no network, no global state).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from pathlib import Path


from akhbar.tasks.decode import decode_bytes

__all__ = [
    "HtmlArticle",
    "extract_html",
    "read_html_file",
    "sniff_declared_charset",
    "decode_html",
    "is_link_or_boilerplate_line",
    "strip_repeated_headline",
    "clean_body_lines",
    "DEFAULT_MAX_HTML_BYTES",
]

DEFAULT_MAX_HTML_BYTES = 50 * 1024 * 1024

# Extraction options, chosen by measurement on the article-extraction benchmark
# (see docs/extraction.md and benchmarks/aeb.py, which re-measures them).
# favor_precision measured best with our filters (AEB F1 0.966-0.967 vs 0.964 balanced vs 0.963
# favor_recall; differences are inside the bootstrap CI, see docs/extraction.md). Its one Arabic failure (a short
# JawharaFM brief replaced by the related-news list) is caught by _looks_like_link_list.
TRAFILATURA_OPTIONS: dict[str, bool] = {
    "favor_precision": True,
    "favor_recall": False,
    "include_comments": False,
    "include_tables": True,
}


@dataclass(frozen=True, slots=True)
class HtmlArticle:
    """One extracted article.

    ``body`` is plain text, paragraphs separated by a blank line ("\\n\\n"), so downstream
    cleaners can split paragraphs without re-parsing HTML. ``published`` is the raw date string
    the page gave (parsing/normalising dates is the validator's job, not the extractor's).
    ``language`` is the page's own ``<html lang>`` claim, or None -- a claim, not a detection.
    """

    title: str | None
    body: str
    author: str | None
    published: str | None
    language: str | None
    sitename: str | None


# --------------------------------------------------------------------------- reading & decoding


def read_html_file(path: str | Path, max_bytes: int = DEFAULT_MAX_HTML_BYTES) -> bytes:
    """Read an HTML file, transparently gunzipping it, refusing anything above ``max_bytes``.

    Why magic bytes and not the file name: crawlers save gzip bodies under ``.html`` and plain
    bodies under ``.gz``. Why a cap on the *decompressed* size: a small gzip bomb would
    otherwise exhaust memory on a 2-core box shared by a whole pipeline.
    """
    p = Path(path)
    with p.open("rb") as fh:
        head = fh.read(2)
        fh.seek(0)
        if head != b"\x1f\x8b":
            data = fh.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"{p}: file larger than the {max_bytes}-byte cap")
            return data
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        chunks: list[bytes] = []
        total = 0
        while True:
            block = fh.read(64 * 1024)
            if not block:
                break
            out = decompressor.decompress(block, max_bytes + 1 - total)
            while True:
                total += len(out)
                chunks.append(out)
                if total > max_bytes:
                    raise ValueError(
                        f"{p}: decompressed size exceeds the {max_bytes}-byte cap (gzip bomb or oversized page)"
                    )
                if not decompressor.unconsumed_tail:
                    break
                out = decompressor.decompress(decompressor.unconsumed_tail, max_bytes + 1 - total)
            if decompressor.eof:
                break
        if not decompressor.eof:
            raise ValueError(f"{p}: truncated gzip stream")
        return b"".join(chunks)


_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.IGNORECASE
)
_XML_PROLOG = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9_.:\-]+)""", re.IGNORECASE)


def sniff_declared_charset(data: bytes) -> str | None:
    """The charset the document declares (``<meta charset>``, http-equiv, XML prolog), or None.

    Scans the first 4 KiB only: browsers' prescan looks at 1 KiB; real pages sometimes put the
    meta after a long comment or inline script, so a little more margin helps.
    """
    head = data[:4096]
    m = _XML_PROLOG.search(head) or _META_CHARSET.search(head)
    return m.group(1).decode("ascii", "replace") if m else None


def decode_html(data: bytes, declared: str | None = None) -> str:
    """Decode HTML bytes: transport header (``declared``) first, else the in-document meta.

    Both are only hints; :func:`akhbar.tasks.decode.decode_bytes` validates them.
    """
    return decode_bytes(data, declared=declared or sniff_declared_charset(data)).text


_HTML_LANG = re.compile(r"""<html\b[^>]*?\blang\s*=\s*["']?\s*([A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8})*)""", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _html_lang(html: str) -> str | None:
    m = _HTML_LANG.search(html[:20000])
    return m.group(1).replace("_", "-").lower() if m else None


# --------------------------------------------------------------------------- post-filters

# Normalise Arabic for *comparison only*: alef variants, teh marbuta/heh, yeh/alef maqsura,
# harakat and tatweel differ between a site's headline tag and its body copy.
_HARAKAT_TATWEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_ALEF = re.compile("[\u0622\u0623\u0625\u0671]")


def _fold(text: str) -> str:
    t = unicodedata.normalize("NFKC", text)
    t = _HARAKAT_TATWEEL.sub("", t)
    t = _ALEF.sub("\u0627", t)
    t = t.replace("\u0649", "\u064a").replace("\u0629", "\u0647")
    return t.casefold()


def _letters(text: str) -> str:
    """Only letters and digits, folded: the key used to compare headlines and lines."""
    return "".join(ch for ch in _fold(text) if ch.isalnum())


# "read also", "watch also", "read more", "see also", "related" -- optional leading bullet,
# optional hamza/alef/teh variants, optional trailing tanween; followed by ':' or a link text.
_READ_ALSO = re.compile(
    r"""^[\s\-–—•*►▶◄«»<>|:()\[\]]*(?:
        [اإأ]قر[اأ]ء?\s*(?:[اأإ]يضا[ًا]?|كذلك|المزيد|ايضاً)
      | شاهد(?:وا)?\s*(?:[اأإ]يضا[ًا]?|المزيد|الفيديو|كذلك)
      | طالع\s*(?:[اأإ]يضا[ًا]?|المزيد)
      | تابع(?:وا)?\s*(?:[اأإ]يضا[ًا]?|المزيد)
      | (?:اقر[اأ]|إقر[اأ])\s*:
      | للمزيد(?:\s*من\s*(?:الأخبار|الاخبار|المعلومات|التفاصيل))?\s*[:：]
      | مواضيع\s*ذات\s*صلة | أخبار\s*ذات\s*صلة | اخبار\s*ذات\s*صلة | مقالات\s*ذات\s*صلة | ذات\s*صلة\s*[:：]
      | read\s+(?:more|also|next)\b | also\s+read\b | see\s+also\b | related\s*(?:articles?|stories|news|links?)?\s*: | recommended\s*:
      | more\s*:\s | click\s+here\b
    )""",
    re.IGNORECASE | re.VERBOSE,
)

_BOILERPLATE = re.compile(
    r"""(?:
        جميع\s*الحقوق\s*محفوظة | كل\s*الحقوق\s*محفوظة | حقوق\s*النشر | ©
      | all\s+rights\s+reserved | copyright\s+(?:©|\(c\)|\d{4})
      | أضف\s*تعليق | اضف\s*تعليق | إضافة\s*تعليق | اضافة\s*تعليق | اترك\s*تعليق | أترك\s*تعليق | شارك\s*برأيك | التعليقات\s*[:：]?$
      | لن\s*يتم\s*نشر\s*(?:عنوان\s*)?بريدك | البريد\s*الإلكتروني\s*(?:لن|\(لن) | الحقول\s*الإلزامية
      | تعليقات\s*الفيسبوك | (?:ال)?تعليقات\s*المنشورة
      | leave\s+a\s+(?:comment|reply) | post\s+a\s+comment | add\s+(?:new\s+)?comment | your\s+email\s+address\s+will\s+not
      | required\s+fields\s+are\s+marked
      | ^(?:شارك|مشاركة|شارك\s*الخبر|شارك\s*المقال|انشر|share|share\s+this(?:\s+article|\s+story)?|tweet|تغريد|طباعة|print|email|أرسل\s*لصديق)
        (?:\s*(?:على|عبر|on|via|:|\||فيسبوك|تويتر|واتساب|facebook|twitter|whatsapp|linkedin|telegram|تلغرام|تيليجرام|بريد|email|print|طباعة))*\s*$
      | ^(?:facebook|twitter|whatsapp|linkedin|telegram|فيسبوك|تويتر|واتساب)(?:\s*[|,،]?\s*(?:facebook|twitter|whatsapp|linkedin|telegram|فيسبوك|تويتر|واتساب|email|print))*\s*$
      | ^(?:تحميل|download)$
    )""",
    re.IGNORECASE | re.VERBOSE,
)
_ONLY_PUNCT = re.compile(r"^[\W_]*$", re.UNICODE)


def is_link_or_boilerplate_line(line: str) -> bool:
    """True for a body line that is navigation/boilerplate rather than article text.

    Covers "read also"-style inline links (Arabic and English), share bars, copyright lines,
    comment-form prompts, and lines with no letters (table pipes, separators). Long lines are
    never dropped by the generic patterns -- a real paragraph may *mention* comments or rights;
    only the anchored "read also" rule applies to long lines, and only to their opening words.
    Reusable by the plain-text cleaner, hence public and pure.
    """
    stripped = line.strip().strip("|").strip()
    if not stripped or _ONLY_PUNCT.match(stripped):
        return True
    compact = re.sub(r"[\s|]+", " ", stripped).strip()
    if _READ_ALSO.match(compact) and len(compact) <= 250:
        return True
    words = compact.split()
    if len(words) <= 14 and _BOILERPLATE.search(compact):
        return True
    return False


_DATELINE = re.compile(r"(?:\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}|\d{1,2}:\d{2})")


def strip_repeated_headline(lines: list[str], title: str | None) -> list[str]:
    """Drop copies of the headline (and a short category/date line) at the top of the body.

    Why: JawharaFM and other CMSs print the headline 2-5 times (breadcrumb, H1, share card...)
    inside the article container; the headline belongs in ``title``, once. Comparison ignores
    punctuation, harakat and alef/yeh/teh-marbuta variants, because the <title> and the H1
    often differ just there (quotes stripped, tatweel...). Only the top of the body is touched:
    a headline quoted later in the text is content.
    """
    if not lines:
        return lines
    key = _letters(title) if title else ""
    out = list(lines)
    i = 0
    dropped = 0
    # Look at the first few lines: headline copies and at most short meta lines between them.
    while i < len(out) and i < 6:
        k = _letters(out[i])
        if key and k and (k == key or (len(key) >= 12 and (k.startswith(key) or key.startswith(k)) and abs(len(k) - len(key)) <= 0.2 * len(key) + 3)):
            del out[i]
            dropped += 1
            continue
        words = out[i].split()
        if len(words) <= 4 and _DATELINE.search(out[i]) and i == 0:
            del out[i]
            continue
        if len(words) > 3:
            break  # the article text has started; a headline quoted from here on is content
        i += 1
    # A headline repeated back-to-back without a <title> match (no title metadata): keep one.
    dedup: list[str] = []
    for line in out:
        if dedup and _letters(line) and _letters(line) == _letters(dedup[-1]):
            continue
        dedup.append(line)
    return dedup


def clean_body_lines(text: str, title: str | None) -> list[str]:
    """Split extractor text into paragraphs and apply the Arabic-aware post-filters."""
    lines = [re.sub(r"[ \t\u00a0]+", " ", ln).strip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    lines = strip_repeated_headline(lines, title)
    return [ln for ln in lines if not is_link_or_boilerplate_line(ln)]


# --------------------------------------------------------------------------- extraction


def _clean_title(title: str | None) -> str | None:
    if not title:
        return None
    t = re.sub(r"\s+", " ", title).strip()
    return t or None


def _run_trafilatura(text_html: str, url: str | None, opts: dict[str, bool]) -> tuple[object | None, str | None, list[str]]:
    import trafilatura  # imported on first use: 0.12 s that a run without HTML input never needs

    doc = trafilatura.bare_extraction(
        text_html,
        url=url,
        with_metadata=True,
        output_format="python",
        # No "extensive" date guessing: it turns a footer's copyright year into a publication
        # date. A missing date is honest; a made-up one poisons time partitions.
        date_extraction_params={"extensive_search": False, "original_date": True},
        **opts,
    )
    if doc is None or not getattr(doc, "text", None):
        return None, None, []
    title = _clean_title(doc.title)
    return doc, title, clean_body_lines(doc.text, title)


_BULLET = re.compile(r"^\s*[-•*▪►]\s")


def _looks_like_link_list(lines: list[str]) -> bool:
    """True when the extracted 'body' is a short list of bulleted teaser lines (related news).

    Kept narrow on purpose: articles that *are* bulleted lists (common in English news) must not
    trigger the fallback -- measured on the benchmark, a looser rule cost 0.002 F1.
    """
    if not lines:
        return True
    bullets = [ln for ln in lines if _BULLET.match(ln)]
    if len(bullets) < max(2, 0.5 * len(lines)):
        return False
    short = sum(1 for ln in bullets if len(ln.split()) <= 15 and _DATELINE.search(ln))
    return short >= 0.8 * len(bullets) and sum(len(ln.split()) for ln in lines) < 200


def extract_html(
    html: bytes | str,
    url: str | None = None,
    *,
    declared_charset: str | None = None,
    options: dict[str, bool] | None = None,
) -> HtmlArticle | None:
    """Extract the article from one HTML page, or None when the page has no article body.

    ``html`` may be bytes (decoded here, honouring ``declared_charset`` then ``<meta charset>``)
    or already-decoded text. ``url`` only helps metadata (site name, relative links); nothing is
    fetched. ``options`` overrides :data:`TRAFILATURA_OPTIONS` (the benchmark uses it).
    Gzip input should go through :func:`read_html_file` first.
    """
    text_html = decode_html(html, declared_charset) if isinstance(html, bytes) else html
    # lxml refuses str input that carries an XML encoding declaration; the text is decoded already.
    text_html = _XML_DECL.sub("", text_html, count=1)
    if not text_html.strip():
        return None
    opts = {**TRAFILATURA_OPTIONS, **(options or {})}
    doc, title, lines = _run_trafilatura(text_html, url, opts)
    if opts.get("favor_precision") and _looks_like_link_list(lines):
        # Precision mode can discard a short article and keep the "related news" list instead
        # (seen on a JawharaFM weather brief); the balanced mode gets those right.
        retry = _run_trafilatura(text_html, url, {**opts, "favor_precision": False})
        if retry[2] and not _looks_like_link_list(retry[2]):
            doc, title, lines = retry
    if doc is None or not lines:
        return None
    return HtmlArticle(
        title=title,
        body="\n\n".join(lines),
        author=(getattr(doc, "author", None) or None),
        published=(getattr(doc, "date", None) or None),
        language=_html_lang(text_html),
        sitename=(getattr(doc, "sitename", None) or None),
    )


def read_and_extract(path: str | Path, url: str | None = None) -> HtmlArticle | None:
    """Convenience for files on disk (``.html`` or ``.html.gz``)."""
    return extract_html(read_html_file(path), url=url)
