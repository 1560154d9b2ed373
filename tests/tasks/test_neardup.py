from __future__ import annotations

import numpy as np

from akhbar.tasks.neardup import (
    NearDupIndex,
    jaccard,
    optimal_bands,
    shingles,
    signature_bytes,
    signature_from_bytes,
)
from akhbar.tasks.normalize import matching_key

BASE = (
    "قال وزير الدفاع إن بلاده تأمل في تعميق العلاقات العسكرية مع ليبيا خلال الفترة المقبلة "
    "وأضاف أن التعاون سيشمل التدريب والتسليح والصيانة وتبادل الخبرات بين البلدين في مجالات عدة "
    "وأكد أن الزيارة هي الخطوة الأولى في الحفاظ على تعاون شامل بين وزارتي الدفاع"
)
VARIANT = BASE.replace("خلال الفترة المقبلة", "في الفترة القادمة") + " كما قال"
OTHER = "ارتفعت درجات الحرارة في الرياض اليوم إلى مستويات قياسية وسط تحذيرات من الدفاع المدني للمواطنين"


def _key(text: str) -> str:
    return matching_key(text)


def test_near_duplicates_cluster_and_singletons_keep_their_own_id() -> None:
    index = NearDupIndex(threshold=0.7)
    result = index.assign([("a", _key(BASE)), ("b", _key(VARIANT)), ("c", _key(OTHER)), ("e", "")])
    assert result["a"].cluster_id == "a" and result["a"].nearest_article_id is None
    assert result["b"].cluster_id == "a" and result["b"].nearest_article_id == "a"
    expected = jaccard(shingles(_key(BASE)), shingles(_key(VARIANT)))
    assert abs(result["b"].similarity - expected) < 1e-3  # verified similarity, not the estimate
    assert result["c"].cluster_id == "c"
    assert result["e"].cluster_id == "e"  # empty texts never cluster


def test_threshold_is_respected() -> None:
    sim = jaccard(shingles(_key(BASE)), shingles(_key(VARIANT)))
    strict = NearDupIndex(threshold=min(0.99, sim + 0.05))
    result = strict.assign([("a", _key(BASE)), ("b", _key(VARIANT))])
    assert result["b"].cluster_id == "b"


def test_incremental_run_joins_clusters_stored_by_an_earlier_run() -> None:
    first = NearDupIndex(threshold=0.7)
    first.assign([("a", _key(BASE)), ("c", _key(OTHER))])
    stored = {aid: signature_bytes(first.signature_of_article(aid)) for aid in ("a", "c")}
    keys = {"a": _key(BASE), "c": _key(OTHER)}

    second = NearDupIndex(threshold=0.7)  # a new process: only what the warehouse holds
    for aid, blob in stored.items():
        second.add_existing(aid, aid, blob)
    result = second.assign([("b", _key(VARIANT))], get_key=keys.__getitem__)
    assert result["b"].cluster_id == "a" and result["b"].nearest_article_id == "a"

    without_keys = NearDupIndex(threshold=0.7)
    for aid, blob in stored.items():
        without_keys.add_existing(aid, aid, blob)
    assert without_keys.assign([("b", _key(VARIANT))])["b"].cluster_id == "a"  # MinHash estimate


def test_signature_bytes_round_trip_and_stability() -> None:
    index = NearDupIndex()
    sig = index.signature(_key(BASE))
    assert sig.dtype == np.uint32 and sig.shape == (128,)
    assert np.array_equal(signature_from_bytes(signature_bytes(sig)), sig)
    assert np.array_equal(NearDupIndex().signature(_key(BASE)), sig)  # same seed, same signature


def test_band_choice_favours_recall() -> None:
    bands, rows = optimal_bands(0.8, 128)
    assert bands * rows == 128
    assert 1 - (1 - 0.8**rows) ** bands > 0.9


def test_fingerprints_from_another_index_give_the_same_clusters() -> None:
    """Workers fingerprint articles with their own index instance; the flow's assign must agree."""
    batch = [("a", _key(BASE)), ("b", _key(VARIANT)), ("c", _key(OTHER)), ("e", "")]
    worker = NearDupIndex()  # default threshold: fingerprints do not depend on it
    prints = {aid: worker.fingerprint(key) for aid, key in batch}
    with_prints = NearDupIndex(threshold=0.7).assign(batch, fingerprints=prints)
    flow_index = NearDupIndex(threshold=0.7)
    assert with_prints == flow_index.assign(batch)
    assert with_prints["b"].cluster_id == "a"
    assert np.array_equal(prints["b"][1], flow_index.signature_of_article("b"))


def test_lean_index_verifies_earlier_batches_through_get_key() -> None:
    """keep_signatures=False (the pipeline) holds no signature or shingles beyond the batch."""
    keys = {"a": _key(BASE), "b": _key(VARIANT), "c": _key(OTHER)}
    fetched: list[str] = []

    def get_key(article_id: str) -> str:
        fetched.append(article_id)
        return keys[article_id]

    lean = NearDupIndex(threshold=0.7, keep_signatures=False)
    lean.assign([("a", keys["a"])], get_key=get_key)
    second = lean.assign([("b", keys["b"]), ("c", keys["c"])], get_key=get_key)
    assert second["b"].cluster_id == "a" and fetched == ["a"]
    expected = jaccard(shingles(keys["a"]), shingles(keys["b"]))
    assert abs(second["b"].similarity - expected) < 1e-3
    assert not lean._signature and set(lean._shingles) <= {"a", "b", "c"}
    assert lean.signature_of_article("c").shape == (128,)


def test_key_shingle_hashes_equal_hashes_of_shingle_strings() -> None:
    from akhbar.tasks.neardup import key_shingle_hashes, shingle_hashes

    for key in [matching_key(BASE), matching_key(VARIANT), "", "a", "a b", "x x x x x", " é  ü\u2003😀 a b "]:
        for size in (1, 2, 3):
            expected = shingle_hashes(shingles(key, size))
            got = key_shingle_hashes(key, size)
            assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_band_index_finds_exactly_the_articles_sharing_a_band() -> None:
    """Stored (sorted arrays) and pending (added during a batch) candidates both equal a brute-force
    comparison of the bands, before and after a flush."""
    from akhbar.tasks.neardup import BandIndex

    rng = np.random.default_rng(3)
    bands, rows = 16, 8
    base = rng.integers(0, 2**32, size=(40, bands * rows), dtype=np.uint32)
    base[10:20, :rows] = base[0, :rows]  # ten articles share band 0 with article 0
    base[30, -rows:] = base[5, -rows:]  # and one shares the last band with article 5
    lsh = BandIndex(bands, rows, seed=1)
    keys = lsh.keys(base)
    lsh.add_many(np.arange(20), keys[:20])
    for pos in range(20, 40):
        lsh.add(pos, keys[pos])

    def brute(i: int, among: range) -> set[int]:
        return {j for j in among
                if any(np.array_equal(base[i, b * rows:(b + 1) * rows], base[j, b * rows:(b + 1) * rows])
                       for b in range(bands))}

    stored = lsh.stored_candidates(keys)
    for i in range(40):
        assert stored[i] == brute(i, range(20))
        assert lsh.pending_candidates(keys[i]) == brute(i, range(20, 40))
    lsh.flush()
    assert all(found == brute(i, range(40)) for i, found in enumerate(lsh.stored_candidates(keys)))
    assert not lsh.pending_candidates(keys[0])


def test_loading_many_stored_articles_at_once_equals_one_by_one() -> None:
    first = NearDupIndex(threshold=0.7)
    first.assign([("a", _key(BASE)), ("c", _key(OTHER))])
    blobs = [signature_bytes(first.signature_of_article(aid)) for aid in ("a", "c")]
    one, many = NearDupIndex(threshold=0.7), NearDupIndex(threshold=0.7)
    for aid, blob in zip(("a", "c"), blobs):
        one.add_existing(aid, aid, blob)
    many.add_existing_many(["a", "c"], ["a", "c"], blobs)
    # As the flow loads a warehouse: one (articles, num_perm) array, None for an article's own cluster.
    array = NearDupIndex(threshold=0.7)
    array.add_existing_many(["a", "c"], [None, None], np.stack([signature_from_bytes(b) for b in blobs]))
    batch = [("b", _key(VARIANT))]
    assert one.assign(batch) == many.assign(batch) == array.assign(batch) and len(many) == len(array) == 3
    assert array.assign([("b2", _key(VARIANT))])["b2"].cluster_id == "a"  # b joined a's cluster


def test_a_stored_cluster_that_is_not_the_articles_own_is_kept() -> None:
    sig = NearDupIndex(threshold=0.7).signature(_key(VARIANT))
    index = NearDupIndex(threshold=0.7)
    index.add_existing_many(["b"], ["a"], np.stack([sig]))
    assert index.assign([("b2", _key(VARIANT))])["b2"].cluster_id == "a"


def test_id_column_returns_what_was_stored_as_it_grows() -> None:
    from akhbar.tasks.neardup import IdColumn

    ids = IdColumn()
    values = [f"{i:032x}" for i in range(3000)] + ["short", "خبر-عربي", "x" * 40]
    for start in range(0, len(values), 700):
        ids.extend(values[start:start + 700])
    assert len(ids) == len(values) and [ids[i] for i in range(len(values))] == values


def test_the_index_costs_under_200_bytes_an_article() -> None:
    """What the flow keeps for every article in the warehouse: its id, its cluster when another's,
    and its LSH band hashes. Python lists of ids and 64-bit hashes cost ~290 bytes an article."""
    import tracemalloc

    n = 20_000
    rng = np.random.default_rng(5)
    signatures = list(rng.integers(0, 2**32, size=(n, 128), dtype=np.uint32))
    index = NearDupIndex(keep_signatures=False)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ids = [f"{i:032x}" for i in range(n)]  # as read from the warehouse: strings only the index keeps
        clusters = [ids[i - 1] if i % 20 == 0 else ids[i] for i in range(n)]  # one in 20 joined another
        index.add_existing_many(ids, clusters, signatures)
        del ids, clusters
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(index) == n and held / n < 200, held / n
    found = index.assign([("new", "")], get_keys=lambda wanted: {})
    assert found["new"].cluster_id == "new"
