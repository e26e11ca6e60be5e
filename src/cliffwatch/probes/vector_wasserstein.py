"""1-D Wasserstein distance per dimension between model samples and held-out human data."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe


def wasserstein_1d(samples: np.ndarray, reference: np.ndarray, grid: int = 512) -> np.ndarray:
    """Mean over dimensions of W1 between (C, n, d) samples and (m, d) reference, by quantile matching."""
    q = (np.arange(grid) + 0.5) / grid
    sample_q = np.quantile(samples, q, axis=1)  # (grid, C, d)
    ref_q = np.quantile(reference, q, axis=0)  # (grid, d)
    return np.abs(sample_q - ref_q[:, None, :]).mean(axis=(0, 2))


@register_probe("wasserstein")
class Wasserstein(Probe):
    modality = VECTOR
    metrics = (Metric("wasserstein", False, "1-D Wasserstein distance to human data, averaged over dimensions", 0.0,
                       loss="ratio_of_means"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return {"wasserstein": wasserstein_1d(ctx.samples, ctx.reference)}
