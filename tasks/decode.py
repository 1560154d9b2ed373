"""Bytes -> text for Arabic-first ingestion: charset detection, mojibake repair, binary quarantine.

Why this module exists: Arabic news reaches us as UTF-8, windows-1256 (cp1256) and ISO-8859-6,
often with a wrong or missing charset declaration. Every single-byte Arabic encoding accepts
almost any byte string, and cp1256 in particular defines all 256 bytes, so ISO-8859-6 and UTF-8
input *also decode without error as cp1256* -- into plausible-looking garbage. A decoder that
"tries cp1256 first" therefore corrupts data silently. The order used here is:

1. BOM (UTF-8 / UTF-16 / UTF-32): unambiguous, wins over everything else.
2. Strict UTF-8: multi-byte UTF-8 is self-validating; legacy Arabic text practically never
   forms valid UTF-8 by accident (Arabic letters sit in the lead-byte range 0xC1-0xFF and are
   rarely followed by the required 0x80-0xBF continuation bytes).
3. Otherwise candidates (declared charset, cp1256, ISO-8859-6, charset-normalizer's guesses)
   are decoded strictly and scored by *plausibility*: letters of one script per word, harakat
   attached to Arabic letters, no C1 controls. ISO-8859-6 read as cp1256 produces Latin
   accented letters inside Arabic words (``ا\u00e9``...), which the score punishes.

A declared charset (HTTP header, XML prolog, ``<meta charset>``) is a hint: it is used when it
decodes and is about as plausible as the best guess, and overruled when it is clearly worse
(e.g. ``iso-8859-1`` declared on a cp1256 page, a very common lie).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

import charset_normalizer
import ftfy

__all__ = [
    "BinaryDataError",
    "Decoded",
    "decode_bytes",
    "looks_binary",
    "binary_reason",
    "repair_mojibake",
    "normalize_charset",
]


@dataclass(frozen=True, slots=True)
class Decoded:
    """Result of :func:`decode_bytes`.

    ``encoding`` is a Python codec name (``utf-8``, ``cp1256``, ``iso8859-6``...).
    ``confidence`` is in [0, 1]: 1.0 for BOM / valid non-ASCII UTF-8, lower for guesses, so the
    pipeline can flag low-confidence decodes for review instead of trusting them.
    ``repaired`` is True when the text differs from a plain decode of the bytes (mojibake was
    repaired, or damaged UTF-8 sequences were replaced by U+FFFD), so downstream stats can count it.
    ``bom`` is True when a byte-order mark was found and stripped.
    """

    text: str
    encoding: str
    confidence: float
    repaired: bool
    bom: bool


class BinaryDataError(ValueError):
    """Raised for input that is not text at all, so ingestion can quarantine it with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"binary data, not text: {reason}")
        self.reason = reason


# --------------------------------------------------------------------------- binary detection

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 before UTF-16: the UTF-32-LE BOM starts with the UTF-16-LE BOM.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"%PDF-", "pdf"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"\x7fELF", "elf"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PAR1", "parquet"),
    (b"SQLite format 3\x00", "sqlite"),
)

# C0 controls that real text uses; everything else below 0x20 (and DEL) is suspicious.
_TEXT_CONTROLS = frozenset(b"\t\n\r\f\x0b\x1b")
_SAMPLE = 64 * 1024
_MAX_CONTROL_RATIO = 0.05


def _looks_utf16_without_bom(sample: bytes) -> str | None:
    """Return 'utf-16-le'/'utf-16-be' for BOM-less UTF-16 text, else None.

    Why: UTF-16 is full of NUL bytes, so a naive NUL check would quarantine it as binary.
    BOM-less UTF-16 shows NULs concentrated in every other byte (ASCII) or a constant high
    byte (0x06 for Arabic), and decodes to printable text.
    """
    if len(sample) < 4:
        return None
    even = sample[0 : len(sample) - len(sample) % 2]
    for enc in ("utf-16-le", "utf-16-be"):
        try:
            text = even.decode(enc)
        except UnicodeDecodeError:
            continue
        if not text:
            continue
        printable = sum(1 for ch in text if ch.isprintable() or ch in "\t\r\n")
        letters = sum(1 for ch in text if ch.isalpha() or ch.isspace())
        if printable / len(text) > 0.97 and letters / len(text) > 0.6:
            return enc
    return None


def binary_reason(data: bytes) -> str | None:
    """Why ``data`` looks binary (a short reason for the quarantine record), or None if text-like."""
    if not data:
        return None
    for bom, _ in _BOMS:
        if data.startswith(bom):
            return None
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return f"{name} magic bytes"
    sample = data[:_SAMPLE]
    if b"\x00" in sample:
        if _looks_utf16_without_bom(sample) is not None:
            return None
        return f"NUL bytes ({sample.count(0)} in first {len(sample)} bytes)"
    controls = sum(1 for b in sample if (b < 0x20 and b not in _TEXT_CONTROLS) or b == 0x7F)
    ratio = controls / len(sample)
    if ratio > _MAX_CONTROL_RATIO:
        return f"control-character ratio {ratio:.1%} > {_MAX_CONTROL_RATIO:.0%}"
    return None


def looks_binary(data: bytes) -> bool:
    """True for data that should be quarantined instead of decoded (NULs, magic bytes, controls).

    Bytes 0x80-0x9F are *not* counted as controls: cp1256 uses them for letters (پ چ گ ک...).
    """
    return binary_reason(data) is not None


# --------------------------------------------------------------------------- charset names

_ALIASES = {
    # WHATWG maps these labels to windows-1252; browsers decode them so, and so do we.
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "windows-1256": "cp1256",
    "x-cp1256": "cp1256",
    "arabic": "iso8859-6",
    "iso-8859-6-i": "iso8859-6",
    "iso-8859-6-e": "iso8859-6",
    "asmo-708": "iso8859-6",
    "x-mac-arabic": "mac-arabic",
}


def normalize_charset(label: str | None) -> str | None:
    """Map a declared charset label to a Python codec name, or None if unknown/empty.

    Why: declarations come from the wild (``"UTF8"``, ``'windows-1256'``, ``charset="x-cp1256"``)
    and a typo must not crash ingestion -- an unknown label is simply no hint.
    """
    if not label:
        return None
    cleaned = label.strip().strip("'\"").strip().lower()
    if not cleaned:
        return None
    cleaned = _ALIASES.get(cleaned, cleaned)
    try:
        info = codecs.lookup(cleaned)
    except LookupError:
        return None
    name = info.name
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return name


# --------------------------------------------------------------------------- plausibility


def _script(ch: str) -> str:
    """Coarse script of a letter (first word of its Unicode name: LATIN, ARABIC, CYRILLIC...)."""
    if ch < "\u0080":
        return "LATIN"
    if "\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufefc" or "\u0750" <= ch <= "\u077f":
        return "ARABIC"
    name = unicodedata.name(ch, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


_HARAKAT = re.compile("[\u064b-\u0652\u0670]")
_WORD = re.compile(r"[^\W\d_]+|[\u064b-\u0652\u0670]+", re.UNICODE)
_ARABIC_ENCODINGS = frozenset({"cp1256", "iso8859-6", "mac-arabic", "cp864", "cp720"})


def _plausibility(text: str) -> float:
    """Score in about [-5, 1]: how much ``text`` looks like real (mostly Arabic) text.

    Only non-ASCII characters are informative (every candidate decodes ASCII the same way).
    Rewards: letters in single-script words, harakat right after an Arabic letter.
    Penalties: C1 controls / unassigned code points, words mixing scripts (the signature of a
    wrong single-byte code page), harakat with no Arabic base, stray symbols.
    """
    sample = text[:_SAMPLE]
    non_ascii = sum(1 for ch in sample if ch >= "\u0080")
    if non_ascii == 0:
        return 1.0
    good = 0.0
    bad = 0.0
    for ch in sample:
        if ch < "\u0080":
            continue
        cat = unicodedata.category(ch)
        if cat == "Cc" or cat == "Cn" or cat == "Co" or ch == "\ufffd":
            bad += 5
        elif cat.startswith("S") and ch not in "\u00b0\u00a9\u00ae\u20ac\u00a3\u2122":
            bad += 1
    for m in _WORD.finditer(sample):
        word = m.group()
        if word[0] < "\u0080" and word.isascii():
            continue
        scripts = {_script(ch) for ch in word if not _HARAKAT.match(ch)}
        n = sum(1 for ch in word if ch >= "\u0080")
        if not scripts:  # harakat on their own (no base letter)
            bad += 2 * len(word)
        elif len(scripts) == 1:
            good += n
            if "ARABIC" in scripts:
                good += 0.25 * n  # Arabic-first prior: ties go to the Arabic reading
        else:
            bad += 3 * n
    punct = sum(1 for ch in sample if ch >= "\u0080" and unicodedata.category(ch)[0] in "PZ")
    good += punct
    return (good - bad) / non_ascii


# --------------------------------------------------------------------------- UTF-8 helpers


def _decode_damaged_utf8(data: bytes) -> tuple[str, float] | None:
    """Decode UTF-8 with a few bad sequences (e.g. truncated at a buffer boundary).

    Returns (text, share of valid multi-byte sequences) when the bytes are overwhelmingly valid
    UTF-8, else None. Why: a page cut mid-character, or with one corrupted byte, is still UTF-8;
    falling through to cp1256 would turn *all* of it into mojibake instead of one U+FFFD.
    """
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    multibyte = sum(1 for ch in text if ch >= "\u0080" and ch != "\ufffd")
    if multibyte == 0:
        return None
    valid_share = multibyte / (multibyte + bad)
    # Also accept a single invalid tail (truncation) whatever the size of the text.
    tail_only = False
    try:
        data[: len(data) - 3].decode("utf-8")
        tail_only = True
    except UnicodeDecodeError:
        pass
    if tail_only or (valid_share >= 0.98 and multibyte >= 20):
        return text, valid_share
    return None


# --------------------------------------------------------------------------- public API


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode raw bytes to text, Arabic-aware. Raises :class:`BinaryDataError` for binary input.

    ``declared`` is the charset a transport claimed (HTTP header, XML prolog, meta tag); it is
    validated against the bytes, never trusted blindly (see module docstring for the order).
    """
    if not data:
        return Decoded("", "utf-8", 1.0, False, False)

    for bom, enc in _BOMS:
        if data.startswith(bom):
            body = data[len(bom) :]
            try:
                text = body.decode(enc)
                damaged = False
            except UnicodeDecodeError:
                text = body.decode(enc, errors="replace")
                damaged = True
            fixed, moji = repair_mojibake(text)
            return Decoded(fixed, enc, 1.0, damaged or moji, True)

    reason = binary_reason(data)
    if reason is not None:
        raise BinaryDataError(reason)

    if b"\x00" in data[:_SAMPLE]:
        utf16 = _looks_utf16_without_bom(data[:_SAMPLE])
        if utf16 is not None:
            text = data[: len(data) - len(data) % 2].decode(utf16, errors="replace")
            return Decoded(text, utf16, 0.8, "\ufffd" in text, False)

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        fixed, moji = repair_mojibake(text)
        return Decoded(fixed, "utf-8", 1.0 if not text.isascii() else 0.99, moji, False)

    declared_codec = normalize_charset(declared)
    if declared_codec in ("utf-8", "utf-8-sig") or declared_codec is None:
        damaged = _decode_damaged_utf8(data)
        if damaged is not None:
            text, share = damaged
            fixed, _ = repair_mojibake(text)
            return Decoded(fixed, "utf-8", round(0.5 + 0.4 * share, 3), True, False)

    scored: dict[str, float] = {}
    texts: dict[str, str] = {}

    def consider(codec: str | None, bonus: float = 0.0) -> None:
        if codec is None or codec in scored or codec.startswith("utf-"):
            return
        try:
            candidate = data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            return
        texts[codec] = candidate
        scored[codec] = _plausibility(candidate) + bonus

    consider(declared_codec)
    consider("cp1256")
    consider("iso8859-6")
    for match in list(charset_normalizer.from_bytes(data[:_SAMPLE], cp_isolation=None))[:4]:
        codec = normalize_charset(match.encoding)
        # charset-normalizer's own "chaos" measure is a useful second opinion.
        consider(codec, bonus=-match.chaos)
    consider("cp1252")

    if not scored:
        text = data.decode("utf-8", errors="replace")
        return Decoded(text, "utf-8", 0.0, True, False)

    best = max(scored, key=lambda c: scored[c])
    chosen = best
    if declared_codec in scored and scored[declared_codec] >= scored[best] - 0.05:
        chosen = declared_codec
    text = texts[chosen]
    fixed, moji = repair_mojibake(text)
    confidence = max(0.0, min(0.95, (scored[chosen] + 1.0) / 2.0))
    others = [s for c, s in scored.items() if c != chosen and texts[c] != text]
    if others:
        margin = scored[chosen] - max(others)
        confidence = min(confidence, max(0.05, 0.5 + margin))
    return Decoded(fixed, chosen, round(confidence, 3), moji, False)

# ----------------------------------------------------------------------------- mojibake repair

# UTF-8 of U+0600..U+06FF uses lead bytes D8..DB; read as cp1256 they become ط ظ ع غ.
# Continuation bytes 0x80..0xBF read as cp1256 become punctuation / Persian letters.
_CP1256_CONT = bytes(range(0x80, 0xC0)).decode("cp1256")
_CP1256_LEAD2 = bytes(range(0xC2, 0xE0)).decode("cp1256")
_CP1256_LEAD3 = bytes(range(0xE0, 0xF0)).decode("cp1256")
_ARABIC_MOJI = re.compile(
    "[\u0637\u0638\u0639\u063a][" + re.escape(_CP1256_CONT) + "]"
)
_TOKEN = re.compile(r"[^ \t\r\n]+")
# Everyday Arabic-block characters: punctuation, hamza..yeh, harakat, Arabic-Indic digits,
# superscript alef, alef wasla, and the Persian/Urdu letters that cp1256 itself carries.
_RARE_ARABIC = re.compile(
    "[^\u060c\u061b\u061f\u0621-\u063a\u0640-\u0652\u0660-\u066d\u0670\u0671"
    "\u067e\u0686\u0698\u06a9\u06af\u06cc\u06d2\u0679\u0688\u0691\u06ba\u06be\u06c1"
    "\u06f0-\u06f9\u0000-\u05ff\u0700-\U0010ffff]"
)
_ARABIC_BLOCK = re.compile("[\u0600-\u06ff]")
_ARABIC_LETTER = re.compile("[\u0621-\u063a\u0641-\u064a\u0671-\u06d3]")


def _fix_cp1256_token(token: str, min_pairs: int = 2) -> str:
    """Undo UTF-8-read-as-cp1256 on one whitespace-free token, or return it unchanged.

    Why per token: a document can mix correct Arabic with a mojibake'd paragraph (e.g. a
    pasted quote); fixing whole documents would either miss those or damage the correct part.
    The fix is only accepted when the token round-trips exactly (cp1256 bytes that are valid
    UTF-8) and the result has at least as many Arabic letters and no control characters --
    correct Arabic essentially never satisfies that, since its cp1256 bytes are not UTF-8.
    """
    if len(_ARABIC_MOJI.findall(token)) < min_pairs:
        return token
    try:
        raw = token.encode("cp1256")
        fixed = raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return token
    if fixed == token or any(unicodedata.category(ch) in ("Cc", "Cn", "Co") for ch in fixed):
        return token
    # Real Arabic text can contain e.g. "ع،" (a letter then a comma), whose cp1256 bytes DA A1
    # happen to be valid UTF-8 for U+06A1 (dotless feh). Genuine mojibake decodes to everyday
    # Arabic/Persian letters, so any rare Arabic-block character in the result vetoes the fix.
    if _RARE_ARABIC.search(fixed):
        return token
    # Each mojibake pair is one UTF-8 Arabic-block character; most of them must come back.
    if len(_ARABIC_BLOCK.findall(fixed)) < len(_ARABIC_MOJI.findall(token)):
        return token
    if _plausibility(fixed) < _plausibility(token):
        return token
    return fixed


def _ftfy_line(line: str) -> str:
    """ftfy's encoding fixer for Latin-family mojibake (cp1252/latin-1/cp1250/MacRoman...).

    ftfy is built to avoid false positives; on top of that, a result that loses Arabic letters
    the line really had is rejected -- correct Arabic must never be touched.
    """
    if line.isascii():
        return line
    fixed = ftfy.fix_encoding(line)
    if fixed == line:
        return line
    if len(_ARABIC_LETTER.findall(fixed)) < len(_ARABIC_LETTER.findall(line)):
        return line
    return fixed


def repair_mojibake(text: str) -> tuple[str, bool]:
    """Repair UTF-8 text that was decoded with a legacy code page; return (text, changed).

    Handles the Arabic case explicitly (UTF-8 read as cp1256: ``ط§ظ„ط¹ط±ط¨ظٹط©`` -> ``العربية``)
    and delegates Latin code pages (cp1252, latin-1, cp1250, MacRoman: ``Ø±Ø³Ø§Ù„Ø©``) to ftfy.
    Idempotent and conservative: correct Arabic, French or English text comes back unchanged.
    """
    if not text or text.isascii():
        return text, False
    out = text
    if _ARABIC_MOJI.search(out):
        # Pass 1: tokens with >= 2 mojibake pairs (real Arabic almost never has two).
        # Pass 2, only if pass 1 found mojibake: single-pair tokens such as "ظˆ" (the word و).
        # Correct text like "ط،" (ط then a comma) is valid UTF-8 for ء, so without mojibake
        # context a single pair is left alone.
        first = _TOKEN.sub(lambda m: _fix_cp1256_token(m.group()), out)
        if first != out:
            first = _TOKEN.sub(lambda m: _fix_cp1256_token(m.group(), min_pairs=1), first)
        out = first
    if not out.isascii():
        out = "".join(_ftfy_line(line) for line in out.splitlines(keepends=True))
    return out, out != text
