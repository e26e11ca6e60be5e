"""Fréchet distance between Gaussian fits of model samples and of held-out human data."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.core.moments import sample_moments
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(a)
    return (vectors * np.sqrt(np.clip(values, 0, None))[..., None, :]) @ np.swapaxes(vectors, -1, -2)


def frechet(mean: np.ndarray, cov: np.ndarray, ref_mean: np.ndarray, ref_cov: np.ndarray) -> np.ndarray:
    """||m1 - m2||^2 + tr(S1 + S2 - 2 (S2^1/2 S1 S2^1/2)^1/2), batched over the leading axis of (mean, cov)."""
    root = _sqrt_psd(ref_cov)
    cross = _sqrt_psd(root @ cov @ root)
    return (
        ((mean - ref_mean) ** 2).sum(axis=-1)
        + np.trace(cov, axis1=-2, axis2=-1)
        + np.trace(ref_cov)
        - 2 * np.trace(cross, axis1=-2, axis2=-1)
    )


@register_probe("frechet")
class Frechet(Probe):
    modality = VECTOR
    metrics = (Metric("frechet", False, "Fréchet distance between Gaussian fits of samples and human data", 0.0, loss="ratio_of_means"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        mean, cov = sample_moments(ctx.samples)
        ref = ctx.reference
        return {"frechet": np.maximum(frechet(mean, cov, ref.mean(axis=0), np.atleast_2d(np.cov(ref, rowvar=False))), 0.0)}
