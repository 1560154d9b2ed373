"""Entity stage: named entities (NER + linking) and quantities (dates, percents, money, numbers).

One call per batch: the NER tags every Arabic article of the batch in one pass (its per-word-type
cache is shared across the batch), the linker resolves each article's mentions as one document
(so «الدبيبة» resolves to «عبد الحميد الدبيبة» of the same article), and quantities are found by
rules. Offsets always point into the published ``body``: ``body[start:end] == surface``.

Non-Arabic articles get gazetteer-only place/country mentions for now (see docs/decisions.md).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from akhbar.tasks.dates import find_date_mentions
from akhbar.tasks.entities.linking import EntityLinker, EntityMerge, EntityRecord
from akhbar.tasks.entities.ner import DOCS_PER_PASS, ArabicNER, Mention
from akhbar.tasks.entities.ner_features import document_tokens
from akhbar.tasks.entities.numbers import find_numeric_mentions
from akhbar.tasks.segment import segment
from akhbar.warehouse.schema import DocumentRows, keyed_empty, rows_of

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class EntityBatch:
    """A batch's mention, quantity and sentence rows, each table keyed by the candidate's ``raw_id``
    (see :class:`~akhbar.warehouse.schema.DocumentRows`)."""

    mentions: pa.Table = field(default_factory=lambda: keyed_empty("entity_mentions"))
    quantities: pa.Table = field(default_factory=lambda: keyed_empty("quantities"))
    sentences: pa.Table = field(default_factory=lambda: keyed_empty("sentences"))

    def rows_for(self, table: str, raw_ids: set[str]) -> pa.Table:
        """Rows of ``table`` (mentions, quantities, sentences) for the candidates that are published."""
        return rows_of(getattr(self, table), raw_ids)


def _sentence_index(starts: list[int], offset: int) -> int:
    return max(0, bisect.bisect_right(starts, offset) - 1)


def quantities_of(article_id: str, body: str, starts: list[int], tz: str) -> list[dict[str, Any]]:
    """Date, percent, money and number mentions of one body (dates first: «2019» in a date is no NUMBER)."""
    rows: list[dict[str, Any]] = []
    dates = find_date_mentions(body, tz=tz)
    for d in dates:
        parsed = d.parsed
        rows.append({"article_id": article_id, "label": "DATE", "surface": d.text, "start": d.start, "end": d.end,
                     "sentence_index": _sentence_index(starts, d.start), "value": None, "unit": None,
                     "date_value": parsed.value_utc if parsed else None,
                     "date_precision": parsed.precision if parsed else None})
    for n in find_numeric_mentions(body, exclude=[(d.start, d.end) for d in dates]):
        rows.append({"article_id": article_id, "label": n.label, "surface": n.text, "start": n.start, "end": n.end,
                     "sentence_index": _sentence_index(starts, n.start), "value": n.value, "unit": n.unit,
                     "date_value": None, "date_precision": None})
    return rows


class Tagger(Protocol):
    """An NER backend: the shipped CRF, spaCy English, or a local transformer model."""

    def extract_many(self, texts: Sequence[str],
                     sentence_spans: Sequence[list[tuple[int, int]] | None] | None = None) -> list[list[Mention]]: ...


@dataclass
class TaggedBatch:
    """Mentions found in each candidate before linking, plus its sentences and quantities.

    Tagging depends only on the text and on read-only models, so it can run in a worker process;
    linking (which mints and merges entity ids as evidence grows) runs where the run's state is.
    Mentions are keyed by ``raw_id``; sentences and quantities are rows with a ``raw_id`` column.
    """

    mentions: dict[str, list[Mention]] = field(default_factory=dict)
    sentences: DocumentRows = field(default_factory=lambda: DocumentRows("sentences"))
    quantities: DocumentRows = field(default_factory=lambda: DocumentRows("quantities"))

    @classmethod
    def merge(cls, parts: Sequence[TaggedBatch]) -> TaggedBatch:
        """One batch from the batches of its chunks, in chunk order."""
        out = cls()
        for part in parts:
            out.mentions.update(part.mentions)
            out.sentences.extend(part.sentences)
            out.quantities.extend(part.quantities)
        return out

    def sentence_starts(self) -> dict[str, list[int]]:
        """Each document's sentence start offsets, in body order."""
        starts: dict[str, list[int]] = defaultdict(list)
        for raw_id, start in zip(self.sentences.columns["raw_id"], self.sentences.columns["start"]):
            starts[raw_id].append(start)
        return starts


# The CRF tags Arabic articles this many at a time (its own pass size, so the passes are the same),
# each chunk followed by its reference-name scan, which reuses the NER's tokenization while it is
# still in the bounded ``document_tokens`` memo (2,000 bodies' tokens would not fit in it).
ARABIC_CHUNK = DOCS_PER_PASS


def tag_entities(articles: Sequence[dict[str, Any]], ner: Tagger, reference: EntityLinker, *,
                 tz: str, run_id: str, pipeline_version: str, english: Tagger | None = None) -> TaggedBatch:
    """NER, reference/gazetteer names, sentences and quantities for a batch of article rows.

    ``ner`` tags Arabic articles, ``english`` (optional) English ones; other languages get
    gazetteer names only. ``reference`` only answers "is this a known name" (it is never mutated
    here), so a linker built from the reference data alone gives the same answers in every process.
    """
    mentions_by_raw: dict[str, list[Mention]] = {}
    sentence_rows, quantity_rows = DocumentRows("sentences"), DocumentRows("quantities")
    sentences = [segment(a["body"]) for a in articles]
    spans = [[(s.start, s.end) for s in sents] for sents in sentences]
    arabic = [i for i, a in enumerate(articles) if a.get("language") == "ar"]
    found: dict[int, list[Mention]] = {}
    reference_found: dict[int, list[Mention]] = {}
    # Other backends get the whole batch in one call, as before: the transformer groups windows of
    # all its texts by length, and a different grouping could move its confidences in the last bits.
    step = ARABIC_CHUNK if isinstance(ner, ArabicNER) else max(len(arabic), 1)
    for lo in range(0, len(arabic), step):
        chunk = arabic[lo:lo + step]
        found.update(zip(chunk, ner.extract_many([articles[i]["body"] for i in chunk], [spans[i] for i in chunk])))
        for i in chunk:  # right after the NER: the bodies' tokens are still memoised
            reference_found[i] = reference_mentions(reference, articles[i]["body"], found[i])
        document_tokens.cache_clear()  # ~170 KB per article: hold them only while the chunk needs them
    english_ids = [i for i, a in enumerate(articles) if a.get("language") == "en"] if english else []
    if english and english_ids:
        found.update(zip(english_ids, english.extract_many([articles[i]["body"] for i in english_ids],
                                                           [spans[i] for i in english_ids])))
    for i, article in enumerate(articles):
        body, article_id, raw_id = article["body"], article["article_id"], article["raw_id"]
        if i not in found:
            mentions = gazetteer_mentions(reference, body)
        elif article.get("language") == "ar":
            mentions = found[i] + reference_found[i]
        else:  # a model for the language, plus known names it missed
            taken = [(m.start, m.end) for m in found[i]]
            mentions = found[i] + [g for g in gazetteer_mentions(reference, body)
                                   if not any(s < g.end and g.start < e for s, e in taken)]
        mentions_by_raw[raw_id] = mentions or gazetteer_mentions(reference, body)
        starts = [s.start for s in sentences[i]]
        for k, s in enumerate(sentences[i]):
            sentence_rows.append(raw_id, {"article_id": article_id, "sentence_index": k,
                                          "paragraph_index": s.paragraph_index, "start": s.start, "end": s.end})
        for row in quantities_of(article_id, body, starts, tz):
            quantity_rows.append(raw_id, dict(row, run_id=run_id, pipeline_version=pipeline_version))
    return TaggedBatch(mentions_by_raw, sentence_rows, quantity_rows)


def link_entities(articles: Sequence[dict[str, Any]], tagged: TaggedBatch, linker: EntityLinker, *,
                  run_id: str, pipeline_version: str) -> EntityBatch:
    """Link each article's tagged mentions (one document at a time, in batch order) to entity ids."""
    rows = DocumentRows("entity_mentions")
    sentence_starts = tagged.sentence_starts()
    for article in articles:
        body, article_id, raw_id = article["body"], article["article_id"], article["raw_id"]
        starts = sentence_starts.get(raw_id, [])
        for m in linker.link_document(body, tagged.mentions.get(raw_id, [])):
            rows.append(raw_id, {
                "article_id": article_id, "entity_id": m.entity_id, "surface": m.surface,
                "normalized": m.normalized, "label": m.label, "start": m.start, "end": m.end,
                "sentence_index": _sentence_index(starts, m.start), "method": m.method,
                "confidence": float(m.confidence), "run_id": run_id, "pipeline_version": pipeline_version,
            })
    return EntityBatch(rows.to_arrow(), tagged.quantities.to_arrow(), tagged.sentences.to_arrow())


def extract_entities(articles: Sequence[dict[str, Any]], ner: ArabicNER, linker: EntityLinker, *,
                     tz: str, run_id: str, pipeline_version: str) -> EntityBatch:
    """Entity mentions and quantities for a batch of article rows (``article_id``, ``body``, ``language``)."""
    tagged = tag_entities(articles, ner, linker, tz=tz, run_id=run_id, pipeline_version=pipeline_version)
    return link_entities(articles, tagged, linker, run_id=run_id, pipeline_version=pipeline_version)


def reference_mentions(linker: EntityLinker, body: str, existing: Sequence[Mention]) -> list[Mention]:
    """Names of hand-reviewed reference entities and countries that the NER missed.

    A statistical tagger misses rare names it never saw («ستولتنبرغ», «فاجنر»); the reference list
    knows them. Word n-grams (up to four words, a proclitic allowed on the first) whose matching key
    is a reference alias become mentions (method ``gazetteer``), unless they overlap an NER mention.
    Single words shorter than six letters are ignored: many are also common words (كيف/Kyiv,
    مالي/Mali, رئيسي/Raisi, فتح/Fatah), measured on a SaudiNewsNet sample.
    """
    from akhbar.tasks.entities.linking import mkey

    tokens = document_tokens(body)
    covered = _covered_tokens(tokens, existing)
    out: list[Mention] = []
    for i in linker.reference_starts(tokens, covered):
        if covered[i]:  # covered by a name found at an earlier start
            continue
        start = tokens[i][1]
        for n in (4, 3, 2, 1):
            if i + n > len(tokens):
                continue
            last = tokens[i + n - 1]
            if not last[0][-1].isalnum():
                continue  # a name ends with a word, not with «–» or «،»
            if covered.find(1, i, i + n) != -1:
                continue
            end = last[2]
            surface = body[start:end]
            label = linker.reference_label_of_surface(surface)
            if label and (n > 1 or len(mkey(surface)) >= 6):
                out.append(Mention(start, end, surface, label, 0.75, "gazetteer"))
                covered[i:i + n] = b"\x01" * n
                break
    return out


def _covered_tokens(tokens: Sequence[tuple[str, int, int]], mentions: Sequence[Mention]) -> bytearray:
    """1 for each token that overlaps one of ``mentions``, else 0.

    Why tokens rather than character spans: an n-gram overlaps a mention exactly when one of its
    tokens does (mentions are made of tokens), and a flag per token makes that test O(n) instead
    of a scan over every mention for every n-gram (that scan was a tenth of the tagging time).
    """
    covered = bytearray(len(tokens))
    if mentions:
        starts = [t[1] for t in tokens]
        ends = [t[2] for t in tokens]
        for m in mentions:
            for j in range(bisect.bisect_right(ends, m.start), bisect.bisect_left(starts, m.end)):
                covered[j] = 1
    return covered


def gazetteer_mentions(linker: EntityLinker, body: str) -> list[Mention]:
    """Known names (countries, cities, reference entities) in a text the NER cannot read.

    Capitalized word runs of up to four words that the linker knows, longest first; this gives
    English/French articles their places and countries until a model for them is configured.
    """
    import re

    out: list[Mention] = []
    taken: list[tuple[int, int]] = []
    for match in re.finditer(r"\b[A-Z][\w'’.-]*(?:\s+(?:of\s+|the\s+|de\s+|al-)?[A-Z][\w'’.-]*){0,3}", body):
        words = list(re.finditer(r"\S+", match.group(0)))
        for n in range(len(words), 0, -1):
            for k in range(0, len(words) - n + 1):
                start = match.start() + words[k].start()
                end = match.start() + words[k + n - 1].end()
                while end > start and body[end - 1] in ".,;:'’":
                    end -= 1
                text = body[start:end]
                if any(s < end and start < e for s, e in taken):
                    continue
                label = linker.known_label(text)
                if label:
                    out.append(Mention(start, end, text, label, 0.8, "gazetteer"))
                    taken.append((start, end))
    return sorted(out, key=lambda m: m.start)


def entity_rows(records: Sequence[EntityRecord], run_id: str) -> list[dict[str, Any]]:
    rows = []
    for rec in records:
        row = rec.to_row()
        row["run_id"] = run_id
        rows.append(row)
    return rows


def merge_rows(merges: Sequence[EntityMerge], run_id: str, now: Any) -> list[dict[str, Any]]:
    return [{"from_id": m.from_id, "to_id": m.to_id, "reason": m.reason, "evidence": m.evidence,
             "run_id": run_id, "merged_at": now} for m in merges]
