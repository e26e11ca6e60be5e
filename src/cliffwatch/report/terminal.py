"""Terminal summaries of a run (rich tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.table import Table
from scipy import stats

from cliffwatch.analysis.stats import mean_ci
from cliffwatch.analysis.quality_loss import run_metrics
from cliffwatch.report.format import short


def _paired_change(first: pd.Series, last: pd.Series) -> dict:
    """Per replicate change from generation 0 to the last: the log ratio when every value is positive
    (heavy tails and collapse to inf stay readable), else the difference; a Student-t interval of
    its mean (finite changes only) and an exact sign test (which takes infinite changes too)."""
    paired = pd.concat([first, last], axis=1, join="inner").to_numpy(dtype=float)
    paired = paired[~np.isnan(paired).any(axis=1)]
    a, b = paired[:, 0], paired[:, 1]
    log = bool(len(a)) and bool((a > 0).all() and (b > 0).all())
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        change = np.log(b / a) if log else b - a
    change = change[~np.isnan(change)]
    up, down = int((change > 0).sum()), int((change < 0).sum())
    _, low, high = mean_ci(change)
    sign_p = float(stats.binomtest(up, up + down).pvalue) if up + down else 1.0
    return {"change_kind": "log ratio" if log else "difference", "change_low": low, "change_high": high,
            "up": up, "down": down, "sign_p": sign_p, "paired": len(change)}


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per metric: generation-0 and last-generation means with 95% Student-t CIs over replicates, and
    the paired change between them (``_paired_change``) that the verdict is read from.

    A replicate is one (seed, chain): the unit whose randomness is independent.
    """
    index = run_metrics(df)
    last = int(df["generation"].max())
    keys = [c for c in ("lineage", "seed", "chain") if c in df.columns]
    rows = []
    for metric, group in df.groupby("metric", sort=False):
        first_vals = group[group["generation"] == 0].set_index(keys)["value"]
        last_vals = group[group["generation"] == last].set_index(keys)["value"]
        mean0, lo0, hi0 = mean_ci(first_vals.to_numpy())
        mean, lo, hi = mean_ci(last_vals.to_numpy())
        direction = index[metric].higher_is_better if metric in index else None
        rows.append({
            "metric": metric, "higher_is_better": direction,
            "gen0": mean0, "gen0_low": lo0, "gen0_high": hi0,
            "last_generation": last, "last": mean, "last_low": lo, "last_high": hi,
            "replicates": len(last_vals), **_paired_change(first_vals, last_vals),
        })
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """Better or worse when the paired change is significant (its t interval excludes 0, or the sign
    test rejects at 5%); with too few replicates for a test, says so when they all moved one way."""
    up, down, n = int(row["up"]), int(row["down"]), int(row["paired"])
    if n == 0:
        return ""
    low, high = row["change_low"], row["change_high"]
    rose = (np.isfinite(low) and low > 0) or (row["sign_p"] < 0.05 and up > down)
    fell = (np.isfinite(high) and high < 0) or (row["sign_p"] < 0.05 and down > up)
    better = row["higher_is_better"]
    if rose != fell:
        if better is None:
            return "rose" if rose else "fell"
        return "[green]better[/green]" if rose == bool(better) else "[red]worse[/red]"
    if n >= 2 and (up == n or down == n):
        if better is None:
            word = "rose" if up == n else "fell"
        else:
            word = "[green]better[/green]" if (up == n) == bool(better) else "[red]worse[/red]"
        return f"{word} in all {n} replicates (too few to test)"
    if n < 2:
        return ""
    worse = down if better else up
    return "no clear change" + ("" if better is None else f" ({worse} of {n} worse)")


def summary_table(summary: pd.DataFrame, title: str) -> Table:
    last = int(summary["last_generation"].iloc[0]) if len(summary) else 0
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("better", justify="center")
    table.add_column("generation 0 [95% CI]", justify="right")
    table.add_column(f"generation {last} [95% CI]", justify="right")
    table.add_column("change")
    for _, row in summary.iterrows():
        arrow = {True: "↑", False: "↓", None: "·"}[row["higher_is_better"]]
        table.add_row(
            row["metric"], arrow,
            f"{short(row['gen0'])} [{short(row['gen0_low'])}, {short(row['gen0_high'])}]",
            f"{short(row['last'])} [{short(row['last_low'])}, {short(row['last_high'])}]",
            verdict(row),
        )
    return table


def cliff_table(cliff, plan=None) -> Table:
    """ΔQ by synthetic fraction at the cliff's generation, with CIs (and prices, if planned)."""
    where = "".join(f", {k} = {v}" for k, v in cliff.group.items())
    kind = "relative" if cliff.relative else "absolute"
    table = Table(title=f"quality loss ΔQ ({kind}) of {cliff.metric} at generation {cliff.generation}{where}; τ = {cliff.tolerance:g}")
    table.add_column("synthetic fraction", justify="right")
    table.add_column("ΔQ [95% CI]", justify="right")
    table.add_column("within τ", justify="center")
    prices = {}
    if plan is not None:
        table.add_column("cost", justify="right")
        for _, row in plan.table.iterrows():
            if all(row.get(k) == v for k, v in cliff.group.items()):
                prices[row["synthetic_fraction"]] = row["cost"]
    for i, s in enumerate(cliff.fractions):
        high = cliff.loss_high[i]
        mark = "[green]yes[/green]" if high <= cliff.tolerance else ("[red]no[/red]" if cliff.loss_low[i] > cliff.tolerance else "[yellow]unsure[/yellow]")
        cells = [f"{s:g}", f"{short(cliff.loss[i])} [{short(cliff.loss_low[i])}, {short(high)}]", mark]
        if plan is not None:
            cells.append(f"{plan.currency}{prices.get(float(s), float('nan')):,.0f}")
        table.add_row(*cells)
    return table
