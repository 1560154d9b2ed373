"""Arabic full-text search: a derived DuckDB file holding our own BM25 index over the articles' matching keys.

Why a separate file: DuckLake tables cannot carry an index, and the search must answer in under a
second at a million articles. ``<warehouse>/search.duckdb`` holds one row per article (the display
fields used by results and snippets, a dense ``docid`` and the document length) and an inverted
index: ``terms`` (term → termid) and ``postings`` (per segment and term: the docids and term
frequencies as two lists). It is derived data: delete it and :func:`refresh_search_index` rebuilds
it from ``articles``; ``search_meta`` records which lake snapshot and run it reflects.

Why the text is prepared here: Arabic needs its own tokens. We index the article's *matching key*
(diacritics, tatweel, alef/hamza forms, ى/ي and ة/ه folded, Latin case-folded; see
``tasks.normalize.matching_key``) and each token also contributes its clitic-stripped forms:
``والناتو`` is indexed as ``والناتو الناتو ناتو``, ``لحلف`` as ``لحلف حلف``, ``للناتو`` as
``للناتو الناتو ناتو``. A query is normalized the same way but *not* expanded: «الناتو» finds
والناتو, بالناتو, للناتو, لحلف الناتو; «ناتو» finds those and ناتو alone. Expanding the query too
would turn «والي» (governor) into «الي» (= إلى), one of the commonest words.

Why not DuckDB's ``fts`` extension (it was used until the 1M benchmark): its ``terms`` table has
one row per token *occurrence* and no order, so every query scanned all of it (6.5–8.5 s at a
million articles, a 13 GB file), and it has no incremental update: each publish rebuilt the whole
index (960 s at a million). Here a term's postings are one row per *segment* (the articles indexed
together), written sorted by termid, so DuckDB's zone maps skip every row group that cannot hold the
query's terms; document frequencies are counted from the postings read, so appending a segment is
the whole update. Segments are merged four at a time, level by level (tiered compaction), so a
query reads O(log n) rows per term however small the runs were. The score is Okapi BM25 (k=1.2,
b=0.75; document length = indexed tokens), the formula the extension used.

Why a refresh copies the file: readers ATTACH ``search.duckdb`` READ_ONLY, and DuckDB refuses a
writer while a reader holds the file (and vice versa). A refresh therefore works on a copy and
swaps it in with an atomic rename: open readers keep the old file, new readers see the new one, and
a crash mid-refresh leaves the previous index intact.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock

from akhbar.tasks.normalize import matching_key
from akhbar.warehouse.lake import CATALOG_NAME, Warehouse, WarehouseError, cap_memory

SEARCH_FILE = "search.duckdb"
SEARCH_CATALOG = "search_index"
# Bump when tokenization or expansion changes: an index built by another version is rebuilt.
INDEX_VERSION = "2"
# Segments merged at once (tiered compaction); a query reads at most FANOUT - 1 segments per level.
FANOUT = 4
# Articles tokenized and indexed at once, as one new segment. A segment's statements hold memory
# that DuckDB neither tracks nor spills (the token lists and the postings' list aggregates), so its
# size sets the refresh's peak, which is the flow's own highest point after the last batch. A
# SaudiNewsNet rebuild in a fresh process (base 189 MB): 1,079–1,139 MB with 5,000, 945–954 MB with
# 2,500, 0.4–0.7 s slower, the same postings (docs/benchmarks.md, 2026-12-02).
SEGMENT_ARTICLES = 2_500
_TOKEN = re.compile(r"[^\W_]+")
_CONJ = ("و", "ف")
_PREP = ("ب", "ك", "ل")
_ARTICLE = "ال"
SNIPPET_CHARS = 220


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------

@lru_cache(maxsize=500_000)
def clitic_forms(token: str) -> tuple[str, ...]:
    """The token and the forms it takes with proclitics removed, longest first.

    Proclitics, in the order Arabic attaches them: a conjunction (و ف), a preposition (ب ك ل), the
    article (ال); ``لل`` is ل + ال with the alef dropped. A prefix is only removed when at least three
    letters remain (two after the article), so short words such as ولد or بيت are not gutted.
    """
    forms = [token]

    def add(form: str) -> None:
        if form not in forms:
            forms.append(form)

    def article(word: str) -> None:
        if word.startswith(_ARTICLE) and len(word) - 2 >= 2:
            add(word[2:])

    def preposition(word: str) -> None:
        if word.startswith("لل") and len(word) - 2 >= 2:
            add(_ARTICLE + word[2:])
            add(word[2:])
            return
        if word[:1] in _PREP and len(word) - 1 >= 3:
            add(word[1:])
            article(word[1:])

    if token[:1] in _CONJ and len(token) - 1 >= 3:
        add(token[1:])
        preposition(token[1:])
        article(token[1:])
    preposition(token)
    article(token)
    return tuple(forms)


def tokens(text: str) -> list[str]:
    """Letters-and-digits tokens of the matching key of ``text`` (the index's tokenizer)."""
    return _TOKEN.findall(matching_key(text or ""))


class _IndexedForms(dict):
    """token → its clitic forms joined by spaces, computed on first sight.

    Why a dict with ``__missing__`` rather than the ``lru_cache`` of :func:`clitic_forms`: the
    lookup of each of a text's tokens then runs inside ``map`` and ``str.join`` (C loops), with no
    Python frame per token. The index texts of SaudiNewsNet's 29,864 articles (8.8 M tokens, 2.7 s
    of them finding the tokens) took 8.6–9.2 s through the cached tuples and 5.9–7.0 s this way;
    the refresh 15.3–16.6 s and 13.3–13.9 s (docs/benchmarks.md, 2026-12-02 12:49). Emptied when
    it holds ``limit`` tokens, so its memory stays bounded.
    """

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def __missing__(self, token: str) -> str:
        if len(self) >= self.limit:
            self.clear()
        forms = self[token] = " ".join(clitic_forms.__wrapped__(token))
        return forms


_INDEXED_FORMS = _IndexedForms(limit=500_000)


def index_text(match_key: str) -> str:
    """What is indexed for one article: every token followed by its clitic-stripped forms."""
    return " ".join(map(_INDEXED_FORMS.__getitem__, _TOKEN.findall(match_key or "")))


def query_terms(query: str) -> list[str]:
    """The distinct index terms a query looks up: its normalized tokens, not expanded (see module doc)."""
    seen: list[str] = []
    for token in tokens(query):
        if token not in seen:
            seen.append(token)
    return seen


def snippet(body: str | None, query: str, width: int = SNIPPET_CHARS) -> str:
    """About ``width`` characters of the display body around the first word matching the query.

    Words are compared by their clitic forms, so a hit on «والناتو» for the query «الناتو» is found;
    the text shown is the body as the outlet wrote it (diacritics, hamza and ة kept).
    """
    body = re.sub(r"\s+", " ", body or "").strip()
    terms = set(query_terms(query))
    start = 0
    if terms:
        for match in re.finditer(r"\S+", body):
            if any(terms.intersection(clitic_forms(t)) for t in _TOKEN.findall(matching_key(match.group()))):
                start = match.start()
                break
    if len(body) <= width:
        return body
    begin = max(0, start - width // 3)
    if begin:
        space = body.find(" ", begin)
        begin = space + 1 if 0 <= space < start else begin
    end = min(len(body), begin + width)
    if end < len(body):
        space = body.rfind(" ", begin, end)
        end = space if space > start else end
    return ("…" if begin else "") + body[begin:end].strip() + ("…" if end < len(body) else "")


# ---------------------------------------------------------------------------------------------
# Ranking
# ---------------------------------------------------------------------------------------------

def bm25_sql(catalog: str | None, terms: str, limit: str, k: float = 1.2, b: float = 0.75) -> str:
    """BM25 over the index tables of ``catalog`` (None: the connection's own database).

    ``terms`` and ``limit`` are SQL expressions (a VARCHAR[] and an integer), so the same text
    serves a prepared statement (``?``) and a table macro (parameter names). The top ``limit`` are
    chosen before the display columns are read, and those rows are then fetched by ``rowid``: a
    join on ``docid`` made DuckDB read every body in the table (1.3 s at a million articles, of
    a 1.8 s query on a fresh connection); a ``rowid IN (…)`` filter fetches just those rows.
    """
    p = f"{catalog}." if catalog else ""
    return f"""
        WITH q AS (SELECT DISTINCT unnest({terms}) AS term),
        qt AS (SELECT t.termid FROM {p}terms t SEMI JOIN q USING (term)),
        hits AS (SELECT termid, unnest(docids) AS docid, unnest(tfs) AS tf FROM {p}postings
                 WHERE termid IN (SELECT termid FROM qt)),
        counted AS (SELECT docid, tf, count(*) OVER (PARTITION BY termid) AS df FROM hits),
        st AS (SELECT count(*) AS num_docs, avg(len) AS avgdl FROM {p}docs),
        scored AS (
            SELECT d.rowid AS rid, d.published_at, d.article_id,
                   sum(ln((st.num_docs - c.df + 0.5) / (c.df + 0.5) + 1)
                       * (c.tf * ({k} + 1)) / (c.tf + {k} * (1 - {b} + {b} * d.len / st.avgdl))) AS score
            FROM counted c JOIN {p}docs d USING (docid), st
            GROUP BY d.rowid, d.published_at, d.article_id),
        top AS (SELECT rid, score FROM scored
                ORDER BY score DESC, published_at DESC NULLS LAST, article_id LIMIT {limit}),
        picked AS (SELECT d.rowid AS rid, d.article_id, d.title, d.body, d.source, d.published_at
                   FROM {p}docs d WHERE d.rowid IN (SELECT rid FROM top))
        SELECT p.article_id, p.title, p.body, t.score, p.source, p.published_at
        FROM top t JOIN picked p USING (rid)
        ORDER BY t.score DESC, p.published_at DESC NULLS LAST, p.article_id"""


# ---------------------------------------------------------------------------------------------
# The index file
# ---------------------------------------------------------------------------------------------

@dataclass
class RefreshStats:
    mode: str  # "created" | "rebuilt" | "incremental" | "unchanged"
    added: int
    total: int
    lake_snapshot: int | None
    last_run_id: str | None
    seconds: float
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def search_path(warehouse: Warehouse | Path | str) -> Path:
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    return wh.root / SEARCH_FILE


def _connect_file(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """The index file; writers are memory-capped and spill beside it, readers need only plain SQL."""
    con = duckdb.connect(str(path), read_only=read_only,
                         config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        # Building the index is the big job: capped, spilling beside the file (uncapped, a
        # million-article build took 19 GB of RAM). The cap is lower than the lake writer's: what
        # fills it is the index's own pages, cached until the end of the refresh, so the run's
        # peak grew with the articles it indexed. A 100k-article rebuild peaked at 1,623 MB with
        # 1 GB, 1,071 MB with 256 MB (4% slower), 1,009 MB with 128 MB (13% slower).
        con.execute(f"SET memory_limit = '{os.environ.get('AKHBAR_SEARCH_MEMORY_LIMIT', '256MB')}'")
        con.execute(f"SET temp_directory = '{path}.tmp'")
        con.execute("SET preserve_insertion_order = false")
    return con


_INDEX_DDL = [
    """CREATE TABLE IF NOT EXISTS docs (
         docid INTEGER, article_id VARCHAR PRIMARY KEY, title VARCHAR, body VARCHAR, source VARCHAR,
         published_at TIMESTAMPTZ, run_id VARCHAR, len INTEGER)""",
    "CREATE TABLE IF NOT EXISTS terms (termid INTEGER, term VARCHAR)",
    "CREATE TABLE IF NOT EXISTS postings (segment INTEGER, termid INTEGER, docids INTEGER[], tfs INTEGER[])",
    "CREATE TABLE IF NOT EXISTS segments (segment INTEGER, docs INTEGER, level INTEGER)",
]
_META_DDL = "CREATE TABLE IF NOT EXISTS search_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"


def read_meta(warehouse: Warehouse | Path | str) -> dict[str, str]:
    """What the index reflects (``version``, ``lake_snapshot``, ``last_run_id``, ``articles``, ``built_at``)."""
    path = search_path(warehouse)
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        return dict(con.execute("SELECT key, value FROM search_meta").fetchall())
    except duckdb.Error:
        return {}
    finally:
        con.close()


def _lake_state(con: duckdb.DuckDBPyConnection) -> tuple[int | None, str | None, int]:
    snapshot = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots('{CATALOG_NAME}')").fetchone()[0]
    last_run = con.execute("SELECT max(run_id) FROM articles").fetchone()[0]
    count = con.execute("SELECT count(*) FROM articles").fetchone()[0]
    return snapshot, last_run, count


def refresh_search_index(warehouse: Warehouse | Path | str, rebuild: bool = False) -> RefreshStats:
    """Bring ``<warehouse>/search.duckdb`` up to date with ``articles``; call after each publish.

    Only articles not yet in the index are read from the lake and tokenized. The index is rebuilt
    from scratch when the file is missing or unreadable, was built by another ``INDEX_VERSION``,
    holds articles the lake does not (a recreated warehouse), or ``rebuild`` is true.
    """
    started = time.perf_counter()
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    if not wh.exists():
        raise WarehouseError(f"no warehouse at {wh.root}: run `akhbar run` first (or pass --warehouse)")
    target = search_path(wh)
    with FileLock(str(wh.root / ".search.lock"), timeout=600):
        lake = wh.connect(read_only=True)
        try:
            snapshot, last_run, lake_count = _lake_state(lake)
            meta = read_meta(wh)
            reason = ""
            if rebuild:
                reason = "rebuild requested"
            elif not target.exists():
                reason = "no index yet"
            elif not meta:
                reason = "index unreadable"
            elif meta.get("version") != INDEX_VERSION:
                reason = f"index version {meta.get('version')} != {INDEX_VERSION}"
            elif meta.get("lake_snapshot") == str(snapshot):
                return RefreshStats("unchanged", 0, int(meta.get("articles", 0)), snapshot, last_run,
                                    time.perf_counter() - started)
            _remove_leftovers(wh.root)
            work = target.with_name(f"{SEARCH_FILE}.{os.getpid()}.tmp")
            staging = target.with_name(f"{SEARCH_FILE}.{os.getpid()}.articles.parquet")
            if not reason:
                shutil.copyfile(target, work)
            con = _connect_file(work, read_only=False)
            try:
                for ddl in (*_INDEX_DDL, _META_DDL):
                    con.execute(ddl)
                known = con.execute("SELECT article_id FROM docs").to_arrow_table()
                lake.register("_indexed", known)
                try:  # ids only: indexed articles the lake lacks, and lake articles not indexed
                    orphans, fresh = lake.execute(
                        "SELECT (SELECT count(*) FROM _indexed i ANTI JOIN articles a USING (article_id)), "
                        "(SELECT count(*) FROM articles a ANTI JOIN _indexed i USING (article_id))").fetchone()
                finally:
                    lake.unregister("_indexed")
                if orphans and not reason:
                    reason = f"{orphans} indexed articles are not in the lake"
                    for table in ("docs", "terms", "postings", "segments"):
                        con.execute(f"DELETE FROM {table}")
                    known, fresh = known.slice(0, 0), lake_count
                added = 0
                if fresh:  # else skip the copy: it reads every body in the lake
                    # Read-only connections are uncapped (80% of RAM) and this copy is a run's
                    # biggest lake read. The index writer's 256 MB is too little for it (a
                    # 122,880-row group of bodies at once); with 512 MB or 1 GB it took 420–490 MB
                    # over the process's base for 328,504 articles. So: the lake writer's cap.
                    cap_memory(lake, work.with_name(work.name + ".lake"))
                    try:
                        added = _index_articles(lake, con, known, staging)
                    finally:
                        staging.unlink(missing_ok=True)
                compact(con)
                total = con.execute("SELECT count(*) FROM docs").fetchone()[0]
                meta_rows = {"version": INDEX_VERSION, "lake_snapshot": str(snapshot), "last_run_id": last_run or "",
                             "articles": str(total), "built_at": datetime.now(timezone.utc).isoformat()}
                con.execute("DELETE FROM search_meta")
                con.executemany("INSERT INTO search_meta VALUES (?, ?)", list(meta_rows.items()))
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(work, target)
        finally:
            lake.close()
    mode = ("created" if reason == "no index yet" else "rebuilt") if reason else "incremental"
    return RefreshStats(mode, added, total, snapshot, last_run, time.perf_counter() - started, reason)


def _remove_leftovers(root: Path) -> None:
    """Delete what a refresh that crashed left beside the index: its copy, spill folder and staged articles.

    Safe because it runs under the refresh lock: no other refresh is using them.
    """
    for leftover in root.glob(f"{SEARCH_FILE}.*.*"):
        if not re.fullmatch(re.escape(SEARCH_FILE) + r"\.\d+\..+", leftover.name):
            continue  # not a refresh's own (search.duckdb.wal, say)
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def _index_articles(lake: duckdb.DuckDBPyConnection, con: duckdb.DuckDBPyConnection, indexed: pa.Table,
                    staging: Path, chunk: int = SEGMENT_ARTICLES) -> int:
    """Tokenize the articles not in ``indexed`` (an ``article_id`` table) and index them as one new
    segment per ``chunk`` articles; returns how many were added.

    One pass over the lake: the new articles' columns are copied once into ``staging`` (a Parquet
    file beside the index), selected by an anti-join on the ids already indexed, and the chunks
    are read back from it (listing the new ids first held a million Python strings at 1M).
    Reading each chunk from the lake instead (a semi-join on its ids) scanned every article's body
    per chunk, because article ids are hashes spread over every data file, so a rebuild read the
    lake N/chunk times (200 times at a million articles). Every lake query is still read to the
    end at once: an open result would hold a read lock on a SQLite catalog and make other runs'
    commits fail.

    Bounded memory: one Arrow table of all new bodies overflowed Arrow's 2 GB string buffer at a
    million articles, and DuckDB cannot spill the list aggregates that build a segment's postings
    (20k SaudiNewsNet articles at once exceeded a 1 GB cap; with 5k the million-article build ran
    under it, and a 100k-article rebuild under 256 MB and 128 MB: a segment's size sets it, not
    the index's). The next chunk is read and tokenized in a thread while this one is indexed
    (DuckDB releases the GIL while it indexes).
    """
    lake.register("_indexed", indexed)
    try:
        lake.execute(
            "COPY (SELECT a.article_id, a.title, a.body, a.source, a.published_at, a.run_id, a.match_key "
            f"FROM articles a ANTI JOIN _indexed i USING (article_id)) TO '{staging}' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {chunk})")
    finally:
        lake.unregister("_indexed")
    added = pq.read_metadata(staging).num_rows
    if not added:
        return 0
    chunks = _staged_chunks(staging, chunk)
    with ThreadPoolExecutor(1, thread_name_prefix="search-tokenize") as ahead:
        upcoming = ahead.submit(_next_tokenized, chunks)
        while (rows := upcoming.result()) is not None:
            upcoming = ahead.submit(_next_tokenized, chunks)
            _add_segment(con, rows)
    return added


def _staged_chunks(path: Path, chunk: int) -> Iterator[pa.Table]:
    """The staged articles, ``chunk`` rows at a time (the last chunk holds the rest).

    ``pre_buffer=False``: with Arrow's default, the reader fetches the column chunks of every row
    group ahead, so the staged file ended up in memory whole (Arrow's pool held 223 MB reading a
    161 MB file of 100k articles, and grew with the refresh); without it, one row group at a time
    (84 MB).
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    with pq.ParquetFile(path, pre_buffer=False) as staged:
        for batch in staged.iter_batches(batch_size=chunk):
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk)
                rest = table.slice(chunk)
                pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending)


def _next_tokenized(chunks: Iterator[pa.Table]) -> pa.Table | None:
    """The next chunk's docs columns plus ``text``, its index tokens; None after the last."""
    part = next(chunks, None)
    if part is None:
        return None
    texts = [index_text(mk if mk else matching_key(f"{t or ''}\n{b or ''}"))
             for mk, t, b in zip(part.column("match_key").to_pylist(), part.column("title").to_pylist(),
                                 part.column("body").to_pylist())]
    return part.drop_columns(["match_key"]).append_column("text", pa.array(texts, pa.string()))


def _add_segment(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Index ``rows`` (the docs columns plus ``text``, the indexed tokens) as one level-0 segment."""
    next_doc = con.execute("SELECT coalesce(max(docid), 0) FROM docs").fetchone()[0]
    next_term = con.execute("SELECT coalesce(max(termid), 0) FROM terms").fetchone()[0]
    segment = con.execute("SELECT coalesce(max(segment), 0) + 1 FROM segments").fetchone()[0]
    con.register("_new_docs", rows)
    try:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _chunk AS
            SELECT {next_doc} + row_number() OVER (ORDER BY article_id) AS docid, *,
                   list_filter(string_split(text, ' '), x -> x <> '') AS toks
            FROM _new_docs""")
    finally:
        con.unregister("_new_docs")
    con.execute("""INSERT INTO docs SELECT docid, article_id, title, body, source, published_at, run_id, len(toks)
                   FROM _chunk""")
    con.execute("""CREATE OR REPLACE TEMP TABLE _tf AS
        SELECT docid, term, count(*)::INTEGER AS tf FROM (SELECT docid, unnest(toks) AS term FROM _chunk)
        GROUP BY docid, term""")
    con.execute(f"""INSERT INTO terms
        SELECT {next_term} + row_number() OVER (ORDER BY term), term
        FROM (SELECT DISTINCT term FROM _tf) n ANTI JOIN terms USING (term)""")
    con.execute(f"""INSERT INTO postings
        SELECT {segment}, t.termid, list(f.docid), list(f.tf)
        FROM _tf f JOIN terms t USING (term) GROUP BY t.termid ORDER BY t.termid""")
    con.execute(f"INSERT INTO segments SELECT {segment}, count(*), 0 FROM _chunk")
    con.execute("DROP TABLE _chunk")
    con.execute("DROP TABLE _tf")


def compact(con: duckdb.DuckDBPyConnection, fanout: int = FANOUT) -> int:
    """Merge ``fanout`` segments of the same level into one of the next level, until none are left.

    Why: every refresh appends segments, each sorted by termid on its own, so a term's postings are
    scattered over one row group per segment and a query would read them all. A merge rewrites
    the segments' rows as one run sorted by termid (a term's rows become adjacent, and zone maps
    skip the rest). Rows are not concatenated per term: that would be a list aggregate DuckDB cannot
    spill, while a sort spills to disk. Merging equal levels rewrites each posting only
    log_fanout(n) times. Returns the number of merges.
    """
    merges = 0
    while True:
        row = con.execute(f"""SELECT level, list(segment ORDER BY segment)[1:{fanout}] FROM segments
                              GROUP BY level HAVING count(*) >= {fanout} ORDER BY level LIMIT 1""").fetchone()
        if row is None:
            return merges
        level, parts = row
        merged = con.execute("SELECT max(segment) + 1 FROM segments").fetchone()[0]
        listed = ", ".join(str(int(p)) for p in parts)
        con.execute("BEGIN")
        con.execute(f"""INSERT INTO postings SELECT {merged}, termid, docids, tfs FROM postings
                        WHERE segment IN ({listed}) ORDER BY termid""")
        con.execute(f"DELETE FROM postings WHERE segment IN ({listed})")
        con.execute(f"""INSERT INTO segments SELECT {merged}, sum(docs), {level + 1} FROM segments
                        WHERE segment IN ({listed})""")
        con.execute(f"DELETE FROM segments WHERE segment IN ({listed})")
        con.execute("COMMIT")
        merges += 1


def is_stale(warehouse: Warehouse | Path | str) -> bool:
    """Whether the index is missing, from another version, or behind the lake's latest snapshot."""
    wh = warehouse if isinstance(warehouse, Warehouse) else Warehouse(warehouse)
    meta = read_meta(wh)
    if not meta or meta.get("version") != INDEX_VERSION:
        return True
    con = wh.connect(read_only=True)
    try:
        snapshot = con.execute(f"SELECT max(snapshot_id) FROM ducklake_snapshots('{CATALOG_NAME}')").fetchone()[0]
    finally:
        con.close()
    return meta.get("lake_snapshot") != str(snapshot)


# ---------------------------------------------------------------------------------------------
# Searching
# ---------------------------------------------------------------------------------------------

SEARCH_COLUMNS = ["article_id", "title", "snippet", "score", "source", "published_at"]


def search(warehouse: Warehouse | Path | str, query: str, limit: int = 20) -> list[dict[str, Any]]:
    """Ranked (BM25) articles for an Arabic or Latin-script query, best first.

    Each row: ``article_id, title, snippet, score, source, published_at``. The index must exist
    (:func:`refresh_search_index`); it is read as is, even if a newer publish is not in it yet.
    """
    path = search_path(warehouse)
    if not path.exists():
        raise WarehouseError(f"no search index at {path}: run refresh_search_index (or `akhbar search`, "
                             "which builds it)")
    terms = query_terms(query)
    if not terms:
        return []
    con = _connect_file(path, read_only=True)
    try:
        rows = con.execute(bm25_sql(None, "?::VARCHAR[]", "?"), [terms, int(limit)]).fetchall()
    finally:
        con.close()
    return [dict(zip(SEARCH_COLUMNS, (aid, title, snippet(body, query), score, source, published)))
            for aid, title, body, score, source, published in rows]


def attach_search(con: duckdb.DuckDBPyConnection, warehouse: Warehouse | Path | str,
                  lake_articles_only: bool = False) -> bool:
    """Make ``search('query')`` usable in SQL on ``con`` (the read-only ``akhbar sql`` session).

    ATTACHes ``search.duckdb`` READ_ONLY as ``search_index``; call it
    before ``enable_external_access``/``lock_configuration`` are set. Registers two Python
    functions (``akhbar_query_terms``, ``akhbar_snippet``: the same normalization as the index) and
    the temporary table macro ``search(query, lim := 20)`` returning
    ``article_id, title, snippet, score, source, published_at``. Without an index file, ``search``
    is still defined and fails with a message saying how to build it. Returns whether it attached.

    ``lake_articles_only`` (sessions on a past snapshot): the index reflects the current lake, so
    hits are limited to articles the attached snapshot holds (scores stay those of the current index).
    """
    path = search_path(warehouse)
    attached = False
    if path.exists():
        try:
            con.execute(f"ATTACH '{path}' AS {SEARCH_CATALOG} (READ_ONLY)")
            attached = True
        except duckdb.Error:
            attached = False  # being replaced or unreadable: the session works, search() explains
    con.create_function("akhbar_query_terms", query_terms, ["VARCHAR"], "VARCHAR[]", side_effects=False)
    con.create_function("akhbar_snippet", lambda body, q: snippet(body, q), ["VARCHAR", "VARCHAR"], "VARCHAR",
                        side_effects=False)
    if attached:
        body = bm25_sql(SEARCH_CATALOG, "akhbar_query_terms(query)", "lim")
        restrict = f" WHERE article_id IN (SELECT article_id FROM {CATALOG_NAME}.articles)" if lake_articles_only else ""
        con.execute(f"""CREATE OR REPLACE TEMP MACRO search(query, lim := 20) AS TABLE
            SELECT article_id, title, akhbar_snippet(body, query) AS snippet, score, source, published_at
            FROM ({body}){restrict}""")
    else:
        message = f"no search index at {path}: run `akhbar search` once (it builds the index)"
        con.execute(f"""CREATE OR REPLACE TEMP MACRO search(query, lim := 20) AS TABLE
            SELECT error('{message}')::VARCHAR AS article_id, NULL::VARCHAR AS title, NULL::VARCHAR AS snippet,
                   NULL::DOUBLE AS score, NULL::VARCHAR AS source, NULL::TIMESTAMPTZ AS published_at
            WHERE query IS NOT NULL LIMIT lim""")
    return attached
