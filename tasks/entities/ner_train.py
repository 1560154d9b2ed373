"""Train the Arabic CRF NER (python-crfsuite) and export the fast per-type model.

Reproduce the shipped model::

    python -m akhbar.tasks.entities.ner_train \\
        --conll ../shared/corpora/ner/cleananercorp_train.conll \\
        --out tasks/entities/models \\
        --ant ../shared/corpora/news/ant_jawharafm/antcorpus.data.tar.gz

Steps: (1) corpus lexicon from ANT (word clusters, base-form statistics) unless
``ant_lexicon.tsv`` already exists in ``out`` (``--rebuild-lexicon`` forces it);
(2) dev split = last ``dev_fraction`` of sentences; person/org name lists from the
training part only, in k folds (jackknifed, so the CRF does not learn to over-trust them);
(3) crfsuite L-BFGS training of the first pass; (4) second pass (stacking): 4-fold (by
pseudo-document) cross-validated first-pass marginals -> document features + jackknifed label
lexicon -> second crfsuite model; dev evaluation (first pass / second pass, with and without
document-level propagation); (5) optionally (``--final all``) retrain on all sentences; export
``ar_ner.crfsuite``/``ar_ner2.crfsuite`` and ``ar_ner_weights.npz``/``ar_ner2_weights.npz``
(per-attribute score vectors used by :mod:`..ner`) and ``label_lexicon.tsv``.
"""
from __future__ import annotations

import argparse
import json
import re
import tarfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from .ner_features import normalize, split_clitics, tokenize

# --------------------------------------------------------------------------- data


def read_conll(path: Path | str) -> list[tuple[list[str], list[str]]]:
    """Sentences as (tokens, tags); tolerant of tabs, -DOCSTART- and blank lines.

    ``-DOCSTART-`` lines become a sentence with no tokens (a document boundary marker),
    which callers that do not care can drop.
    """
    sents: list[tuple[list[str], list[str]]] = []
    toks: list[str] = []
    tags: list[str] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                if toks:
                    sents.append((toks, tags))
                    toks, tags = [], []
                continue
            parts = line.split()
            if parts[0].startswith("-DOCSTART-"):
                if toks:
                    sents.append((toks, tags))
                    toks, tags = [], []
                sents.append(([], []))
                continue
            tok = parts[0] if len(parts) >= 2 else parts[0]
            tag = parts[-1] if len(parts) >= 2 else "O"
            toks.append(tok)
            tags.append(tag)
    if toks:
        sents.append((toks, tags))
    return sents


def canonical_tag(tag: str, keep_misc: bool = False) -> str:
    if tag == "O" or "-" not in tag:
        return "O"
    bio, lab = tag.split("-", 1)
    lab = {"PERS": "PER", "PERSON": "PER"}.get(lab, lab)
    if lab not in ("PER", "LOC", "ORG") and not (keep_misc and lab == "MISC"):
        return "O"
    if bio not in ("B", "I"):
        return "O"
    return f"{bio}-{lab}"


_AGENCY = re.compile(r"^(\(|-|–|ـ)$")


def document_ids(sentences: list[list[str]], max_sents: int = 25) -> list[int]:
    """Assign a pseudo-document id per sentence (the CoNLL file has no document markers).

    A new document starts at a dateline (a sentence whose 2nd or 3rd token is "(" or "-",
    e.g. ``بغداد ( اف ب )`` / ``طوكيو - رويترز``) or after ``max_sents`` sentences.
    Uses no labels, so it applies to dev data too.
    """
    ids: list[int] = []
    doc = 0
    run = 0
    for toks in sentences:
        dateline = len(toks) > 3 and any(_AGENCY.match(t) for t in toks[1:3])
        if ids and (dateline or run >= max_sents):
            doc += 1
            run = 0
        ids.append(doc)
        run += 1
    return ids


# --------------------------------------------------------------------------- corpus lexicon


def _ant_texts(tar_path: Path | str):
    body = re.compile(r"<(TITLE|ABSTRACT|TEXT)>(.*?)</\1>", re.S)
    with tarfile.open(tar_path) as tf:
        for m in tf:
            if not (m.isfile() and m.name.endswith(".txt")):
                continue
            raw = tf.extractfile(m).read().decode("utf-8", "replace")  # type: ignore[union-attr]
            for _, txt in body.findall(raw):
                yield txt


def build_corpus_lexicon(
    tar_path: Path | str,
    out_path: Path | str,
    vocab_size: int = 40000,
    ctx_size: int = 4000,
    dim: int = 100,
    ks: tuple[int, ...] = (64, 320, 1200),
    seed: int = 13,
) -> dict:
    """Word clusters + base-form statistics from unlabeled news (ANT corpus).

    Clusters: PPMI of left/right neighbour counts (top ``ctx_size`` words per side, windows
    1 and 2) -> truncated SVD (``dim``) -> spherical k-means at several ``ks``.  Output TSV
    rows: ``word  freq  al_ratio  cluster_ids(comma)``; ``freq`` is max(surface count,
    count as a clitic-free base); ``al_ratio`` is the share of the base's occurrences
    carrying ال.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import svds

    t0 = time.time()
    docs: list[list[str]] = []
    wf: Counter[str] = Counter()
    for txt in _ant_texts(tar_path):
        toks = [normalize(t) for t, _, _ in tokenize(txt)]
        docs.append(toks)
        wf.update(toks)
    known = {w for w, c in wf.items() if c >= 2}
    base_f: Counter[str] = Counter()
    base_al: Counter[str] = Counter()
    for w, c in wf.items():
        proc, stem, base = split_clitics(w, known)
        if base != w or proc == "":
            base_f[base] += c
            if stem != base:
                base_al[base] += c
    vocab = [w for w, _ in wf.most_common(vocab_size)]
    vid = {w: i for i, w in enumerate(vocab)}
    cid = {w: i for i, w in enumerate(vocab[:ctx_size])}
    rows: list[int] = []
    cols: list[int] = []
    for toks in docs:
        ids = [vid.get(t, -1) for t in toks]
        cids = [cid.get(t, -1) for t in toks]
        n = len(ids)
        for i, wi in enumerate(ids):
            if wi < 0:
                continue
            for off, slot in ((-1, 0), (1, 1), (-2, 2), (2, 3)):
                j = i + off
                if 0 <= j < n and cids[j] >= 0:
                    rows.append(wi)
                    cols.append(slot * ctx_size + cids[j])
    m = coo_matrix(
        (np.ones(len(rows), dtype=np.float64), (np.array(rows), np.array(cols))),
        shape=(len(vocab), 4 * ctx_size),
    ).tocsr()
    m.sum_duplicates()
    total = m.sum()
    rs = np.asarray(m.sum(axis=1)).ravel()
    cs = np.asarray(m.sum(axis=0)).ravel() ** 0.75
    cs = cs / cs.sum() * total
    coo = m.tocoo()
    pmi = np.log(coo.data * total / (rs[coo.row] * cs[coo.col] + 1e-12))
    keep = pmi > 0
    ppmi = coo_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=m.shape).tocsr()
    u, s, _ = svds(ppmi, k=dim, random_state=seed)
    emb = u * np.sqrt(s)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-9
    rng = np.random.default_rng(seed)
    assigns = []
    for k in ks:
        cent = emb[rng.choice(len(emb), k, replace=False)].copy()
        for _ in range(20):
            lab = np.argmax(emb @ cent.T, axis=1)
            for c in range(k):
                sel = lab == c
                if sel.any():
                    v = emb[sel].sum(axis=0)
                    cent[c] = v / (np.linalg.norm(v) + 1e-9)
        assigns.append(np.argmax(emb @ cent.T, axis=1))
    out_lines = []
    words = set(vocab) | {w for w, c in base_f.items() if c >= 2}
    for w in sorted(words):
        f = max(wf.get(w, 0), base_f.get(w, 0))
        bf = base_f.get(w, 0)
        r = base_al.get(w, 0) / bf if bf else 0.0
        i = vid.get(w)
        cl = ",".join(str(a[i]) for a in assigns) if i is not None else ""
        if "\t" in w or "\n" in w:
            continue
        out_lines.append(f"{w}\t{f}\t{r:.3f}\t{cl}")
    Path(out_path).write_text("\n".join(out_lines) + "\n", encoding="utf-8")
    return {"docs": len(docs), "tokens": int(sum(wf.values())), "rows": len(out_lines), "seconds": round(time.time() - t0, 1)}


# --------------------------------------------------------------------------- training


def _resources_for(model_dir: Path, train_sents, fold_excluded=None):
    """Resources with name lists from ``train_sents`` (minus ``fold_excluded`` ids)."""
    from .gazetteer import load_resources, names_from_sentences

    res = load_resources(model_dir, include_names=False)
    use = train_sents if fold_excluded is None else [s for k, s in enumerate(train_sents) if k not in fold_excluded]
    res.per_first, res.per_part, res.org_part = names_from_sentences(use)
    return res


def _write_places(out: Path) -> dict:
    from .gazetteer import place_names, place_sets, write_set

    names = place_names()
    # very frequent corpus words are not useful as place evidence (e.g. a city called "السلام")
    common: set[str] = set()
    lex = out / "ant_lexicon.tsv"
    if lex.exists():
        rows = [line.split("\t") for line in lex.read_text(encoding="utf-8").split("\n") if line]
        rows.sort(key=lambda r: -int(r[1]))
        common = {r[0] for r in rows[:300]}
    single, part = place_sets(names, common)
    write_set(out / "loc_single.txt", single)
    write_set(out / "loc_part.txt", part)
    return {"place_names": len(names), "loc_single": len(single), "loc_part": len(part)}


def export_weights(model_path: Path, npz_path: Path) -> dict:
    """crfsuite model -> npz with labels, attribute names, state weight matrix, transitions."""
    import pycrfsuite

    tg = pycrfsuite.Tagger()
    tg.open(str(model_path))
    info = tg.info()
    labels = sorted(info.labels.keys(), key=lambda k: info.labels[k])
    lid = {lab: i for i, lab in enumerate(labels)}
    attrs: dict[str, int] = {}
    rows, cols, vals = [], [], []
    for (a, lab), w in info.state_features.items():
        i = attrs.setdefault(a, len(attrs))
        rows.append(i)
        cols.append(lid[lab])
        vals.append(w)
    W = np.zeros((len(attrs), len(labels)), dtype=np.float32)
    W[rows, cols] = vals
    T = np.zeros((len(labels), len(labels)), dtype=np.float32)
    for (a, b), w in info.transitions.items():
        T[lid[a], lid[b]] = w
    names = sorted(attrs, key=attrs.get)
    assert all("\n" not in n for n in names)
    np.savez_compressed(npz_path, labels=np.array("\n".join(labels)), attrs=np.array("\n".join(names)),
                        weights=W, trans=T)
    tg.close()
    return {"attributes": len(names), "labels": labels}


def _fit(xs, ys, path: Path, c1: float, c2: float, max_iter: int) -> None:
    import pycrfsuite

    tr = pycrfsuite.Trainer(verbose=False)
    for x, y in zip(xs, ys):
        tr.append(x, y)
    tr.set_params({"c1": c1, "c2": c2, "max_iterations": max_iter, "feature.possible_transitions": True})
    tr.train(str(path))


def _featurize(sents, res, folds: int, model_dir: Path, jackknife: bool):
    from .ner_features import sentence_features

    xs = []
    if jackknife and folds > 1:
        n = len(sents)
        for f in range(folds):
            ids = set(range(f, n, folds))
            r = _resources_for(model_dir, sents, ids)
            cache: dict = {}
            for k in sorted(ids):
                xs.append((k, sentence_features(sents[k][0], r, cache)))
        xs.sort(key=lambda t: t[0])
        return [x for _, x in xs]
    cache = {}
    return [sentence_features(t, res, cache) for t, _ in sents]


def _docs_of(toks: list[list[str]]) -> np.ndarray:
    return np.array(document_ids(toks), dtype=np.int64)


def cv_first_pass_marginals(data, out: Path, folds: int, cv_folds: int, c1: float, c2: float, max_iter: int,
                            labels: list[str], cache: Path | None = None):
    """First-pass marginals of every token of ``data`` from models that did not see its document.

    Documents (``document_ids``) are split into ``cv_folds`` folds; for each fold a first-pass CRF
    (name lists from the other folds, jackknifed as usual) is trained on the other folds and
    decoded (numpy forward-backward) on it.  Returns (tokens, labels) in sentence order.
    """
    import tempfile

    from .ner import ArabicNER

    if cache is not None and cache.exists():
        z = np.load(cache)
        if z["P"].shape[0] == sum(len(t) for t, _ in data):
            return z["P"], str(z["labels"]).split("\n")
    toks = [t for t, _ in data]
    doc = _docs_of(toks)
    if len(set(doc.tolist())) < cv_folds:  # tiny data: fold by sentence
        doc = np.arange(len(toks))
    starts = np.r_[0, np.cumsum([len(t) for t in toks])]
    P = None
    with tempfile.TemporaryDirectory() as td:
        tdp = Path(td)
        for f in range(cv_folds):
            held = [k for k in range(len(data)) if doc[k] % cv_folds == f]
            sub = [data[k] for k in range(len(data)) if doc[k] % cv_folds != f]
            res_f = _resources_for(out, sub)
            xs = _featurize(sub, res_f, folds, out, jackknife=True)
            _fit(xs, [g for _, g in sub], tdp / "fold.crfsuite", c1, c2, max_iter)
            export_weights(tdp / "fold.crfsuite", tdp / "ar_ner_weights.npz")
            ner_f = ArabicNER._load_uncached(tdp, resources=res_f, second_pass=False)
            Pf = ner_f.first_pass_marginals([toks[k] for k in held])
            if P is None:
                P = np.zeros((int(starts[-1]), len(labels)))
            # align the fold model's label order with ``labels`` (a label it lacks gets 0)
            Pa = np.zeros((Pf.shape[0], len(labels)))
            for j, lab in enumerate(ner_f.labels):
                if lab in labels:
                    Pa[:, labels.index(lab)] = Pf[:, j]
            Pf = Pa
            pos = np.concatenate([np.arange(starts[k], starts[k + 1]) for k in held])
            P[pos] = Pf
            print(f"cv fold {f}: {len(sub)} train / {len(held)} held-out sentences", flush=True)
    if cache is not None:
        np.savez_compressed(cache, P=P, labels=np.array("\n".join(labels)))
    return P, labels


def label_lexicon_counts(ner1, data) -> dict[str, list[int]]:
    """base (the document key of ``ner``) -> [nPER, nLOC, nORG, n]: how often the tokens with
    this key are inside a gold PER/LOC/ORG name in ``data`` (tagged sentences)."""
    sc = ner1.scorer
    out: dict[str, list[int]] = {}
    col = {"PER": 0, "LOC": 1, "ORG": 2}
    sc.prefetch([t for t, _ in data])  # (ids() may grow sc.keys: call it before indexing)
    for toks, tags in data:
        ids = np.array(sc.ids(toks), dtype=np.int64)
        for k, g in zip(sc.keys[ids], tags):
            if k < 0:
                continue
            c = out.setdefault(sc.key_names[k], [0, 0, 0, 0])
            c[3] += 1
            j = col.get(g[2:])
            if j is not None:
                c[j] += 1
    return out


def write_label_lexicon(path: Path, counts: dict[str, list[int]]) -> None:
    path.write_text("".join(f"{b}\t{c[0]}\t{c[1]}\t{c[2]}\t{c[3]}\n" for b, c in sorted(counts.items())),
                    encoding="utf-8")


def jackknifed_lexicon_codes(ner1, data, cv_folds: int) -> np.ndarray:
    """Label-lexicon codes per token of ``data``; a token's codes come from the lexicon of the
    other folds (same document folds as the cross-validated first pass)."""
    from .ner_features import lexicon_codes

    toks = [t for t, _ in data]
    doc = _docs_of(toks)
    if len(set(doc.tolist())) < cv_folds:
        doc = np.arange(len(toks))
    sc = ner1.scorer
    out = []
    lex_f = [label_lexicon_counts(ner1, [d for k, d in enumerate(data) if doc[k] % cv_folds != f])
             for f in range(cv_folds)]
    sc.prefetch(toks)
    for k, t in enumerate(toks):
        lx = lex_f[doc[k] % cv_folds]
        ids = np.array(sc.ids(t), dtype=np.int64)
        for kid in sc.keys[ids]:
            out.append(lexicon_codes(lx.get(sc.key_names[kid])) if kid >= 0 else (0, 0, 0, 0))
    return np.array(out, dtype=np.int64).reshape(-1, 4)


def second_pass_features(ner1, data, xs1, P: np.ndarray, labels_P: list[str], lex: np.ndarray,
                         doc: np.ndarray | None = None) -> list[list[list[str]]]:
    """Second-pass crfsuite items: first-pass attributes + document features (``d:`` prefix)."""
    from .ner_features import DOC_SLOTS, doc_attribute_names

    toks = [t for t, _ in data]
    perm = [labels_P.index(lab) for lab in ner1.labels]
    vals = ner1.doc_feature_matrix(toks, P[:, perm], _docs_of(toks) if doc is None else doc, lex=lex)
    names = {}
    xs2 = []
    k = 0
    for x in xs1:
        seq = []
        for item in x:
            row = vals[k]
            k += 1
            extra = []
            for s in range(len(DOC_SLOTS)):
                key = (s, int(row[s]))
                nm = names.get(key)
                if nm is None:
                    nm = names[key] = "d:" + doc_attribute_names(s, key[1], ner1.labels)
                extra.append(nm)
            seq.append(item + extra)
        xs2.append(seq)
    return xs2


def train_model(
    conll_path: Path | str,
    out_dir: Path | str,
    dev_fraction: float = 0.1,
    *,
    ant_path: Path | str | None = None,
    rebuild_lexicon: bool = False,
    final: str = "all",
    c1: float = 0.05,
    c2: float = 0.02,
    max_iter: int = 150,
    folds: int = 5,
    keep_misc: bool = True,
    second_pass: bool = True,
    cv_folds: int = 4,
    cv_cache_dir: Path | str | None = None,
) -> dict:
    """Train, evaluate on the held-out dev split, export; returns the metrics dict.

    ``final="all"`` retrains the shipped model on train+dev after the dev evaluation
    (name lists then come from all sentences); ``final="train"`` ships the dev-evaluated model.
    With ``second_pass`` a stacked second-pass CRF is trained on first-pass attributes +
    document features of ``cv_folds``-fold cross-validated first-pass marginals.
    """
    from .ner import ArabicNER

    t0 = time.time()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    metrics: dict = {"conll": str(conll_path), "dev_fraction": dev_fraction, "c1": c1, "c2": c2,
                     "max_iter": max_iter, "folds": folds, "keep_misc": keep_misc, "final": final,
                     "second_pass": second_pass, "cv_folds": cv_folds}
    lex = out / "ant_lexicon.tsv"
    if rebuild_lexicon or not lex.exists():
        if ant_path is None:
            raise ValueError("ant_lexicon.tsv missing in out_dir: pass ant_path to build it")
        metrics["lexicon"] = build_corpus_lexicon(ant_path, lex)
    metrics["places"] = _write_places(out)

    sents = [(t, [canonical_tag(x, keep_misc) for x in g]) for t, g in read_conll(conll_path) if t]
    n_dev = int(round(len(sents) * dev_fraction))
    train, dev = sents[: len(sents) - n_dev], sents[len(sents) - n_dev:]
    metrics.update(n_train=len(train), n_dev=len(dev))
    cache_dir = Path(cv_cache_dir) if cv_cache_dir else None

    def fit_and_export(data, tag: str) -> ArabicNER:
        from .gazetteer import write_set

        res = _resources_for(out, data)
        for name in ("per_first", "per_part", "org_part"):
            write_set(out / f"{name}.txt", getattr(res, name))
        xs = _featurize(data, res, folds, out, jackknife=True)
        ys = [g for _, g in data]
        t1 = time.time()
        _fit(xs, ys, out / "ar_ner.crfsuite", c1, c2, max_iter)
        metrics[f"fit_seconds_{tag}"] = round(time.time() - t1, 1)
        metrics[f"export_{tag}"] = export_weights(out / "ar_ner.crfsuite", out / "ar_ner_weights.npz")
        for p in (out / "ar_ner2.crfsuite", out / "ar_ner2_weights.npz"):
            if p.exists():
                p.unlink()
        if second_pass:
            t1 = time.time()
            cache = cache_dir / f"cv_{tag}_{len(data)}_{cv_folds}_{c1}_{c2}_{max_iter}.npz" if cache_dir else None
            ner1 = ArabicNER._load_uncached(out, second_pass=False)
            P, labels_P = cv_first_pass_marginals(data, out, folds, cv_folds, c1, c2, max_iter, ner1.labels, cache)
            metrics[f"cv_seconds_{tag}"] = round(time.time() - t1, 1)
            lex = jackknifed_lexicon_codes(ner1, data, cv_folds)
            write_label_lexicon(out / "label_lexicon.tsv", label_lexicon_counts(ner1, data))
            xs2 = second_pass_features(ner1, data, xs, P, labels_P, lex)
            t1 = time.time()
            _fit(xs2, ys, out / "ar_ner2.crfsuite", c1, c2, max_iter)
            metrics[f"fit2_seconds_{tag}"] = round(time.time() - t1, 1)
            metrics[f"export2_{tag}"] = export_weights(out / "ar_ner2.crfsuite", out / "ar_ner2_weights.npz")
        return ArabicNER._load_uncached(out)

    if dev:
        ner = fit_and_export(train, "train")
        metrics.update(evaluate_dev(ner, dev))
    if final == "all" or not dev:
        fit_and_export(sents, "all")
        metrics["shipped_model_trained_on"] = "train+dev (all sentences)"
    else:
        metrics["shipped_model_trained_on"] = "train split only"
    metrics["seconds"] = round(time.time() - t0, 1)
    (out / "train_metrics.json").write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return metrics


def evaluate_dev(ner, dev) -> dict:
    """Dev metrics: first pass alone / second pass, sentence-level and per document, with and
    without rule-based propagation."""
    from .ner import score_spans

    gold = [[canonical_tag(x) for x in g] for _, g in dev]
    toks = [t for t, _ in dev]
    ids = document_ids(toks)
    docs: list[list[list[str]]] = []
    prev = None
    for d, s in zip(ids, toks):
        if d != prev:
            docs.append([])
        docs[-1].append(s)
        prev = d
    m: dict = {}
    flat_doc = np.array(ids)
    p1, c1_ = ner._decode(toks, want_marginals=True, first_pass_only=True)
    tags1 = [[ner.out_tags[k] if ner.second is None else
              (ner.labels[k] if ner.labels[k][2:] in ("PER", "LOC", "ORG") else "O") for k in p] for p in p1]
    m["dev_first_pass"] = _report_dict(score_spans(gold, tags1))
    t1p = [list(t) for t in tags1]
    _propagate_flat(docs, t1p, [list(map(float, c)) for c in c1_])
    m["dev_first_pass_doc"] = _report_dict(score_spans(gold, t1p))
    if ner.second is not None:
        m["dev"] = _report_dict(score_spans(gold, ner.tag_sentences(toks)))
        p2, c2_ = ner._decode(toks, want_marginals=True, doc_of_sent=flat_doc)
        tags2 = [[ner.out_tags[k] for k in p] for p in p2]
        m["dev_second_pass_doc_noprop"] = _report_dict(score_spans(gold, tags2))
    else:
        m["dev"] = m["dev_first_pass"]
    pred_doc = [t for tags, _, _ in ner.tag_documents(docs, propagate=True) for t in tags]
    m["dev_doc"] = _report_dict(score_spans(gold, pred_doc))
    return m


def _propagate_flat(docs, tags, conf) -> None:
    from .ner import _repair, propagate_document

    k = 0
    for d in docs:
        tg = [_repair(t) for t in tags[k: k + len(d)]]
        cf = conf[k: k + len(d)]
        propagate_document(d, tg, cf, [["crf"] * len(s) for s in d])
        tags[k: k + len(d)] = tg
        k += len(d)


def _report_dict(rep) -> dict:
    d = {k: {m: round(v, 4) for m, v in vals.items()} for k, vals in rep.per_type.items()}
    d["micro"] = {m: round(v, 4) for m, v in rep.micro.items()}
    return d


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Train the akhbar Arabic CRF NER")
    ap.add_argument("--conll", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--ant", default=None, help="ANT corpus tar.gz (needed if out has no ant_lexicon.tsv)")
    ap.add_argument("--rebuild-lexicon", action="store_true")
    ap.add_argument("--dev-fraction", type=float, default=0.1)
    ap.add_argument("--final", choices=("all", "train"), default="all")
    ap.add_argument("--c1", type=float, default=0.05)
    ap.add_argument("--c2", type=float, default=0.02)
    ap.add_argument("--max-iter", type=int, default=150)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--no-second-pass", action="store_true")
    ap.add_argument("--cv-folds", type=int, default=4)
    ap.add_argument("--cv-cache", default=None, help="directory to cache cross-validated first-pass marginals")
    a = ap.parse_args(argv)
    m = train_model(a.conll, a.out, a.dev_fraction, ant_path=a.ant, rebuild_lexicon=a.rebuild_lexicon,
                    final=a.final, c1=a.c1, c2=a.c2, max_iter=a.max_iter, folds=a.folds,
                    second_pass=not a.no_second_pass, cv_folds=a.cv_folds, cv_cache_dir=a.cv_cache)
    print(json.dumps(m, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
