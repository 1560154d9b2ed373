"""Synthetic corpora built from real SaudiNewsNet text, for the scaling benchmarks.

    .venv/bin/python benchmarks/synth.py 10000 /tmp/synth10k      # writes /tmp/synth10k/part-*.jsonl

Each article recombines 3–6 real paragraphs drawn from the whole corpus (so vocabulary, length and
entity density are those of real news), gets a real headline, an outlet and a date in July–August
2015, and one planted sentence naming a reference entity from seeds/entities.csv. One article in
twenty is a planted near-duplicate of an earlier one (a few words changed, another outlet), one in
a hundred an exact duplicate. Deterministic for a given size and seed. Nothing is written into
the project; the corpus never leaves the temporary directory you give.

Dates are spread at random over 56 days by default, so every batch touches every day: the worst
case for the gold tables, which are sorted by day. ``--per-day N`` dates the articles in order
instead, N a day from 2015-07-01 (SaudiNewsNet has ~1,700 a day), as a feed or a day-by-day
archive arrives; the text is the same as without it.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import zipfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNN = ROOT.parent / "shared" / "corpora" / "news" / "saudinewsnet" / "zips"
PER_FILE = 10_000
FIRST_DAY = datetime(2015, 7, 1)


def real_text(zips: list[Path]) -> tuple[list[str], list[str], list[str]]:
    """Paragraphs, titles and outlets of the real corpus."""
    paragraphs: list[str] = []
    titles: list[str] = []
    sources: set[str] = set()
    for z in zips:
        with zipfile.ZipFile(z) as archive:
            for name in archive.namelist():
                for row in json.loads(archive.read(name)):
                    body = (row.get("content") or "").strip()
                    if not body:
                        continue
                    paragraphs += [p.strip() for p in body.split("\n") if len(p.split()) >= 8]
                    if row.get("title"):
                        titles.append(row["title"].strip())
                    sources.add(row.get("source") or "unknown")
    return paragraphs, titles, sorted(sources)


def planted_entities() -> list[str]:
    with (ROOT / "seeds" / "entities.csv").open(encoding="utf-8") as f:
        return [row["name_ar"] for row in csv.DictReader(f) if row.get("name_ar")]


def articles(n: int, seed: int = 7, per_day: int | None = None) -> Iterator[dict[str, str]]:
    zips = sorted(SNN.glob("*.zip"))
    if not zips:
        raise SystemExit(f"SaudiNewsNet not found under {SNN}")
    paragraphs, titles, sources = real_text(zips)
    names = planted_entities()
    rng = random.Random(seed)
    made: list[dict[str, str]] = []
    for i in range(n):
        if made and i % 100 == 99:
            yield dict(rng.choice(made[-1000:]))  # exact duplicate (same bytes)
            continue
        if made and i % 20 == 19:
            base = dict(rng.choice(made[-1000:]))
            words = base["content"].split(" ")
            for _ in range(max(1, len(words) // 40)):
                words[rng.randrange(len(words))] = rng.choice(["أيضا", "كذلك", "اليوم", "أمس"])
            base.update(content=" ".join(words), source=rng.choice(sources), url=f"https://synth.example/{i}")
            yield base
            continue
        body = "\n".join(rng.sample(paragraphs, rng.randint(3, 6)))
        planted = f"وقال {rng.choice(names)} إن الاجتماع مع {rng.choice(names)} كان مثمرا."
        source = rng.choice(sources)
        date = f"2015-{rng.choice(['07', '08'])}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:00:00"
        if per_day:  # the same draws as without it, so the text is the same
            date = (FIRST_DAY + timedelta(days=i // per_day)).strftime("%Y-%m-%d ") + date[-8:]
        article = {
            "source": source,
            "url": f"https://synth.example/{i}",
            "date_extracted": date,
            "title": rng.choice(titles),
            "content": f"{body}\n{planted}",
        }
        made.append(article)
        if len(made) > 5000:
            del made[:1000]
        yield article


def write_corpus(n: int, out: Path, seed: int = 7, per_day: int | None = None) -> list[Path]:
    """Write ``n`` articles as JSONL files of PER_FILE lines; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    handle = None
    for i, article in enumerate(articles(n, seed, per_day)):
        if i % PER_FILE == 0:
            if handle:
                handle.close()
            files.append(out / f"part-{i // PER_FILE:04d}.jsonl")
            handle = files[-1].open("w", encoding="utf-8")
        assert handle is not None
        handle.write(json.dumps(article, ensure_ascii=False) + "\n")
    if handle:
        handle.close()
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, help="number of articles")
    parser.add_argument("out", type=Path, help="output directory (JSONL files)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--per-day", type=int, help="date the articles in order, this many a day (default: at random)")
    args = parser.parse_args()
    files = write_corpus(args.n, args.out, args.seed, args.per_day)
    print(f"{args.n:,} articles in {len(files)} file(s) under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
