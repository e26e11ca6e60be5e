"""Coverage of the cliff and knee intervals, measured on simulated results tables with a known truth.

Each simulation builds the table ``load_results`` would give for a fraction sweep (one row per
lineage, replicate, generation and metric), with the replicates' paired quality loss

    ΔQ_i(s) = μ(s) + σ · (0.6 e_i(s) + 0.8 s u_i),    e, u ~ N(0, 1),

so replicates differ by independent noise at each fraction and by a replicate-wide slope (what
common random numbers leave behind), and ΔQ(0) = 0 exactly. The table goes through the real
``analyze()``; the known crossing of μ with τ and its knee are then checked against the intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from cliffwatch.analysis.cliff import analyze
from cliffwatch.core.seeding import rng
from cliffwatch.probes.base import metric_index

TOLERANCE = 0.1
GRID = np.round(np.linspace(0.0, 1.0, 11), 10)
METRIC = "heldout_ppl"  # lower is better, relative loss: value = baseline · (1 + ΔQ)
NOISE = {"low": 0.01, "high": 0.04}


@dataclass(frozen=True)
class Shape:
    curve: Callable[[np.ndarray], np.ndarray]
    cliff: float  # where μ first exceeds TOLERANCE
    knee: float | None  # the breakpoint of a hinge; None when there is none


SHAPES = {
    "linear": Shape(lambda s: TOLERANCE * s / 0.45, 0.45, None),
    "convex": Shape(lambda s: TOLERANCE * (s / 0.57) ** 4, 0.57, None),
    "hinge": Shape(lambda s: 0.02 * s + 0.4 * np.maximum(0.0, s - 0.63), (TOLERANCE + 0.4 * 0.63) / 0.42, 0.63),
}


def simulate_results(shape: str, noise: str, replicates: int, sims: int, seed: int = 0) -> pd.DataFrame:
    """``sims`` independent sweeps, told apart by a ``sim`` column (so ``analyze`` returns one Cliff each)."""
    gen = rng(seed, "calibration", 0, f"{shape}/{noise}/{replicates}")
    k = len(GRID)
    e = gen.standard_normal((sims, replicates, k))
    u = gen.standard_normal((sims, replicates, 1))
    loss = SHAPES[shape].curve(GRID) + NOISE[noise] * (0.6 * e + 0.8 * GRID * u)
    loss[..., 0] = 0.0  # the all-human run, paired with itself
    baseline = 20.0 * np.exp(0.05 * gen.standard_normal((sims, replicates, 1)))
    sim, rep, frac = np.meshgrid(np.arange(sims), np.arange(replicates), np.arange(k), indexing="ij")
    return pd.DataFrame({
        "lineage": [f"sim{a}-s{GRID[c]:g}" for a, c in zip(sim.ravel(), frac.ravel())],
        "seed": rep.ravel(), "chain": 0, "generation": 1,
        "probe": metric_index()[METRIC][0], "metric": METRIC,
        "value": (baseline * (1.0 + loss)).ravel(),
        "synthetic_fraction": GRID[frac.ravel()], "family": "simulated", "sim": sim.ravel(),
    })


def coverage_cell(shape: str, noise: str, replicates: int, sims: int, seed: int = 0) -> dict[str, float]:
    """Shares over ``sims`` simulations: how often each interval covers the truth, how often the
    tool declines to give one, and how often the curve is called non-linear."""
    truth = SHAPES[shape]
    cliffs = analyze(simulate_results(shape, noise, replicates, sims, seed), METRIC, TOLERANCE)
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
