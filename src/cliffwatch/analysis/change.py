"""The change of every metric from generation 0 to the last, paired by replicate: what the terminal
table, summary.json and the verdicts read."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from cliffwatch.analysis.quality_loss import run_metrics
from cliffwatch.analysis.stats import mean_ci, t_interval


def _paired_change(first: pd.Series, last: pd.Series) -> dict:
    """Per replicate change from generation 0 to the last: the log ratio when every value is positive
    (heavy tails and collapse to inf stay readable), else the difference; a Student-t interval of
    its mean (finite changes only) and an exact sign test (which takes infinite changes too)."""
    paired = pd.concat([first, last], axis=1, join="inner").dropna()
    a, b = paired.iloc[:, 0].to_numpy(dtype=float), paired.iloc[:, 1].to_numpy(dtype=float)
    log = bool(len(a)) and bool((a > 0).all() and (b > 0).all())
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = pd.Series(np.log(b / a) if log else b - a, index=paired.index)
    change = _per_seed(change).to_numpy(dtype=float)
    change = change[~np.isnan(change)]
    up, down = int((change > 0).sum()), int((change < 0).sum())
    _, low, high = mean_ci(change)
    sign_p = sign_test(up, down)
    return {"change_kind": "log ratio" if log else "difference", "change_low": low, "change_high": high,
            "up": up, "down": down, "sign_p": sign_p, "paired": len(change)}


def sign_test(up: int, down: int) -> float:
    """Exact two-sided sign test: P(a split at least as uneven as up : down | no direction), i.e.
    2 P(X <= min(up, down)) for X ~ Binomial(up + down, 1/2), at most 1 (scipy.stats.binomtest's
    p-value to rounding, without that module's import on every summary)."""
    n = up + down
    return min(1.0, 2.0 * float(special.bdtr(min(up, down), n, 0.5))) if n and up != down else 1.0


def _per_seed(values: pd.Series) -> pd.Series:
    """One value per (lineage, seed): the mean over its chains, which share the seed's human data and
    so are not independent replicates."""
    if "chain" not in (values.index.names or []):
        return values
    return values.groupby(level=[k for k in values.index.names if k != "chain"]).mean()


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per metric: generation-0 and last-generation means with 95% Student-t CIs over replicates, and
    the paired change between them (``_paired_change``) that the verdict is read from.

    A replicate is one (lineage, seed): its chains are averaged first (they share the seed's data).
    """
    index = run_metrics(df)
    last = int(df["generation"].max())
    keys = [c for c in ("lineage", "seed", "chain") if c in df.columns]
    rows = []
    for metric, group in df.groupby("metric", sort=False):
        first_vals = group[group["generation"] == 0].set_index(keys)["value"]
        last_vals = group[group["generation"] == last].set_index(keys)["value"]
        mean0, lo0, hi0 = mean_ci(_per_seed(first_vals).to_numpy())
        mean, lo, hi = mean_ci(_per_seed(last_vals).to_numpy())
        direction = index[metric].higher_is_better if metric in index else None
        rows.append({
            "metric": metric, "higher_is_better": direction,
            "gen0": mean0, "gen0_low": lo0, "gen0_high": hi0,
            "last_generation": last, "last": mean, "last_low": lo, "last_high": hi,
            "replicates": len(_per_seed(last_vals)), **_paired_change(first_vals, last_vals),
        })
    return pd.DataFrame(rows)


def point_stats(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and 95% Student-t interval (stats.t_interval) of ``value`` over the replicates of each
    ``keys`` point, one row per point in key order; n = replicates. As mean_ci: a non-finite
    replicate makes the mean non-finite and the interval undefined."""
    frame = pd.DataFrame({k: df[k].to_numpy() for k in [*keys, "value"]})  # no attrs to copy on every group
    groups = frame.groupby(keys, sort=True)
    codes = groups.ngroup().to_numpy()
    values = frame["value"].to_numpy(float)[np.argsort(codes, kind="stable")]  # each point's replicates together
    n = np.bincount(codes, minlength=groups.ngroups)
    starts = np.concatenate([[0], np.cumsum(n)[:-1]])
    mean, low, high = (np.full(len(n), np.nan) for _ in range(3))
    for size in np.unique(n):  # points with as many replicates share one vectorised interval
        at = np.flatnonzero(n == size)
        block = values[starts[at, None] + np.arange(size)]
        m, lo, hi = t_interval(block, axis=1)
        defined = np.isfinite(block).all(axis=1)
        mean[at], low[at], high[at] = m, np.where(defined, lo, np.nan), np.where(defined, hi, np.nan)
    index = groups.size().index
    return pd.DataFrame({**{k: index.get_level_values(k) for k in keys}, "mean": mean, "low": low, "high": high,
                         "n": n})
