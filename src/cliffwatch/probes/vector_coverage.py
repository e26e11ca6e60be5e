"""k-NN precision and recall (Kynkäänniemi et al., NeurIPS 2019): quality and coverage, apart.

Each set's support is estimated as the union of balls around its points, each ball reaching the
point's k-th nearest neighbour within the same set. Precision is the share of model samples inside
the human support (are the samples realistic?); recall is the share of human points inside the
samples' support (is the human variety covered?). A sharpened sampler (temperature < 1) keeps its
samples near the modes: precision holds while recall falls — a trade one distance cannot show.

Both sets are cut to the same size n, because a ball's radius shrinks as a set grows: comparing
sets of unequal size would move both numbers for no reason about the model.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe

K = 3  # the paper's choice: small k keeps the support tight without holes
MAX_POINTS = 1000  # distance matrices are O(n^2) per chain: cap both sides


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared distances between rows of a (n, d) and b (m, d)."""
    return np.clip((a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T, 0.0, None)


def _knn_radius2(d2_within: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point (column 0 of the sort is itself)."""
    return np.partition(d2_within, k, axis=1)[:, k]


def precision_recall(samples: np.ndarray, reference: np.ndarray, k: int = K) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) per chain between (C, n, d) samples and an (n, d) reference of equal n."""
    ref_radius = _knn_radius2(_sq_dists(reference, reference), k)
    precision, recall = np.empty(len(samples)), np.empty(len(samples))
    for c, x in enumerate(samples):  # one chain at a time: (n, n) matrices, never (C, n, n)
        cross = _sq_dists(x, reference)  # (samples, reference)
        precision[c] = (cross <= ref_radius[None, :]).any(axis=1).mean()
        recall[c] = (cross <= _knn_radius2(_sq_dists(x, x), k)[:, None]).any(axis=0).mean()
    return precision, recall


@register_probe("precision_recall")
class PrecisionRecall(Probe):
    modality = VECTOR
    # exact k-NN balls cost O(n^2) per chain: over 100x a Gaussian's closed-form fit and sampling
    # (docs/benchmarks.md), so it runs where a config names it, not by default
    opt_in = True
    metrics = (
        Metric("precision", True, f"share of model samples inside the human data's {K}-NN support (realism)", 0.0, 1.0),
        Metric("recall", True, f"share of human points inside the model samples' {K}-NN support (coverage)", 0.0, 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        n = min(ctx.samples.shape[1], len(ctx.reference), MAX_POINTS)
        if n <= K:
            return {"precision": np.full(ctx.chains, np.nan), "recall": np.full(ctx.chains, np.nan)}
        precision, recall = precision_recall(ctx.samples[:, :n], ctx.reference[:n])
        return {"precision": precision, "recall": recall}
