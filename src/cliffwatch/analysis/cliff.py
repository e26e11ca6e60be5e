"""Locate the quality cliff: quality loss vs synthetic fraction, with intervals that hold their coverage.

Quality loss ΔQ(s, g) of the primary metric is measured against the all-human run (s = 0) at
the same generation, paired by replicate (seed, chain): lineages of one seed share their human
data (common random numbers), so the pairing removes most of the between-seed noise. How the
loss is measured (LOSSES) is the metric's own default (``Metric.loss``) unless the caller names one.

- ΔQ per fraction: mean over replicates with a Student-t 95% interval.
- cliff: the smallest s with mean ΔQ(s, G) > τ, linearly interpolated between grid points; its
  interval inverts the ΔQ band, widened by a bound on the interpolation error (intervals.py).
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

from cliffwatch.analysis.intervals import Interval, cliff_interval, hinge_fit, knee_analysis  # noqa: F401 (hinge_fit: re-exported)
from cliffwatch.analysis.stats import FEW_REPLICATES, RESAMPLES, t_interval
from cliffwatch.core.errors import AnalysisError
from cliffwatch.probes.base import LOSSES, metric_index

DEFAULT_METRIC = {"text": "heldout_ppl", "vector": "wasserstein", "tokens": "tv_distance"}
FRACTION = "synthetic_fraction"
REPLICATE = ["seed", "chain"]
# label columns that describe a lineage but never define a separate cliff curve
_NOT_GROUPS = {FRACTION, "family"}
SAFE_METHOD = "largest grid fraction whose 95% Student-t interval of ΔQ, and every smaller fraction's, stays within τ"


def default_metric(df: pd.DataFrame) -> str:
    index = metric_index()
    present = set(df["metric"].unique())
    for modality in ("text", "vector", "tokens"):
        name = DEFAULT_METRIC[modality]
        if name in present and index.get(name, (None, None))[1] is not None:
            probe_name, _ = index[name]
            if df.loc[df["metric"] == name, "probe"].iloc[0] == probe_name:
                return name
    raise AnalysisError(f"no default quality metric among {sorted(present)}; name one with --metric")


def direction(metric: str) -> bool:
    """True if higher is better. Diagnostics without a direction cannot define a quality loss."""
    index = metric_index()
    if metric not in index:
        raise AnalysisError(f"unknown metric {metric!r}; known: {', '.join(sorted(index))}")
    better = index[metric][1].higher_is_better
    if better is None:
        raise AnalysisError(f"metric {metric!r} has no better direction; choose a quality metric")
    return better


def group_columns(df: pd.DataFrame) -> list[str]:
    """Label columns that vary across lineages (other than s): each combination is its own curve."""
    labels = [c for c in df.columns if c not in {"lineage", "seed", "chain", "generation", "probe", "metric", "value"}]
    return [c for c in labels if c not in _NOT_GROUPS and df[c].astype(str).nunique() > 1]


def loss_kind(metric: str, relative: bool = True, loss: str | None = None) -> str:
    """The loss an analysis uses: ``loss`` if given, a difference if ``relative`` is off, else the
    metric's own default (Metric.loss)."""
    if loss is not None:
        if loss not in LOSSES:
            raise AnalysisError(f"unknown quality loss {loss!r}; choose one of {', '.join(LOSSES)}")
        return loss
    if not relative:
        return "difference"
    index = metric_index()
    return index[metric][1].loss if metric in index else "relative"


def quality_loss(frame: pd.DataFrame, keys: list[str], kind: str, higher_is_better: bool) -> np.ndarray:
    """ΔQ per row of ``frame`` (columns value, baseline: a replicate's metric and its all-human
    twin); ``keys`` name one curve point (group, s, generation), whose replicates share a mean.

    ratio_of_means: the relative change of the replicate means, q̄/q̄₀ − 1, given per replicate as
    its delta-method pseudo-value (q̄/q̄₀ − 1) + (q − (q̄/q̄₀) q₀)/q̄₀: the pseudo-values average to
    the ratio and their spread is its standard error, and no replicate is divided by its own
    (possibly tiny) baseline."""
    q, q0 = frame["value"].to_numpy(dtype=float), frame["baseline"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if kind == "relative":
            change = q / q0 - 1.0
        elif kind == "log_ratio":
            change = np.log(q / q0)
        elif kind == "difference":
            change = q - q0
        else:
            grouped = frame.groupby(keys, sort=False)
            mean_q = grouped["value"].transform("mean").to_numpy(dtype=float)
            mean_q0 = grouped["baseline"].transform("mean").to_numpy(dtype=float)
            ratio = mean_q / mean_q0
            change = (ratio - 1.0) + (q - ratio * q0) / mean_q0
            change = np.where(q == q0, 0.0, change)  # the all-human run against itself, exactly
    return -change if higher_is_better else change


def loss_table(df: pd.DataFrame, metric: str, relative: bool = True, loss: str | None = None) -> pd.DataFrame:
    """ΔQ per (group, s, generation, replicate): positive = worse than the all-human run."""
    higher = direction(metric)
    kind = loss_kind(metric, relative, loss)
    rows = df[df["metric"] == metric]
    if rows.empty:
        raise AnalysisError(f"metric {metric!r} is not in this run; present: {', '.join(sorted(df['metric'].unique()))}")
    groups = group_columns(df)
    keys = groups + ["generation"] + REPLICATE
    base = rows[rows[FRACTION] == 0][keys + ["value"]].rename(columns={"value": "baseline"})
    if base.empty:
        raise AnalysisError("the run has no all-human lineage (synthetic_fraction = 0) to measure quality loss against")
    merged = rows.merge(base, on=keys, how="inner")
    merged["loss"] = quality_loss(merged, groups + [FRACTION, "generation"], kind, higher)
    return merged[groups + [FRACTION, "generation"] + REPLICATE + ["value", "baseline", "loss"]]


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
    replicate_ids: list[tuple] = field(default_factory=list)  # (seed, chain) per row of replicate_loss

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

    def _tau(self) -> str:
        if self.loss_kind == "log_ratio":
            return f"a log ratio of {self.tolerance:g}"
        return f"{self.tolerance:.0%}" if self.relative else f"{self.tolerance:g}"

    def summary(self) -> str:
        """A plain-language sentence for the report."""
        what = f"{self.metric} {'falls' if self.higher_is_better else 'rises'} by more than {self._tau()}"
        where = "".join(f", {k} = {v}" for k, v in self.group.items())
        ci = self.cliff_interval
        if ci is not None and ci.status == "undetermined":
            head = (f"Under this setup{where}, the cliff at generation {self.generation} is undetermined: {ci.reason}"
                    + (f" (mean ΔQ first exceeds τ at s = {self.cliff:.2f})." if self.found else "."))
        elif not self.found:
            bound = ""
            if np.isfinite(self.cliff_low):
                bound = ("; even the upper 95% band stays within τ" if self.cliff_low >= self.fractions[-1] else
                         f"; at 95% confidence any cliff lies above s = {self.cliff_low:.2f}")
            head = (f"Under this setup{where}, quality holds at every synthetic fraction up to s = {self.fractions[-1]:g} "
                    f"at generation {self.generation}: mean {self.metric} never gets worse by more than τ{bound}.")
        else:
            high = "beyond the grid" if np.isinf(self.cliff_high) else f"{self.cliff_high:.2f}"
            head = (f"Under this setup{where}, quality holds up to s = {self.cliff:.2f} [{self.cliff_low:.2f}, {high}] "
                    f"at generation {self.generation} ({what} past it).")
        text = head
        collapsing = {s: g for s, g in self.collapse_generations.items() if g is not None and self.found and s >= self.cliff}
        if collapsing:
            s = min(collapsing)
            text += f" Past s = {s:g} it crosses τ within {collapsing[s]} generation{'s' * (collapsing[s] != 1)}."
        knee = self.knee_interval
        if knee is not None and knee.status == "located":
            text += (f" The curve bends (curvature test p = {self.nonlinear_p:.2g}): a two-segment fit puts the knee at "
                     f"s = {self.knee:.2f} [{self.knee_low:.2f}, {self.knee_high:.2f}], slope {self.slope_left:.3g} → "
                     f"{self.slope_right:.3g}.")
        elif knee is not None:
            text += f" Knee: {knee.reason[0].lower()}{knee.reason[1:]}."
        if 1 < self.replicates < FEW_REPLICATES:
            text += f" (Only {self.replicates} replicates: the intervals are wide; more seeds narrow them.)"
        return text

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
            "cliff": _interval_dict(self.cliff_interval or empty),
            "knee": {**_interval_dict(self.knee_interval or empty), "slope_left": _number(self.slope_left),
                     "slope_right": _number(self.slope_right), "nonlinear": self.nonlinear,
                     "curvature_p": _number(self.nonlinear_p)},
            "safe_mix": {"fraction": _number(safe), "status": "located" if np.isfinite(safe) else "none",
                         "method": SAFE_METHOD},
            "curve": {
                "fractions": [float(s) for s in self.fractions],
                "mean": [_number(x) for x in self.loss], "low": [_number(x) for x in self.loss_low],
                "high": [_number(x) for x in self.loss_high],
                "replicates": [{"seed": int(i[0]), "chain": int(i[1]), "loss": [_number(x) for x in row]}
                               for i, row in zip(self.replicate_ids, self.replicate_loss if self.replicate_loss is not None else [])],
            },
            "collapse_generations": {f"{s:g}": g for s, g in self.collapse_generations.items()},
        }


def analyze(df: pd.DataFrame, metric: str | None = None, tolerance: float = 0.1, relative: bool = True,
            generation: int | None = None, resamples: int = RESAMPLES, *, loss: str | None = None) -> list[Cliff]:
    """One Cliff per combination of the swept fields other than the synthetic fraction.

    ``loss`` overrides the metric's default quality loss (Metric.loss); ``relative=False`` means a
    difference. ``resamples`` is accepted for compatibility; the intervals need no resampling."""
    metric = metric or default_metric(df)
    kind = loss_kind(metric, relative, loss)
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
        out.append(_curve(np.sort(grid).astype(float), pick(wide), pick(means), metric, tolerance, kind != "difference",
                          generation, dict(zip(groups, key)), kind))
    return out


def analyze_curve(losses: pd.DataFrame, metric, tolerance, relative, generation, group, resamples=RESAMPLES, *,
                  loss_kind: str | None = None) -> Cliff:
    """The cliff of one curve from its loss table (rows: s, generation, replicate, loss)."""
    at_g = losses[losses["generation"] == generation].drop_duplicates(REPLICATE + [FRACTION])
    wide = at_g.set_index(REPLICATE + [FRACTION])["loss"].unstack(FRACTION)
    means = losses.groupby([FRACTION, "generation"])["loss"].mean().unstack("generation")
    fractions = np.sort(losses[FRACTION].unique()).astype(float)
    return _curve(fractions, wide, means, metric, tolerance, relative, generation, group,
                  loss_kind or ("relative" if relative else "difference"))


def _curve(fractions: np.ndarray, wide: pd.DataFrame, means: pd.DataFrame, metric: str, tolerance: float,
           relative: bool, generation: int, group: dict[str, Any], kind: str) -> Cliff:
    """One curve's cliff from ΔQ per (replicate) × s at generation G and mean ΔQ per s × generation."""
    if len(fractions) < 2:
        raise AnalysisError(
            f"only one synthetic fraction ({fractions[0]:g}) in this run: a cliff needs a sweep over several "
            "(e.g. sweep: {policy.synthetic_fraction: [0, 0.1, ..., 1]})"
        )
    matrix = wide.reindex(columns=fractions).dropna()  # replicates present at every fraction
    if matrix.empty:
        raise AnalysisError(f"no replicate (seed, chain) finished every fraction at generation {generation}")
    r = matrix.to_numpy(dtype=float)
    mean, loss_low, loss_high = t_interval(r, axis=0)
    cliff = float(crossing(fractions, mean, tolerance))
    where = cliff_interval(fractions, r, tolerance, cliff)
    knee = knee_analysis(fractions, r)
    means = means.reindex(fractions)
    over = means.to_numpy() > tolerance
    first = np.where(over.any(axis=1), means.columns.to_numpy()[np.argmax(over, axis=1)], -1)
    collapse = {float(s): (int(g) if g >= 0 else None) for s, g in zip(fractions, first)}
    return Cliff(
        metric, direction(metric), tolerance, relative, generation, group, fractions, mean,
        np.asarray(loss_low), np.asarray(loss_high), len(r), cliff, where.low, where.high,
        knee.interval.estimate, knee.interval.low, knee.interval.high, knee.slope_left, knee.slope_right,
        knee.nonlinear, collapse, kind, where, knee.interval, knee.p_value, r, list(matrix.index),
    )


def loss_surface(df: pd.DataFrame, metric: str, relative: bool = True, loss: str | None = None) -> pd.DataFrame:
    """Mean ΔQ over replicates, indexed by (groups…, s) with one column per generation (the heatmap)."""
    losses = loss_table(df, metric, relative, loss)
    keys = group_columns(df) + [FRACTION]
    return losses.groupby(keys + ["generation"])["loss"].mean().unstack("generation")
