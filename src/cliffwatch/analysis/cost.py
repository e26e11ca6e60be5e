"""The cheapest data mix that keeps the quality loss within τ after G generations.

Purchases per lineage: generation 0 buys ``samples`` human items; every later generation buys
its synthetic share, and its human share only when the anchor is ``fresh`` (a ``fixed`` anchor
re-uses generation 0's human data). A mix counts as safe when the upper end of its ΔQ
confidence interval stays within τ, and so does every smaller fraction's: the plan does not
bet on a lucky point estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cliffwatch.analysis.cliff import FRACTION, Cliff
from cliffwatch.config.schema import CostSpec


def mix_cost(fraction: float, samples: int, generations: int, human: str, prices: CostSpec) -> float:
    synthetic = round(fraction * samples)
    new_human = samples - synthetic if human == "fresh" else 0
    return samples * prices.human_price + generations * (synthetic * prices.synthetic_price + new_human * prices.human_price)


@dataclass
class CostPlan:
    table: pd.DataFrame  # one row per candidate mix: labels, s, cost, loss and CI, safe
    best: pd.Series | None  # the cheapest safe mix, or None if no mix is safe
    all_human: pd.Series  # the reference: s = 0 (the most expensive)
    currency: str

    def summary(self) -> str:
        c = self.currency
        if self.best is None:
            return "No swept mix keeps the quality loss within τ with confidence; only more human data is safe."
        extra = "".join(f", {k} = {self.best[k]}" for k in self.table.columns if k not in _COLUMNS)
        saving = 1 - self.best["cost"] / self.all_human["cost"] if self.all_human["cost"] > 0 else 0.0
        return (f"Cheapest safe mix: s = {self.best[FRACTION]:g}{extra}: {c}{self.best['cost']:,.0f} for the run "
                f"(vs {c}{self.all_human['cost']:,.0f} all-human, {saving:.0%} less), ΔQ = {self.best['loss']:.3f} "
                f"[{self.best['loss_low']:.3f}, {self.best['loss_high']:.3f}] ≤ τ = {self.best['tolerance']:g}.")


_COLUMNS = {FRACTION, "cost", "loss", "loss_low", "loss_high", "tolerance", "safe"}


def plan(cliffs: list[Cliff], samples: int, prices: CostSpec, human: str = "fixed") -> CostPlan:
    """The cheapest safe mix among every swept (group, fraction) of the analysed cliffs, priced over
    the generations the cliff was located at."""
    rows = []
    for cliff in cliffs:
        mode = str(cliff.group.get("human", human))
        n = int(cliff.group.get("samples", samples))
        for s, loss, low, high, safe in zip(cliff.fractions, cliff.loss, cliff.loss_low, cliff.loss_high, cliff.safe):
            rows.append({**cliff.group, FRACTION: float(s), "cost": mix_cost(s, n, cliff.generation, mode, prices),
                         "loss": loss, "loss_low": low, "loss_high": high, "tolerance": cliff.tolerance,
                         "safe": bool(safe)})
    table = pd.DataFrame(rows).sort_values("cost", kind="stable").reset_index(drop=True)
    safe = table[table["safe"]]
    all_human = table[table[FRACTION] == 0].sort_values("cost").iloc[0]
    return CostPlan(table, safe.iloc[0] if len(safe) else None, all_human, prices.currency)
