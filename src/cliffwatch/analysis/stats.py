"""Confidence intervals over independent replicates (seeds, chains).

Means get Student-t intervals: with the few seeds a sweep can afford (3-5), a percentile
bootstrap of the mean is far too narrow (3 values have only 10 distinct resamples), while the
t interval widens honestly. The cliff and the knee invert such t intervals (intervals.py); the
percentile bootstrap remains only for the shift between two routes' cliffs (routes.py).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

BOOTSTRAP_SEED = 20240613  # fixed: a report's intervals do not move between renders
RESAMPLES = 2000
FEW_REPLICATES = 10  # below this, summaries say the intervals are wide and more seeds narrow them


def t_interval(values: np.ndarray, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) along ``axis``: mean ± t_{n-1} · SE. nan bounds for n < 2."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high) of replicate values with a Student-t interval.

    Non-finite replicates (a collapsed model's infinite NLL) make the mean infinite and the
    interval undefined (nan): the report says so instead of averaging them away.
    """
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    if not np.isfinite(values).all():
        return float(values.mean()), np.nan, np.nan
    mean, low, high = t_interval(values, level=level)
    return float(mean), float(low), float(high)
