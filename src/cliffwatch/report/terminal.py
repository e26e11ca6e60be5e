"""Terminal summaries of a run (rich tables)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from rich.table import Table

from cliffwatch.analysis.stats import mean_ci
from cliffwatch.analysis.quality_loss import run_metrics
from cliffwatch.report.format import short


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per metric: generation-0 and last-generation means with 95% bootstrap CIs over replicates.

    A replicate is one (seed, chain): the unit whose randomness is independent.
    """
    index = run_metrics(df)
    last = int(df["generation"].max())
    rows = []
    for metric, group in df.groupby("metric", sort=False):
        first_vals = group.loc[group["generation"] == 0, "value"].to_numpy()
        last_vals = group.loc[group["generation"] == last, "value"].to_numpy()
        mean0, lo0, hi0 = mean_ci(first_vals)
        mean, lo, hi = mean_ci(last_vals)
        direction = index[metric].higher_is_better if metric in index else None
        rows.append({
            "metric": metric, "higher_is_better": direction,
            "gen0": mean0, "gen0_low": lo0, "gen0_high": hi0,
            "last_generation": last, "last": mean, "last_low": lo, "last_high": hi,
            "replicates": len(last_vals),
        })
    return pd.DataFrame(rows)


def verdict(row: pd.Series) -> str:
    """Whether the metric got better or worse, only when the CIs do not overlap."""
    if row["higher_is_better"] is None or any(np.isnan([row["gen0_low"], row["last_low"]])):
        if math.isinf(row["last"]) and not math.isinf(row["gen0"]):
            return "[red]worse[/red]" if row["higher_is_better"] is False else "changed"
        return ""
    better_up = bool(row["higher_is_better"])
    if row["last_low"] > row["gen0_high"]:
        return "[green]better[/green]" if better_up else "[red]worse[/red]"
    if row["last_high"] < row["gen0_low"]:
        return "[red]worse[/red]" if better_up else "[green]better[/green]"
    return "no clear change"


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
