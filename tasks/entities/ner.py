"""Arabic named-entity recognition (PER / LOC / ORG) — inference API.

A linear-chain CRF trained with python-crfsuite (see ``ner_train.py`` and
``models/MODEL_CARD.md``).  For speed the CRF is not run through crfsuite's tagger: every
feature is an (offset, word-type attribute) pair, so the state scores of a token are a sum
of per-(offset, type) score vectors which are computed once per word type and cached;
Viterbi and forward-backward run batched in numpy.  The output equals crfsuite's.

Document-level consistency: inside one document (an article) a name tagged once is
tagged at its other untagged occurrences too (``method="crf+doc"``), and a name's label is
made consistent across the document by confidence-weighted vote.
"""
from __future__ import annotations

import functools
from itertools import repeat
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .ner_features import BOS, EOS, normalize, split_clitics, tokenize, unprefixed_offset_attributes

__all__ = [
    "Mention",
    "ArabicNER",
    "EvalReport",
    "tokenize",
    "evaluate_conll",
    "format_report",
    "DEFAULT_MODEL_DIR",
]

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "models"
ENTITY_TYPES = ("PER", "LOC", "ORG")
_OFFSETS = (-2, -1, 0, 1, 2)


@dataclass(frozen=True)
class Mention:
    """A named-entity span in the text: ``text[start:end] == self.text``."""

    start: int
    end: int
    text: str
    label: str  # "PER" | "LOC" | "ORG"
    confidence: float  # CRF marginal probability (mean over the span's tokens), 0..1
    method: str  # "crf" or "crf+doc" (added/relabelled by document-level propagation)


# --------------------------------------------------------------------------- fast CRF


class _TypeScorer:
    """Per-word-type state score vectors for each offset, computed lazily (in batches) and cached."""

    NONE, BOS_ID, EOS_ID = 0, 1, 2

    def __init__(self, attr_index: dict[str, int], weights: np.ndarray, resources) -> None:
        # per-offset dicts keyed by the unprefixed attribute ("0:w=x" -> index[0]["w=x"])
        self.index: dict[int, dict[str, int]] = {o: {} for o in _OFFSETS}
        for name, i in attr_index.items():
            if name == "bias":
                self.index[0]["bias"] = i
                continue
            o, _, a = name.partition(":")
            self.index[int(o)][a] = i
        # extra all-zero row so that every (type, offset) segment is non-empty
        self.W = np.vstack([weights, np.zeros((1, weights.shape[1]), dtype=weights.dtype)])
        self.zero_row = weights.shape[0]
        self.res = resources
        self.L = weights.shape[1]
        self.type_id: dict[str, int] = {}
        self._cap = 4096
        self.V = {o: np.zeros((self._cap, self.L), dtype=np.float64) for o in _OFFSETS}
        self._n = 3
        self._fill_many([(self.BOS_ID, BOS), (self.EOS_ID, EOS)])

    def _fill_many(self, items: list[tuple[int, str]]) -> None:
        flat: list[int] = []
        starts: list[int] = []
        zero = self.zero_row
        res = self.res
        for _, word in items:
            attrs = unprefixed_offset_attributes(word, res)
            for o in _OFFSETS:
                starts.append(len(flat))
                flat.append(zero)
                names = attrs.get(o)
                if names:
                    flat.extend(map(self.index[o].get, names, repeat(zero, len(names))))
        sums = np.add.reduceat(self.W[np.array(flat, dtype=np.int64)], np.array(starts, dtype=np.int64), axis=0)
        sums = sums.reshape(len(items), len(_OFFSETS), self.L)
        tids = np.array([t for t, _ in items], dtype=np.int64)
        for k, o in enumerate(_OFFSETS):
            self.V[o][tids] = sums[:, k]

    def ids(self, tokens: list[str]) -> list[int]:
        tid = self.type_id
        get = tid.get
        out = [get(t, -1) for t in tokens]
        if -1 in out:
            new: dict[str, int] = {}
            for t in tokens:
                if t not in tid and t not in new:
                    new[t] = self._n + len(new)
            self._reserve(self._n + len(new))
            self._fill_many([(i, w) for w, i in new.items()])
            self._n += len(new)
            tid.update(new)
            out = [tid[t] for t in tokens]
        return out

    def prefetch(self, sentences: list[list[str]]) -> None:
        """Compute the score vectors of all unseen types of ``sentences`` in one batch."""
        self.ids([t for s in sentences for t in s])

    def _reserve(self, n: int) -> None:
        if n <= self._cap:
            return
        while self._cap < n:
            self._cap *= 2
        for o in _OFFSETS:
            nv = np.zeros((self._cap, self.L), dtype=np.float64)
            nv[: self._n] = self.V[o][: self._n]
            self.V[o] = nv


def _logsumexp(a: np.ndarray, axis: int) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    return (m + np.log(np.exp(a - m).sum(axis=axis, keepdims=True))).squeeze(axis)


@dataclass
class EvalReport:
    per_type: dict[str, dict[str, float]] = field(default_factory=dict)  # label -> p, r, f1, support
    micro: dict[str, float] = field(default_factory=dict)  # p, r, f1, support
    n_sentences: int = 0
    n_tokens: int = 0


class ArabicNER:
    """Load with :meth:`load`; tag token lists or extract mentions from raw text."""

    def __init__(self, model_dir: Path, labels: list[str], attr_index: dict[str, int], weights: np.ndarray,
                 trans: np.ndarray, resources, doc_propagation: bool = True) -> None:
        self.model_dir = Path(model_dir)
        self.labels = labels
        self.trans = trans
        self.scorer = _TypeScorer(attr_index, weights, resources)
        self.resources = resources
        self.doc_propagation = doc_propagation
        # output tag per internal label (MISC is modelled, then mapped to O)
        self.out_tags = [lab if lab[2:] in ENTITY_TYPES else "O" for lab in labels]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: Path | str | None = None) -> ArabicNER:
        """Load a model directory (default: the shipped model); cached per directory."""
        return _load_cached(str(Path(model_dir or DEFAULT_MODEL_DIR).resolve()))

    @classmethod
    def _load_uncached(cls, model_dir: Path) -> ArabicNER:
        from .gazetteer import load_resources

        z = np.load(model_dir / "ar_ner_weights.npz", allow_pickle=False)
        labels = str(z["labels"]).split("\n")
        attrs = str(z["attrs"]).split("\n")
        attr_index = dict(zip(attrs, range(len(attrs))))
        return cls(model_dir, labels, attr_index, z["weights"].astype(np.float64), z["trans"].astype(np.float64),
                   load_resources(model_dir))

    # ------------------------------------------------------------------ core decoding
    def _decode(self, sentences: list[list[str]], want_marginals: bool = True):
        """Viterbi label ids (and marginal prob of each chosen label) per sentence."""
        sc = self.scorer
        L = len(self.labels)
        paths: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(sentences)
        margs: list[np.ndarray] = [np.zeros(0)] * len(sentences)
        order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
        sc.prefetch(sentences)
        trans = self.trans
        for g0 in range(0, len(order), 512):
            grp = order[g0: g0 + 512]
            lens = np.array([len(sentences[i]) for i in grp])
            B, T = len(grp), int(lens.max())
            tid = np.zeros((B, T + 4), dtype=np.int64)  # 2 cells of padding each side
            for b, i in enumerate(grp):
                n = lens[b]
                tid[b, 2: 2 + n] = sc.ids(sentences[i])
                tid[b, 1] = sc.BOS_ID
                tid[b, 2 + n] = sc.EOS_ID
            E = sc.V[0][tid[:, 2: 2 + T]]
            for o in (-2, -1, 1, 2):
                E += sc.V[o][tid[:, 2 + o: 2 + o + T]]
            mask = np.arange(T)[None, :] < lens[:, None]  # (B, T)
            # Viterbi
            delta = E[:, 0].copy()
            back = np.zeros((B, T, L), dtype=np.int64)
            ident = np.broadcast_to(np.arange(L), (B, L))
            for t in range(1, T):
                s = delta[:, :, None] + trans[None]
                bp = s.argmax(axis=1)
                nd = np.take_along_axis(s, bp[:, None, :], axis=1)[:, 0] + E[:, t]
                m = mask[:, t][:, None]
                delta = np.where(m, nd, delta)
                back[:, t] = np.where(m, bp, ident)
            best = np.empty((B, T), dtype=np.int64)
            best[:, T - 1] = delta.argmax(axis=1)
            for t in range(T - 1, 0, -1):
                best[:, t - 1] = np.take_along_axis(back[:, t], best[:, t][:, None], axis=1)[:, 0]
            if want_marginals:
                # scaled forward-backward in probability space (matmuls instead of logsumexp)
                expT = np.exp(trans)
                e = np.exp(E - E.max(axis=2, keepdims=True))
                alpha = np.empty((B, T, L))
                a = e[:, 0]
                a = a / a.sum(axis=1, keepdims=True)
                alpha[:, 0] = a
                scale = np.ones((B, T))
                for t in range(1, T):
                    na = (a @ expT) * e[:, t]
                    c = na.sum(axis=1, keepdims=True)
                    m = mask[:, t][:, None]
                    a = np.where(m, na / c, a)
                    scale[:, t] = np.where(mask[:, t], c[:, 0], 1.0)
                    alpha[:, t] = a
                beta = np.ones((B, T, L))
                for t in range(T - 2, -1, -1):
                    nb = ((e[:, t + 1] * beta[:, t + 1]) @ expT.T) / scale[:, t + 1][:, None]
                    beta[:, t] = np.where(mask[:, t + 1][:, None], nb, 1.0)
                post = alpha * beta
                post /= post.sum(axis=2, keepdims=True)
                prob = np.take_along_axis(post, best[:, :, None], axis=2)[:, :, 0]
            for b, i in enumerate(grp):
                n = lens[b]
                paths[i] = best[b, :n]
                if want_marginals:
                    margs[i] = prob[b, :n]
        return paths, margs

    # ------------------------------------------------------------------ public API
    def tag_sentences(self, sentences: list[list[str]]) -> list[list[str]]:
        """BIO tags (B-PER/I-PER/B-LOC/I-LOC/B-ORG/I-ORG/O), one per given token."""
        paths, _ = self._decode(sentences, want_marginals=False)
        return [_repair([self.out_tags[k] for k in p]) for p in paths]

    def tag_documents(self, docs: list[list[list[str]]], propagate: bool | None = None
                      ) -> list[tuple[list[list[str]], list[list[float]], list[list[str]]]]:
        """Tag several documents (each a list of tokenised sentences) in one batch.

        Returns per document (tags, per-token confidence, per-token method).
        """
        propagate = self.doc_propagation if propagate is None else propagate
        flat = [s for d in docs for s in d]
        paths, margs = self._decode(flat, want_marginals=True)
        out = []
        k = 0
        for d in docs:
            tags = [_repair([self.out_tags[x] for x in paths[k + j]]) for j in range(len(d))]
            conf = [list(map(float, margs[k + j])) for j in range(len(d))]
            k += len(d)
            meth = [["crf"] * len(s) for s in d]
            if propagate:
                propagate_document(d, tags, conf, meth)
            out.append((tags, conf, meth))
        return out

    def extract(self, text: str, sentence_spans: list[tuple[int, int]] | None = None) -> list[Mention]:
        """Mentions in one article (one document); offsets index into ``text``."""
        return self.extract_many([text], [sentence_spans])[0]

    def extract_many(self, texts: list[str], sentence_spans: list[list[tuple[int, int]] | None] | None = None
                     ) -> list[list[Mention]]:
        """Batch :meth:`extract` (shares the per-type cache and batches the CRF)."""
        spans_list = sentence_spans or [None] * len(texts)
        docs_tok: list[list[list[tuple[str, int, int]]]] = []
        for text, spans in zip(texts, spans_list):
            if spans is None:
                spans = split_sentences(text)
            sents = []
            for a, b in spans:
                toks = [(t, a + s, a + e) for t, s, e in tokenize(text[a:b])]
                if toks:
                    sents.append(toks)
            docs_tok.append(sents)
        results = self.tag_documents([[[t for t, _, _ in s] for s in d] for d in docs_tok])
        out: list[list[Mention]] = []
        for text, d, (tags, conf, meth) in zip(texts, docs_tok, results):
            ms: list[Mention] = []
            for s, tg, cf, me in zip(d, tags, conf, meth):
                for i, j, lab in _spans(tg):
                    a, b = s[i][1], s[j - 1][2]
                    c = float(np.mean(cf[i:j]))
                    method = "crf+doc" if any(m != "crf" for m in me[i:j]) else "crf"
                    ms.append(Mention(a, b, text[a:b], lab, round(c, 4), method))
            out.append(ms)
        return out


@functools.lru_cache(maxsize=8)
def _load_cached(model_dir: str) -> ArabicNER:
    return ArabicNER._load_uncached(Path(model_dir))


# --------------------------------------------------------------------------- helpers

_SENT_END = re.compile(r"[.!?؟\n]+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Simple sentence spans: split after . ! ? ؟ and at newlines (a dot inside a number is kept)."""
    spans = []
    start = 0
    for m in _SENT_END.finditer(text):
        if m.group() == "." and m.start() > 0 and m.end() < len(text) and text[m.start() - 1].isdigit() \
                and text[m.end()].isdigit():
            continue
        end = m.end()
        if text[start:end].strip():
            spans.append((start, end))
        start = end
    if text[start:].strip():
        spans.append((start, len(text)))
    return spans


def _repair(tags: list[str]) -> list[str]:
    """Make BIO well-formed: an I- not continuing the same label becomes B-."""
    prev = "O"
    out = []
    for t in tags:
        if t.startswith("I-") and prev[2:] != t[2:]:
            t = "B-" + t[2:]
        out.append(t)
        prev = t
    return out


def _spans(tags: list[str]) -> list[tuple[int, int, str]]:
    """(start, end, label) token spans from BIO tags (end exclusive)."""
    out = []
    i = 0
    n = len(tags)
    while i < n:
        t = tags[i]
        if t == "O" or t[2:] not in ENTITY_TYPES:
            i += 1
            continue
        lab = t[2:]
        j = i + 1
        while j < n and tags[j] == "I-" + lab:
            j += 1
        out.append((i, j, lab))
        i = j
    return out


@functools.lru_cache(maxsize=262144)
def _key_token(tok: str, first: bool) -> str:
    n = normalize(tok)
    return split_clitics(n)[2] if first else n


def propagate_document(sents: list[list[str]], tags: list[list[str]], conf: list[list[float]],
                       meth: list[list[str]], min_conf: float = 0.5, relabel: bool = True) -> None:
    """Document-level consistency, in place.

    1. Every mention's key (clitic-free base of its first token + normalised rest) gets
       the label with the largest summed confidence in the document; mentions with another
       label are relabelled (``relabel``).  The last token of a multi-token person name
       (the surname) becomes a key too.
    2. Untagged occurrences of a key (longest first; the first token may carry proclitics)
       are tagged with the key's label, confidence = the key's mean confidence.
    """
    votes: dict[tuple[str, ...], dict[str, float]] = {}
    counts: dict[tuple[str, ...], int] = {}
    for s, tg, cf in zip(sents, tags, conf):
        for i, j, lab in _spans(tg):
            c = float(np.mean(cf[i:j]))
            key = tuple(_key_token(s[k], k == i) for k in range(i, j))
            if len(key[0]) < 2:
                continue
            votes.setdefault(key, {}).setdefault(lab, 0.0)
            votes[key][lab] += c
            counts[key] = counts.get(key, 0) + 1
            if lab == "PER" and j - i >= 2:
                sk = (_key_token(s[j - 1], True),)
                if len(sk[0]) >= 3:
                    votes.setdefault(sk, {}).setdefault("PER", 0.0)
                    votes[sk]["PER"] += c * 0.8
                    counts[sk] = counts.get(sk, 0) + 1
    if not votes:
        return
    best: dict[tuple[str, ...], tuple[str, float]] = {}
    for key, v in votes.items():
        lab, tot = max(v.items(), key=lambda kv: kv[1])
        mean = tot / counts[key]
        if tot >= min_conf:
            best[key] = (lab, min(mean, 1.0))
    if relabel:
        for s, tg, me in zip(sents, tags, meth):
            for i, j, lab in _spans(tg):
                key = tuple(_key_token(s[k], k == i) for k in range(i, j))
                b = best.get(key)
                if b and b[0] != lab:
                    tg[i] = "B-" + b[0]
                    for k in range(i + 1, j):
                        tg[k] = "I-" + b[0]
                    for k in range(i, j):
                        me[k] = "crf+doc"
    maxlen = max(len(k) for k in best)
    firsts = {k[0] for k in best}
    for s, tg, cf, me in zip(sents, tags, conf, meth):
        n = len(s)
        i = 0
        while i < n:
            if tg[i] != "O":
                i += 1
                continue
            f = _key_token(s[i], True)
            if f not in firsts:
                i += 1
                continue
            hit = None
            for ln in range(min(maxlen, n - i), 0, -1):
                if any(tg[k] != "O" for k in range(i, i + ln)):
                    continue
                key = (f,) + tuple(normalize(s[k]) for k in range(i + 1, i + ln))
                b = best.get(key)
                if b:
                    hit = (ln, b)
                    break
            if hit is None:
                i += 1
                continue
            ln, (lab, c) = hit
            # do not extend a mention that ends right before this one
            for k in range(i, i + ln):
                tg[k] = ("B-" if k == i else "I-") + lab
                cf[k] = c
                me[k] = "crf+doc"
            i += ln


# --------------------------------------------------------------------------- evaluation


def _read_eval_docs(path: Path) -> list[list[tuple[list[str], list[str]]]]:
    """Documents of (tokens, tags) sentences: split at -DOCSTART- lines when present,
    otherwise by the label-free heuristic ``ner_train.document_ids``."""
    from .ner_train import canonical_tag, document_ids, read_conll

    raw = read_conll(path)
    docs: list[list[tuple[list[str], list[str]]]] = []
    if any(not t for t, _ in raw):
        for t, g in raw:
            if not t:
                docs.append([])
            else:
                if not docs:
                    docs.append([])
                docs[-1].append((t, [canonical_tag(x) for x in g]))
        return [d for d in docs if d]
    sents = [(t, [canonical_tag(x) for x in g]) for t, g in raw if t]
    ids = document_ids([t for t, _ in sents])
    for k, sg in enumerate(sents):
        if k == 0 or ids[k] != ids[k - 1]:
            docs.append([])
        docs[-1].append(sg)
    return docs


def span_set(tags_per_sent: list[list[str]]) -> set[tuple[int, int, int, str]]:
    return {(si, i, j, lab) for si, tg in enumerate(tags_per_sent) for i, j, lab in _spans(_repair(tg))}


def score_spans(gold: list[list[str]], pred: list[list[str]]) -> EvalReport:
    g = span_set(gold)
    p = span_set(pred)
    rep = EvalReport()
    tp_all = fp_all = fn_all = 0
    for lab in ENTITY_TYPES:
        gl = {x for x in g if x[3] == lab}
        pl = {x for x in p if x[3] == lab}
        tp = len(gl & pl)
        fp = len(pl) - tp
        fn = len(gl) - tp
        tp_all += tp
        fp_all += fp
        fn_all += fn
        rep.per_type[lab] = _prf(tp, fp, fn)
    rep.micro = _prf(tp_all, fp_all, fn_all)
    rep.n_sentences = len(gold)
    rep.n_tokens = sum(len(x) for x in gold)
    return rep


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": float(tp + fn)}


def evaluate_conll(path: Path | str, ner: ArabicNER | None = None, doc_propagation: bool = True) -> EvalReport:
    """Tag exactly the tokens of a CoNLL file and score exact spans over PER/LOC/ORG.

    ``PERS`` counts as ``PER``; ``MISC`` (and any other label) is ignored (treated as O).
    With ``doc_propagation`` (the default, as in :meth:`ArabicNER.extract`) sentences are
    grouped into documents (``-DOCSTART-`` lines if the file has them, else datelines /
    runs of 25 sentences, see ``ner_train.document_ids``) and propagated per document;
    ``doc_propagation=False`` scores the sentence-level CRF alone.
    """
    ner = ner or ArabicNER.load()
    docs = _read_eval_docs(Path(path))
    gold = [g for d in docs for _, g in d]
    if doc_propagation and hasattr(ner, "tag_documents"):
        pred = [t for tags, _, _ in ner.tag_documents([[t for t, _ in d] for d in docs], propagate=True)
                for t in tags]
    else:
        pred = ner.tag_sentences([t for d in docs for t, _ in d])
    return score_spans(gold, pred)


def format_report(report: EvalReport) -> str:
    """A readable table; its last line is exactly ``micro_f1=0.xxxx``."""
    lines = [f"{'type':<6} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}"]
    for lab in ENTITY_TYPES:
        m = report.per_type.get(lab, _prf(0, 0, 0))
        lines.append(f"{lab:<6} {m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {int(m['support']):>8d}")
    m = report.micro or _prf(0, 0, 0)
    lines.append(f"{'micro':<6} {m['precision']:>9.4f} {m['recall']:>7.4f} {m['f1']:>7.4f} {int(m['support']):>8d}")
    lines.append(f"sentences={report.n_sentences} tokens={report.n_tokens}")
    lines.append(f"micro_f1={m['f1']:.4f}")
    return "\n".join(lines)
