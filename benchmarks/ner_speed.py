"""Tagging throughput of the Arabic NER (tokens/s, one process = one core).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/ner_speed.py [--repeat 3] [--articles 2000]

Times are CPU time of this process (time.process_time), i.e. per core, so a busy shared
machine does not distort them; wall time is printed too.  Every run starts from a fresh model
instance (cold per-type cache: feature computation is included).

1. CoNLL: ``tag_sentences`` on the sentences of the CoNLL file (cold, then warm cache), and
   ``extract_many`` on the sentences joined into pseudo-articles of 25 sentences (tokenising,
   first pass, document features, second pass, marginals and document propagation included).
2. Real articles: ``extract_many`` on the first ``--articles`` non-empty SaudiNewsNet bodies
   (``content`` of ``../shared/corpora/news/saudinewsnet/zips/*.zip``), in batches of 200,
   tokens = ``tokenize`` tokens of the bodies.
Without the corpora, the seed article repeated is used.
"""
from __future__ import annotations

import argparse
import json
import os
import time
import zipfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONLL = ROOT.parent / "shared" / "corpora" / "ner" / "cleananercorp_train.conll"
DEFAULT_SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"


def saudinewsnet_bodies(folder: Path, n: int) -> list[str]:
    out: list[str] = []
    for zp in sorted(folder.glob("*.zip")):
        with zipfile.ZipFile(zp) as z:
            for name in z.namelist():
                for art in json.loads(z.read(name).decode("utf-8")):
                    body = (art.get("content") or "").strip()
                    if body:
                        out.append(body)
                        if len(out) >= n:
                            return out
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conll", default=str(DEFAULT_CONLL))
    ap.add_argument("--saudinewsnet", default=str(DEFAULT_SNN))
    ap.add_argument("--articles", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    from akhbar.tasks.entities.ner import DEFAULT_MODEL_DIR, ArabicNER
    from akhbar.tasks.entities.ner_features import tokenize

    model_dir = Path(a.model) if a.model else DEFAULT_MODEL_DIR
    t = time.process_time()
    ArabicNER._load_uncached(model_dir)
    print(f"load (uncached): {time.process_time() - t:.3f} s CPU")

    if Path(a.conll).exists():
        from akhbar.tasks.entities.ner_train import read_conll

        sents = [toks for toks, _ in read_conll(a.conll) if toks]
        src = a.conll
    else:
        seed = next(p for p in (ROOT / "seeds" / "articles" / "000_05fbb24d40aed679.txt",
                                ROOT.parent / "shared" / "seeds" / "000_05fbb24d40aed679.txt") if p.exists())
        text = seed.read_text(encoding="utf-8")
        sents = [[w for w, _, _ in tokenize(text)]] * 200
        src = "seed article x200"
    n_tok = sum(map(len, sents))
    print(f"data: {src}: {len(sents)} sentences, {n_tok} tokens")
    texts = [" ".join(" ".join(s) for s in sents[i: i + 25]) for i in range(0, len(sents), 25)]
    bodies = saudinewsnet_bodies(Path(a.saudinewsnet), a.articles) if Path(a.saudinewsnet).exists() else []
    n_body = sum(len(tokenize(b)) for b in bodies)
    if bodies:
        print(f"data: SaudiNewsNet: {len(bodies)} article bodies, {n_body} tokens")
    for r in range(a.repeat):
        ner = ArabicNER._load_uncached(model_dir)  # cold per-type cache
        t = time.process_time()
        ner.tag_sentences(sents)
        cold = time.process_time() - t
        t = time.process_time()
        ner.tag_sentences(sents)
        warm = time.process_time() - t
        ner2 = ArabicNER._load_uncached(model_dir)
        t = time.process_time()
        w = time.perf_counter()
        ner2.extract_many(texts)
        ext = time.process_time() - t
        ext_w = time.perf_counter() - w
        line = (f"run {r}: CoNLL tag_sentences cold {n_tok / cold:,.0f} tok/s, warm {n_tok / warm:,.0f} tok/s; "
                f"extract_many (cold, end to end) {n_tok / ext:,.0f} tok/s CPU ({n_tok / ext_w:,.0f} wall)")
        if bodies:
            ner3 = ArabicNER._load_uncached(model_dir)
            t = time.process_time()
            w = time.perf_counter()
            for i in range(0, len(bodies), 200):
                ner3.extract_many(bodies[i: i + 200])
            art = time.process_time() - t
            art_w = time.perf_counter() - w
            line += f"; SaudiNewsNet extract_many (cold) {n_body / art:,.0f} tok/s CPU ({n_body / art_w:,.0f} wall)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
