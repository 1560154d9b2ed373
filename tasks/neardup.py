"""Near-duplicate clustering of articles, incremental across runs: MinHash + LSH, then verified.

Outlets rewrite wire copy lightly (a different first sentence, a dropped paragraph), so exact
hashing of the body misses most re-publications. MinHash signatures of word shingles, bucketed by
LSH bands, find candidate pairs without comparing all pairs; each candidate is then **verified**
with the real Jaccard similarity of the shingle sets, so the LSH only decides what to look at,
never what is a duplicate.

Incremental: signatures are stored with the article in the warehouse (``signature_bytes``, a
BLOB column). A later run loads them with ``add_existing`` and new articles join the clusters
that are already there; a new article with no match starts its own cluster, whose id is its own
article id, so cluster ids never change once written.

The MinHash is implemented here with numpy (CRC32 shingle hashes, 64-bit universal hashing,
upper 32 bits kept): on SaudiNewsNet it is faster than datasketch's ``MinHash.update_batch``
(see ``benchmarks/clean_saudinewsnet.py``), and it depends on nothing but numpy and zlib, whose
outputs are stable across processes and machines, which a persisted signature requires.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import accumulate

import numpy as np

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
SHINGLE_SIZE = 3  # words per shingle; part of the signature, so fixed for a warehouse
Fingerprint = tuple[np.ndarray, np.ndarray]  # (sorted unique shingle hashes, MinHash signature)


@dataclass(frozen=True)
class ClusterAssignment:
    """Where one article landed: its cluster, and the verified similarity to its nearest member."""

    cluster_id: str
    similarity: float
    nearest_article_id: str | None


def shingles(match_key: str, size: int = 3) -> frozenset[str]:
    """Word n-grams of a matching key; a text shorter than ``size`` words is one shingle."""
    words = match_key.split()
    if len(words) < size:
        return frozenset([" ".join(words)]) if words else frozenset()
    return frozenset(" ".join(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Exact Jaccard similarity of two shingle sets (0.0 when both are empty)."""
    if not a and not b:
        return 0.0
    return len(a & b) / len(a | b)


def shingle_hashes(grams: Iterable[str]) -> np.ndarray:
    """Sorted unique CRC32 hashes of shingles: the set the exact Jaccard is computed on.

    Kept as a uint32 array rather than a set of strings: 31,030 SaudiNewsNet bodies held as
    Python string sets took ~1.5 GB, as arrays ~50 MB. A CRC32 collision inside one pair's
    shingles is a ~1e-5 event and moves the similarity by one shingle.
    """
    return np.unique(np.fromiter((zlib.crc32(g.encode("utf-8")) for g in grams), dtype=np.uint32))


def key_shingle_hashes(match_key: str, size: int = SHINGLE_SIZE) -> np.ndarray:
    """``shingle_hashes(shingles(match_key, size))``, without building the shingle strings.

    The words are joined and encoded once and each shingle's CRC32 is taken on a slice of those
    bytes (UTF-8 encodes character by character, so the slice is exactly the encoded shingle);
    duplicate shingles hash alike and ``np.unique`` drops them as the set did. Why: every new
    article is fingerprinted in the batch worker (0.44 s → 0.36 s per 2,000 SaudiNewsNet keys).
    """
    words = match_key.split()
    if len(words) < size:
        return shingle_hashes(shingles(match_key, size))
    data = " ".join(words).encode("utf-8")
    ends = list(accumulate(len(w.encode("utf-8")) + 1 for w in words))  # each word's end + 1 (a space)
    starts = [0, *ends[:-1]]
    crc32 = zlib.crc32
    count = len(words) - size + 1
    return np.unique(np.fromiter((crc32(data[a:b - 1]) for a, b in zip(starts, ends[size - 1:])),
                                 dtype=np.uint32, count=count))


def hashed_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted unique hash arrays."""
    if a.size == 0 and b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def signature_bytes(signature: np.ndarray) -> bytes:
    """Little-endian uint32 bytes, for a Parquet BLOB column."""
    return np.asarray(signature, dtype="<u4").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    """Inverse of :func:`signature_bytes`."""
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


_FP_WEIGHT, _FN_WEIGHT = 0.2, 0.8


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false-positive + false-negative area at ``threshold``.

    Datasketch's ``_optimal_param`` criterion, but weighted towards recall: every candidate is
    verified with the exact Jaccard, so a false positive costs only a set intersection while a
    false negative is a missed duplicate. (Equal weights give 8×16 at 0.8, which finds a pair
    of similarity 0.8 only 20% of the time.)
    """
    xs = np.linspace(0.0, 1.0, 201)
    best: tuple[float, int, int] | None = None
    for bands in range(1, num_perm + 1):
        if num_perm % bands:
            continue
        rows = num_perm // bands
        p = 1.0 - (1.0 - xs**rows) ** bands
        fp = np.trapezoid(np.where(xs < threshold, p, 0.0), xs)
        fn = np.trapezoid(np.where(xs >= threshold, 1.0 - p, 0.0), xs)
        cost = _FP_WEIGHT * fp + _FN_WEIGHT * fn
        if best is None or cost < best[0]:
            best = (float(cost), bands, rows)
    assert best is not None
    return best[1], best[2]


@dataclass
class NearDupIndex:
    """MinHash/LSH index of the articles seen so far, with their cluster ids.

    Memory per indexed article is one small int per LSH band plus its cluster id. With
    ``keep_signatures=False`` (the pipeline, which verifies every candidate exactly through
    ``get_key``) signatures and shingle hashes are kept only for the batch being assigned: held
    for every article they were most of the index's memory, which grew with the warehouse.
    """

    threshold: float = 0.8
    num_perm: int = 128
    shingle: int = SHINGLE_SIZE
    seed: int = 1
    keep_signatures: bool = True
    _a: np.ndarray = field(init=False, repr=False)
    _b: np.ndarray = field(init=False, repr=False)
    _bands: int = field(init=False)
    _rows: int = field(init=False)
    _buckets: list[dict[int, list[str]]] = field(init=False, repr=False)
    _cluster: dict[str, str] = field(init=False, default_factory=dict, repr=False)
    _signature: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)
    _shingles: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)
    _batch_signature: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Fixed seed: signatures written by one run must be comparable with the next run's.
        rng = np.random.default_rng(self.seed)
        self._a = rng.integers(1, 2**63, size=self.num_perm, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 2**63, size=self.num_perm, dtype=np.uint64)
        self._bands, self._rows = optimal_bands(self.threshold, self.num_perm)
        self._buckets = [{} for _ in range(self._bands)]

    def signature(self, match_key: str) -> np.ndarray:
        """MinHash signature (``num_perm`` uint32) of a matching key's word shingles."""
        return self._signature_of(shingles(match_key, self.shingle))

    def fingerprint(self, match_key: str) -> Fingerprint:
        """Shingle hashes and signature of a matching key: the per-article part of :meth:`assign`.

        Pure and independent of the index's contents (only the seed and sizes matter), so batch
        workers compute it in parallel and the flow's single-threaded :meth:`assign` only looks up
        candidates (it was 5.6 s of an 8,400-article run in the flow's process).
        """
        grams = key_shingle_hashes(match_key, self.shingle)
        return grams, self._minhash(grams)

    def _signature_of(self, grams: Iterable[str]) -> np.ndarray:
        return self._minhash(shingle_hashes(grams))

    def _minhash(self, hashes: np.ndarray) -> np.ndarray:
        hashes = hashes.astype(np.uint64)
        if hashes.size == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        with np.errstate(over="ignore"):
            mixed = hashes[:, None] * self._a[None, :] + self._b[None, :]  # wraps mod 2**64
        return (mixed >> np.uint64(32)).min(axis=0).astype(np.uint32)

    def add_existing(self, article_id: str, cluster_id: str, signature: np.ndarray | bytes) -> None:
        """Register an article the warehouse already holds, with its stored cluster and signature."""
        sig = signature_from_bytes(signature) if isinstance(signature, (bytes, bytearray, memoryview)) else signature
        self._insert(article_id, cluster_id, np.asarray(sig, dtype=np.uint32), in_batch=False)

    def _insert(self, article_id: str, cluster_id: str, sig: np.ndarray, in_batch: bool = True) -> None:
        self._cluster[article_id] = cluster_id
        if self.keep_signatures:
            self._signature[article_id] = sig
        elif in_batch:  # a lean index keeps signatures only for the batch being assigned
            self._batch_signature[article_id] = sig
        for band, bucket in zip(self._band_keys(sig), self._buckets):
            bucket.setdefault(band, []).append(article_id)

    def _band_keys(self, sig: np.ndarray) -> list[int]:
        """One hash per band. Python's hash of the band's bytes: an int is a third of the bytes'
        memory, the index lives only in this process, and a collision only adds a candidate that
        verification then rejects."""
        r = self._rows
        raw = sig.tobytes()
        return [hash(raw[i * r * 4 : (i + 1) * r * 4]) for i in range(self._bands)]

    def _candidates(self, sig: np.ndarray) -> list[str]:
        seen: dict[str, None] = {}
        for band, bucket in zip(self._band_keys(sig), self._buckets):
            for other in bucket.get(band, ()):
                seen[other] = None
        return list(seen)

    def assign(
        self,
        batch: list[tuple[str, str]],
        get_key: Callable[[str], str] | None = None,
        fingerprints: Mapping[str, Fingerprint] | None = None,
        get_keys: Callable[[list[str]], Mapping[str, str]] | None = None,
    ) -> dict[str, ClusterAssignment]:
        """Cluster a batch of ``(article_id, match_key)`` against the index and each other.

        ``get_key`` fetches the matching key of an article from an earlier run, so that a
        candidate from the warehouse is verified with the exact Jaccard too; without it the
        MinHash estimate stands in for such candidates. Articles are taken in batch order, so
        the first of a group founds the cluster. Empty texts are never clustered. ``fingerprints``
        holds precomputed :meth:`fingerprint` results by article id (computed here when absent).
        ``get_keys`` is the bulk form of ``get_key``: the keys of every indexed candidate of the
        batch are fetched in one call (one warehouse query instead of one per candidate).
        """
        result: dict[str, ClusterAssignment] = {}
        if not self.keep_signatures:
            self._batch_signature.clear()
            self._shingles.clear()  # earlier articles are verified through get_key(s)
        prints = []
        for article_id, match_key in batch:
            found = fingerprints.get(article_id) if fingerprints else None
            prints.append(found if found is not None else self.fingerprint(match_key))
        if get_keys is not None:
            needed = sorted({other for grams, sig in prints if grams.size for other in self._candidates(sig)
                             if other not in self._shingles})
            fetched = dict(get_keys(needed)) if needed else {}
            get_key = lambda other: fetched.get(other, "")  # noqa: E731
        for (article_id, _), (grams, sig) in zip(batch, prints):
            self._shingles[article_id] = grams
            if not grams.size:
                result[article_id] = ClusterAssignment(article_id, 1.0, None)
                continue
            best_id, best_sim = None, 0.0
            for other in self._candidates(sig):
                sim = self._similarity(grams, sig, other, get_key)
                if sim > best_sim or (sim == best_sim and best_id is not None and other < best_id):
                    best_id, best_sim = other, sim
            if best_id is not None and best_sim >= self.threshold:
                assignment = ClusterAssignment(self._cluster[best_id], round(best_sim, 4), best_id)
            else:
                assignment = ClusterAssignment(article_id, 1.0, None)
            result[article_id] = assignment
            self._insert(article_id, assignment.cluster_id, sig)
        return result

    def _similarity(
        self, grams: np.ndarray, sig: np.ndarray, other: str, get_key: Callable[[str], str] | None
    ) -> float:
        other_grams = self._shingles.get(other)
        if other_grams is None and get_key is not None:
            other_grams = shingle_hashes(shingles(get_key(other), self.shingle))
            self._shingles[other] = other_grams
        if other_grams is None:  # MinHash estimate of Jaccard
            return float(np.mean(self._signature.get(other, self._batch_signature.get(other)) == sig))
        return hashed_jaccard(grams, other_grams)

    def signature_of_article(self, article_id: str) -> np.ndarray:
        """The stored signature of an indexed article (to persist after ``assign``)."""
        return self._signature[article_id] if article_id in self._signature else self._batch_signature[article_id]
