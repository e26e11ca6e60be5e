"""Mean and covariance error against the human distribution."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.core.moments import sample_moments
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe


def model_moments(ctx: ProbeContext) -> tuple[np.ndarray, np.ndarray]:
    """(C, d) means and (C, d, d) covariances: exact when the model knows them, else from its samples."""
    if hasattr(ctx.model, "moments"):
        return ctx.model.moments()
    return sample_moments(ctx.samples)


def reference_moments(ctx: ProbeContext) -> tuple[np.ndarray, np.ndarray]:
    """The human distribution's moments: exact for an analytic source, else from the held-out data."""
    exact = ctx.source.true_moments() if ctx.source is not None else None
    if exact is not None:
        return exact
    ref = ctx.reference
    return ref.mean(axis=0), np.atleast_2d(np.cov(ref, rowvar=False))


@register_probe("moments")
class Moments(Probe):
    modality = VECTOR
    metrics = (
        Metric("mean_error", False, "Euclidean distance between model and human means", 0.0, loss="ratio_of_means"),
        Metric("cov_error", False, "Frobenius norm of (model - human) covariance", 0.0, loss="ratio_of_means"),
        Metric("variance_ratio", None, "total model variance / total human variance (1 = same spread; -> 0 on collapse)", 0.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        mean, cov = model_moments(ctx)
        ref_mean, ref_cov = reference_moments(ctx)
        return {
            "mean_error": _norm(mean - ref_mean, axis=1),
            "cov_error": _norm(cov - ref_cov, axis=(1, 2)),
            "variance_ratio": np.trace(cov, axis1=1, axis2=2) / np.trace(ref_cov),
        }


def _norm(x: np.ndarray, axis) -> np.ndarray:
    """np.linalg.norm(x, axis=axis) of a real array, the same operations without its per-call overhead."""
    return np.sqrt(np.add.reduce(x * x, axis=axis))
