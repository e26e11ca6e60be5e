"""Maximum mean discrepancy (Gaussian kernel, median-heuristic width) to held-out human data."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe

MAX_POINTS = 300  # kernel matrices are O(n^2) per chain: cap both sides


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    aa = (a * a).sum(axis=-1)[..., :, None]
    bb = (b * b).sum(axis=-1)[..., None, :]
    return np.clip(aa + bb - 2 * (a @ np.swapaxes(b, -1, -2)), 0, None)


def mmd2(samples: np.ndarray, reference: np.ndarray, width: float) -> np.ndarray:
    """Unbiased MMD^2 between (C, n, d) samples and (m, d) reference."""
    n, m = samples.shape[1], reference.shape[0]
    gamma = 1.0 / (2 * width**2)
    kxx = np.exp(-gamma * _sq_dists(samples, samples))
    kyy = np.exp(-gamma * _sq_dists(reference, reference))
    kxy = np.exp(-gamma * _sq_dists(samples, reference))
    xx = (kxx.sum(axis=(1, 2)) - n) / (n * (n - 1))
    yy = (kyy.sum() - m) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean(axis=(1, 2))


def median_width(reference: np.ndarray) -> float:
    """The median-heuristic kernel width of the human data."""
    d2 = _sq_dists(reference, reference)[np.triu_indices(len(reference), 1)]
    return float(np.sqrt(np.median(d2) / 2)) or 1.0


@register_probe("mmd")
class MMD(Probe):
    modality = VECTOR
    metrics = (Metric("mmd", False, "unbiased MMD^2 (Gaussian kernel) between samples and human data", loss="difference"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        ref = ctx.reference[:MAX_POINTS]
        return {"mmd": mmd2(ctx.samples[:, :MAX_POINTS], ref, median_width(ref))}
