"""Intervals for the cliff and the knee from replicate-level ΔQ curves (derivation: docs/statistics.md).

Input everywhere: ``r``, an (n replicates × K fractions) matrix of paired quality loss ΔQ at the
sorted grid ``fractions``. Replicates are independent; fractions within a replicate are not
(common random numbers), so every statistic here is reduced to one number per replicate before
a Student-t step, which is exact for normal replicates at any n ≥ 2 and any correlation.

- cliff: invert the pointwise Student-t band of mean ΔQ. Between grid points the band is
  widened by a bound on the interpolation error: the curve's slope change over the neighbouring
  cells (an upper confidence bound, itself a per-replicate t statistic) for interior cells, and
  the neighbouring grid points' band (monotonicity only) for the first and last cell.
- knee: a continuous hinge (two-segment) model. Non-linearity is a t test of a curvature
  contrast; the knee's confidence set collects every breakpoint k that a shift contrast and a
  curvature contrast, both orthogonal to the hinge at k, fail to reject (Bonferroni over the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, stats

CLIFF_METHOD = "inverted pointwise Student-t band of mean ΔQ, widened by an interpolation-error bound"
KNEE_METHOD = "continuous hinge fit; t-test inversion of shift and curvature contrasts (Bonferroni)"
NONLINEAR_METHOD = "Student-t test of the per-replicate quadratic contrast (two-sided)"
_CELL_POINTS = 200  # evaluation points per grid cell when inverting the band
_KNEE_POINTS = 400  # candidate breakpoints over the sweep


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval, or a reason why there is none.

    status: "located" (estimate and interval), "beyond_grid" (no crossing on the grid; ``low`` is
    still a lower bound), "none" (the data show no such feature), "undetermined" (too little data).
    ``high`` is inf when the upper bound lies beyond the grid.
    """

    estimate: float
    low: float
    high: float
    status: str
    method: str
    reason: str = ""


def band(r: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per fraction: pointwise Student-t interval over replicates.

    A fraction where some replicate is infinite has no t interval: its bounds are (nan, inf), i.e.
    "cannot say", unless every replicate is infinite (then the loss is surely infinite)."""
    n = len(r)
    mean = r.mean(axis=0)
    if n < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    with np.errstate(invalid="ignore"):
        half = stats.t.ppf(0.5 + level / 2, n - 1) * r.std(axis=0, ddof=1) / np.sqrt(n)
        low, high = mean - half, mean + half
    finite = np.isfinite(r).all(axis=0)
    surely_inf = np.isposinf(r).all(axis=0)
    low = np.where(finite, low, np.where(surely_inf, np.inf, np.nan))
    high = np.where(finite, high, np.inf)
    return mean, low, high


def _upper_abs(values: np.ndarray, level: float) -> np.ndarray:
    """Upper confidence bound on |E value| per column (one-sided t, replicates in rows)."""
    n = len(values)
    with np.errstate(invalid="ignore"):
        se = values.std(axis=0, ddof=1) / np.sqrt(n)
        return np.abs(values.mean(axis=0)) + stats.t.ppf(level, n - 1) * se


def widened_band(fractions: np.ndarray, r: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, lower, upper) on a dense grid: the band between grid points, widened by the bound on the
    interpolation error, so it contains the true curve wherever the pointwise band does at the
    grid points and the curvature bound holds."""
    _, low, high = band(r, level)
    h = np.diff(fractions)  # (K-1,)
    k = len(fractions)
    u = np.linspace(0.0, 1.0, _CELL_POINTS + 1)[:-1]  # position within a cell (right end = next cell's start)
    lo_j, hi_j = low[:-1, None], high[:-1, None]
    lo_next, hi_next = low[1:, None], high[1:, None]
    with np.errstate(invalid="ignore"):
        upper = hi_j + u * (hi_next - hi_j)
        lower = lo_j + u * (lo_next - lo_j)
    # interior cells: a curve convex or concave over cells j-1..j+1 departs from its chord by at most
    # h_j · u(1-u) · |slope(j+1) - slope(j-1)|, the chord slopes taken per replicate
    gap = np.full(k - 1, np.nan)
    if k >= 4:
        slopes = np.diff(r, axis=1) / h  # (n, K-1)
        change = slopes[:, 2:] - slopes[:, :-2]  # cells 1..K-3
        if np.isfinite(change).all():
            gap[1:-1] = h[1:-1] * _upper_abs(change, level)
    bend = gap[:, None] * u * (1 - u)
    interior = np.isfinite(gap)[:, None]
    # edge cells (and any cell without a curvature bound): only monotonicity, so anywhere inside the
    # cell the curve lies between the neighbouring grid points' bands
    inside = u > 0
    mono_upper = np.where(inside, np.fmax(hi_j, hi_next), hi_j)
    mono_lower = np.where(inside, np.fmin(lo_j, lo_next), lo_j)
    upper = np.where(interior, upper + bend, mono_upper)
    lower = np.where(interior, lower - bend, mono_lower)
    s = (fractions[:-1, None] + u * h[:, None]).ravel()
    return np.append(s, fractions[-1]), np.append(lower.ravel(), low[-1]), np.append(upper.ravel(), high[-1])


def cliff_interval(fractions: np.ndarray, r: np.ndarray, tolerance: float, estimate: float,
                   level: float = 0.95) -> Interval:
    """The cliff (smallest s with true mean ΔQ > τ) lies in [first s where the widened band's upper
    edge passes τ, first s where its lower edge does]: outside it the band would exclude the curve."""
    n = len(r)
    if n < 2:
        return Interval(estimate, np.nan, np.nan, "undetermined", CLIFF_METHOD,
                        "one replicate has no spread to build an interval from; run more seeds")
    s, lower, upper = widened_band(fractions, r, level)
    maybe_over = np.flatnonzero(~(upper <= tolerance))  # nan counts as "may be over τ"
    surely_over = np.flatnonzero(lower > tolerance)
    # step back one evaluation point for the lower bound: the true crossing of the upper edge lies after it
    low = float(s[max(maybe_over[0] - 1, 0)]) if len(maybe_over) else float(fractions[-1])
    high = float(s[surely_over[0]]) if len(surely_over) else np.inf
    if low <= fractions[0] and np.isinf(high):
        return Interval(estimate, low, high, "undetermined", CLIFF_METHOD,
                        f"with {n} replicates the {level:.0%} band of ΔQ straddles τ over the whole grid; run more seeds")
    if not np.isfinite(estimate):
        return Interval(estimate, low, high, "beyond_grid", CLIFF_METHOD,
                        f"mean ΔQ stays within τ up to s = {fractions[-1]:g}")
    return Interval(estimate, low, high, "located", CLIFF_METHOD)


@dataclass(frozen=True)
class Knee:
    interval: Interval
    slope_left: float
    slope_right: float
    p_value: float  # of the non-linearity test
    nonlinear: bool


def _residual_projections(fractions: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """(m, K, K): projections onto the residual space of the hinge model [1, s, (s - k)+] per knot."""
    x = np.stack([np.ones((len(knots), len(fractions))), np.broadcast_to(fractions, (len(knots), len(fractions))),
                  np.maximum(0.0, fractions[None, :] - knots[:, None])], axis=-1)  # (m, K, 3)
    return np.eye(len(fractions)) - x @ np.linalg.pinv(x)


def _t_stats(r: np.ndarray, contrasts: np.ndarray) -> np.ndarray:
    """t statistic of each contrast (rows of ``contrasts``, (m, K)) over replicates; nan where the
    contrast vanishes (the hinge model already spans that direction)."""
    scale = np.linalg.norm(contrasts, axis=1, keepdims=True)
    usable = scale[:, 0] > 1e-9 * max(1.0, float(np.abs(contrasts).max()))
    z = r @ (contrasts / np.where(scale > 0, scale, 1.0)).T  # (n, m)
    mean, sd = z.mean(axis=0), z.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = mean / (sd / np.sqrt(len(r)))
    t = np.where(sd > 1e-12 * (1 + np.abs(mean)), t, np.where(np.abs(mean) > 1e-12, np.inf, 0.0))
    return np.where(usable, t, np.nan)


def _hinge_sse(fractions: np.ndarray, curve: np.ndarray, k: float) -> float:
    residual = _residual_projections(fractions, np.array([k]))[0] @ curve
    return float(residual @ residual)


def _candidate_knots(fractions: np.ndarray) -> np.ndarray:
    return np.union1d(np.linspace(fractions[0], fractions[-1], _KNEE_POINTS + 1)[1:-1], fractions[1:-1])


@lru_cache(maxsize=32)
def _knot_design(grid: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(knots, residual projections, shift contrasts, curvature contrasts) for one fraction grid:
    every curve of a sweep shares them."""
    fractions = np.array(grid)
    knots = _candidate_knots(fractions)
    proj = _residual_projections(fractions, knots)
    shift = (proj @ (fractions[None, :] > knots[:, None]).astype(float)[..., None])[..., 0]  # moving the knee
    curvature = proj @ (fractions**2)  # bending other than at the knee
    for array in (knots, proj, shift, curvature):
        array.flags.writeable = False
    return knots, proj, shift, curvature


def _refine(fractions: np.ndarray, curve: np.ndarray, knots: np.ndarray, best: int) -> float:
    """The least-squares knee near candidate ``best``: the profile is continuous in k, not a grid."""
    lo_k, hi_k = knots[max(best - 1, 0)], knots[min(best + 1, len(knots) - 1)]
    return float(optimize.minimize_scalar(lambda x: _hinge_sse(fractions, curve, x), bounds=(lo_k, hi_k),
                                          method="bounded", options={"xatol": 1e-6}).x)


def _slopes(fractions: np.ndarray, curve: np.ndarray, knee: float) -> tuple[float, float]:
    x = np.column_stack([np.ones_like(fractions), fractions, np.maximum(0.0, fractions - knee)])
    coef = np.linalg.lstsq(x, curve, rcond=None)[0]
    return float(coef[1]), float(coef[1] + coef[2])


def hinge_fit(fractions: np.ndarray, curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous two-segment least-squares fit of each curve (rows): (knee, left slope, right slope);
    nan for a curve with a non-finite value."""
    curves = np.atleast_2d(np.asarray(curves, dtype=float))
    knots, proj, _, _ = _knot_design(tuple(np.asarray(fractions, dtype=float).tolist()))
    out = np.full((3, len(curves)), np.nan)
    finite = np.flatnonzero(np.isfinite(curves).all(axis=1))
    if len(finite):
        residuals = np.einsum("mij,rj->rmi", proj, curves[finite])
        best = np.argmin((residuals**2).sum(axis=2), axis=1)
        for row, b in zip(finite, best):
            knee = _refine(fractions, curves[row], knots, int(b))
            out[:, row] = (knee, *_slopes(fractions, curves[row], knee))
    return out[0], out[1], out[2]


def knee_analysis(fractions: np.ndarray, r: np.ndarray, alpha: float = 0.05) -> Knee:
    """Non-linearity test, continuous knee estimate and its confidence set (see module doc)."""
    n, k = r.shape
    nan = float("nan")
    if n < 2 or k < 4:
        why = "one replicate cannot tell a bend from noise" if n < 2 else "a knee needs at least 4 fractions"
        return Knee(Interval(nan, nan, nan, "undetermined", KNEE_METHOD, why), nan, nan, nan, False)
    if not np.isfinite(r).all():
        return Knee(Interval(nan, nan, nan, "undetermined", KNEE_METHOD, "ΔQ is infinite at some fraction"),
                    nan, nan, nan, False)
    linear = np.column_stack([np.ones(k), fractions])
    p_linear = np.eye(k) - linear @ np.linalg.pinv(linear)
    t_curve = _t_stats(r, (p_linear @ fractions**2)[None, :])[0]
    p_value = float(2 * stats.t.sf(abs(t_curve), n - 1)) if np.isfinite(t_curve) else 1.0
    nonlinear = p_value < alpha

    knots, proj, shift, curvature = _knot_design(tuple(fractions.tolist()))
    critical = stats.t.ppf(1 - alpha / 4, n - 1)
    t_both = np.stack([_t_stats(r, shift), _t_stats(r, curvature)])
    accepted = ~(np.abs(t_both) > critical).any(axis=0)  # nan: no evidence against this knot

    mean = r.mean(axis=0)
    sse = np.einsum("mij,j->mi", proj, mean)
    sse = (sse**2).sum(axis=1)
    if not nonlinear:
        interval = Interval(nan, nan, nan, "none", KNEE_METHOD,
                            f"no knee identified: ΔQ is not distinguishable from a straight line (curvature p = {p_value:.2g})")
        return Knee(interval, nan, nan, p_value, False)
    if not accepted.any():
        interval = Interval(nan, nan, nan, "undetermined", KNEE_METHOD,
                            "the curve bends, but no single two-segment line fits it (it curves gradually)")
        return Knee(interval, nan, nan, p_value, True)
    knee = _refine(fractions, mean, knots, int(np.argmin(np.where(accepted, sse, np.inf))))
    idx = np.flatnonzero(accepted)
    # the set's edges lie between candidate knots: step out to the neighbouring candidates
    low = float(knots[idx[0] - 1]) if idx[0] > 0 else float(fractions[0])
    high = float(knots[idx[-1] + 1]) if idx[-1] < len(knots) - 1 else float(fractions[-1])
    return Knee(Interval(knee, min(low, knee), max(high, knee), "located", KNEE_METHOD),
                *_slopes(fractions, mean, knee), p_value, True)
