"""Intervals for the cliff and the knee from replicate-level ΔQ curves (derivation: docs/statistics.md).

Input everywhere: ``r``, an (n replicates × K fractions) matrix of paired quality loss ΔQ at the
sorted grid ``fractions``. Replicates are seeds (chains averaged, stats.seed_means) and independent;
fractions within a replicate are not (common random numbers), so every statistic here is reduced
to one number per replicate before a Student-t step, which is exact for normal replicates at any
n ≥ 2 and any correlation.

- cliff: invert the pointwise Student-t band of mean ΔQ; between grid points, the band of each
  replicate's local cubic interpolant, widened by the interpolant's error term. A cell
  whose chord slope towers over its neighbours' (a collapse between two grid points) says nothing
  about where inside it the curve crosses τ: there and next to it only monotonicity is used, so the
  interval spans the cell and the grid is reported as too coarse (``coarse_cell``).
- knee: a continuous hinge (two-segment) model. Non-linearity is a t test of a curvature
  contrast; the knee's confidence set collects every breakpoint k that a shift contrast and a
  curvature contrast, both orthogonal to the hinge at k, fail to reject (Bonferroni over the two).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import special  # Student's t as scipy.stats computes it, without that module's import

from cliffwatch.analysis.stats import LEVEL, t_interval, t_quantile

CLIFF_METHOD = ("inverted pointwise Student-t band of mean ΔQ, between grid points that of the local cubic "
                "interpolant of each replicate, widened by its error term; a cell far steeper than its neighbours is spanned whole")
KNEE_METHOD = "continuous hinge fit; t-test inversion of shift and curvature contrasts (Bonferroni)"
NONLINEAR_METHOD = "Student-t test of the per-replicate quadratic contrast (two-sided)"
MIN_FRACTIONS = 3  # fewer cannot tell a cliff from the shape of the curve between them
STEEP = 2.0  # a cell counts as a step when its chord slope exceeds STEEP × its flatter neighbour's (and 5% significant)
_CELL_POINTS = 100  # evaluation points per grid cell when inverting the band
_KNEE_POINTS = 400  # candidate breakpoints over the sweep


@dataclass(frozen=True)
class Interval:
    """An estimate with a confidence interval, or a reason why there is none.

    status: "located" (estimate and interval), "beyond_grid" (no crossing on the grid; ``low`` is
    still a lower bound), "none" (the data show no such feature), "undetermined" (too little data).
    ``high`` is inf when the upper bound lies beyond the grid. ``coarse_cell``: the grid cell the
    cliff lies in when the grid is too coarse to place it closer (else None).
    """

    estimate: float
    low: float
    high: float
    status: str
    method: str
    reason: str = ""
    coarse_cell: tuple[float, float] | None = None


def band(r: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, low, high) per fraction: pointwise Student-t interval over replicates (axis -2).

    A fraction where some replicate is infinite has no t interval: its bounds are (nan, inf), i.e.
    "cannot say", unless every replicate is infinite (then the loss is surely infinite)."""
    mean, low, high = t_interval(r, axis=-2, level=level)
    if r.shape[-2] < 2:
        return mean, low, high
    finite = np.isfinite(r).all(axis=-2)
    surely_inf = np.isposinf(r).all(axis=-2)
    low = np.where(finite, low, np.where(surely_inf, np.inf, np.nan))
    high = np.where(finite, high, np.inf)
    return mean, low, high


def steep_cells(fractions: np.ndarray, r: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """(…, K−1) bool: cells whose mean chord slope is the largest among them and their neighbours
    and exceeds STEEP × the flatter neighbour's, by a one-sided t test at 1 − level over replicates."""
    n = r.shape[-2]
    with np.errstate(invalid="ignore"):  # inf − inf: a cell next to an infinite loss (monotone there anyway)
        slopes = np.diff(r, axis=-1) / np.diff(fractions)  # (…, n, K−1)
    mean = slopes.mean(axis=-2)
    cells = slopes.shape[-1]
    if n < 2 or cells < 2:
        return np.zeros(mean.shape, bool)
    pad = np.full(slopes.shape[:-1] + (1,), np.nan)
    left = np.concatenate([pad, slopes[..., :-1]], axis=-1)
    right = np.concatenate([slopes[..., 1:], pad], axis=-1)
    left_mean, right_mean = left.mean(axis=-2), right.mean(axis=-2)
    peak = (mean >= np.fmax(left_mean, right_mean))
    # the flatter neighbour, per replicate (the edge cells have one); a falling one counts as flat
    use_left = np.isnan(right_mean) | (left_mean <= right_mean)
    flatter = np.where(use_left[..., None, :], left, right)
    flatter_mean = np.where(use_left, left_mean, right_mean)
    contrast = slopes - STEEP * np.where(flatter_mean[..., None, :] > 0, flatter, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = contrast.std(axis=-2, ddof=1) / np.sqrt(n)
        lower = contrast.mean(axis=-2) - special.stdtrit(n - 1, level) * se
    return peak & (lower > 0)


@lru_cache(maxsize=32)
def _cubic_weights(grid: tuple[float, ...], points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(s, W, E) at ``points`` evaluation points per cell: the (M, K) weights of the local cubic
    interpolant (Lagrange through the cell's ends and one more grid point on each side; a quadratic
    in a cell at the end of the grid), and (2, M, K) weights of its error estimate, the next Newton
    term f[nodes, x_e] · Π(s − nodes) with x_e the next grid point on the left or the right (zero
    where there is none)."""
    fractions = np.array(grid)
    k = len(fractions)
    u = np.linspace(0.0, 1.0, points + 1)[:-1]
    s, rows, errors = [], [], []
    for j in range(k - 1):
        nodes = np.arange(max(j - 1, 0), min(j + 3, k))
        x = fractions[j] + u * (fractions[j + 1] - fractions[j])
        w = np.zeros((len(u), k))
        for a in nodes:
            others = fractions[nodes[nodes != a]]
            w[:, a] = np.prod((x[:, None] - others) / (fractions[a] - others), axis=1)
        e = np.zeros((2, len(u), k))
        product = np.prod(x[:, None] - fractions[nodes], axis=1)
        for side, extra in enumerate((nodes[0] - 1, nodes[-1] + 1)):
            if 0 <= extra < k:
                more = np.append(nodes, extra)
                for a in more:
                    e[side, :, a] = product / np.prod(fractions[a] - fractions[more[more != a]])
        s.append(x)
        rows.append(w)
        errors.append(e)
    s = np.append(np.concatenate(s), fractions[-1])
    last = np.zeros((1, k))
    last[0, -1] = 1.0
    weights = np.concatenate(rows + [last])
    error = np.concatenate(errors + [np.zeros((2, 1, k))], axis=1)
    for array in (s, weights, error):
        array.flags.writeable = False
    return s, weights, error


def widened_band(fractions: np.ndarray, r: np.ndarray, level: float = LEVEL, plain: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(s, lower, upper, coarse) on a dense grid, batched over leading axes of ``r`` (…, n, K).

    Between grid points: the pointwise Student-t band of each replicate's local cubic interpolant
    (a linear combination of its ΔQ, so its t interval is as exact as at the grid points; on smooth
    curves its interpolation error is negligible where the straight chord's is not). In coarse cells
    (steep ones, their neighbours, and cells next to a non-finite value) only monotonicity holds:
    inside them the curve lies between the band at the cell's ends. ``plain``: the grid points'
    band joined by straight lines (the reference the simulation compares with)."""
    _, low, high = band(r, level)
    k = len(fractions)
    s, weights, error = _cubic_weights(tuple(np.asarray(fractions, dtype=float).tolist()), _CELL_POINTS)
    cell = np.minimum(np.searchsorted(fractions, s, side="right") - 1, k - 2)  # (M,)
    u = (s - fractions[cell]) / (fractions[cell + 1] - fractions[cell])
    lo_j, hi_j, lo_next, hi_next = low[..., cell], high[..., cell], low[..., cell + 1], high[..., cell + 1]
    with np.errstate(invalid="ignore"):
        straight = lo_j + u * (lo_next - lo_j), hi_j + u * (hi_next - hi_j)
    coarse = np.zeros(low.shape[:-1] + (k - 1,), bool)
    if plain or k < 3 or r.shape[-2] < 2:
        return s, straight[0], straight[1], coarse
    steep = steep_cells(fractions, r, level)
    # the interpolant of a cell reaches one cell further each side, its error term two: within two
    # cells of a step both would carry the step into a cell it is not in
    coarse = steep.copy()
    for shift in (1, 2):
        coarse[..., shift:] |= steep[..., :-shift]
        coarse[..., :-shift] |= steep[..., shift:]
    finite = np.isfinite(r).all(axis=-2)
    unknown = ~(finite[..., :-1] & finite[..., 1:])
    n = r.shape[-2]
    clean = np.where(np.isfinite(r), r, 0.0)
    mean = clean.mean(axis=-2) @ weights.T  # (…, M)
    centred = clean - clean.mean(axis=-2, keepdims=True)
    cov = np.swapaxes(centred, -1, -2) @ centred / (n - 1)  # (…, K, K)
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(np.maximum(((weights @ cov) * weights).sum(axis=-1), 0.0))
        half = t_quantile(level, n) * sd / np.sqrt(n)
        half = half + np.abs(np.einsum("...k,emk->...em", clean.mean(axis=-2), error)).max(axis=-2)
    near_unknown = unknown.copy()
    near_unknown[..., 1:] |= unknown[..., :-1]
    near_unknown[..., :-1] |= unknown[..., 1:]
    monotone = (coarse | near_unknown)[..., cell]
    inside = u > 0
    with np.errstate(invalid="ignore"):
        mono_upper = np.where(inside, np.fmax(hi_j, hi_next), hi_j)
        mono_lower = np.where(inside, np.fmin(lo_j, lo_next), lo_j)
        upper = np.where(monotone, mono_upper, np.where(inside, mean + half, hi_j))
        lower = np.where(monotone, mono_lower, np.where(inside, mean - half, lo_j))
    return s, lower, upper, coarse


def cliff_bounds(fractions: np.ndarray, r: np.ndarray, tolerance: float, level: float = LEVEL, plain: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(low, high, cell) batched over the leading axes of ``r`` (…, n, K): the cliff (smallest s with
    true mean ΔQ > τ) lies in [first s where the band's upper edge passes τ, first s where its lower
    edge does]; outside it the band would exclude the curve. ``high`` is inf beyond the grid;
    ``cell`` is the index of the coarse cell holding the interval (−1 if none)."""
    s, lower, upper, coarse = widened_band(fractions, r, level, plain)
    maybe_over = ~(upper <= tolerance)  # nan counts as "may be over τ"
    surely_over = lower > tolerance
    first_maybe = np.argmax(maybe_over, axis=-1)
    first_sure = np.argmax(surely_over, axis=-1)
    # step back one evaluation point for the lower bound: the true crossing of the upper edge lies after it
    low = np.where(maybe_over.any(axis=-1), s[np.maximum(first_maybe - 1, 0)], fractions[-1])
    high = np.where(surely_over.any(axis=-1), s[first_sure], np.inf)
    # the interval sits in a coarse cell when its ends are that cell's ends
    j = np.clip(np.searchsorted(fractions, low, side="right") - 1, 0, len(fractions) - 2)
    in_cell = (np.take_along_axis(coarse, j[..., None], axis=-1)[..., 0] if coarse.ndim else False)
    cell = np.where(in_cell & (high <= fractions[np.minimum(j + 1, len(fractions) - 1)] + 1e-12), j, -1)
    return low, high, cell


def cliff_interval(fractions: np.ndarray, r: np.ndarray, tolerance: float, estimate: float,
                   level: float = LEVEL) -> Interval:
    """The cliff's interval (cliff_bounds) with its status and the reason when there is none."""
    n = len(r)
    if len(fractions) < MIN_FRACTIONS:
        where = ", ".join(f"{a:g} and {b:g}" for a, b in zip(fractions[:-1], fractions[1:]))
        return Interval(float("nan"), np.nan, np.nan, "undetermined", CLIFF_METHOD,
                        f"grid too coarse to locate a cliff: add fractions between {where}")
    if n < 2:
        return Interval(estimate, np.nan, np.nan, "undetermined", CLIFF_METHOD,
                        "one replicate has no spread to build an interval from; run more seeds")
    low, high, cell = (float(x) for x in cliff_bounds(fractions, r, tolerance, level))
    if low < fractions[1] and np.isinf(high):
        return Interval(estimate, low, high, "undetermined", CLIFF_METHOD,
                        f"with {n} replicates the {level:.0%} band of ΔQ straddles τ over the whole grid; run more seeds")
    coarse = None if cell < 0 else (float(fractions[int(cell)]), float(fractions[int(cell) + 1]))
    if not np.isfinite(estimate):
        return Interval(estimate, low, high, "beyond_grid", CLIFF_METHOD,
                        f"mean ΔQ stays within τ up to s = {fractions[-1]:g}")
    return Interval(estimate, min(low, estimate), max(high, estimate), "located", CLIFF_METHOD, "", coarse)


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
    from scipy import optimize  # here: the sweeps' knee needs it, every other command starts faster without

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
    p_value = float(2 * special.stdtr(n - 1, -abs(t_curve))) if np.isfinite(t_curve) else 1.0
    nonlinear = p_value < alpha

    knots, proj, shift, curvature = _knot_design(tuple(fractions.tolist()))
    critical = special.stdtrit(n - 1, 1 - alpha / 4)
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
