"""Bootstrap confidence intervals over independent replicates (seeds, chains)."""

from __future__ import annotations

import numpy as np

BOOTSTRAP_SEED = 20240613  # fixed: a report's intervals do not move between renders
RESAMPLES = 2000


def bootstrap_mean_ci(values: np.ndarray, level: float = 0.95, resamples: int = RESAMPLES) -> tuple[float, float, float]:
    """(mean, low, high): percentile bootstrap CI of the mean over the replicates in ``values``.

    Non-finite replicates (a collapsed model's infinite NLL) make the mean infinite and the
    interval undefined (nan): the report says so instead of averaging them away.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    mean = float(values.mean())
    if not np.isfinite(values).all() or len(values) == 1:
        return mean, np.nan, np.nan
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    means = values[rng.integers(0, len(values), size=(resamples, len(values)))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return mean, float(low), float(high)
