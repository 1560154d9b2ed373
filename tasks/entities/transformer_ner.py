"""Optional NER backend: a Hugging Face token-classification model from a local directory.

For users who have a fine-tuned transformer (e.g. a copy of CAMeLBERT-MSA NER, labels
B-/I-PERS, LOC, ORG, MISC) and want it instead of the shipped CRF. The model is read from disk only
(``local_files_only=True``): the pipeline never downloads anything at run time, so the user fetches
the model once, elsewhere, and points ``AKHBAR_NER_MODEL_PATH`` at it (docs/ner_backends.md).

How a text becomes mentions:

1. the whole text is tokenized once (fast tokenizer, character offsets) to plan *windows*: runs of
   whole sentences of at most ``max_length`` sub-tokens (a sentence longer than that is cut between
   words), so a name is never split by the model's length limit;
2. each window is run through the model in batches on the CPU under ``torch.inference_mode()``;
3. sub-token predictions are aggregated into words (a word takes its first sub-token's label, as
   models fine-tuned with ``label_all_tokens=False`` are trained) and BIO/BIOES words into spans
   (:func:`aggregate`, a pure function); labels map to PER/LOC/ORG, others (MISC…) are dropped.

``confidence`` is the mean, over the span's words, of the softmax probability of the predicted
label. torch and transformers are imported lazily: they are an optional extra and ``import akhbar``
must stay fast.
"""
from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from .ner import Mention

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = ["TransformerNER", "Span", "aggregate", "parse_label", "plan_windows", "METHOD", "TYPE_MAP"]

METHOD = "transformer"
TYPE_MAP = {"PER": "PER", "PERS": "PER", "PERSON": "PER", "LOC": "LOC", "GPE": "LOC", "LOCATION": "LOC",
            "ORG": "ORG", "ORGANIZATION": "ORG", "ORGANISATION": "ORG"}
_PREFIXED = re.compile(r"^([BIESLU])[-_](.+)$")
_INSTALL_HINT = "pip install torch==2.13.0 transformers==5.23.0 (the `transformer` extra of akhbar)"


class Span(NamedTuple):
    """A PER/LOC/ORG span of aggregated predictions: character offsets and mean probability."""

    start: int
    end: int
    label: str
    confidence: float


# --------------------------------------------------------------------------- pure helpers


def parse_label(label: str) -> tuple[str, str | None]:
    """``"B-PERS"`` → ``("B", "PER")``; ``"O"``/``"B-MISC"`` → (prefix, None); a bare ``"PER"`` is inside."""
    m = _PREFIXED.match(label)
    prefix, kind = (m.group(1), m.group(2)) if m else ("I", label)
    return prefix, TYPE_MAP.get(kind.upper())


def aggregate(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], labels: Sequence[str],
              probs: Sequence[float]) -> list[Span]:
    """Sub-token predictions of one window → entity spans.

    ``offsets`` are character offsets of the sub-tokens, ``word_ids`` their word (None for special
    and padding tokens), ``labels``/``probs`` the predicted label and its probability. A word takes
    its first sub-token's label; a span starts at B (or S/U, or an I/E/L of another type than the
    open span, or after O) and ends after S/U/E/L or before any other word; other types break spans.
    """
    spans: list[Span] = []
    open_: list[Any] | None = None  # [start, end, type, prob sum, words]

    def close() -> None:
        nonlocal open_
        if open_ is not None:
            spans.append(Span(open_[0], open_[1], open_[2], round(open_[3] / open_[4], 4)))
            open_ = None

    for start, end, label, prob in _words(offsets, word_ids, labels, probs):
        prefix, kind = parse_label(label)
        if kind is None:
            close()
            continue
        if prefix in "BSU" or open_ is None or open_[2] != kind:
            close()
            open_ = [start, end, kind, prob, 1]
        else:
            open_[1], open_[3], open_[4] = end, open_[3] + prob, open_[4] + 1
        if prefix in "SUEL":
            close()
    close()
    return spans


def _words(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None], labels: Sequence[str],
           probs: Sequence[float]) -> list[tuple[int, int, str, float]]:
    """(start, end, label, prob) per word: the first sub-token's label and probability, the span of all."""
    words: list[tuple[int, int, str, float]] = []
    last: int | None = None
    for (start, end), wid, label, prob in zip(offsets, word_ids, labels, probs):
        if wid is None or start >= end:
            continue
        if wid == last and words:
            s, _, lab, p = words[-1]
            words[-1] = (s, end, lab, p)
        else:
            words.append((start, end, label, float(prob)))
        last = wid
    return words


def plan_windows(offsets: Sequence[tuple[int, int]], word_ids: Sequence[int | None],
                 sentence_starts: Sequence[int], limit: int) -> list[tuple[int, int]]:
    """Token ranges ``[i, j)`` of at most ``limit`` tokens covering all tokens, cut greedily at the
    last sentence start that fits, else at the last word start, else at the limit."""
    n = len(offsets)
    starts = sorted(sentence_starts)
    out: list[tuple[int, int]] = []
    i = 0
    while i < n:
        j = i + limit
        if j >= n:
            out.append((i, n))
            break
        cut = _last_break(range(j, i, -1), lambda k: _starts_sentence(offsets, starts, k)) \
            or _last_break(range(j, i, -1), lambda k: word_ids[k] is None or word_ids[k] != word_ids[k - 1]) or j
        out.append((i, cut))
        i = cut
    return out


def _last_break(candidates: range, is_break: Any) -> int | None:
    return next((k for k in candidates if is_break(k)), None)


def _starts_sentence(offsets: Sequence[tuple[int, int]], starts: list[int], k: int) -> bool:
    """True if a sentence starts after token ``k-1`` began and no later than token ``k``."""
    pos = bisect.bisect_right(starts, offsets[k][0])
    return pos > 0 and starts[pos - 1] > offsets[k - 1][0]


# --------------------------------------------------------------------------- the backend


class TransformerNER:
    """Load with :meth:`load` (a local directory); :meth:`extract_many` tags a batch of texts."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, batch_size: int = 8,
                 max_length: int | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.max_length = max_length or _max_length(model, tokenizer)
        self.limit = self.max_length - tokenizer.num_special_tokens_to_add(pair=False)
        self.id2label = {int(k): str(v) for k, v in model.config.id2label.items()}

    @classmethod
    def load(cls, path: str | Path, *, batch_size: int = 8) -> TransformerNER:
        """The model and fast tokenizer saved in directory ``path``; cached per process and path."""
        model, tokenizer = _load_cached(str(Path(path).expanduser().resolve()))
        return cls(model, tokenizer, batch_size=batch_size)

    def extract(self, text: str, sentence_spans: list[tuple[int, int]] | None = None) -> list[Mention]:
        return self.extract_many([text], [sentence_spans])[0]

    def extract_many(self, texts: Sequence[str],
                     sentence_spans: Sequence[list[tuple[int, int]] | None] | None = None) -> list[list[Mention]]:
        """PER/LOC/ORG mentions of each text (offsets into it). ``sentence_spans`` (default:
        ``akhbar.tasks.segment``) only matter for texts longer than the model's limit."""
        spans_list = list(sentence_spans or [None] * len(texts))
        windows = self.windows(texts, spans_list)
        out: list[list[Mention]] = [[] for _ in texts]
        for (i, offset, _), spans in zip(windows, self._predict([texts[i][a:b] for i, a, b in windows])):
            text = texts[i]
            out[i].extend(Mention(s.start + offset, s.end + offset, text[s.start + offset:s.end + offset],
                                  s.label, s.confidence, METHOD) for s in spans)
        return out

    def windows(self, texts: Sequence[str], spans_list: Sequence[list[tuple[int, int]] | None]
                ) -> list[tuple[int, int, int]]:
        """(text index, start char, end char) of every window, in text order."""
        # explicit truncation=False: a tokenizer call with truncation leaves it set on the backend
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True,
                             truncation=False, padding=False, verbose=False)
        out: list[tuple[int, int, int]] = []
        for i, (text, spans) in enumerate(zip(texts, spans_list)):
            offsets = [tuple(o) for o in enc["offset_mapping"][i]]
            if not offsets:
                continue
            starts = [] if len(offsets) <= self.limit else [a for a, _ in (spans or _segment(text))]
            for a, b in plan_windows(offsets, enc.word_ids(i), starts, self.limit):
                out.append((i, offsets[a][0], offsets[b - 1][1]))
        return out

    def _predict(self, window_texts: list[str]) -> list[list[Span]]:
        """Spans of every window text (offsets into it), batched by similar length."""
        import torch

        order = sorted(range(len(window_texts)), key=lambda k: len(window_texts[k]))
        out: list[list[Span]] = [[] for _ in window_texts]
        with torch.inference_mode():
            for n in range(0, len(order), self.batch_size):
                batch = order[n:n + self.batch_size]
                for k, spans in zip(batch, self._predict_batch([window_texts[k] for k in batch])):
                    out[k] = spans
        return out

    def _predict_batch(self, texts: list[str]) -> list[list[Span]]:
        import torch

        enc = self.tokenizer(texts, return_offsets_mapping=True, padding=True, truncation=True,
                             max_length=self.max_length, return_tensors="pt")
        offsets = enc.pop("offset_mapping").tolist()
        probs = torch.softmax(self.model(**enc).logits.float(), dim=-1)
        best_p, best_id = probs.max(dim=-1)
        out = []
        for r in range(len(texts)):
            labels = [self.id2label[int(x)] for x in best_id[r].tolist()]
            out.append(aggregate(offsets[r], enc.word_ids(r), labels, best_p[r].tolist()))
        return out


def _segment(text: str) -> list[tuple[int, int]]:
    from akhbar.tasks.segment import segment

    return [(s.start, s.end) for s in segment(text)]


def _max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """Sub-tokens per window: the tokenizer's limit, or the model's positions when it has none."""
    positions = getattr(model.config, "max_position_embeddings", None) or 512
    declared = tokenizer.model_max_length
    return min(declared, positions) if declared and declared < 100_000 else positions


# --------------------------------------------------------------------------- loading


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    directory = _check_directory(Path(path))
    try:
        import torch  # noqa: F401
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ImportError(f"the transformer NER backend needs torch and transformers: {_INSTALL_HINT}") from exc
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    _check_config(directory, config)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model, info = AutoModelForTokenClassification.from_pretrained(
            directory, local_files_only=True, output_loading_info=True)
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    _check_loaded(directory, info, tokenizer)
    return model.to("cpu"), tokenizer


def _check_directory(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(
            f"no NER model directory at {path}. The transformer backend reads a token-classification model "
            "from a local directory and never downloads: on a machine with internet access save one "
            "(e.g. CAMeL-Lab/bert-base-arabic-camelbert-msa-ner) with save_pretrained() or "
            "`hf download <model> --local-dir <dir>`, copy the directory here and set "
            "AKHBAR_NER_MODEL_PATH to it (see docs/ner_backends.md)")
    if not (path / "config.json").is_file():
        raise ValueError(f"{path} is not a Hugging Face model directory (no config.json): give the directory "
                         "that holds config.json, the weights and tokenizer.json")
    return path


def _check_config(path: Path, config: Any) -> None:
    """Refuse a base model: its token-classification head would be random, and its output garbage."""
    archs = getattr(config, "architectures", None) or []
    if archs and not any(a.endswith("ForTokenClassification") for a in archs):
        raise ValueError(f"{path} holds a {', '.join(archs)} model, not a token-classification (NER) model")
    labels = {str(v) for v in (getattr(config, "id2label", None) or {}).values()}
    if not any(parse_label(lab)[1] for lab in labels):
        raise ValueError(f"{path}: the model's labels {sorted(labels)[:8]} name no person, location or "
                         "organisation (expected e.g. B-PERS/B-PER, B-LOC, B-ORG): not an NER model")


def _check_loaded(path: Path, info: dict[str, Any], tokenizer: Any) -> None:
    missing = list(info.get("missing_keys") or [])
    if missing:
        raise ValueError(f"{path}: weights missing for {missing[:4]}: not a trained token-classification model")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{path}: a fast tokenizer (tokenizer.json) is needed for character offsets")
