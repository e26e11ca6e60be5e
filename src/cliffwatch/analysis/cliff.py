"""Locate the quality cliff: quality loss vs synthetic fraction, with bootstrap CIs over replicates.

Quality loss ΔQ(s, g) of the primary metric is measured against the all-human run (s = 0) at
the same generation, paired by replicate (seed, chain): lineages of one seed share their human
data (common random numbers), so the pairing removes most of the between-seed noise.

- ΔQ per fraction: mean over replicates with a Student-t 95% interval.
- cliff: the smallest s with mean ΔQ(s, G) > τ, linearly interpolated between grid points;
  its CI comes from resampling replicates (a percentile bootstrap; rough with few replicates).
- knee: the breakpoint of a continuous two-segment (hinge) fit of ΔQ over s, with the slopes
  left and right of it; the curve counts as non-linear when the bootstrap CI of the slope
  increase excludes zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cliffwatch.analysis.quality_loss import (
    FRACTION,
    direction,
    group_columns,
    loss_table,
    replicate_matrix,
    run_metrics,
)
from cliffwatch.analysis.stats import BOOTSTRAP_SEED, RESAMPLES, t_interval
from cliffwatch.core.errors import AnalysisError
from cliffwatch.core.modality import MODALITIES


def default_metric(df: pd.DataFrame) -> str:
    """The default cliff metric of the run's modality (the first modality default it reports)."""
    present = set(df["metric"].unique())
    metrics = run_metrics(df)
    for modality in MODALITIES.values():
        name = modality.default_metric
        if name in present and name in metrics and metrics[name].kind == "probe":
            return name
    raise AnalysisError(f"no default quality metric among {sorted(present)}; name one with --metric")


def crossing(fractions: np.ndarray, curves: np.ndarray, tolerance: float) -> np.ndarray:
    """For each row of curves (…, n_s): the smallest s where the curve exceeds tau, linearly
    interpolated from the grid point before; nan where it never does."""
    above = curves > tolerance
    first = np.argmax(above, axis=-1)
    found = above.any(axis=-1)
    prev = np.maximum(first - 1, 0)
    y0 = np.take_along_axis(curves, prev[..., None], axis=-1)[..., 0]
    y1 = np.take_along_axis(curves, first[..., None], axis=-1)[..., 0]
    s0, s1 = fractions[prev], fractions[first]
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.isfinite(y1) & (y1 > y0), (tolerance - y0) / (y1 - y0), 1.0)
    s = np.where(first == 0, s1, s0 + np.clip(t, 0, 1) * (s1 - s0))
    return np.where(found, s, np.nan)


def hinge_fit(fractions: np.ndarray, curves: np.ndarray, knots: int = 101) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous two-segment least-squares fit of each curve (rows): (knee, left slope, right slope)."""
    curves = np.atleast_2d(curves)
    lo, hi = fractions[1], fractions[-2]
    # a fine grid of knots, plus the data points themselves (a knee is often at one)
    candidates = np.union1d(np.linspace(lo, hi, knots), fractions[1:-1])
    best_sse = np.full(len(curves), np.inf)
    out = np.full((3, len(curves)), np.nan)
    finite = np.isfinite(curves).all(axis=1)
    y = np.where(finite[:, None], curves, 0.0).T  # (n_s, rows)
    for k in candidates:
        design = np.column_stack([np.ones_like(fractions), fractions, np.maximum(0.0, fractions - k)])
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        sse = ((design @ coef - y) ** 2).sum(axis=0)
        better = sse < best_sse
        best_sse = np.where(better, sse, best_sse)
        out[:, better] = np.vstack([np.full(better.sum(), k), coef[1, better], coef[1, better] + coef[2, better]])
    out[:, ~finite] = np.nan
    return out[0], out[1], out[2]


def _ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap cliff locations; a resample with no crossing (nan) counts as a
    cliff beyond the grid (inf), so a bound past the largest fraction reads as inf, not as a number."""
    alpha = (1 - level) / 2
    values = np.where(np.isnan(samples), np.inf, samples)
    low, high = np.quantile(values, [alpha, 1 - alpha], method="inverted_cdf")
    return float(low), float(high)


@dataclass
class Cliff:
    """The cliff of one curve (one combination of the non-fraction swept fields)."""

    metric: str
    higher_is_better: bool
    tolerance: float
    relative: bool
    generation: int
    group: dict[str, Any]
    fractions: np.ndarray
    loss: np.ndarray  # mean ΔQ per s
    loss_low: np.ndarray
    loss_high: np.ndarray
    replicates: int
    cliff: float  # nan: no crossing up to the largest s
    cliff_low: float
    cliff_high: float  # inf: the upper bound lies beyond the grid
    knee: float
    knee_low: float
    knee_high: float
    slope_left: float
    slope_right: float
    nonlinear: bool
    collapse_generations: dict[float, int | None] = field(default_factory=dict)  # s -> first g with ΔQ > τ

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.cliff))

    @property
    def safe(self) -> np.ndarray:
        """Per fraction: its whole CI of ΔQ stays within τ, and so does every smaller fraction's
        (a safe mix past an unsure one would be a bet on noise)."""
        return np.cumprod(self.loss_high <= self.tolerance).astype(bool)

    @property
    def safe_fraction(self) -> float:
        """The largest safe grid fraction (nan if none is)."""
        return float(self.fractions[self.safe][-1]) if self.safe.any() else float("nan")

    @property
    def sharpness(self) -> float:
        """Right slope over left slope of the hinge fit (how abruptly the loss steepens)."""
        if not np.isfinite(self.slope_left) or abs(self.slope_left) < 1e-12:
            return float("inf") if self.slope_right > 0 else float("nan")
        return self.slope_right / self.slope_left


def analyze(df: pd.DataFrame, metric: str | None = None, tolerance: float = 0.1, relative: bool = True,
            generation: int | None = None, resamples: int = RESAMPLES) -> list[Cliff]:
    """One Cliff per combination of the swept fields other than the synthetic fraction."""
    metric = metric or default_metric(df)
    losses = loss_table(df, metric, relative)
    last = int(losses["generation"].max())
    generation = last if generation is None else generation
    if generation not in set(losses["generation"]):
        raise AnalysisError(f"generation {generation} is not in this run (0..{last})")
    groups = group_columns(df)
    out = []
    for key, part in (losses.groupby(groups, sort=True) if groups else [((), losses)]):
        key = key if isinstance(key, tuple) else (key,)
        out.append(analyze_curve(part, metric, tolerance, relative, generation, dict(zip(groups, key)), resamples))
    return out


def analyze_curve(losses: pd.DataFrame, metric, tolerance, relative, generation, group, resamples) -> Cliff:
    fractions = np.sort(losses[FRACTION].unique()).astype(float)
    if len(fractions) < 2:
        raise AnalysisError(
            f"only one synthetic fraction ({fractions[0]:g}) in this run: a cliff needs a sweep over several "
            "(e.g. sweep: {policy.synthetic_fraction: [0, 0.1, ..., 1]})"
        )
    matrix = replicate_matrix(losses, generation, fractions)
    if matrix.empty:
        raise AnalysisError(f"no replicate (seed, chain) finished every fraction at generation {generation}")
    r = matrix.to_numpy()
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    boot = r[rng.integers(0, len(r), size=(resamples, len(r)))].mean(axis=1)  # (B, n_s)
    mean = r.mean(axis=0)
    _, loss_low, loss_high = t_interval(r, axis=0)
    cliff = float(crossing(fractions, mean, tolerance))
    cliff_low, cliff_high = _ci(crossing(fractions, boot, tolerance)) if len(r) > 1 else (np.nan, np.nan)
    if len(fractions) >= 4 and len(r) > 1:  # one replicate has no sampling distribution to judge a bend by
        knee, left, right = (float(v[0]) for v in hinge_fit(fractions, mean))
        b_knee, b_left, b_right = hinge_fit(fractions, boot[: min(resamples, 500)])
        knee_low, knee_high = np.nanquantile(b_knee, [0.025, 0.975]) if np.isfinite(b_knee).any() else (np.nan, np.nan)
        bend = b_right - b_left
        nonlinear = bool(np.isfinite(bend).all() and np.quantile(bend, 0.025) > 0)
    else:
        knee = left = right = knee_low = knee_high = np.nan
        nonlinear = False
    by_s = losses.groupby([FRACTION, "generation"])["loss"].mean().unstack("generation")
    collapse = {}
    for s in fractions:
        over = np.flatnonzero(by_s.loc[s].to_numpy() > tolerance)
        collapse[float(s)] = int(by_s.columns[over[0]]) if len(over) else None
    return Cliff(
        metric, direction(metric, run_metrics(losses)), tolerance, relative, generation, group, fractions, mean,
        np.asarray(loss_low), np.asarray(loss_high), len(r), cliff, float(cliff_low), float(cliff_high),
        knee, float(knee_low), float(knee_high), left, right, nonlinear, collapse,
    )


def loss_surface(df: pd.DataFrame, metric: str, relative: bool = True) -> pd.DataFrame:
    """Mean ΔQ over replicates, indexed by (groups…, s) with one column per generation (the heatmap)."""
    losses = loss_table(df, metric, relative)
    keys = group_columns(df) + [FRACTION]
    return losses.groupby(keys + ["generation"])["loss"].mean().unstack("generation")
