"""Tests for the optional Hugging Face NER backend (akhbar.tasks.entities.transformer_ner).

The aggregation and window planning are pure functions, tested on hand-made predictions. The
backend itself is tested on a tiny BERT built here (random weights, or a classifier head forced to
one label so that the expected mentions are known exactly); nothing is downloaded.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from akhbar.tasks.entities.ner import Mention
from akhbar.tasks.entities.transformer_ner import Span, aggregate, parse_label, plan_windows

LABELS = ["O", "B-PERS", "I-PERS", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
WORDS = ("قال سيرجي شويغو في موسكو إن الناتو حلف روسيا ليبيا خليفة حفتر "
         "Russian Defence Minister Sergei Shoigu met Khalifa Haftar in Moscow NATO said").split()
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ابتثجحخدذرزسشصضطظعغفقكلمنهويىةءأإآؤئ"
NEWS = ("قال سيرجي شويغو في موسكو إن الناتو. Russian Defence Minister Sergei Shoigu met Khalifa Haftar "
        "in Moscow, NATO said. Shoiguovich visited Tripoli in 2015.")
MAX_LEN = 64


# --------------------------------------------------------------------------- pure functions


def _toks(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Character offsets of consecutive ``pieces`` of ``text`` (spaces skipped)."""
    out, pos = [], 0
    for p in pieces:
        pos = text.index(p, pos)
        out.append((pos, pos + len(p)))
        pos += len(p)
    return out


def test_parse_label():
    assert parse_label("B-PERS") == ("B", "PER")
    assert parse_label("I-PER") == ("I", "PER")
    assert parse_label("B-GPE") == ("B", "LOC")
    assert parse_label("E_ORG") == ("E", "ORG")
    assert parse_label("S-LOC") == ("S", "LOC")
    assert parse_label("B-MISC") == ("B", None)
    assert parse_label("O") == ("I", None)
    assert parse_label("PERSON") == ("I", "PER")


def test_aggregate_words_from_first_subtoken():
    text = "Sergei Shoigu met NATO."
    offsets = [(0, 0)] + _toks(text, ["Ser", "gei", "Sho", "igu", "met", "NA", "TO", "."]) + [(0, 0)]
    word_ids = [None, 0, 0, 1, 1, 2, 3, 3, 4, None]
    # non-first sub-tokens carry nonsense labels: they must be ignored
    labels = ["O", "B-PERS", "B-LOC", "I-PERS", "O", "O", "B-ORG", "B-PERS", "O", "B-LOC"]
    probs = [1.0, 0.9, 0.1, 0.7, 0.2, 0.99, 0.8, 0.3, 0.95, 0.5]
    spans = aggregate(offsets, word_ids, labels, probs)
    assert spans == [Span(0, 13, "PER", 0.8), Span(18, 22, "ORG", 0.8)]
    assert [text[s.start:s.end] for s in spans] == ["Sergei Shoigu", "NATO"]


def test_aggregate_bio_edge_cases():
    text = "a b c d e f g h"
    offsets = _toks(text, text.split())
    wids = list(range(8))
    p = [0.5] * 8
    # I without B opens a span; B after B splits; I of another type splits; MISC and O break spans
    labels = ["I-PERS", "I-PERS", "B-PERS", "B-PERS", "I-LOC", "B-MISC", "I-LOC", "O"]
    got = [(text[s.start:s.end], s.label) for s in aggregate(offsets, wids, labels, p)]
    assert got == [("a b", "PER"), ("c", "PER"), ("d", "PER"), ("e", "LOC"), ("g", "LOC")]
    # BIOES: S is a span alone, E closes
    labels = ["S-ORG", "I-ORG", "B-LOC", "E-LOC", "I-LOC", "U-PER", "L-PER", "O"]
    got = [(text[s.start:s.end], s.label) for s in aggregate(offsets, wids, labels, p)]
    assert got == [("a", "ORG"), ("b", "ORG"), ("c d", "LOC"), ("e", "LOC"), ("f", "PER"), ("g", "PER")]


def test_aggregate_skips_special_padding_and_empty_tokens():
    assert aggregate([(0, 0), (0, 0)], [None, None], ["B-PERS", "B-PERS"], [1.0, 1.0]) == []
    assert aggregate([(0, 3), (3, 3)], [0, 1], ["B-LOC", "I-LOC"], [0.6, 0.2]) == [Span(0, 3, "LOC", 0.6)]


def test_plan_windows_cut_at_sentences_then_words():
    # 10 one-token words, sentences start at tokens 0, 4 and 7
    offsets = [(2 * k, 2 * k + 1) for k in range(10)]
    words = list(range(10))
    starts = [0, 8, 14]
    assert plan_windows(offsets, words, starts, 100) == [(0, 10)]
    assert plan_windows(offsets, words, starts, 6) == [(0, 4), (4, 10)]
    assert plan_windows(offsets, words, starts, 5) == [(0, 4), (4, 7), (7, 10)]
    assert plan_windows(offsets, words, starts, 8) == [(0, 7), (7, 10)]
    # no sentence start fits: cut at the last word start; words of 2 sub-tokens stay whole
    pairs = [k // 2 for k in range(10)]
    assert plan_windows(offsets, pairs, [0], 5) == [(0, 4), (4, 8), (8, 10)]
    # a single word longer than the limit is cut anyway
    assert plan_windows(offsets, [0] * 10, [0], 4) == [(0, 4), (4, 8), (8, 10)]
    assert plan_windows([], [], [0], 4) == []


# --------------------------------------------------------------------------- the backend on a tiny BERT


def _build(directory: Path, forced_label: str | None = None, architecture: str = "token") -> Path:
    """Save a tiny BERT (hidden 32, 2 layers, 2 heads) and its WordPiece tokenizer in ``directory``."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertForTokenClassification, BertModel, PreTrainedTokenizerFast

    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    pieces = special + list(".,") + list(LETTERS) + ["##" + c for c in LETTERS] + list(WORDS)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]", model_max_length=MAX_LEN)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=MAX_LEN,
                        id2label=dict(enumerate(LABELS)), label2id={lab: i for i, lab in enumerate(LABELS)})
    torch.manual_seed(0)
    model = BertForTokenClassification(config) if architecture == "token" else BertModel(config)
    if forced_label is not None:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.fill_(0.0)
            model.classifier.bias[LABELS.index(forced_label)] = 10.0
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def hf(tmp_path_factory):
    pytest.importorskip("torch", reason="the transformer extra (torch) is not installed")
    pytest.importorskip("transformers", reason="the transformer extra (transformers) is not installed")
    from akhbar.tasks.entities.transformer_ner import TransformerNER

    root = tmp_path_factory.mktemp("hf")
    return {name: TransformerNER.load(_build(root / name, label))
            for name, label in (("random", None), ("b_pers", "B-PERS"), ("i_loc", "I-LOC"))}


def _words(text: str) -> list[tuple[int, int]]:
    """BERT's pre-tokenization: runs of word characters, and each punctuation mark alone."""
    return [(m.start(), m.end()) for m in re.finditer(r"\w+|[^\w\s]", text)]


def test_random_model_mentions_are_exact_spans(hf):
    ner = hf["random"]
    assert (ner.max_length, ner.limit) == (MAX_LEN, MAX_LEN - 2)
    mentions = ner.extract(NEWS)
    assert mentions and all(isinstance(m, Mention) for m in mentions)
    assert all(NEWS[m.start:m.end] == m.text for m in mentions)
    assert {m.label for m in mentions} <= {"PER", "LOC", "ORG"}
    assert all(m.method == "transformer" and 0 < m.confidence <= 1 for m in mentions)
    assert all(m.text == m.text.strip() for m in mentions)


def test_forced_b_label_gives_one_mention_per_word(hf):
    texts = [NEWS, "", "Khalifa Haftar"]
    out = hf["b_pers"].extract_many(texts)
    for text, mentions in zip(texts, out):
        assert [(m.start, m.end) for m in mentions] == _words(text)  # sub-words merged, punctuation alone
        assert all(m.label == "PER" and m.confidence > 0.99 for m in mentions)
    assert "Shoiguovich" in {m.text for m in out[0]}  # out-of-vocabulary: many ## pieces, one word


def test_long_text_is_windowed_at_sentences(hf):
    ner = hf["i_loc"]  # every token I-LOC: one span per window, from its first to its last token
    sentences = [f"{w} Sergei Shoigu met Khalifa Haftar in Moscow and {w} said." for w in WORDS]
    text = " ".join(sentences)
    windows = ner.windows([text], [None])
    assert len(windows) > 3
    starts = {text.index(s) for s in sentences}
    assert all(a in starts for _, a, _ in windows)  # every window starts with a sentence
    for _, a, b in windows:
        assert len(ner.tokenizer(text[a:b])["input_ids"]) <= MAX_LEN
    mentions = ner.extract(text)
    assert [(m.start, m.end) for m in mentions] == [(a, b) for _, a, b in windows]
    assert mentions[0].start == 0 and mentions[-1].end == len(text)  # nothing truncated
    assert all(text[m.start:m.end] == m.text and m.label == "LOC" for m in mentions)


def test_given_sentence_spans_are_used(hf):
    ner = hf["i_loc"]
    text = " ".join(["Sergei Shoigu met Khalifa Haftar in Moscow"] * 12)  # no sentence punctuation
    k = len("Sergei Shoigu met Khalifa Haftar in Moscow") + 1
    spans = [(i * k, i * k + k - 1) for i in range(12)]
    windows = ner.windows([text], [spans])
    assert len(windows) > 1 and all(a % k == 0 for _, a, _ in windows)
    assert [(m.start, m.end) for m in ner.extract(text, spans)] == [(a, b) for _, a, b in windows]


def test_batches_give_the_same_result_as_single_texts(hf):
    ner = hf["random"]
    texts = [NEWS, "Khalifa Haftar in Moscow", "قال شويغو في موسكو"]
    assert ner.extract_many(texts) == [ner.extract(t) for t in texts]


def test_load_is_cached(hf, tmp_path):
    from akhbar.tasks.entities.transformer_ner import TransformerNER

    ner = hf["random"]
    path = Path(ner.model.name_or_path)
    assert TransformerNER.load(path).model is ner.model


def test_missing_or_wrong_directory_is_a_clear_error(hf, tmp_path):
    from akhbar.tasks.entities.transformer_ner import TransformerNER

    with pytest.raises(FileNotFoundError, match="AKHBAR_NER_MODEL_PATH"):
        TransformerNER.load(tmp_path / "no-such-model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        TransformerNER.load(tmp_path / "empty")
    with pytest.raises(ValueError, match="not a token-classification"):
        TransformerNER.load(_build(tmp_path / "base", architecture="base"))


def test_max_length_falls_back_to_the_model_positions():
    from types import SimpleNamespace

    from akhbar.tasks.entities.transformer_ner import _max_length

    model = SimpleNamespace(config=SimpleNamespace(max_position_embeddings=512))
    # CAMeLBERT's tokenizer_config sets no model_max_length: transformers reports a huge sentinel
    assert _max_length(model, SimpleNamespace(model_max_length=int(1e30))) == 512
    assert _max_length(model, SimpleNamespace(model_max_length=256)) == 256
    assert _max_length(model, SimpleNamespace(model_max_length=1024)) == 512
