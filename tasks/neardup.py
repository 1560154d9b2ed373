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


class BandIndex:
    """LSH buckets as sorted numpy arrays: for each band, the band hashes of every stored article,
    sorted, beside the article's position.

    Why not a dict of lists per band (as before): a dict entry, a list and an int per band per
    article cost ~2.6 KB an article with 16 bands (52 MB for 20k articles, 2.6 GB at a million),
    the largest thing in the flow's process that grew with the warehouse. Sorted arrays take
    8 bytes per band per article (a 32-bit band hash and a 32-bit position), and a batch finds its
    stored candidates with one vectorized ``searchsorted`` per band. Articles added during a batch
    sit in small dicts until :meth:`flush` merges them into the arrays (one O(n) insert per band).
    A 32-bit hash makes two different bands collide about once per 4 billion pairs: with a
    million stored articles, about one new article in 270 gets a spurious candidate, which the
    exact verification rejects.
    """

    def __init__(self, bands: int, rows: int, seed: int) -> None:
        self.bands, self.rows = bands, rows
        # Band hash: a random linear map of the band's rows, mod 2**64 (equal bands hash alike; a
        # collision between different bands only adds a candidate that verification rejects).
        self._mix = np.random.default_rng(seed + 7919).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
        self._keys = [np.empty(0, np.uint32) for _ in range(bands)]
        self._pos = [np.empty(0, np.int32) for _ in range(bands)]
        self._pending: list[dict[int, list[int]]] = [{} for _ in range(bands)]
        self._pending_rows: list[tuple[int, np.ndarray]] = []

    def keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint32 band hashes of (n, bands * rows) uint32 signatures (the upper half of
        the 64-bit linear map, whose bits depend on every row)."""
        x = np.asarray(signatures, dtype=np.uint32).reshape(-1, self.bands, self.rows).astype(np.uint64)
        with np.errstate(over="ignore"):
            return ((x * self._mix).sum(axis=2, dtype=np.uint64) >> np.uint64(32)).astype(np.uint32)

    def add(self, position: int, keys: np.ndarray) -> None:
        """Add one article now (visible to :meth:`pending_candidates` at once)."""
        for band, key in enumerate(keys.tolist()):
            self._pending[band].setdefault(key, []).append(position)
        self._pending_rows.append((position, keys))

    def add_many(self, positions: np.ndarray, keys: np.ndarray) -> None:
        """Merge many articles straight into the sorted arrays."""
        positions = np.asarray(positions, dtype=np.int32)
        for band in range(self.bands):
            new = keys[:, band]
            order = np.argsort(new, kind="stable")
            at = np.searchsorted(self._keys[band], new[order], side="right")
            self._keys[band] = np.insert(self._keys[band], at, new[order])
            self._pos[band] = np.insert(self._pos[band], at, positions[order])

    @property
    def pending(self) -> int:
        """Articles added one by one and not yet merged into the sorted arrays."""
        return len(self._pending_rows)

    def flush(self) -> None:
        """Move the articles added one by one into the sorted arrays."""
        if self._pending_rows:
            positions = np.array([p for p, _ in self._pending_rows], dtype=np.int32)
            self.add_many(positions, np.stack([k for _, k in self._pending_rows]))
            self._pending = [{} for _ in range(self.bands)]
            self._pending_rows = []

    def stored_candidates(self, keys: np.ndarray) -> list[set[int]]:
        """For each row of ``keys``, the positions of stored (flushed) articles sharing a band."""
        found: list[set[int]] = [set() for _ in range(len(keys))]
        for band in range(self.bands):
            sorted_keys = self._keys[band]
            if not sorted_keys.size:
                continue
            lo = np.searchsorted(sorted_keys, keys[:, band], side="left")
            hi = np.searchsorted(sorted_keys, keys[:, band], side="right")
            for i in np.flatnonzero(hi > lo).tolist():
                found[i].update(self._pos[band][lo[i]:hi[i]].tolist())
        return found

    def pending_candidates(self, keys: np.ndarray) -> set[int]:
        """Positions of articles added since the last flush that share a band with ``keys``."""
        found: set[int] = set()
        for band, key in enumerate(keys.tolist()):
            found.update(self._pending[band].get(key, ()))
        return found


class IdColumn:
    """Append-only strings by position, in one fixed-width bytes array.

    Why: the index holds the id of every article in the warehouse. In a list each 32-character
    id cost ~90 bytes (a string object and its pointer); here it costs its 32 bytes, plus the
    array's spare room (it grows by a quarter).
    """

    def __init__(self) -> None:
        self._data = np.empty(0, dtype="S1")
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, position: int) -> str:
        return self._data[position].decode("utf-8")

    def extend(self, values: Iterable[str]) -> None:
        encoded = [v.encode("utf-8") for v in values]
        end = self._size + len(encoded)
        width = max([self._data.dtype.itemsize, *map(len, encoded)])
        if end > len(self._data) or width > self._data.dtype.itemsize:
            grown = np.empty(max(end, len(self._data) * 5 // 4, 1024), dtype=f"S{width}")
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = encoded
        self._size = end


@dataclass
class NearDupIndex:
    """MinHash/LSH index of the articles seen so far, with their cluster ids.

    Memory per indexed article is its id (:class:`IdColumn`), its cluster id when it is not its
    own, and 8 bytes per LSH band (:class:`BandIndex`): ~170 bytes, against ~290 with Python
    lists of ids and 64-bit band hashes. With ``keep_signatures=False`` (the pipeline, which verifies
    every candidate exactly through ``get_key``) signatures and shingle hashes are kept only for
    the batch being assigned: held for every article they were most of the index's memory, which
    grew with the warehouse.
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
    _lsh: BandIndex = field(init=False, repr=False)
    _ids: IdColumn = field(init=False, default_factory=IdColumn, repr=False)
    _clusters: dict[int, str] = field(init=False, default_factory=dict, repr=False)  # by position, if not its own
    _signature: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)
    _shingles: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)
    _batch_signature: dict[str, np.ndarray] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # Fixed seed: signatures written by one run must be comparable with the next run's.
        rng = np.random.default_rng(self.seed)
        self._a = rng.integers(1, 2**63, size=self.num_perm, dtype=np.uint64) | np.uint64(1)
        self._b = rng.integers(0, 2**63, size=self.num_perm, dtype=np.uint64)
        self._bands, self._rows = optimal_bands(self.threshold, self.num_perm)
        self._lsh = BandIndex(self._bands, self._rows, self.seed)

    def __len__(self) -> int:
        return len(self._ids)

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
        sig = np.asarray(sig, dtype=np.uint32)
        self._lsh.add(len(self._ids), self._lsh.keys(sig[None, :])[0])
        self._register(article_id, cluster_id)
        if self.keep_signatures:
            self._signature[article_id] = sig
        if self._lsh.pending >= 50_000:  # merged in bulk: one O(n) insert per band, not one per article
            self._lsh.flush()

    def add_existing_many(self, article_ids: list[str], cluster_ids: list[str | None],
                          signatures: np.ndarray | list[np.ndarray | bytes]) -> None:
        """:meth:`add_existing` for many articles at once (loading a warehouse's signatures).

        ``cluster_ids``: None where an article founds its own cluster. ``signatures``: one row per
        article, or a (articles, num_perm) array (the fast path: a million took 4.9 s one by one).
        """
        if not article_ids:
            return
        if isinstance(signatures, np.ndarray) and signatures.ndim == 2:
            sigs = signatures.astype(np.uint32, copy=False)
        else:
            sigs = np.stack([signature_from_bytes(s) if isinstance(s, (bytes, bytearray, memoryview))
                             else np.asarray(s, dtype=np.uint32) for s in signatures])
        start = len(self._ids)
        self._ids.extend(article_ids)
        self._clusters.update((start + i, cluster_id) for i, (article_id, cluster_id)
                              in enumerate(zip(article_ids, cluster_ids))
                              if cluster_id is not None and cluster_id != article_id)
        if self.keep_signatures:
            self._signature.update(zip(article_ids, sigs))
        self._lsh.flush()
        self._lsh.add_many(np.arange(start, start + len(article_ids)), self._lsh.keys(sigs))

    def _register(self, article_id: str, cluster_id: str) -> None:
        """Give an article the next position; only a cluster id that is not its own is stored."""
        if cluster_id != article_id:
            self._clusters[len(self._ids)] = cluster_id
        self._ids.extend([article_id])

    def _cluster(self, position: int) -> str:
        return self._clusters.get(position) or self._ids[position]

    def _insert(self, article_id: str, cluster_id: str, sig: np.ndarray, keys: np.ndarray) -> None:
        """Add an article of the batch being assigned (candidates of the articles after it)."""
        self._lsh.add(len(self._ids), keys)
        self._register(article_id, cluster_id)
        if self.keep_signatures:
            self._signature[article_id] = sig
        else:  # a lean index keeps signatures only for the batch being assigned
            self._batch_signature[article_id] = sig

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
        self._lsh.flush()
        keys = self._lsh.keys(np.stack([sig for _, sig in prints])) if prints else np.empty((0, self._bands), np.uint32)
        stored = self._lsh.stored_candidates(keys)
        if get_keys is not None:
            needed = sorted({self._ids[pos] for (grams, _), cands in zip(prints, stored) if grams.size
                             for pos in cands} - self._shingles.keys())
            fetched = dict(get_keys(needed)) if needed else {}
            get_key = lambda other: fetched.get(other, "")  # noqa: E731
        for i, ((article_id, _), (grams, sig)) in enumerate(zip(batch, prints)):
            self._shingles[article_id] = grams
            if not grams.size:
                result[article_id] = ClusterAssignment(article_id, 1.0, None)
                continue
            best_pos, best_id, best_sim = -1, None, 0.0
            for pos in stored[i] | self._lsh.pending_candidates(keys[i]):
                other = self._ids[pos]
                sim = self._similarity(grams, sig, other, get_key)
                if sim > best_sim or (sim == best_sim and best_id is not None and other < best_id):
                    best_pos, best_id, best_sim = pos, other, sim
            if best_id is not None and best_sim >= self.threshold:
                assignment = ClusterAssignment(self._cluster(best_pos), round(best_sim, 4), best_id)
            else:
                assignment = ClusterAssignment(article_id, 1.0, None)
            result[article_id] = assignment
            self._insert(article_id, assignment.cluster_id, sig, keys[i])
        self._lsh.flush()
        return result

    def _similarity(
        self, grams: np.ndarray, sig: np.ndarray, other: str, get_key: Callable[[str], str] | None
    ) -> float:
        other_grams = self._shingles.get(other)
        if other_grams is None and get_key is not None:
            other_grams = key_shingle_hashes(get_key(other), self.shingle)
            self._shingles[other] = other_grams
        if other_grams is None:  # MinHash estimate of Jaccard
            return float(np.mean(self._signature.get(other, self._batch_signature.get(other)) == sig))
        return hashed_jaccard(grams, other_grams)

    def signature_of_article(self, article_id: str) -> np.ndarray:
        """The stored signature of an indexed article (to persist after ``assign``)."""
        return self._signature[article_id] if article_id in self._signature else self._batch_signature[article_id]
