"""Measure the cleaning stage on SaudiNewsNet (31,030 articles) against the I/O floor.

Run from the project root:  .venv/bin/python benchmarks/clean_saudinewsnet.py [--zips DIR]

Reads the day zips directly (zipfile + json), then reports: exact-duplicate groups by hashing
(raw, whitespace-folded, matching_key), template learning and cleaning throughput, leftover
wire sign-offs and SMS contact blocks, removals by reason, languages, near-duplicate clusters
(with a sample to inspect by eye), peak RSS, and DuckDB's JSON → zstd Parquet time on the same
data as the I/O floor. The corpus is CC BY-NC-SA: it is read from ../shared, never copied; only
titles of sampled clusters are printed to the terminal.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import tempfile
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

from akhbar.tasks.clean import TemplateStats, clean_article
from akhbar.tasks.language import detect_languages
from akhbar.tasks.neardup import NearDupIndex, shingles
from akhbar.tasks.normalize import matching_key

DEFAULT_ZIPS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"
WIRE_SIGNOFF = re.compile(r"//\s*[اإ]نتهى\s*//")
# An SMS contact block: a short code instruction. Independent of the cleaner's own rules.
SMS_BLOCK = re.compile(r"بالرمز\s*\(?\d+\)?\s*(?:ثم\s*)?مسافة|(?i:sms)\s*(?:إلى|الى)\s*88\d{3}|\d{5,6}\s*-\s*(?:Stc|Mobily|Zain)")


def load_articles(zips: Path) -> list[dict[str, str]]:
    articles: list[dict[str, str]] = []
    for path in sorted(zips.glob("*.zip")):
        with zipfile.ZipFile(path) as zf:
            for name in zf.namelist():
                articles.extend(json.loads(zf.read(name)))
    return articles


def duplicate_groups(keys: list[str]) -> tuple[int, int]:
    """(groups with >1 member, extra copies) among non-empty keys."""
    counts = Counter(hashlib.blake2b(k.encode(), digest_size=16).digest() for k in keys if k)
    dup = [n for n in counts.values() if n > 1]
    return len(dup), sum(n - 1 for n in dup)


def io_floor(zips: Path) -> float:
    """DuckDB reading the same JSON (extracted first) and writing zstd Parquet, in seconds."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(zips.glob("*.zip")):
            with zipfile.ZipFile(path) as zf:
                zf.extractall(Path(tmp) / path.stem)
        start = time.perf_counter()
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * FROM read_json_auto('{tmp}/*/*', format='array')) "
            f"TO '{tmp}/out.parquet' (FORMAT parquet, COMPRESSION zstd)"
        )
        n = con.execute(f"SELECT count(*) FROM '{tmp}/out.parquet'").fetchone()[0]
        elapsed = time.perf_counter() - start
        con.close()
    print(f"  duckdb rows written: {n}")
    return elapsed


def minhash_speed(keys: list[str], index: NearDupIndex) -> None:
    """Signatures per second: this module's numpy MinHash vs datasketch's update_batch."""
    from datasketch import MinHash

    grams = [sorted(shingles(k, index.shingle)) for k in keys if k]
    index._signature_of(grams[0])  # warm-up
    start = time.perf_counter()
    for g in grams:
        index._signature_of(g)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for g in grams:
        m = MinHash(num_perm=index.num_perm, seed=1)
        m.update_batch([s.encode("utf-8") for s in g])
    theirs = time.perf_counter() - start
    print(f"  MinHash on {len(grams)} bodies: numpy {len(grams) / ours:,.0f}/s, datasketch {len(grams) / theirs:,.0f}/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zips", type=Path, default=DEFAULT_ZIPS)
    parser.add_argument("--threshold", type=float, default=0.8)
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()}")

    start = time.perf_counter()
    articles = load_articles(args.zips)
    load_s = time.perf_counter() - start
    print(f"loaded {len(articles)} articles in {load_s:.1f}s")

    raw = [a["content"] or "" for a in articles]
    print("exact-duplicate bodies (groups, extra copies), empty bodies excluded:")
    print(f"  raw content stripped:     {duplicate_groups([r.strip() for r in raw])}")
    print(f"  whitespace folded:        {duplicate_groups([' '.join(r.split()) for r in raw])}")
    print(f"  matching_key(raw):        {duplicate_groups([matching_key(r) for r in raw])}")
    print(f"  empty bodies: {sum(not r.strip() for r in raw)}")

    start = time.perf_counter()
    stats = TemplateStats()
    for a in articles:
        stats.observe(a["source"], a["content"] or "")
    observe_s = time.perf_counter() - start

    start = time.perf_counter()
    cleaned = [clean_article(a["title"], a["content"] or "", templates=stats, source=a["source"]) for a in articles]
    clean_s = time.perf_counter() - start
    n = len(articles)
    print(f"template learning: {observe_s:.1f}s ({n / observe_s:,.0f} articles/s); rows persisted: {len(stats.to_rows())}")
    print(f"cleaning: {clean_s:.1f}s ({n / clean_s:,.0f} articles/s); learn+clean {n / (observe_s + clean_s):,.0f} articles/s")
    print(f"  exact dups on matching_key(cleaned body): {duplicate_groups([matching_key(c.body) for c in cleaned])}")

    reasons = Counter(r.reason for c in cleaned for r in c.removed)
    print(f"removed lines by reason: {dict(reasons)}")
    print(f"bodies with «// انتهى //»: raw {sum(bool(WIRE_SIGNOFF.search(r)) for r in raw)}, "
          f"cleaned {sum(bool(WIRE_SIGNOFF.search(c.body)) for c in cleaned)}")
    print(f"bodies with an SMS contact block: raw {sum(bool(SMS_BLOCK.search(r)) for r in raw)}, "
          f"cleaned {sum(bool(SMS_BLOCK.search(c.body)) for c in cleaned)}")
    for c, a in zip(cleaned, articles):
        m = SMS_BLOCK.search(c.body)
        if m:
            print(f"    left: {a['source']}: {c.body[max(0, m.start() - 40):m.end() + 40]!r}")

    start = time.perf_counter()
    langs = detect_languages([c.body for c in cleaned])
    lang_s = time.perf_counter() - start
    print(f"languages ({n / lang_s:,.0f} articles/s): {Counter(code for code, _ in langs).most_common(6)}")

    rss_clean = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    keys = [matching_key(c.body) for c in cleaned]
    index = NearDupIndex(threshold=args.threshold)
    minhash_speed(keys[:3000], NearDupIndex(threshold=args.threshold))
    start = time.perf_counter()
    batch = [(str(i), k) for i, k in enumerate(keys)]
    result = index.assign(batch)
    dedup_s = time.perf_counter() - start
    members: dict[str, list[str]] = defaultdict(list)
    for article_id, assignment in result.items():
        members[assignment.cluster_id].append(article_id)
    multi = {cid: ids for cid, ids in members.items() if len(ids) > 1}
    near = [cid for cid, ids in multi.items() if any(result[i].similarity < 1.0 for i in ids)]
    print(f"near-duplicates (Jaccard of 3-word shingles >= {args.threshold}, bands×rows {index._bands}×{index._rows}): "
          f"{len(multi)} clusters of >1 article covering {sum(map(len, multi.values()))} articles, "
          f"{len(near)} of them with a non-identical member; {dedup_s:.1f}s ({n / dedup_s:,.0f} articles/s)")
    rng = random.Random(7)
    for cid in rng.sample(sorted(near), min(5, len(near))):
        print(f"  cluster {cid}:")
        for i in multi[cid][:6]:
            a, r = articles[int(i)], result[i]
            print(f"    {a['source']:<13} sim={r.similarity:.2f} {a['title'][:90]}")

    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    floor = io_floor(args.zips)
    print(f"peak RSS: {rss_clean:.0f} MB after cleaning, {rss_peak:.0f} MB after near-dup (before DuckDB)")
    print(f"I/O floor (DuckDB JSON → zstd Parquet): {floor:.2f}s; cleaning {clean_s:.1f}s = {clean_s / floor:.1f}× the floor "
          f"(learn+clean {(observe_s + clean_s) / floor:.1f}×)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
