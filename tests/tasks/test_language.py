from __future__ import annotations

import os
import socket
import pytest

from akhbar.tasks import language
from akhbar.tasks.language import detect_language, detect_languages

def test_detects_arabic_english_french(seed_text: str) -> None:
    assert detect_language(seed_text)[0] == "ar"
    assert detect_language("The port authority approved a new ferry terminal on Tuesday.")[0] == "en"
    assert detect_language("La mairie a présenté lundi un plan de pistes cyclables.")[0] == "fr"


def test_short_or_empty_text_is_undetermined() -> None:
    assert detect_language("") == ("und", 0.0)
    assert detect_language("OK 12") == ("und", 0.0)


def test_batch_equals_one_by_one() -> None:
    texts = ["مرحبا بكم في الرياض اليوم", "", "Good morning to everyone here"]
    assert detect_languages(texts) == [detect_language(t) for t in texts]


def test_uses_the_bundled_model_and_never_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    assert os.path.getsize(language.bundled_model_path()) < 2_000_000  # the lite .ftz, not the 126 MB .bin

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("language detection tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    language._detector.cache_clear()  # force a fresh model load under the guard
    assert detect_language("هذا نص عربي قصير لاختبار تحديد اللغة")[0] == "ar"


def test_letter_threshold_reads_only_as_far_as_needed() -> None:
    assert language._has_letters("abc def ghij", 10)
    assert not language._has_letters("abc def ghi", 10)
    assert not language._has_letters("1234567890 ! ?" * 50, 1)
    assert not language._has_letters("1" * 2000 + "abcdefghijkl", 10)  # only the first 2,000 characters count
    assert detect_language("12 34 abc") == language.UNDETERMINED
