"""The quality loss ΔQ, defined once: how much worse a lineage is than the all-human run (s = 0)
at the same generation, paired by replicate (seed, chain). Positive = worse.

Lineages of one seed share their human data (common random numbers), so the pairing removes most
of the between-seed noise. Every analysis (cliff, routes, cost) takes ΔQ from here. How the loss is
measured is the metric's own default (``Metric.loss``: relative, ratio_of_means, log_ratio or
difference) unless the caller names one; docs/statistics.md explains the choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from cliffwatch.core.errors import AnalysisError
from cliffwatch.core.metrics import LOSSES, Metric

FRACTION = "synthetic_fraction"
REPLICATE = ["seed", "chain"]
KEYS = {"lineage", "seed", "chain", "generation", "probe", "metric", "value"}
# label columns that describe a lineage but never define a separate cliff curve
_NOT_GROUPS = {FRACTION, "family"}


def run_metrics(df: pd.DataFrame) -> dict[str, Metric]:
    """The metrics a results table declares (load_results attaches the run's own), else the
    registered probes' (a table built by hand)."""
    stored = df.attrs.get("metrics")
    if stored:
        return stored
    from cliffwatch.probes.base import metric_index

    return {name: metric for name, (_, metric) in metric_index().items()}


def direction(metric: str, metrics: dict[str, Metric]) -> bool:
    """True if higher is better. Diagnostics without a direction cannot define a quality loss."""
    if metric not in metrics:
        raise AnalysisError(f"unknown metric {metric!r}; known: {', '.join(sorted(metrics))}")
    better = metrics[metric].higher_is_better
    if better is None:
        raise AnalysisError(f"metric {metric!r} has no better direction; choose a quality metric")
    return better


def loss_kind(metric: str, metrics: dict[str, Metric], relative: bool = True, loss: str | None = None) -> str:
    """The loss an analysis uses: ``loss`` if given, a difference if ``relative`` is off, else the
    metric's own default (Metric.loss)."""
    if loss is not None:
        if loss not in LOSSES:
            raise AnalysisError(f"unknown quality loss {loss!r}; choose one of {', '.join(LOSSES)}")
        return loss
    if not relative:
        return "difference"
    return metrics[metric].loss if metric in metrics else "relative"


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


def group_columns(df: pd.DataFrame) -> list[str]:
    """Label columns that vary across lineages (other than s): each combination is its own curve."""
    labels = [c for c in df.columns if c not in KEYS]
    return [c for c in labels if c not in _NOT_GROUPS and df[c].astype(str).nunique() > 1]


def loss_table(df: pd.DataFrame, metric: str, relative: bool = True, loss: str | None = None) -> pd.DataFrame:
    """ΔQ per (group, s, generation, replicate); it carries the run's metrics like ``df``."""
    metrics = run_metrics(df)
    higher = direction(metric, metrics)
    kind = loss_kind(metric, metrics, relative, loss)
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
    out = merged[groups + [FRACTION, "generation"] + REPLICATE + ["value", "baseline", "loss"]]
    out.attrs["metrics"] = metrics
    return out


def replicate_matrix(losses: pd.DataFrame, generation: int, fractions: np.ndarray | None = None) -> pd.DataFrame:
    """ΔQ at one generation as replicates (rows) x fractions (columns), only replicates present at
    every fraction (the pairing needs them all)."""
    at_g = losses[losses["generation"] == generation]
    matrix = at_g.pivot_table(index=REPLICATE, columns=FRACTION, values="loss", aggfunc="first")
    if fractions is not None:
        matrix = matrix.reindex(columns=fractions)
    return matrix.dropna()
