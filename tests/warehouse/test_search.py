"""Arabic full-text search: spelling variants, clitics, BM25 ranking, incremental refresh, SQL surface."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from akhbar.tasks.normalize import matching_key, normalize_display
from akhbar.warehouse.lake import Warehouse
from akhbar.warehouse.schema import ARTICLES
from akhbar.warehouse.search import (attach_search, clitic_forms, index_text, query_terms, read_meta,
                                     refresh_search_index, search)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _article(title: str, body: str, source: str = "test", run_id: str = "r1") -> dict:
    title, body = normalize_display(title), normalize_display(body)
    key = matching_key(f"{title}\n{body}")
    return {"article_id": hashlib.blake2b(key.encode(), digest_size=16).hexdigest(), "source": source,
            "title": title, "body": body, "match_key": key, "published_at": NOW, "ingested_at": NOW,
            "run_id": run_id, "language": "ar"}


def _publish(wh: Warehouse, rows: list[dict]) -> None:
    con = wh.connect()
    con.execute(ARTICLES.ddl())  # search reads only this table
    wh.publish(con, {"articles": ARTICLES.from_rows(rows)})
    con.close()


@pytest.fixture(scope="module")
def seed_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[Warehouse, dict]:
    """A lake whose one article is the seed, cut so its only NATO mention is «لحلف الناتو».

    Shared by the module; the test that adds articles runs last (pytest keeps file order).
    """
    seed_text = (Path(__file__).resolve().parents[2] / "seeds" / "articles" / "000_05fbb24d40aed679.txt"
                 ).read_text(encoding="utf-8")
    title, body = seed_text.split("\n", 1)
    body = body.replace("أردوغان الناتو لدعم", "أردوغان لدعم").replace("أردوغان الناتو على", "أردوغان على")
    assert "لحلف الناتو" in body and body.count("الناتو") == 1
    seed = _article(title, body, source="seed")
    wh = Warehouse(tmp_path_factory.mktemp("search") / "wh")
    _publish(wh, [seed])
    refresh_search_index(wh)
    return wh, seed


def test_clitic_forms() -> None:
    assert clitic_forms("والناتو") == ("والناتو", "الناتو", "ناتو")
    assert "الناتو" in clitic_forms("بالناتو") and "الناتو" in clitic_forms("للناتو")
    assert clitic_forms("لحلف") == ("لحلف", "حلف")
    assert clitic_forms("ولد") == ("ولد",)  # too short to strip
    assert index_text("لحلف الناتو") == "لحلف حلف الناتو ناتو"


def test_nato_finds_seed_via_lhilf_alnato(seed_only) -> None:
    wh, seed = seed_only
    hits = search(wh, "الناتو")
    assert [h["article_id"] for h in hits] == [seed["article_id"]]
    assert "لحلف الناتو" in hits[0]["snippet"]
    assert set(hits[0]) == {"article_id", "title", "snippet", "score", "source", "published_at"}


@pytest.mark.parametrize("query", ["النّاتُو", "النـــاتو", "ناتو", "NATO الناتو"])
def test_diacritics_tatweel_and_article_do_not_matter(seed_only, query: str) -> None:
    wh, seed = seed_only
    assert search(wh, query)[0]["article_id"] == seed["article_id"]


def test_hamza_ya_and_ta_marbuta_variants(seed_only) -> None:
    wh, seed = seed_only
    for query in ("اردوغان", "إردوغان", "الحكومه الليبيه", "مجلس الامن الدولى"):
        assert search(wh, query)[0]["article_id"] == seed["article_id"], query
    assert query_terms("أَرْدُوغان") == query_terms("اردوغان") == ["اردوغان"]


def test_search_as_sql_table_function_in_locked_session(seed_only) -> None:
    wh, seed = seed_only
    con = wh.connect(read_only=True)
    assert attach_search(con, wh)
    con.execute("SET allowed_directories = ?", [[f"{wh.data_path}/"]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    rows = con.execute("SELECT s.article_id, a.source FROM search('النّاتو', lim := 5) s "
                       "JOIN articles a USING (article_id)").fetchall()
    assert rows == [(seed["article_id"], "seed")]
    con.close()


def test_ranking_and_incremental_refresh(seed_only) -> None:
    wh, seed = seed_only
    strong = _article("الناتو والناتو", "اجتمع وزراء الناتو. وقال الأمين العام للناتو إن بالناتو قوة.",
                      source="b", run_id="r2")
    weak = _article("خبر اقتصادي", "ارتفعت أسعار النفط اليوم في الأسواق العالمية بعد قرار الناتو " + "وقال " * 60,
                    source="c", run_id="r2")
    other = _article("الرياض", "أمطار غزيرة على الرياض.", source="d", run_id="r2")
    before = read_meta(wh)
    _publish(wh, [strong, weak, other])
    stats = refresh_search_index(wh)
    assert (stats.mode, stats.added, stats.total) == ("incremental", 3, 4)
    assert read_meta(wh)["lake_snapshot"] != before["lake_snapshot"]
    hits = search(wh, "الناتو")
    assert hits[0]["article_id"] == strong["article_id"]
    assert {h["article_id"] for h in hits} == {strong["article_id"], weak["article_id"], seed["article_id"]}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert refresh_search_index(wh).mode == "unchanged"
    (wh.root / "search.duckdb").unlink()
    assert refresh_search_index(wh).mode == "created"
    assert len(search(wh, "الناتو")) == 3


def _reference_bm25(docs: dict[str, str], query: list[str], k: float = 1.2, b: float = 0.75) -> dict[str, float]:
    """Okapi BM25 written out plainly, to check the SQL against."""
    import math

    toks = {d: text.split() for d, text in docs.items()}
    avgdl = sum(len(t) for t in toks.values()) / len(toks)
    scores: dict[str, float] = {}
    for term in set(query):
        df = sum(term in t for t in toks.values())
        if not df:
            continue
        idf = math.log((len(toks) - df + 0.5) / (df + 0.5) + 1)
        for d, t in toks.items():
            tf = t.count(term)
            if tf:
                scores[d] = scores.get(d, 0.0) + idf * tf * (k + 1) / (tf + k * (1 - b + b * len(t) / avgdl))
    return scores


def test_segments_compaction_and_scores_match_plain_bm25() -> None:
    """Many small refreshes (one segment each) merge level by level; scores stay plain BM25."""
    import duckdb
    import pyarrow as pa

    from akhbar.warehouse import search as s

    words = ["الناتو", "حلف", "روسيا", "تركيا", "السعودية", "النفط", "الرياض", "موسكو", "وزير", "قال"]
    docs = {f"a{i:03d}": " ".join(words[(i * j + j * j) % len(words)] for j in range(3 + i % 7))
            for i in range(70)}
    con = duckdb.connect()
    for ddl in s._INDEX_DDL:
        con.execute(ddl)
    ids = sorted(docs)
    for i in range(0, len(ids), 3):  # 24 refreshes of 3 articles (the last of 1)
        part = ids[i:i + 3]
        s._add_segment(con, pa.table({
            "article_id": part, "title": part, "body": [docs[a] for a in part], "source": ["t"] * len(part),
            "published_at": pa.array([NOW] * len(part), pa.timestamp("us", tz="UTC")),
            "run_id": ["r"] * len(part), "text": [docs[a] for a in part]}))
    assert con.execute("SELECT count(*) FROM segments").fetchone()[0] == 24
    assert s.compact(con) == 7  # 24 at level 0 → 6 at level 1 → one of level 2 (4 × 12) and two left at 1
    levels = sorted(con.execute("SELECT level, docs FROM segments").fetchall())
    assert levels == [(1, 10), (1, 12), (2, 48)], levels
    postings = con.execute("SELECT termid, docids, tfs FROM postings").fetchall()
    assert sum(len(d) for _, d, _ in postings) == con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT docid, term FROM (SELECT a.docid, unnest(string_split(b.body, ' ')) "
        "AS term FROM docs a JOIN docs b USING (docid)))").fetchone()[0]
    for query in (["الناتو"], ["روسيا", "تركيا"], ["وزير", "قال", "النفط"], ["غير_موجود"]):
        got = {r[0]: r[3] for r in con.execute(s.bm25_sql(None, "?::VARCHAR[]", "100"), [query]).fetchall()}
        want = _reference_bm25(docs, query)
        assert got.keys() == want.keys()
        assert all(abs(got[d] - want[d]) < 1e-9 for d in want)


def test_index_writer_has_its_own_smaller_memory_cap(tmp_path: Path, monkeypatch) -> None:
    """The refresh caches the index's own new pages up to its cap: with the lake writer's 1 GB the
    flow's peak grew with the articles indexed, so the index writer is capped apart (256 MB)."""
    from akhbar.warehouse.search import _connect_file

    def cap() -> str:
        con = _connect_file(tmp_path / "s.duckdb", read_only=False)
        try:
            return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        finally:
            con.close()

    monkeypatch.delenv("AKHBAR_SEARCH_MEMORY_LIMIT", raising=False)
    monkeypatch.setenv("AKHBAR_DUCKDB_MEMORY_LIMIT", "2GB")  # the lake writer's cap does not apply
    assert cap() == "244.1 MiB"  # 256 MB
    monkeypatch.setenv("AKHBAR_SEARCH_MEMORY_LIMIT", "512MB")
    assert cap() == "488.2 MiB"


def test_the_refresh_reads_the_lake_under_the_writer_cap(tmp_path: Path, monkeypatch) -> None:
    """Read-only connections default to 80% of RAM; the refresh's copy of every new article is
    the run's biggest lake read, so its connection gets the lake writer's cap."""
    from akhbar.warehouse.lake import cap_memory

    wh = Warehouse(tmp_path / "wh")
    _publish(wh, [_article("خبر", "قال الوزير إن الناتو اجتمع.")])
    monkeypatch.setenv("AKHBAR_DUCKDB_MEMORY_LIMIT", "2GB")
    lake = wh.connect(read_only=True)
    try:
        assert lake.execute("SELECT current_setting('memory_limit')").fetchone()[0] != "1.8 GiB"
        cap_memory(lake, tmp_path / "spill")
        assert lake.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "1.8 GiB"
    finally:
        lake.close()


def test_a_refresh_reads_the_lake_once_however_many_chunks(tmp_path: Path) -> None:
    """Article ids are hashes spread over every data file, so reading each chunk from the lake by
    its ids scanned every body once per chunk (O(N²/chunk) for a rebuild). The new articles are
    copied out once and the chunks read back from that copy: one lake query for any chunk count."""
    from akhbar.warehouse import search as s

    wh = Warehouse(tmp_path / "wh")
    rows = [_article(f"خبر رقم {i}", f"قال الوزير في اليوم {i} إن الناتو اجتمع.") for i in range(7)]
    _publish(wh, rows)
    lake = wh.connect(read_only=True)
    index = s._connect_file(tmp_path / "index.duckdb", read_only=False)
    for ddl in s._INDEX_DDL:
        index.execute(ddl)

    class Counting:
        """The lake connection, counting the statements run on it."""

        def __init__(self) -> None:
            self.statements = 0

        def execute(self, *args):
            self.statements += 1
            return lake.execute(*args)

        def __getattr__(self, name: str):
            return getattr(lake, name)

    counting = Counting()
    staging = tmp_path / "staged.parquet"
    ids = sorted(r["article_id"] for r in rows)
    none_indexed = pa.table({"article_id": pa.array([], pa.string())})
    assert s._index_articles(counting, index, none_indexed, staging, chunk=2) == 7
    lake.close()
    assert counting.statements == 1
    assert sorted(index.execute("SELECT docs FROM segments").fetchall()) == [(1,), (2,), (2,), (2,)]
    assert sorted(r[0] for r in index.execute("SELECT article_id FROM docs").fetchall()) == ids
    assert index.execute("SELECT count(DISTINCT docid) FROM docs").fetchone()[0] == 7
    index.close()


def test_a_refresh_with_no_new_article_copies_nothing(tmp_path: Path, monkeypatch) -> None:
    """The copy of new articles reads every body in the lake; when the lake moved on without new
    articles (another table written), the refresh counts ids and skips it."""
    from akhbar.warehouse import search as s

    wh = Warehouse(tmp_path / "wh")
    _publish(wh, [_article("خبر", "قال الوزير إن الناتو اجتمع.")])
    assert refresh_search_index(wh).added == 1
    con = wh.connect()
    con.execute("CREATE TABLE notes AS SELECT 1 AS x")  # a new lake snapshot, no new article
    con.close()

    def no_copy(*args):
        raise AssertionError("copied the lake's articles with nothing new to index")

    monkeypatch.setattr(s, "_index_articles", no_copy)
    stats = refresh_search_index(wh)
    assert (stats.mode, stats.added, stats.total) == ("incremental", 0, 1)
    assert search(wh, "الناتو")


def test_staged_articles_are_read_a_row_group_at_a_time(tmp_path: Path) -> None:
    """Arrow's reader by default fetches every row group's bytes ahead, so the staged copy of all
    new articles (a million at a full rebuild) sat in memory whole. Read back, the chunks must
    hold a few row groups at most, however big the file."""
    import os

    import pyarrow.parquet as pq

    from akhbar.warehouse import search as s

    path, rows = tmp_path / "staged.parquet", 2000
    texts = [os.urandom(500).hex() for _ in range(rows)]  # incompressible: ~2 MB a row group
    with pq.ParquetWriter(path, pa.schema([("body", pa.string())]), compression="zstd") as writer:
        for _ in range(40):
            writer.write_table(pa.table({"body": texts}), row_group_size=rows)
    pool = pa.default_memory_pool()
    base, peak, seen = pool.bytes_allocated(), 0, 0
    for part in s._staged_chunks(path, rows):
        peak, seen = max(peak, pool.bytes_allocated() - base), seen + part.num_rows
    assert seen == 40 * rows
    assert peak < path.stat().st_size / 4


def test_a_refresh_removes_what_a_crashed_refresh_left(seed_only) -> None:
    """A refresh killed mid-way leaves its copy, spill folder and staged articles (named by its pid);
    the next refresh, holding the lock, removes them and leaves other files alone."""
    wh, _ = seed_only
    (wh.root / "search.duckdb.4242.tmp").write_bytes(b"half an index")
    (wh.root / "search.duckdb.4242.articles.parquet").write_bytes(b"half a copy")
    (wh.root / "search.duckdb.4242.tmp.tmp").mkdir()
    (wh.root / "search.duckdb.4242.tmp.tmp" / "spill.block").write_bytes(b"x")
    (wh.root / "search.duckdb.notes.txt").write_text("a user's file")
    refresh_search_index(wh, rebuild=True)
    assert sorted(p.name for p in wh.root.glob("search.duckdb*")) == ["search.duckdb", "search.duckdb.notes.txt"]
    assert search(wh, "الناتو")
