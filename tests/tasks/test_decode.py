"""Tests for akhbar.tasks.decode.

Two halves: self-contained cases built here (always run), and every relevant file of
../shared/corpora/encoding (skipped with a message when ../shared is absent). For the shared
files the expected text comes from the encoding each folder names in the file name, decoded by
Python's own codec -- never from our decoder -- and same-text groups are cross-checked.
"""

from __future__ import annotations

import codecs
import json
import os
from pathlib import Path

import pytest

from akhbar.tasks.decode import (
    BinaryDataError,
    decode_bytes,
    looks_binary,
    normalize_charset,
    repair_mojibake,
)

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("AKHBAR_SHARED", ROOT.parent / "shared"))
ENC = SHARED / "corpora" / "encoding"

ARABIC = 'أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض، بطاقة استيعابية تبلغ 500 سرير؛ وقال الوزير: "إنه إنجاز كبير".'
# « » are not in ISO-8859-6; they are exercised by the mojibake tests.
ARABIC_QUOTES = ARABIC.replace('"إنه', "«إنه").replace('كبير"', "كبير»")


def _needs_shared() -> None:
    if not ENC.is_dir():
        pytest.skip(f"shared encoding corpus not found at {ENC} (../shared absent)")


# --------------------------------------------------------------------------- self-contained


@pytest.mark.parametrize(
    ("encoding", "expected_codec"),
    [("utf-8", "utf-8"), ("cp1256", "cp1256"), ("iso8859-6", "iso8859-6")],
)
def test_arabic_sentence_in_each_encoding(encoding: str, expected_codec: str) -> None:
    data = ARABIC.encode(encoding)
    # The trap: every one of these also decodes *without error* as cp1256.
    data.decode("cp1256")
    got = decode_bytes(data)
    assert got.text == ARABIC
    assert got.encoding == expected_codec
    assert not got.bom and not got.repaired


def test_utf8_with_bom() -> None:
    got = decode_bytes(codecs.BOM_UTF8 + ARABIC.encode("utf-8"))
    assert (got.text, got.encoding, got.bom, got.confidence) == (ARABIC, "utf-8", True, 1.0)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_bom(encoding: str) -> None:
    data = ARABIC.encode(encoding)
    if encoding == "utf-16-be":
        data = codecs.BOM_UTF16_BE + data
    got = decode_bytes(data)
    assert got.text == ARABIC and got.bom


def test_declared_charset_is_a_hint_not_an_order() -> None:
    # A cp1256 page served as ISO-8859-1 (very common) must still come out as Arabic...
    assert decode_bytes(ARABIC.encode("cp1256"), declared="iso-8859-1").text == ARABIC
    # ...an ISO-8859-6 page mislabelled windows-1256 too...
    assert decode_bytes(ARABIC.encode("iso8859-6"), declared="windows-1256").text == ARABIC
    # ...while a correct declaration is honoured, and a junk label is ignored.
    assert decode_bytes(ARABIC.encode("cp1256"), declared='"Windows-1256"').encoding == "cp1256"
    assert decode_bytes(ARABIC.encode("cp1256"), declared="no-such-charset").text == ARABIC


def test_normalize_charset() -> None:
    assert normalize_charset("UTF8") == "utf-8"
    assert normalize_charset("windows-1256") == "cp1256"
    assert normalize_charset("ISO-8859-6") == "iso8859-6"
    assert normalize_charset("latin1") == "cp1252"
    assert normalize_charset("bogus") is None and normalize_charset(None) is None


def test_mojibake_string_is_repaired() -> None:
    moji = ARABIC_QUOTES.encode("utf-8").decode("cp1256")
    assert moji.startswith("ط£ط¹ظ„ظ†طھ")
    assert repair_mojibake(moji) == (ARABIC_QUOTES, True)
    # A one-letter word is fixed when the text around it is mojibake too.
    assert repair_mojibake("قال و كان".encode().decode("cp1256")) == ("قال و كان", True)
    # cp1252 flavour (ftfy's territory) and a partly-mojibake sentence.
    assert repair_mojibake("Ø±Ø³Ø§Ù„Ø©")[0] == "رسالة"
    mixed = "قال الوزير: " + "الاقتصاد ينمو".encode().decode("cp1256") + " وأضاف"
    assert repair_mojibake(mixed) == ("قال الوزير: الاقتصاد ينمو وأضاف", True)


def test_double_encoded_utf8_bytes_are_repaired_by_decode() -> None:
    data = ARABIC.encode("utf-8").decode("cp1256").encode("utf-8")
    got = decode_bytes(data)
    assert got.text == ARABIC and got.repaired and got.encoding == "utf-8"


@pytest.mark.parametrize(
    "text",
    [
        ARABIC,
        ARABIC_QUOTES,
        "ع، و ط، ظ؛ غ؟",  # letter + Arabic punctuation: cp1256 bytes that are valid UTF-8 by accident
        "Café à la crème, naïve façade — “quoted” – 10 €",
        "پاکستان گفت که چه",
        "اللُّغَة العَرَبِيّة هي أكثر اللغات السامية تحدثاً",
    ],
)
def test_repair_never_damages_correct_text(text: str) -> None:
    assert repair_mojibake(text) == (text, False)


def test_truncated_utf8_keeps_utf8() -> None:
    data = (ARABIC + " سرير").encode("utf-8")
    cut = data[:-1]  # a buffer boundary inside the last 2-byte character
    with pytest.raises(UnicodeDecodeError):
        cut.decode("utf-8")
    got = decode_bytes(cut)
    assert got.encoding == "utf-8" and got.repaired
    assert got.text.startswith(ARABIC[:40]) and got.text.endswith("\ufffd")


def test_binary_garbage_is_refused_with_reason() -> None:
    garbage = bytes((i * 37 + 11) % 256 for i in range(4096))
    assert looks_binary(garbage)
    with pytest.raises(BinaryDataError) as err:
        decode_bytes(garbage)
    assert "NUL" in err.value.reason
    assert looks_binary(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    assert looks_binary(bytes(range(1, 32)) * 10)
    assert not looks_binary(ARABIC.encode("cp1256"))  # 0x80-0x9F are letters in cp1256
    assert not looks_binary("hello world".encode("utf-16-le"))


def test_empty_and_ascii() -> None:
    assert decode_bytes(b"").text == ""
    assert decode_bytes(b"plain ascii").text == "plain ascii"


# --------------------------------------------------------------------------- shared corpus

# file -> codec its folder says it is in (from the file name). Licence files are not samples.
SHARED_SAMPLES = {
    "uchardet/ar_utf-8.txt": "utf-8",
    "uchardet/ar_iso-8859-6.txt": "iso8859-6",
    "uchardet/ar_windows-1256.txt": "cp1256",
    "char-dataset/iso8859_6_ude_1.txt": "iso8859-6",
    "char-dataset/windows_1256_ude_1.txt": "cp1256",
    "chardet/iso-8859-6_chromium.html": "iso8859-6",
    "chardet/windows-1256_chromium.html": "cp1256",
    "charset_normalizer/sample-arabic-1.cp1256.txt": "cp1256",
    "charset_normalizer/sample-arabic.utf8.txt": "utf-8",
}


def test_every_shared_sample_is_listed() -> None:
    _needs_shared()
    found = {
        str(p.relative_to(ENC))
        for p in ENC.glob("*/*")
        if p.suffix in (".txt", ".html") and p.parent.name != "ftfy" and p.name.upper() not in ("LICENSE.TXT", "COPYING")
    }
    assert found == set(SHARED_SAMPLES), "new sample in ../shared/corpora/encoding: add it to SHARED_SAMPLES"


@pytest.mark.parametrize("name", sorted(SHARED_SAMPLES))
def test_shared_sample_decodes_to_arabic(name: str) -> None:
    _needs_shared()
    data = (ENC / name).read_bytes()
    expected = data.decode(SHARED_SAMPLES[name])
    got = decode_bytes(data)
    assert got.text == expected, f"{name}: decoded as {got.encoding}, expected {SHARED_SAMPLES[name]}"
    assert sum("\u0621" <= ch <= "\u064a" for ch in got.text) > 50
    if SHARED_SAMPLES[name] != "cp1256":
        # Documents the trap: the naive cp1256 reading succeeds and is wrong.
        assert data.decode("cp1256") != expected


def test_shared_same_text_groups_agree() -> None:
    _needs_shared()
    text = {n: decode_bytes((ENC / n).read_bytes()).text for n in SHARED_SAMPLES}
    assert text["uchardet/ar_utf-8.txt"] == text["uchardet/ar_iso-8859-6.txt"] == text["uchardet/ar_windows-1256.txt"]
    assert text["char-dataset/iso8859_6_ude_1.txt"] == text["char-dataset/windows_1256_ude_1.txt"]
    iso, win = text["chardet/iso-8859-6_chromium.html"], text["chardet/windows-1256_chromium.html"]
    assert iso.replace("ISO-8859-6", "X") == win.replace("windows-1256", "X")
    assert text["charset_normalizer/sample-arabic.utf8.txt"].startswith(text["charset_normalizer/sample-arabic-1.cp1256.txt"])
    for n, t in text.items():
        assert repair_mojibake(t) == (t, False), f"repair_mojibake altered correct Arabic in {n}"


def _ftfy_cases(kind: str) -> list[dict]:
    path = ENC / "ftfy" / f"{kind}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


@pytest.mark.parametrize("kind", ["in-the-wild", "synthetic", "negative", "language-names"])
def test_shared_ftfy_cases(kind: str) -> None:
    """Every case ftfy expects to pass: repaired (mojibake) or left alone (negative)."""
    _needs_shared()
    failures = []
    for case in _ftfy_cases(kind):
        if case.get("expect") != "pass":
            continue
        expected = case.get("fixed-encoding", case["fixed"])
        got, _ = repair_mojibake(case["original"])
        if got != expected:
            failures.append(f"{case['label']}: {got!r} != {expected!r}")
    assert not failures, "\n".join(failures)


def test_shared_ftfy_arabic_cases() -> None:
    _needs_shared()
    arabic = [
        c
        for kind in ("in-the-wild", "synthetic", "known-failures")
        for c in _ftfy_cases(kind)
        if any("\u0600" <= ch <= "\u06ff" for ch in c["fixed"])
    ]
    assert len(arabic) >= 4
    for case in arabic:
        got, _ = repair_mojibake(case["original"])
        if case["expect"] == "pass":
            assert got == case.get("fixed-encoding", case["fixed"]), case["label"]
        else:  # known failure (incomplete mojibake): must at least not get worse
            assert sum("\u0621" <= ch <= "\u064a" for ch in got) >= sum("\u0621" <= ch <= "\u064a" for ch in case["original"])
