"""Tagging throughput of the Arabic NER (tokens/s, one process = one core).

    python benchmarks/ner_speed.py [--conll ../shared/corpora/ner/cleananercorp_train.conll] [--repeat 3]

Times are CPU time of this process (time.process_time), i.e. per core, so a busy shared
machine does not distort them; wall time is printed too.

Tags the CoNLL file's sentences with ``ArabicNER.tag_sentences`` (cold cache: a fresh model
instance, so per-type feature computation is included) and reports tokens/s; then the same
with ``extract_many`` on the sentences joined into pseudo-articles of 25 sentences (tokenising,
marginals and document propagation included).  Without the corpus, the seed article repeated is used.
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONLL = ROOT.parent / "shared" / "corpora" / "ner" / "cleananercorp_train.conll"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conll", default=str(DEFAULT_CONLL))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from akhbar.tasks.entities.ner import ArabicNER, DEFAULT_MODEL_DIR
    from akhbar.tasks.entities.ner_features import tokenize

    t = time.process_time()
    ArabicNER._load_uncached(DEFAULT_MODEL_DIR)
    print(f"load (uncached): {time.process_time() - t:.3f} s")

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
    for r in range(a.repeat):
        ner = ArabicNER._load_uncached(DEFAULT_MODEL_DIR)  # cold per-type cache
        t = time.process_time()
        ner.tag_sentences(sents)
        cold = time.process_time() - t
        t = time.process_time()
        ner.tag_sentences(sents)
        warm = time.process_time() - t
        texts = [" ".join(" ".join(s) for s in sents[i: i + 25]) for i in range(0, len(sents), 25)]
        ner2 = ArabicNER._load_uncached(DEFAULT_MODEL_DIR)
        t = time.process_time()
        ner2.extract_many(texts)
        ext = time.process_time() - t
        print(f"run {r}: tag_sentences cold {n_tok / cold:,.0f} tok/s, warm {n_tok / warm:,.0f} tok/s; "
              f"extract_many (tokenize+marginals+doc propagation, cold) {n_tok / ext:,.0f} tok/s")


if __name__ == "__main__":
    main()
