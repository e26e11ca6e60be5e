"""Locate the quality cliff: quality loss vs synthetic fraction, with intervals that hold their coverage.

Quality loss ΔQ(s, g) of the primary metric is measured against the all-human run (s = 0) at
the same generation, paired by replicate (seed, chain): lineages of one seed share their human
data (common random numbers), so the pairing removes most of the between-seed noise. How the
loss is measured (LOSSES) is the metric's own default (``Metric.loss``) unless the caller names one.

- replicates are seeds: a seed's chains are averaged first (they share its human data).
- ΔQ per fraction: mean over replicates with a Student-t 95% interval.
- per-run risk per fraction: how many seeds crossed τ, and the exact 95% upper bound on the chance
  that a single run does (stats.risk_bound); the safe mix needs it at or below ``risk``.
- cliff: the smallest s with mean ΔQ(s, G) > τ, linearly interpolated between grid points; its
  interval inverts the ΔQ band, interpolated between grid points (intervals.py). A collapse
  between two grid points gives that cell (``Cliff.coarse_cell``). Fewer than 3 fractions give no
  cliff estimate.
- knee: a continuous two-segment (hinge) fit of mean ΔQ over s; the curve counts as non-linear
  when a t test of its curvature rejects a straight line, and the knee's interval inverts t tests
  of the hinge at each breakpoint. docs/statistics.md derives both and reports their coverage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cliffwatch.analysis.intervals import (  # noqa: F401 (hinge_fit: re-exported)
    MIN_FRACTIONS,
    Interval,
    cliff_interval,
    hinge_fit,
    knee_analysis,
)
from cliffwatch.analysis.quality_loss import (
    FRACTION,
    REPLICATE,
    direction,
    group_columns,
    loss_kind,
    loss_table,
    run_metrics,
)
from cliffwatch.analysis.stats import LEVEL, RISK_LEVEL, risk_bound, seed_means, seeds_needed, t_interval
from cliffwatch.core.errors import AnalysisError
from cliffwatch.core.modality import MODALITIES

SAFE_METHOD = ("largest grid fraction where, as at every smaller one, the 95% Student-t interval of mean ΔQ stays "
               "within τ and the exact 95% bound on the risk that a single run crosses τ stays within the risk level")


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


def _number(x: float) -> float | None:
    """JSON has no nan: a missing number is null (an upper bound beyond the grid says so separately)."""
    return None if x is None or not math.isfinite(x) else float(x)


def _interval_dict(i: Interval) -> dict[str, Any]:
    return {"estimate": _number(i.estimate), "low": _number(i.low), "high": _number(i.high),
            "high_beyond_grid": bool(np.isposinf(i.high)), "status": i.status, "method": i.method, "reason": i.reason}


@dataclass
class Cliff:
    """The cliff of one curve (one combination of the non-fraction swept fields)."""

    metric: str
    higher_is_better: bool
    tolerance: float
    relative: bool  # ΔQ and τ are relative changes (any loss but "difference")
    generation: int
    group: dict[str, Any]
    fractions: np.ndarray
    loss: np.ndarray  # mean ΔQ per s
    loss_low: np.ndarray
    loss_high: np.ndarray
    replicates: int
    cliff: float  # nan: no crossing up to the largest s
    cliff_low: float  # nan: undetermined
    cliff_high: float  # inf: the upper bound lies beyond the grid
    knee: float  # nan: no knee identified (or undetermined; see knee_interval)
    knee_low: float
    knee_high: float
    slope_left: float
    slope_right: float
    nonlinear: bool
    collapse_generations: dict[float, int | None] = field(default_factory=dict)  # s -> first g with ΔQ > τ
    loss_kind: str = "relative"
    cliff_interval: Interval | None = None
    knee_interval: Interval | None = None
    nonlinear_p: float = float("nan")  # p-value of the curvature test
    replicate_loss: np.ndarray | None = None  # (replicates, fractions): each replicate's ΔQ
    replicate_ids: list[tuple] = field(default_factory=list)  # (seed, chains averaged) per row of replicate_loss
    crossed: np.ndarray | None = None  # per s: how many replicates (seeds) have ΔQ > τ
    risk_high: np.ndarray | None = None  # per s: exact 95% upper bound on P(a single run has ΔQ > τ)
    risk_level: float = RISK_LEVEL  # the safe mix needs risk_high ≤ this

    @property
    def coarse_cell(self) -> tuple[float, float] | None:
        """The grid cell the cliff lies in when the grid is too coarse to place it closer."""
        return self.cliff_interval.coarse_cell if self.cliff_interval is not None else None

    @property
    def risk_ok(self) -> np.ndarray:
        """Per fraction: the per-run risk bound is within the risk level."""
        if self.risk_high is None:
            return np.ones(len(self.fractions), bool)
        return self.risk_high <= self.risk_level

    @property
    def verdicts(self) -> list[str]:
        """Per fraction: "within" (the ΔQ interval is within τ), "over" (above τ), else "unsure"."""
        return ["within" if hi <= self.tolerance else "over" if lo > self.tolerance else "unsure"
                for lo, hi in zip(self.loss_low, self.loss_high)]

    def seeds_needed(self, fraction: float) -> int | None:
        """More seeds at ``fraction``, none crossing τ, that would bring its risk bound within the
        risk level (0: it already is; None: out of reach)."""
        i = list(self.fractions).index(fraction)
        if self.risk_ok[i]:
            return 0
        crossed = 0 if self.crossed is None else int(self.crossed[i])
        return seeds_needed(crossed, self.replicates, self.risk_level)

    def seeds_to_reach(self, fraction: float) -> int | None:
        """More seeds (at every fraction up to ``fraction``, none crossing τ) that would make it safe
        as far as the risk bound goes: None where the mean-ΔQ interval, here or below, is not within τ."""
        i = list(self.fractions).index(fraction)
        if not np.all(self.loss_high[: i + 1] <= self.tolerance):
            return None
        needed = [self.seeds_needed(s) for s in self.fractions[: i + 1]]
        return None if None in needed else max(needed)

    @property
    def blocking(self) -> float:
        """The largest fraction past the safe mix whose ΔQ interval, as every smaller fraction's, is
        within τ: the mix only the per-run risk bound holds back (nan if none)."""
        mean_ok = np.cumprod(self.loss_high <= self.tolerance).astype(bool)
        held = np.flatnonzero(mean_ok & ~self.safe)
        return float(self.fractions[held[-1]]) if len(held) else float("nan")

    @property
    def found(self) -> bool:
        return bool(np.isfinite(self.cliff))

    @property
    def safe(self) -> np.ndarray:
        """Per fraction: its whole CI of ΔQ stays within τ and its per-run risk bound within the risk
        level, and so do every smaller fraction's (a safe mix past an unsure one would be a bet on noise)."""
        return np.cumprod((self.loss_high <= self.tolerance) & self.risk_ok).astype(bool)

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the cliff, the knee and the safe mix, each with its interval and method, plus
        the ΔQ band and each replicate's ΔQ (the report plots them)."""
        empty = Interval(float("nan"), float("nan"), float("nan"), "undetermined", "", "not computed")
        safe = self.safe_fraction
        return {
            "metric": self.metric, "higher_is_better": self.higher_is_better, "loss": self.loss_kind,
            "tolerance": self.tolerance, "generation": self.generation,
            "group": {k: (v.item() if isinstance(v, np.generic) else v) for k, v in self.group.items()},
            "replicates": self.replicates,
            "cliff": {**_interval_dict(self.cliff_interval or empty),
                      "coarse_cell": list(self.coarse_cell) if self.coarse_cell else None},
            "knee": {**_interval_dict(self.knee_interval or empty), "slope_left": _number(self.slope_left),
                     "slope_right": _number(self.slope_right), "nonlinear": self.nonlinear,
                     "curvature_p": _number(self.nonlinear_p)},
            "safe_mix": {"fraction": _number(safe), "status": "located" if np.isfinite(safe) else "none",
                         "method": SAFE_METHOD, "risk_level": self.risk_level,
                         "blocked_at": _number(self.blocking),
                         "seeds_needed": self.seeds_to_reach(self.blocking) if np.isfinite(self.blocking) else None},
            "curve": {
                "fractions": [float(s) for s in self.fractions],
                "mean": [_number(x) for x in self.loss], "low": [_number(x) for x in self.loss_low],
                "high": [_number(x) for x in self.loss_high],
                "verdict": self.verdicts,
                "crossed": [] if self.crossed is None else [int(k) for k in self.crossed],
                "risk_high": [] if self.risk_high is None else [_number(x) for x in self.risk_high],
                "replicates": [{"seed": int(i[0]), "chains": int(i[1]), "loss": [_number(x) for x in row]}
                               for i, row in zip(self.replicate_ids, self.replicate_loss if self.replicate_loss is not None else [])],
            },
            "collapse_generations": {f"{s:g}": g for s, g in self.collapse_generations.items()},
        }


def analyze(df: pd.DataFrame, metric: str | None = None, tolerance: float = 0.1, relative: bool = True,
            generation: int | None = None, *, loss: str | None = None, risk: float = RISK_LEVEL) -> list[Cliff]:
    """One Cliff per combination of the swept fields other than the synthetic fraction.

    ``loss`` overrides the metric's default quality loss (Metric.loss); ``relative=False`` means a
    difference. ``risk``: the largest acceptable chance that a single run crosses τ at the safe mix."""
    metric = metric or default_metric(df)
    metrics = run_metrics(df)
    higher = direction(metric, metrics)
    kind = loss_kind(metric, metrics, relative, loss)
    losses = loss_table(df, metric, relative, kind)
    last = int(losses["generation"].max())
    generation = last if generation is None else generation
    if generation not in set(losses["generation"]):
        raise AnalysisError(f"generation {generation} is not in this run (0..{last})")
    groups = group_columns(df)
    # reshape once for every curve: the replicates × fractions matrix at generation G, and the mean
    # ΔQ per (s, generation) that dates each fraction's collapse
    at_g = losses[losses["generation"] == generation].drop_duplicates(groups + REPLICATE + [FRACTION])
    wide = at_g.set_index(groups + REPLICATE + [FRACTION])["loss"].unstack(FRACTION)
    means = losses.groupby(groups + [FRACTION, "generation"])["loss"].mean().unstack("generation")
    grids = losses.groupby(groups)[FRACTION].unique() if groups else pd.Series({(): losses[FRACTION].unique()})
    out = []
    for key, grid in grids.items():
        key = key if isinstance(key, tuple) else (key,)
        pick = (lambda frame: frame.loc[key]) if groups else (lambda frame: frame)
        out.append(_curve(np.sort(grid).astype(float), pick(wide), pick(means), metric, higher, tolerance,
                          kind != "difference", generation, dict(zip(groups, key)), kind, risk))
    return out


def analyze_curve(losses: pd.DataFrame, metric, tolerance, relative, generation, group, *,
                  loss_kind: str | None = None, risk: float = RISK_LEVEL) -> Cliff:
    """The cliff of one curve from its loss table (rows: s, generation, replicate, loss)."""
    at_g = losses[losses["generation"] == generation].drop_duplicates(REPLICATE + [FRACTION])
    wide = at_g.set_index(REPLICATE + [FRACTION])["loss"].unstack(FRACTION)
    means = losses.groupby([FRACTION, "generation"])["loss"].mean().unstack("generation")
    fractions = np.sort(losses[FRACTION].unique()).astype(float)
    return _curve(fractions, wide, means, metric, direction(metric, run_metrics(losses)), tolerance, relative,
                  generation, group, loss_kind or ("relative" if relative else "difference"), risk)


def _curve(fractions: np.ndarray, wide: pd.DataFrame, means: pd.DataFrame, metric: str, higher_is_better: bool,
           tolerance: float, relative: bool, generation: int, group: dict[str, Any], kind: str,
           risk: float = RISK_LEVEL) -> Cliff:
    """One curve's cliff from ΔQ per (seed, chain) × s at generation G and mean ΔQ per s × generation."""
    if len(fractions) < 2:
        raise AnalysisError(
            f"only one synthetic fraction ({fractions[0]:g}) in this run: a cliff needs a sweep over several "
            "(e.g. sweep: {policy.synthetic_fraction: [0, 0.1, ..., 1]})"
        )
    matrix = wide.reindex(columns=fractions).dropna()  # replicates present at every fraction
    if matrix.empty:
        raise AnalysisError(f"no replicate (seed, chain) finished every fraction at generation {generation}")
    seeds = seed_means(matrix)
    chains = matrix.groupby(level="seed").size()
    r = seeds.to_numpy(dtype=float)
    mean, loss_low, loss_high = t_interval(r, axis=0, level=LEVEL)
    cliff = float(crossing(fractions, mean, tolerance)) if len(fractions) >= MIN_FRACTIONS else float("nan")
    where = cliff_interval(fractions, r, tolerance, cliff)
    crossed = (r > tolerance).sum(axis=0)
    knee = knee_analysis(fractions, r)
    means = means.reindex(fractions)
    over = means.to_numpy() > tolerance
    first = np.where(over.any(axis=1), means.columns.to_numpy()[np.argmax(over, axis=1)], -1)
    collapse = {float(s): (int(g) if g >= 0 else None) for s, g in zip(fractions, first)}
    return Cliff(
        metric, higher_is_better, tolerance, relative, generation, group, fractions, mean,
        np.asarray(loss_low), np.asarray(loss_high), len(r), cliff, where.low, where.high,
        knee.interval.estimate, knee.interval.low, knee.interval.high, knee.slope_left, knee.slope_right,
        knee.nonlinear, collapse, kind, where, knee.interval, knee.p_value, r,
        [(int(s), int(chains[s])) for s in seeds.index], crossed,
        # the all-human run against itself has ΔQ = 0 by construction: no risk to bound there
        np.where(fractions == 0, 0.0, risk_bound(crossed, len(r))), risk,
    )


def loss_surface(df: pd.DataFrame, metric: str, relative: bool = True, loss: str | None = None) -> pd.DataFrame:
    """Mean ΔQ over replicates, indexed by (groups…, s) with one column per generation (the heatmap)."""
    losses = loss_table(df, metric, relative, loss)
    keys = group_columns(df) + [FRACTION]
    return losses.groupby(keys + ["generation"])["loss"].mean().unstack("generation")
