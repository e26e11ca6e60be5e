"""Maximum mean discrepancy (Gaussian kernel, median-heuristic width) to held-out human data."""

from __future__ import annotations

import numpy as np

from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.registry import register_probe

MAX_POINTS = 500  # kernel matrices are O(n^2) per chain: cap both sides


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.clip(
        np.einsum("...nd,...nd->...n", a, a)[..., :, None]
        + np.einsum("...md,...md->...m", b, b)[..., None, :]
        - 2 * np.einsum("...nd,...md->...nm", a, b),
        0,
        None,
    )


def mmd2(samples: np.ndarray, reference: np.ndarray, width: float) -> np.ndarray:
    """Unbiased MMD^2 between (C, n, d) samples and (m, d) reference."""
    n, m = samples.shape[1], reference.shape[0]
    gamma = 1.0 / (2 * width**2)
    kxx = np.exp(-gamma * _sq_dists(samples, samples))
    kyy = np.exp(-gamma * _sq_dists(reference, reference))
    kxy = np.exp(-gamma * _sq_dists(samples, reference[None]))
    xx = (kxx.sum(axis=(1, 2)) - n) / (n * (n - 1))
    yy = (kyy.sum() - m) / (m * (m - 1))
    return xx + yy - 2 * kxy.mean(axis=(1, 2))


@register_probe("mmd")
class MMD(Probe):
    modality = "vector"
    metrics = (Metric("mmd", False, "unbiased MMD^2 (Gaussian kernel) between samples and human data"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        ref = ctx.reference[: MAX_POINTS]
        x = ctx.samples[:, :MAX_POINTS]
        width = np.sqrt(np.median(_sq_dists(ref, ref)[np.triu_indices(len(ref), 1)]) / 2) or 1.0
        return {"mmd": mmd2(x, ref, width)}
