"""A simulation harness with a known truth: how often the cliff interval, the per-run risk bound
and the route shift cover what they claim (docs/statistics.md; tests/test_calibration.py runs
small seeded versions, benchmarks/coverage_study.py the full study).

Two paths, one truth:

- ``simulate``: replicate ΔQ matrices (sims × seeds × fractions) drawn directly, vectorised over
  simulations, and fed to the batched interval code (intervals.cliff_bounds) that ``analyze`` itself
  calls. Seconds for thousands of simulations.
- ``simulate_results``: the table ``load_results`` would give (one row per lineage, seed, chain,
  generation and metric), passed through the real ``analyze()``: the end-to-end check, including
  chains that share a seed.

Noise around the truth μ(s), for seed i (ΔQ(0) = 0 exactly: the all-human run paired with itself):

    crn:       σ · (0.6 e_i(s) + 0.8 s u_i)       e, u ~ N(0, 1): what common random numbers leave
    hetero:    the same, times (0.5 + 2 s)        noise growing with the synthetic share
    t3:        σ · (0.6 e + 0.8 s u), e and u Student-t(3) scaled to unit variance
    collapse:  crn plus a jump of +0.5 past the seed's own threshold θ_i ~ N(0.8, 0.15²)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy import optimize, stats

from cliffwatch.analysis.intervals import band, cliff_bounds
from cliffwatch.analysis.stats import LEVEL, RISK_LEVEL, risk_bound, t_interval
from cliffwatch.core.seeding import rng

TOLERANCE = 0.1
GRID = np.round(np.linspace(0.0, 1.0, 11), 10)
METRIC = "heldout_ppl"  # lower is better, relative loss: value = baseline · (1 + ΔQ)
NOISE = {"low": 0.01, "high": 0.04}  # σ of the table path (analyze) and the smooth shapes
COLLAPSE = (0.8, 0.15, 0.5)  # minority collapse: θ ~ N(0.8, 0.15²), jump +0.5


def _logistic(centre: float | np.ndarray, width: float, height: float = 0.4) -> Callable:
    """A logistic rise of ``height`` around ``centre`` (per simulation), shifted so μ(0) = 0."""
    def curve(s: np.ndarray) -> np.ndarray:
        c = np.asarray(centre, dtype=float)[..., None]
        with np.errstate(over="ignore"):
            return height * (1 / (1 + np.exp(-(s - c) / width)) - 1 / (1 + np.exp(c / width)))
    return curve


@dataclass(frozen=True)
class Shape:
    """A truth curve. ``centre``: None for a fixed curve; else a cliff placed uniformly at random in
    [a, b] per simulation (a step or near-step inside one grid cell)."""

    curve: Callable[[np.ndarray], np.ndarray] | None
    knee: float | None = None  # the breakpoint of a hinge; None when there is none
    width: float = 0.0  # for random-centre logistics: their width (0: a hard step)
    centre: tuple[float, float] | None = None

    def truth(self, centres: np.ndarray | None = None) -> tuple[Callable, np.ndarray | float]:
        """(μ as a function of s, the crossing of τ) for fixed or per-simulation centres."""
        if self.centre is None:
            f = self.curve
            return f, optimize.brentq(lambda x: float(f(np.array([x]))[0]) - TOLERANCE, 1e-9, 1.0)
        if self.width == 0:
            return (lambda s: 0.4 * (s[None, :] > centres[:, None])), centres
        f = _logistic(centres, self.width)
        # the crossing of a shifted logistic, in closed form
        base = 1 / (1 + np.exp(centres / self.width))
        return f, centres + self.width * np.log((TOLERANCE / 0.4 + base) / (1 - TOLERANCE / 0.4 - base))

    @property
    def cliff(self) -> float:
        """The fixed crossing (fixed curves only)."""
        return float(self.truth()[1])


SMOOTH = {
    "linear": Shape(lambda s: TOLERANCE * s / 0.45),
    "convex": Shape(lambda s: TOLERANCE * (s / 0.57) ** 4),
    "concave": Shape(lambda s: 0.16 * (1 - (1 - s) ** 3)),
    "hinge": Shape(lambda s: 0.02 * s + 0.4 * np.maximum(0.0, s - 0.63), knee=0.63),
    "logistic": Shape(_logistic(0.55, 0.08)),
    "logistic-on-grid": Shape(_logistic(0.6, 0.08)),
}
SHARP = {
    "step": Shape(None, width=0.0, centre=(0.6, 0.7)),
    "near-step": Shape(None, width=0.005, centre=(0.6, 0.7)),
    "logistic-0.015": Shape(None, width=0.015, centre=(0.6, 0.7)),
    "logistic-0.03": Shape(None, width=0.03, centre=(0.6, 0.7)),
}
SHAPES = {**SMOOTH, **SHARP}


def _noise(gen: np.random.Generator, kind: str, shape: tuple[int, int, int], sigma: float) -> np.ndarray:
    sims, n, k = shape
    if kind == "t3":
        e = stats.t.rvs(3, size=shape, random_state=gen) / np.sqrt(3)
        u = stats.t.rvs(3, size=(sims, n, 1), random_state=gen) / np.sqrt(3)
    else:
        e, u = gen.standard_normal(shape), gen.standard_normal((sims, n, 1))
    noise = sigma * (0.6 * e + 0.8 * GRID * u)
    return noise * (0.5 + 2 * GRID) if kind == "hetero" else noise


def simulate(shape: str, noise: str, replicates: int, sims: int, sigma: float, seed: int = 0
             ) -> tuple[np.ndarray, np.ndarray]:
    """(r, truth): ΔQ per simulation × seed × fraction, and each simulation's true cliff."""
    gen = rng(seed, "simulate", 0, f"{shape}/{noise}/{replicates}/{sigma:g}")
    truth_shape = SHAPES[shape]
    centres = gen.uniform(*truth_shape.centre, size=sims) if truth_shape.centre else None
    mu, cliff = truth_shape.truth(centres)
    r = np.broadcast_to(mu(GRID), (sims, len(GRID)))[:, None, :] + _noise(gen, noise, (sims, replicates, len(GRID)), sigma)
    r[..., 0] = 0.0
    return r, np.broadcast_to(np.asarray(cliff, dtype=float), (sims,))


def cliff_coverage(shape: str, noise: str, replicates: int, sims: int, sigma: float, seed: int = 0,
                   plain: bool = False, level: float = LEVEL) -> dict[str, float]:
    """Coverage and median width of the cliff interval (or the plain inverted band) over ``sims``."""
    r, truth = simulate(shape, noise, replicates, sims, sigma, seed)
    low, high, cell = cliff_bounds(GRID, r, TOLERANCE, level, plain)
    return {"coverage": float(np.mean((low <= truth) & (truth <= high))),
            "width": float(np.median(np.minimum(high, 1.0) - low)),
            "coarse": float(np.mean(cell >= 0)),
            "missed_high": float(np.mean(truth > high))}


def collapse_runs(replicates: int, sims: int, seed: int = 0, sigma: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(r, true risk per fraction) in the minority-collapse scenario: each seed's ΔQ jumps by +0.5
    past its own threshold θ ~ N(0.8, 0.15²), on a gentle 0.02·s trend with crn noise."""
    gen = rng(seed, "collapse", 0, str(replicates))
    mean, sd, jump = COLLAPSE
    theta = gen.normal(mean, sd, size=(sims, replicates, 1))
    r = 0.02 * GRID + jump * (GRID > theta) + _noise(gen, "crn", (sims, replicates, len(GRID)), sigma)
    r[..., 0] = 0.0
    # a run crosses τ = 0.1 exactly when it has jumped (the trend and noise stay far below τ)
    return r, stats.norm.cdf(GRID, mean, sd) * (GRID > 0)


def false_safe(replicates: int, sims: int, risk: float = RISK_LEVEL, seed: int = 0, use_risk: bool = True
               ) -> float:
    """Share of simulations whose safe mix (every fraction up to it: mean-ΔQ band within τ and, with
    ``use_risk``, the exact per-run risk bound within ``risk``) includes a fraction whose true risk
    exceeds ``risk``."""
    r, true_risk = collapse_runs(replicates, sims, seed)
    _, _, high = band(r)
    ok = high <= TOLERANCE
    if use_risk:
        ok &= risk_bound((r > TOLERANCE).sum(axis=1), replicates) <= risk
    safe = np.cumprod(ok, axis=-1).astype(bool)
    return float(np.mean((safe & (true_risk > risk)).any(axis=-1)))


def simulate_results(shape: str, noise: str, replicates: int, sims: int, seed: int = 0, chains: int = 1,
                     rho: float = 0.0) -> pd.DataFrame:
    """``sims`` independent sweeps as a results table, told apart by a ``sim`` column (so ``analyze``
    returns one Cliff each). ``noise`` names a σ of NOISE. With ``chains`` > 1 each seed runs that
    many chains whose noise correlates ``rho`` within the seed (the seed's shared human data)."""
    gen = rng(seed, "calibration", 0, f"{shape}/{noise}/{replicates}/{chains}/{rho:g}")
    k = len(GRID)
    shared = gen.standard_normal((sims, replicates, 1, k)), gen.standard_normal((sims, replicates, 1, 1))
    own = gen.standard_normal((sims, replicates, chains, k)), gen.standard_normal((sims, replicates, chains, 1))
    e, u = (np.sqrt(rho) * a + np.sqrt(1 - rho) * b for a, b in zip(shared, own))
    mu, _ = SHAPES[shape].truth()
    loss = mu(GRID) + NOISE[noise] * (0.6 * e + 0.8 * GRID * u)
    loss[..., 0] = 0.0  # the all-human run, paired with itself
    baseline = 20.0 * np.exp(0.05 * gen.standard_normal((sims, replicates, chains, 1)))
    sim, rep, chain, frac = np.meshgrid(np.arange(sims), np.arange(replicates), np.arange(chains), np.arange(k),
                                        indexing="ij")
    from cliffwatch.probes.base import metric_index

    return pd.DataFrame({
        "lineage": [f"sim{a}-s{GRID[c]:g}" for a, c in zip(sim.ravel(), frac.ravel())],
        "seed": rep.ravel(), "chain": chain.ravel(), "generation": 1,
        "probe": metric_index()[METRIC][0], "metric": METRIC,
        "value": (baseline * (1.0 + loss)).ravel(),
        "synthetic_fraction": GRID[frac.ravel()], "family": "simulated", "sim": sim.ravel(),
    })


def coverage_cell(shape: str, noise: str, replicates: int, sims: int, seed: int = 0, chains: int = 1,
                  rho: float = 0.0) -> dict[str, float]:
    """Through the real analyze(): how often each interval covers the truth, how often the tool
    declines to give one, and how often the curve is called non-linear."""
    from cliffwatch.analysis.cliff import analyze

    truth = SHAPES[shape]
    cliffs = analyze(simulate_results(shape, noise, replicates, sims, seed, chains, rho), METRIC, TOLERANCE)
    reported = np.array([c.cliff_interval.status != "undetermined" for c in cliffs])
    low = np.array([c.cliff_interval.low for c in cliffs])
    high = np.array([c.cliff_interval.high for c in cliffs])
    covered = reported & (low <= truth.cliff) & (truth.cliff <= high)
    nonlinear = np.array([c.nonlinear for c in cliffs])
    located = np.array([c.knee_interval.status == "located" for c in cliffs])
    row = {
        "shape": shape, "noise": noise, "replicates": replicates, "sims": sims,
        "cliff_coverage": covered.sum() / max(reported.sum(), 1),
        "cliff_undetermined": 1.0 - reported.mean(),
        "cliff_median_width": float(np.median(np.minimum(high, 1.0)[reported] - low[reported])) if reported.any() else np.nan,
        "nonlinear_rate": nonlinear.mean(),
        "knee_located": located.mean(),  # on a curve without a knee: how often one is claimed anyway
    }
    if truth.knee is not None:
        # coverage among the knees the tool reports (it reports none when the curve looks straight)
        k_low = np.array([c.knee_interval.low for c in cliffs])
        k_high = np.array([c.knee_interval.high for c in cliffs])
        row["knee_coverage"] = (located & (k_low <= truth.knee) & (truth.knee <= k_high)).sum() / max(located.sum(), 1)
        row["knee_median_width"] = float(np.median(k_high[located] - k_low[located])) if located.any() else np.nan
    return row


def shift_coverage(route: str, baseline: str, replicates: int, sims: int, sigma: float, seed: int = 0
                   ) -> dict[str, float]:
    """Coverage of the route comparison's cliff shift (routes.shift_bounds) between two truths."""
    from cliffwatch.analysis.routes import shift_bounds

    (a, ca), (b, cb) = simulate(route, "crn", replicates, sims, sigma, seed), simulate(baseline, "crn", replicates, sims, sigma, seed + 1)
    _, low, high = shift_bounds(GRID, a, b, TOLERANCE)
    truth = ca - cb
    return {"coverage": float(np.mean((low <= truth) & (truth <= high))),
            "width": float(np.median(np.clip(high, -1, 1) - np.clip(low, -1, 1)))}


def route_effect_coverage(replicates: int, chains: int, rho: float, sims: int, seed: int = 0,
                          per_chain: bool = False) -> float:
    """Coverage of a route's paired ΔQ interval when each seed runs ``chains`` chains correlated
    ``rho`` within the seed: the interval over seed means (what routes.py does), or with
    ``per_chain`` every chain counted as a replicate (what it did)."""
    gen = rng(seed, "route-effect", 0, f"{replicates}/{chains}/{rho:g}")
    shared = gen.standard_normal((sims, replicates, 1))
    own = gen.standard_normal((sims, replicates, chains))
    loss = 0.05 + 0.02 * (np.sqrt(rho) * shared + np.sqrt(1 - rho) * own)
    values = loss.reshape(sims, -1) if per_chain else loss.mean(axis=2)
    _, low, high = t_interval(values, axis=1)
    return float(np.mean((low <= 0.05) & (0.05 <= high)))
