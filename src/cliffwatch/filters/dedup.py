"""``dedup``: exact and near-duplicate removal.

Near duplicates are found with MinHash LSH, vectorised with numpy: per-item MinHash objects and
index insertions in Python (datasketch's MinHash / MinHashLSH) cost tens of microseconds per
sentence, several times the rest of this filter. datasketch still chooses the LSH banding (the
bands and rows that best separate pairs above and below the threshold). Each candidate pair is then
checked with its exact Jaccard similarity, because banding (and a 64-value MinHash estimate) lets
through many pairs below the threshold: short template sentences that differ in one name
("X is a city in china .", Jaccard 0.71 on word pairs) would otherwise be dropped as near copies.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from datasketch import MinHashLSH
from pydantic import Field
from scipy.sparse import csr_matrix

from cliffwatch.core.modality import TEXT, VECTOR, Sentences
from cliffwatch.data.manifest.hashing import mix64
from cliffwatch.families.base import Params
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.core.registry import register_filter

_PRIME = (1 << 31) - 1  # universal hashing modulo a prime below 2**31: a * x + b never overflows int64
_CHUNK_ELEMENTS = 1 << 24  # hash values computed at once by _minhash (about 128 MB of int64)
_HASH_SEED = 1  # fixed: signatures, hence decisions, are the same in every run
# LSH banding weighted for recall: a false candidate costs one exact Jaccard check, a missed pair is
# a near duplicate kept. At threshold 0.8 and 64 permutations (12 bands of 5) this finds 99% of the
# pairs at Jaccard 0.8, where datasketch's default (equal weights: 5 bands of 11) finds 36%.
_LSH_WEIGHTS = (0.01, 0.99)  # (false positive, false negative)
# Within one bucket each item is checked against at most this many items just before it, so a batch
# of near copies (a collapsed generator) costs linear, not quadratic, time.
BUCKET_WINDOW = 16


class DedupParams(Params):
    threshold: float = Field(
        0.8, gt=0.0, le=1.0, description="text: Jaccard similarity of word-shingle sets that makes a near duplicate"
    )
    num_perm: int = Field(64, ge=2, description="text: MinHash permutations (more: fewer near duplicates missed, slower)")
    shingle: int = Field(2, ge=1, description="text: words per shingle (a shorter sentence is one shingle)")
    against_train: bool = Field(False, description="also reject samples that duplicate an item the generator was fitted on")


@register_filter("dedup")
class Dedup(Filter):
    """Rejects a sample iff it duplicates something earlier: an earlier sample of the batch or, with
    ``against_train``, an item of ctx.train (which counts as earlier than every sample); so the first
    of a group of duplicates is kept.

    Text: a duplicate is the same token sequence, or a near duplicate: a sentence whose set of
    ``shingle``-word shingles has Jaccard similarity at least ``threshold`` with that of an earlier
    distinct sentence found by MinHash LSH (``num_perm`` permutations; the pair shares a bucket with
    at most BUCKET_WINDOW items between them). Vectors: the same row (exactly equal values) earlier in the same chain.
    """

    Params = DedupParams
    # Not tokens: there an item is one state of a small support, so every batch is mostly "duplicates"
    # and dedup would shrink it to its distinct states (and, against the training set, to nothing).
    modalities = (VECTOR, TEXT)

    def accept(self, samples, ctx: FilterContext) -> np.ndarray:
        train = ctx.train if self.params.against_train else None
        if isinstance(samples, Sentences):
            return self._accept_text(samples, train)
        return _accept_rows(samples, train)

    def _accept_text(self, samples: Sentences, train: Sentences | None) -> np.ndarray:
        items = samples if train is None else Sentences.concat([train, samples])
        earlier = 0 if train is None else len(train)
        # exact: the first occurrence of each token sequence survives
        width = max(int(items.lengths.max(initial=0)), 1)
        first = _first_occurrence(_windows(items, items.offsets[:-1], items.offsets[1:], width))
        duplicate = first != np.arange(len(items))
        # near: among distinct sentences, the later one of each similar candidate pair goes
        distinct = np.flatnonzero(~duplicate)
        _, later = similar_pairs(items.take(distinct), self.params.threshold, self.params.num_perm, self.params.shingle)
        duplicate[distinct[later]] = True
        return ~duplicate[earlier:]


@lru_cache(maxsize=None)
def lsh_banding(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) datasketch chooses for this threshold (it optimises them slowly: once per process)."""
    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=_LSH_WEIGHTS)
    return lsh.b, lsh.r


def similar_pairs(sentences: Sentences, threshold: float, num_perm: int = 64, shingle: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) index pairs of sentences whose sets of ``shingle``-word shingles have exact
    Jaccard similarity >= ``threshold``, among the candidates MinHash LSH finds (each item with at
    most BUCKET_WINDOW items before it in a bucket)."""
    if len(sentences) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner, shingles = _shingle_sets(sentences, shingle)
    i, j = _candidate_pairs(_minhash(owner, shingles, num_perm), *lsh_banding(threshold, num_perm))
    similar = _jaccard(owner, shingles, i, j) >= threshold
    return i[similar], j[similar]


def _accept_rows(samples: np.ndarray, train: np.ndarray | None) -> np.ndarray:
    """(C, n) mask for (C, n, d) samples: False where a row equals an earlier row of the same chain
    (train rows first)."""
    items = samples if train is None else np.concatenate([train, samples], axis=1)
    chains, n = items.shape[:2]
    flat = items.reshape(chains, n, -1)
    # the chain index as a leading column: one unique over every chain at once, chains never mixed
    rows = np.concatenate([np.broadcast_to(np.arange(chains, dtype=flat.dtype)[:, None, None], (chains, n, 1)), flat], axis=2)
    first = _first_occurrence(rows.reshape(chains * n, -1))
    keep = (first == np.arange(chains * n)).reshape(chains, n)
    return keep[:, n - samples.shape[1]:]


def _first_occurrence(rows: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row equal to it."""
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    return first[inverse.reshape(-1)]


def _windows(sentences: Sentences, starts: np.ndarray, ends: np.ndarray, width: int) -> np.ndarray:
    """(len(starts), width) int64: the tokens from each start up to its end (exclusive), -1 after."""
    at = starts[:, None] + np.arange(width)
    padded_ids = np.append(sentences.ids.astype(np.int64), -1)  # position n_tokens reads as padding
    return padded_ids[np.where(at < ends[:, None], at, sentences.n_tokens)]


def _shingle_sets(sentences: Sentences, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each sentence's set of k-word shingles as (sentence, shingle number) pairs, sorted, distinct.

    A sentence of L >= k words has the shingles starting at each of its first L - k + 1 words; a
    shorter one is a single shingle (itself). Shingles are numbered by rank: exact, no string hashing.
    """
    windows = np.maximum(sentences.lengths - k + 1, 1)
    owner = np.repeat(np.arange(len(sentences)), windows)
    starts = sentences.offsets[owner] + np.arange(len(owner)) - np.repeat(np.cumsum(windows) - windows, windows)
    shingles = _windows(sentences, starts, sentences.offsets[owner + 1], k) + 1  # padding: 0
    # number the shingles by rank, a word at a time (rank so far, then the next word): exact, and far
    # faster than a row-wise unique
    number = np.zeros(len(shingles), dtype=np.int64)
    for column in shingles.T:
        number = np.unique(number * (int(column.max()) + 1) + column, return_inverse=True)[1]
    span = int(number.max()) + 1
    pairs = _distinct(owner * span + number)
    return pairs // span, pairs % span


def _minhash(owner: np.ndarray, shingle: np.ndarray, num_perm: int) -> np.ndarray:
    """(sets, num_perm) int32 MinHash signatures of the shingle sets: permutation m maps shingle x
    to (a_m x + b_m) mod p, the universal hashing MinHash is built on."""
    rng = np.random.default_rng(_HASH_SEED)
    a = rng.integers(1, _PRIME, num_perm)
    b = rng.integers(0, _PRIME, num_perm)
    # hash each shingle number once; values below 2**31 fit int32. Permutations along the first axis,
    # so the per-set minimum runs over contiguous memory; a few permutations at a time, so that
    # millions of distinct shingles (a large corpus) stay within a bounded working set.
    values, starts = np.arange(int(shingle.max()) + 1), _set_starts(owner)
    step = max(1, _CHUNK_ELEMENTS // max(len(values), len(shingle)))
    out = np.empty((len(starts), num_perm), dtype=np.int32)
    for lo in range(0, num_perm, step):
        part = slice(lo, lo + step)
        hashes = ((a[part, None] * values + b[part, None]) % _PRIME).astype(np.int32)
        out[:, part] = np.minimum.reduceat(np.take(hashes, shingle, axis=1), starts, axis=1).T
    return out


def _set_starts(owner: np.ndarray) -> np.ndarray:
    """Where each set's run starts in the sorted (owner, shingle) pairs (every set is non-empty)."""
    return np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])


def _candidate_pairs(signatures: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (earlier, later) pairs of items whose band of the signature is equal in some band:
    each item with the (at most BUCKET_WINDOW) items just before it in that band's bucket."""
    n = len(signatures)
    keys = []
    for band in range(bands):
        # the band's values hashed to one key: a bucket label without a row-wise unique (a rare hash
        # collision only adds a candidate, which the exact Jaccard check then rejects)
        earlier, later = _pairs_within(mix64(signatures[:, band * rows:(band + 1) * rows]), BUCKET_WINDOW)
        keys.append(earlier * n + later)
    return np.divmod(_distinct(np.concatenate(keys)), n)


def _distinct(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values of an integer array: a sort, which numpy does many times faster than
    the hash table np.unique (numpy 2.x) uses for large integer arrays."""
    ordered = np.sort(values)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _pairs_within(groups: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j), i < j, groups[i] == groups[j], with at most ``window`` items of the group between."""
    order = np.argsort(groups, kind="stable")  # by group, then by index
    sorted_groups = groups[order]
    start = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    rank = np.arange(len(groups)) - np.repeat(start, np.diff(np.r_[start, len(groups)]))  # position in its group
    count = np.minimum(rank, window)  # predecessors each item is paired with
    later = np.repeat(np.arange(len(groups)), count)
    earlier = later - np.repeat(count, count) + np.arange(len(later)) - np.repeat(np.cumsum(count) - count, count)
    return order[earlier], order[later]


def _jaccard(owner: np.ndarray, shingle: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets i and j, pair by pair."""
    # the sets as rows of a sparse 0/1 matrix: a row-wise product counts the shared shingles
    sets = csr_matrix((np.ones(len(owner), dtype=np.int32), (owner, shingle)))
    shared = np.asarray(sets[i].multiply(sets[j]).sum(axis=1)).reshape(-1)
    size = np.diff(sets.indptr)
    return shared / (size[i] + size[j] - shared)
