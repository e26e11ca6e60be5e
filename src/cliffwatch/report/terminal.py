"""Terminal summaries of a run (rich tables), drawn from its analysis (analysis/change.py, analysis/run.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from rich.table import Table

from cliffwatch.report.format import short


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
    title = f"quality loss ΔQ ({kind}) of {cliff.metric} at generation {cliff.generation}{where}; τ = {cliff.tolerance:g}"
    table = Table(title=title, min_width=len(title))  # the title on one line, not wrapped at the table's width
    table.add_column("synthetic fraction", justify="right")
    table.add_column("ΔQ [95% CI]", justify="right")
    table.add_column("within τ", justify="center")
    risky = cliff.risk_high is not None
    if risky:
        table.add_column(f"runs over τ: risk ≤ (level {cliff.risk_level:.0%})", justify="right")
    prices = {}
    plan = plan if plan is not None and not plan.default_prices else None  # no placeholder money
    if plan is not None:
        table.add_column("cost", justify="right")
        for _, row in plan.table.iterrows():
            if all(row.get(k) == v for k, v in cliff.group.items()):
                prices[row["synthetic_fraction"]] = row["cost"]
    for i, s in enumerate(cliff.fractions):
        high = cliff.loss_high[i]
        mark = "[green]yes[/green]" if high <= cliff.tolerance else ("[red]no[/red]" if cliff.loss_low[i] > cliff.tolerance else "[yellow]unsure[/yellow]")
        cells = [f"{s:g}", f"{short(cliff.loss[i])} [{short(cliff.loss_low[i])}, {short(high)}]", mark]
        if risky:
            cells.append("reference" if s == 0 else f"{int(cliff.crossed[i])} of {cliff.replicates}: {cliff.risk_high[i]:.0%}")
        if plan is not None:
            cells.append(f"{plan.currency}{prices.get(float(s), float('nan')):,.0f}")
        table.add_row(*cells)
    return table
