"""Arabic named-entity recognition (PER / LOC / ORG) — inference API.

A linear-chain CRF trained with python-crfsuite (see ``ner_train.py`` and
``models/MODEL_CARD.md``).  For speed the CRF is not run through crfsuite's tagger: every
feature is an (offset, word-type attribute) pair, so the state scores of a token are a sum
of per-(offset, type) score vectors which are computed once per word type and cached;
Viterbi and forward-backward run batched in numpy.  The output equals crfsuite's.

Two passes (stacking): the first-pass CRF's marginals give document-level features (how the
other occurrences of a word's clitic-free base in the same article were tagged, first-pass labels
of the neighbours) and a label lexicon from the training data; a second-pass CRF over the
per-type features plus these is decoded for the output (``ar_ner2_weights.npz``; without it the
first pass is the output).  See ``ner_features.doc_feature_values``.

Document-level consistency: inside one document (an article) a name tagged once is
tagged at its other untagged occurrences too (``method="crf+doc"``), and a name's label is
made consistent across the document by confidence-weighted vote.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np

from .ner_features import (BOS, EOS, doc_attribute_names, doc_feature_values, doc_slot_sizes, lexicon_codes, normalize,
                           sentence_tokens, split_clitics, tokenize, type_attributes, unprefixed_offset_attributes)

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


@dataclass(frozen=True, slots=True)  # a 5,000-article batch's tagged mentions: 27 MB, 36 without slots
class Mention:
    """A named-entity span in the text: ``text[start:end] == self.text``."""

    start: int
    end: int
    text: str
    label: str  # "PER" | "LOC" | "ORG"
    confidence: float  # CRF marginal probability (mean over the span's tokens), 0..1
    method: str  # "crf" or "crf+doc" (added/relabelled by document-level propagation)

    def __reduce__(self) -> tuple[type[Mention], tuple[int, int, str, str, float, str]]:
        """Pickled as the constructor's arguments: workers send every tagged mention to the flow,
        and a frozen slotted dataclass's default state calls ``dataclasses.fields()`` once per
        object at each end. Unpickling them that way took the flow 5.2 s on SaudiNewsNet (py-spy);
        this way 300,000 mentions pickle in 0.51 s instead of 1.16 and load in 0.65 instead of 1.15."""
        return (Mention, (self.start, self.end, self.text, self.label, self.confidence, self.method))


# --------------------------------------------------------------------------- fast CRF


# Word types whose score vectors stay cached between passes (~0.4 KB each, see _TypeScorer.trim).
# Below 2**17 = 131,072 on purpose: the arrays double when full, so a cap just above a power of
# two pays for twice its rows. At 150,000 the float64 score matrix reached 262,144 rows (189 MB) and a
# worker peaked at 609-622 MB on SaudiNewsNet; at 120,000 it stays at 131,072 rows and a worker
# at 558-571 MB, with tagging no slower (docs/benchmarks.md).
MAX_CACHED_TYPES = 120_000
# The cached score vectors are stored in single precision: at 131,072 rows of 90 columns they are
# 47 MB per worker instead of 94. Each vector is a sum of float64 weights rounded once (relative
# error ~6e-8); the unary scores are summed and decoded in float64 (docs/decisions.md).
V_DTYPE = np.float32
# Documents decoded together by ArabicNER.extract_many (see there).
DOCS_PER_PASS = 200


class _TypeScorer:
    """Per-word-type state score vectors for each offset, computed lazily (in batches) and cached.

    Several models (first pass, second pass) share one cache: every attribute string maps to
    one row of ``C`` holding its weights at each offset for each model (an attribute belongs
    to one feature family, so its offsets are fixed), and a type's row of ``V`` is the sum of
    its attributes' rows: one dict lookup per attribute and one ``reduceat`` per batch.
    """

    NONE, BOS_ID, EOS_ID = 0, 1, 2

    def __init__(self, models: list[tuple[dict[str, int], np.ndarray]], resources) -> None:
        self.res = resources
        self.Ls = [w.shape[1] for _, w in models]
        self.block: list[dict[int, slice]] = []  # model -> offset -> column slice of V
        col = 0
        for L in self.Ls:
            d = {}
            for o in _OFFSETS:
                d[o] = slice(col, col + L)
                col += L
            self.block.append(d)
        self.ncol = col
        aid: dict[str, int] = {}
        cells: list[tuple[int, int, int]] = []  # (row in C, model, offset, attr row in W)
        for m, (attr_index, _) in enumerate(models):
            for name, i in attr_index.items():
                if name == "bias":
                    o, a = 0, "bias"
                else:
                    os_, _, a = name.partition(":")
                    try:
                        o = int(os_)
                    except ValueError:
                        continue  # second-pass document attributes: not per type
                r = aid.setdefault(a, len(aid))
                cells.append((r, m, o, i))
        C = np.zeros((len(aid) + 1, col), dtype=np.float64)
        for m, (_, W) in enumerate(models):
            sel = [(r, o, i) for r, mm, o, i in cells if mm == m]
            if not sel:
                continue
            rr = np.array([r for r, _, _ in sel])
            oo = np.array([self.block[m][o].start for _, o, _ in sel])
            ii = np.array([i for _, _, i in sel])
            L = W.shape[1]
            C[rr[:, None], oo[:, None] + np.arange(L)[None, :]] = W[ii]
        self.C = C
        self.aid = aid
        self.zero_row = len(aid)
        self.bias_row = aid.get("bias", self.zero_row)
        self.type_id: dict[str, int] = {}
        self.key_id: dict[str, int] = {}
        self.key_names: list[str] = []  # key id -> base
        self.label_lex: dict[str, tuple[int, int, int, int]] = {}  # base -> lexicon codes (second pass)
        self.lex = np.zeros((4096, 4), dtype=np.int64)
        self._cap = 4096
        self.V = np.zeros((self._cap, col), dtype=V_DTYPE)
        self.keys = np.full(self._cap, -1, dtype=np.int64)
        self.uses = np.zeros(self._cap, dtype=np.int64)  # tokens seen per type, for trim()
        self._n = 3
        # BOS / EOS pseudo-types: offsets != 0 only, as in training
        for tid_, w in ((self.BOS_ID, BOS), (self.EOS_ID, EOS)):
            for o, names in unprefixed_offset_attributes(w, resources).items():
                for m in range(len(models)):
                    sl = self.block[m][o]
                    for a in names:
                        r = aid.get(a)
                        if r is not None:
                            self.V[tid_, sl] += C[r, sl]

    def _fill_many(self, items: list[tuple[int, str]]) -> None:
        flat: list[int] = []
        starts: list[int] = []
        keys: list[int] = []
        lexc: list[tuple[int, int, int, int]] = []
        lexget = self.label_lex.get
        nolex = (0, 0, 0, 0)
        get = self.aid.get
        zero = self.zero_row
        bias = self.bias_row
        res = self.res
        kid = self.key_id
        for _, word in items:
            attrs = type_attributes(word, res)
            starts.append(len(flat))
            flat.append(bias)
            flat.extend(map(get, [a for _, a in attrs], repeat(zero)))
            if len(attrs) > 2 and attrs[1][1] == "sh=A" and len(attrs[2][1]) >= 4:
                base = attrs[2][1][2:]
                k = kid.get(base)
                if k is None:
                    k = kid[base] = len(self.key_names)
                    self.key_names.append(base)
                keys.append(k)
                lexc.append(lexget(base, nolex))
            else:
                keys.append(-1)
                lexc.append(nolex)
        starts.append(len(flat))
        from scipy.sparse import csr_matrix  # here: importing the flow's module needs no scipy (0.1 s)

        # sum of attribute rows per type as a sparse (types x attributes) product: no gather copy
        S = csr_matrix((np.ones(len(flat)), np.array(flat, dtype=np.int64), np.array(starts, dtype=np.int64)),
                       shape=(len(items), self.C.shape[0]))
        sums = S @ self.C
        tids = np.array([t for t, _ in items], dtype=np.int64)
        self.V[tids] = sums
        self.keys[tids] = keys
        self.lex[tids] = lexc

    def ids(self, tokens: list[str]) -> list[int]:
        tid = self.type_id
        get = tid.get
        out = [get(t, -1) for t in tokens]
        if -1 in out:
            # unseen types in order of first occurrence, numbered from self._n
            unseen = dict.fromkeys([t for t, i in zip(tokens, out) if i == -1])
            new = dict(zip(unseen, range(self._n, self._n + len(unseen))))
            self._reserve(self._n + len(new))
            self._fill_many([(i, w) for w, i in new.items()])
            self._n += len(new)
            tid.update(new)
            out = [tid[t] for t in tokens]
        return out

    def prefetch(self, sentences: list[list[str]]) -> np.ndarray:
        """Compute the score vectors of all unseen types of ``sentences`` in one batch;
        returns the type ids of all tokens (concatenated), which count as uses (see trim)."""
        ids = np.array(self.ids([t for s in sentences for t in s]), dtype=np.int64)
        self.uses[: self._n] += np.bincount(ids, minlength=self._n)
        return ids

    def _reserve(self, n: int) -> None:
        if n <= self._cap:
            return
        while self._cap < n:
            self._cap *= 2
        nv = np.zeros((self._cap, self.ncol), dtype=V_DTYPE)
        nv[: self._n] = self.V[: self._n]
        self.V = nv
        nk = np.full(self._cap, -1, dtype=np.int64)
        nk[: self._n] = self.keys[: self._n]
        self.keys = nk
        nl = np.zeros((self._cap, 4), dtype=np.int64)
        nl[: self._n] = self.lex[: self._n]
        self.lex = nl
        nu = np.zeros(self._cap, dtype=np.int64)
        nu[: self._n] = self.uses[: self._n]
        self.uses = nu

    def trim(self, max_types: int) -> bool:
        """Once more than ``max_types`` word types are cached, keep the ``max_types // 2`` used most
        (their counts halved, so that a word stops counting once it stops appearing) and forget the
        rest; True if it trimmed.

        Why bounded: a type's row of ``V`` is ~0.4 KB and news vocabulary keeps growing (a batch
        worker grew by ~50 MB per 2,500 SaudiNewsNet articles), so an unbounded cache makes worker
        memory grow with the corpus. Why keep the frequent half: emptying the cache made the next
        1,000 articles compute ~55,000 types again instead of ~17,000, about a second per trim.
        Only call it between passes: type and key ids handed out earlier become invalid (the kept
        types are renumbered). Rows 0–2 (none, BOS, EOS) are kept.
        """
        if self._n <= max_types:
            return False
        n, fixed = self._n, 3
        counts = self.uses[fixed:n]
        keep = fixed + np.sort(np.argsort(-counts, kind="stable")[: max_types // 2])
        rows = np.concatenate([np.arange(fixed), keep])
        words: list[str] = [""] * n
        for word, i in self.type_id.items():
            words[i] = word
        old_keys = self.keys[keep]
        kept_keys = np.unique(old_keys[old_keys >= 0])
        key_of = np.full(len(self.key_names) + 1, -1, dtype=np.int64)  # old key id -> new, -1 -> -1
        key_of[kept_keys] = np.arange(len(kept_keys))
        self.key_names = [self.key_names[k] for k in kept_keys.tolist()]
        self.key_id = {name: i for i, name in enumerate(self.key_names)}
        self._cap = 4096
        while self._cap < len(rows):
            self._cap *= 2
        V = np.zeros((self._cap, self.ncol), dtype=V_DTYPE)
        V[: len(rows)] = self.V[rows]
        keys = np.full(self._cap, -1, dtype=np.int64)
        keys[: len(rows)] = self.keys[rows]
        keys[fixed: len(rows)] = key_of[old_keys]
        lex = np.zeros((self._cap, 4), dtype=np.int64)
        lex[: len(rows)] = self.lex[rows]
        uses = np.zeros(self._cap, dtype=np.int64)
        uses[: len(rows)] = self.uses[rows] // 2
        self.V, self.keys, self.lex, self.uses = V, keys, lex, uses
        self.type_id = {words[old]: new for new, old in enumerate(keep.tolist(), start=fixed)}
        self._n = len(rows)
        return True


def _viterbi(E: np.ndarray, mask: np.ndarray, trans: np.ndarray) -> np.ndarray:
    B, T, L = E.shape
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
    return best


def _posteriors(E: np.ndarray, mask: np.ndarray, expT: np.ndarray) -> np.ndarray:
    """Marginals by scaled forward-backward in probability space (matmuls, no logsumexp)."""
    B, T, L = E.shape
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
    return post


def _decode_batch(E: np.ndarray, mask: np.ndarray, trans: np.ndarray, expT: np.ndarray, grp, lens,
                  paths: list, margs: list, want_marginals: bool) -> None:
    """Viterbi paths (and the marginal of each chosen label) of one padded batch, into ``paths``/``margs``.

    Shared by both passes: they differ only in the unary scores ``E`` and the transitions.
    """
    best = _viterbi(E, mask, trans)
    if want_marginals:
        post = _posteriors(E, mask, expT)
        prob = np.take_along_axis(post, best[:, :, None], axis=2)[:, :, 0]
    for b, i in enumerate(grp):
        paths[i] = best[b, :lens[b]]
        if want_marginals:
            margs[i] = prob[b, :lens[b]]


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
                 trans: np.ndarray, resources, doc_propagation: bool = True, second: dict | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.labels = labels
        self.trans = trans
        models = [(attr_index, weights)]
        self.second = second
        if second is not None:
            models.append((second["attr_index"], second["weights"]))
        self.scorer = _TypeScorer(models, resources)
        if second is not None and second.get("label_lex"):
            self.scorer.label_lex = second["label_lex"]
        self.resources = resources
        self.doc_propagation = doc_propagation
        if second is not None:
            # per slot: table value -> score vector of the second-pass model
            W2, ai2 = second["weights"], second["attr_index"]
            zero = np.zeros(W2.shape[1])
            self.doc_tables = []
            for slot, size in enumerate(doc_slot_sizes(len(labels))):
                rows = [ai2.get("d:" + doc_attribute_names(slot, v, labels)) for v in range(size)]
                self.doc_tables.append(np.stack([W2[r] if r is not None else zero for r in rows]))
            self.doc_table = np.vstack(self.doc_tables)
            self.doc_table_offsets = np.cumsum([0] + [len(t) for t in self.doc_tables[:-1]])[None, :]
            self.out_labels = second["labels"]
        else:
            self.out_labels = labels
        # output tag per internal label (MISC is modelled, then mapped to O)
        self.out_tags = [lab if lab[2:] in ENTITY_TYPES else "O" for lab in self.out_labels]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model_dir: Path | str | None = None) -> ArabicNER:
        """Load a model directory (default: the shipped model); cached per directory."""
        return _load_cached(str(Path(model_dir or DEFAULT_MODEL_DIR).resolve()))

    @staticmethod
    def _read_npz(path: Path) -> dict:
        z = np.load(path, allow_pickle=False)
        attrs = str(z["attrs"]).split("\n")
        return {"labels": str(z["labels"]).split("\n"), "attr_index": dict(zip(attrs, range(len(attrs)))),
                "weights": z["weights"].astype(np.float64), "trans": z["trans"].astype(np.float64)}

    @classmethod
    def _load_uncached(cls, model_dir: Path, resources=None, second_pass: bool = True) -> ArabicNER:
        from .gazetteer import load_resources

        model_dir = Path(model_dir)
        m1 = cls._read_npz(model_dir / "ar_ner_weights.npz")
        p2 = model_dir / "ar_ner2_weights.npz"
        m2 = cls._read_npz(p2) if second_pass and p2.exists() else None
        if m2 is not None:
            m2["label_lex"] = read_label_lexicon(model_dir / "label_lexicon.tsv")
        return cls(model_dir, m1["labels"], m1["attr_index"], m1["weights"], m1["trans"],
                   resources if resources is not None else load_resources(model_dir), second=m2)

    # ------------------------------------------------------------------ core decoding
    def _batches(self, sentences: list[list[str]], flat_ids: np.ndarray | None = None):
        """Length-sorted batches: (sentence indices, lengths, padded type ids, mask)."""
        sc = self.scorer
        if flat_ids is None:
            flat_ids = sc.prefetch(sentences)
        starts = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sentences], out=starts[1:])
        order = sorted((i for i, s in enumerate(sentences) if s), key=lambda i: len(sentences[i]))
        # batches of similar length: at most 512 sentences and ~16k padded cells each
        groups: list[list[int]] = []
        for i in order:
            if not groups or len(groups[-1]) >= 512 or (len(groups[-1]) + 1) * len(sentences[i]) > 16384:
                groups.append([])
            groups[-1].append(i)
        for grp in groups:
            lens = np.array([len(sentences[i]) for i in grp])
            B, T = len(grp), int(lens.max())
            tid = np.zeros((B, T + 4), dtype=np.int64)  # 2 cells of padding each side
            mask = np.arange(T)[None, :] < lens[:, None]  # (B, T)
            pos = starts[grp][:, None] + np.arange(T)[None, :]
            tid[:, 2: 2 + T][mask] = flat_ids[pos[mask]]
            tid[:, 1] = sc.BOS_ID
            tid[np.arange(B), 2 + lens] = sc.EOS_ID
            mask = np.arange(T)[None, :] < lens[:, None]  # (B, T)
            yield grp, lens, tid, mask

    def _unary(self, m: int, tid: np.ndarray, T: int) -> np.ndarray:
        V = self.scorer.V
        blk = self.scorer.block[m]
        E = V[tid[:, 2: 2 + T], blk[0]].astype(np.float64)  # stored as float32, summed and decoded in float64
        for o in (-2, -1, 1, 2):
            E += V[tid[:, 2 + o: 2 + o + T], blk[o]]
        return E

    def _decode(self, sentences: list[list[str]], want_marginals: bool = True, doc_of_sent=None,
                first_pass_only: bool = False):
        """Viterbi label ids (and marginal prob of each chosen label) per sentence.

        With a second-pass model the first pass's marginals give document-level features
        (``doc_of_sent``: document id per sentence; default: each sentence is its own
        document) and the second pass is decoded; label ids then index ``out_labels``.
        """
        paths: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(sentences)
        margs: list[np.ndarray] = [np.zeros(0)] * len(sentences)
        flat_ids = self.scorer.prefetch(sentences)
        batches = list(self._batches(sentences, flat_ids))
        if self.second is None or first_pass_only:
            expT = np.exp(self.trans)
            for grp, lens, tid, mask in batches:
                E = self._unary(0, tid, mask.shape[1])
                _decode_batch(E, mask, self.trans, expT, grp, lens, paths, margs, want_marginals)
            return paths, margs
        P = self.first_pass_marginals(sentences, batches)
        D = self.doc_scores(sentences, P, doc_of_sent, flat_ids)
        trans2 = self.second["trans"]
        expT2 = np.exp(trans2)
        starts = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sentences], out=starts[1:])
        for grp, lens, tid, mask in batches:
            T = mask.shape[1]
            E = self._unary(1, tid, T)
            pos = np.minimum(starts[grp][:, None] + np.arange(T)[None, :], len(D) - 1)
            E += np.where(mask[:, :, None], D[pos], 0.0)
            _decode_batch(E, mask, trans2, expT2, grp, lens, paths, margs, want_marginals)
        return paths, margs

    def first_pass_marginals(self, sentences: list[list[str]], batches=None) -> np.ndarray:
        """First-pass marginals of all tokens, concatenated in sentence order: (N, L1)."""
        batches = batches if batches is not None else list(self._batches(sentences))
        starts = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in sentences], out=starts[1:])
        P = np.zeros((int(starts[-1]), len(self.labels)))
        expT = np.exp(self.trans)
        for grp, lens, tid, mask in batches:
            T = mask.shape[1]
            post = _posteriors(self._unary(0, tid, T), mask, expT)
            pos = starts[grp][:, None] + np.arange(T)[None, :]
            P[pos[mask]] = post[mask]
        return P

    def doc_feature_matrix(self, sentences: list[list[str]], P: np.ndarray, doc_of_sent=None,
                           lex: np.ndarray | None = None, flat_ids: np.ndarray | None = None) -> np.ndarray:
        """Second-pass feature values per token (see ``ner_features.doc_feature_values``)."""
        lens = np.array([len(s) for s in sentences], dtype=np.int64)
        if doc_of_sent is None:
            doc_of_sent = np.arange(len(sentences))
        doc = np.repeat(np.asarray(doc_of_sent, dtype=np.int64), lens)
        sc = self.scorer
        ids = flat_ids if flat_ids is not None else \
            np.array(sc.ids([t for s in sentences for t in s]), dtype=np.int64)  # may grow sc.keys
        key = sc.keys[ids]
        if lex is None:
            lex = sc.lex[ids]
        ends = np.cumsum(lens)
        sent_start = np.zeros(len(doc), dtype=bool)
        sent_end = np.zeros(len(doc), dtype=bool)
        nz = lens > 0
        sent_start[(ends - lens)[nz]] = True
        sent_end[(ends - 1)[nz]] = True
        return doc_feature_values(P, doc, key, sent_start, sent_end, self.labels, lex)

    def doc_scores(self, sentences, P, doc_of_sent=None, flat_ids=None) -> np.ndarray:
        from scipy.sparse import csr_matrix

        vals = self.doc_feature_matrix(sentences, P, doc_of_sent, flat_ids=flat_ids)
        n, k = vals.shape
        S = csr_matrix((np.ones(n * k), (vals + self.doc_table_offsets).ravel(), np.arange(0, n * k + 1, k)),
                       shape=(n, len(self.doc_table)))
        return S @ self.doc_table

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
        doc_of_sent = np.repeat(np.arange(len(docs)), [len(d) for d in docs])
        paths, margs = self._decode(flat, want_marginals=True, doc_of_sent=doc_of_sent)
        out = []
        k = 0
        for d in docs:
            ot = self.out_tags
            tags = [_repair([ot[x] for x in paths[k + j].tolist()]) for j in range(len(d))]
            conf = [margs[k + j].tolist() for j in range(len(d))]
            k += len(d)
            meth = [["crf"] * len(s) for s in d]
            if propagate:
                propagate_document(d, tags, conf, meth)
            out.append((tags, conf, meth))
        return out

    def extract(self, text: str, sentence_spans: list[tuple[int, int]] | None = None) -> list[Mention]:
        """Mentions in one article (one document); offsets index into ``text``."""
        return self.extract_many([text], [sentence_spans])[0]

    def extract_many(self, texts: list[str], sentence_spans: list[list[tuple[int, int]] | None] | None = None,
                     docs_per_pass: int = DOCS_PER_PASS) -> list[list[Mention]]:
        """Batch :meth:`extract` (shares the per-type cache and batches the CRF).

        Documents are decoded ``docs_per_pass`` at a time: every feature is per token or per
        document, so the result is the same, while the decoder's arrays stay small (one pass over
        2,500 SaudiNewsNet articles peaked at about 1 GB; 200 documents are still ~60k tokens,
        plenty to vectorize).
        """
        spans_list = list(sentence_spans or [None] * len(texts))
        out: list[list[Mention]] = []
        for i in range(0, len(texts), docs_per_pass):
            out += self._extract_pass(texts[i:i + docs_per_pass], spans_list[i:i + docs_per_pass])
        return out

    def _extract_pass(self, texts: list[str], spans_list: list[list[tuple[int, int]] | None]) -> list[list[Mention]]:
        self.scorer.trim(MAX_CACHED_TYPES)  # between passes: no type id is held across them
        docs_tok = [sentence_tokens(text, split_sentences(text) if spans is None else spans)
                    for text, spans in zip(texts, spans_list)]
        results = self.tag_documents([[[t for t, _, _ in s] for s in d] for d in docs_tok])
        out: list[list[Mention]] = []
        for text, d, (tags, conf, meth) in zip(texts, docs_tok, results):
            ms: list[Mention] = []
            for s, tg, cf, me in zip(d, tags, conf, meth):
                for i, j, lab in _spans(tg):
                    a, b = s[i][1], s[j - 1][2]
                    c = sum(cf[i:j]) / (j - i)
                    method = "crf" if me[i:j].count("crf") == j - i else "crf+doc"  # any token not "crf"
                    ms.append(Mention(a, b, text[a:b], lab, round(c, 4), method))
            out.append(ms)
        return out


def read_label_lexicon(path: Path) -> dict[str, tuple[int, int, int, int]]:
    """``label_lexicon.tsv`` (base, nPER, nLOC, nORG, n) -> base -> ``lexicon_codes``."""
    out: dict[str, tuple[int, int, int, int]] = {}
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line:
            b, *c = line.split("\t")
            out[b] = lexicon_codes(tuple(map(int, c)))
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
    if tags.count("O") == len(tags):  # most sentences: nothing to repair, no loop over tokens
        return list(tags)
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
    out: list[tuple[int, int, str]] = []
    n = len(tags)
    if tags.count("O") == n:  # most sentences name nobody: a C-level count instead of a token loop
        return out
    i = 0
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


# Two single-argument memos rather than one keyed by (token, first): the C lru_cache keys a lone
# str argument by the string itself, with no tuple to build and hash, and propagation asks for the
# first-token key of every untagged token of every article (1.9 s → 1.2 s of propagation on 2,000
# SaudiNewsNet articles, profiled). Same total bound as the former single memo.
@functools.lru_cache(maxsize=131072)
def _first_key(tok: str) -> str:
    """Key of a mention's first token: its clitic-free base (``وبغداد`` → ``بغداد``)."""
    return split_clitics(normalize(tok))[2]


@functools.lru_cache(maxsize=131072)
def _rest_key(tok: str) -> str:
    """Key of a mention's later tokens: the normalised token."""
    return normalize(tok)


def _span_key(s: list[str], i: int, j: int) -> tuple[str, ...]:
    """Key of the mention ``s[i:j]``."""
    return (_first_key(s[i]), *map(_rest_key, s[i + 1:j]))


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
    # each sentence's mentions with their keys, reused by the relabelling below (relabelling a
    # sentence changes only that sentence's tags, after its mentions were listed)
    mentions: list[list[tuple[int, int, str, tuple[str, ...]]]] = []
    for s, tg, cf in zip(sents, tags, conf):
        mentions.append([(i, j, lab, _span_key(s, i, j)) for i, j, lab in _spans(tg)])
        for i, j, lab, key in mentions[-1]:
            c = sum(cf[i:j]) / (j - i)
            if len(key[0]) < 2:
                continue
            votes.setdefault(key, {}).setdefault(lab, 0.0)
            votes[key][lab] += c
            counts[key] = counts.get(key, 0) + 1
            if lab == "PER" and j - i >= 2:
                sk = (_first_key(s[j - 1]),)
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
        for tg, me, found in zip(tags, meth, mentions):
            for i, j, lab, key in found:
                b = best.get(key)
                if b and b[0] != lab:
                    tg[i] = "B-" + b[0]
                    for k in range(i + 1, j):
                        tg[k] = "I-" + b[0]
                    for k in range(i, j):
                        me[k] = "crf+doc"
    if not best:
        return
    lens: dict[str, set[int]] = {}
    for k in best:
        lens.setdefault(k[0], set()).add(len(k))
    lens_by_first = {f: sorted(v, reverse=True) for f, v in lens.items()}
    fk = _first_key
    # the document's word types whose first-token key starts a key: one key lookup per type rather
    # than per token, and sentences without any are skipped by one C-level set test
    starters = {t for t in set().union(*sents) if fk(t) in lens_by_first}
    for s, tg, cf, me in zip(sents, tags, conf, meth):
        if starters.isdisjoint(s):
            continue
        n = len(s)
        # candidate starts (untagged, first token matches a key); later hits only tag to the right
        cand = [i for i, t in enumerate(s) if t in starters and tg[i] == "O"]
        for i in cand:
            if tg[i] != "O":
                continue
            f = fk(s[i])
            hit = None
            for ln in lens_by_first[f]:  # longest first
                if ln > n - i or any(tg[k] != "O" for k in range(i, i + ln)):
                    continue
                key = _span_key(s, i, i + ln)
                b = best.get(key)
                if b:
                    hit = (ln, b)
                    break
            if hit is None:
                continue
            ln, (lab, c) = hit
            for k in range(i, i + ln):
                tg[k] = ("B-" if k == i else "I-") + lab
                cf[k] = c
                me[k] = "crf+doc"


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
