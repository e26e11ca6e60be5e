"""The one home of the interval formulas every analysis and report uses (derivations and coverage:
docs/statistics.md).

- Student-t intervals of a mean over independent replicates. With the few seeds a sweep can
  afford (3-5) a percentile bootstrap of the mean is far too narrow (3 values have only 10
  distinct resamples), while the t interval widens honestly.
- Replicates are seeds: the chains of one seed share its human data, so they are averaged into
  one value per seed before any interval (``seed_means``); counting correlated chains as
  independent replicates made tests fire and intervals undercover.
- The risk that a single run crosses τ: an exact (Clopper–Pearson) binomial upper bound from how
  many of n seeds crossed, and how many more seeds would bring it under a risk level.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special  # its quantiles are scipy.stats' own (the same functions), without that module's import

LEVEL = 0.95  # every interval in a report
RISK_LEVEL = 0.25  # default: the safe mix needs P(a run crosses τ) ≤ this, at 95% confidence (11 seeds, none crossing)
FEW_REPLICATES = 10  # below this, summaries say the intervals are wide and more seeds narrow them


def t_quantile(level: float, n: np.ndarray | int) -> np.ndarray:
    """The two-sided ``level`` quantile of Student's t with n − 1 degrees of freedom (nan for n < 2)."""
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(n >= 2, special.stdtrit(np.maximum(n - 1, 1), 0.5 + level / 2), np.nan)


def t_interval(values: np.ndarray, axis: int = 0, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) along ``axis``: mean ± t_{n−1} · SE. nan bounds for n < 2."""
    values = np.asarray(values, dtype=float)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    with np.errstate(invalid="ignore"):
        half = t_quantile(level, n) * values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, mean - half, mean + half


def mean_ci(values: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
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


def seed_means(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """One row per seed: the mean over its chains (rows indexed by seed, chain). The chains of a
    seed share its human data and are correlated; their mean is one independent replicate."""
    return frame.groupby(level="seed").mean()


def risk_bound(crossed: np.ndarray | int, n: np.ndarray | int, level: float = LEVEL) -> np.ndarray:
    """Exact one-sided upper ``level`` bound on the probability that a single run crosses τ, when
    ``crossed`` of ``n`` independent runs did (Clopper–Pearson): 0 of 3 gives 63%. 1 where n = 0."""
    k, n = np.asarray(crossed, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        bound = special.betaincinv(k + 1, np.maximum(n - k, 1e-300), level)
    return np.where((n > 0) & (k < n), bound, 1.0)


def seeds_needed(crossed: int, n: int, risk: float, level: float = LEVEL, most: int = 10_000) -> int | None:
    """How many more seeds, none of them crossing τ, bring the exact bound to ``risk`` or below
    (0: it already is); None if not even ``most`` more would."""
    if risk_bound(crossed, n, level) <= risk:
        return 0
    if risk <= 0:
        return None
    # with k crossings, the bound falls below risk once P(Binomial(m, risk) ≤ k) ≤ 1 − level;
    # search m from the k = 0 closed form upwards
    start = max(n + 1, math.ceil(math.log(1 - level) / math.log1p(-risk)) if risk < 1 else n + 1)
    m = np.arange(start, start + most)
    ok = np.flatnonzero(risk_bound(crossed, m, level) <= risk)
    return int(m[ok[0]] - n) if len(ok) else None
