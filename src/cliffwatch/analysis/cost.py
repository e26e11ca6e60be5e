"""The cheapest data mix that keeps the quality loss within τ after G generations.

What a mix buys is priced as loop/mixing.py counts it. A mix counts as safe when the upper end of
its ΔQ confidence interval stays within τ, the exact upper bound on the risk that a single run
crosses τ stays within the risk level, and so do every smaller fraction's: the plan bets neither on
a lucky point estimate nor on an average that hides a minority of collapsing runs. Where only the
risk bound stands in the way, the plan says how many more seeds there would establish it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cliffwatch.analysis.cliff import Cliff
from cliffwatch.analysis.quality_loss import FRACTION
from cliffwatch.analysis.stats import RISK_LEVEL
from cliffwatch.config.schema import CostSpec
from cliffwatch.loop.mixing import mix_cost


_COLUMNS = {FRACTION, "cost", "loss", "loss_low", "loss_high", "tolerance", "crossed", "replicates", "risk_high",
            "safe"}


@dataclass
class CostPlan:
    table: pd.DataFrame  # one row per candidate mix: labels, s, cost, loss and CI, safe
    best: pd.Series | None  # the cheapest safe mix, or None if no mix is safe
    all_human: pd.Series  # the reference: s = 0 (the most expensive)
    currency: str
    risk_level: float = RISK_LEVEL
    more_seeds: tuple[pd.Series, int] | None = None  # the cheapest mix only the risk bound holds back; seeds it needs
    default_prices: bool = False  # the config set no prices of its own: the costs are placeholders

    @property
    def labels(self) -> list[str]:
        """The swept fields (beside s) that tell candidate mixes apart."""
        return [k for k in self.table.columns if k not in _COLUMNS]


def plan(cliffs: list[Cliff], samples: int, prices: CostSpec, human: str = "fixed") -> CostPlan:
    """The cheapest safe mix among every swept (group, fraction) of the analysed cliffs, priced over
    the generations the cliff was located at."""
    rows, blocked = [], []
    for cliff in cliffs:
        mode = str(cliff.group.get("human", human))
        n = int(cliff.group.get("samples", samples))
        crossed = cliff.crossed if cliff.crossed is not None else np.zeros(len(cliff.fractions), int)
        risk = cliff.risk_high if cliff.risk_high is not None else np.zeros(len(cliff.fractions))
        for s, loss, low, high, k, bound, safe in zip(cliff.fractions, cliff.loss, cliff.loss_low, cliff.loss_high,
                                                      crossed, risk, cliff.safe):
            rows.append({**cliff.group, FRACTION: float(s), "cost": mix_cost(s, n, cliff.generation, mode, prices.human_price, prices.synthetic_price),
                         "loss": loss, "loss_low": low, "loss_high": high, "tolerance": cliff.tolerance,
                         "crossed": int(k), "replicates": cliff.replicates, "risk_high": float(bound),
                         "safe": bool(safe)})
        mean_ok = np.cumprod(cliff.loss_high <= cliff.tolerance).astype(bool)
        blocked += [(cliff.group, float(s), cliff.seeds_to_reach(s)) for s in cliff.fractions[mean_ok & ~cliff.safe]]
    table = pd.DataFrame(rows).sort_values("cost", kind="stable").reset_index(drop=True)
    safe = table[table["safe"]]
    best = safe.iloc[0] if len(safe) else None
    all_human = table[table[FRACTION] == 0].sort_values("cost").iloc[0]
    more = None
    for group, s, seeds in blocked:
        if seeds is None:
            continue
        match = (table[FRACTION] == s) & np.logical_and.reduce([table[k] == v for k, v in group.items()] or [True])
        row = table[match].iloc[0]
        if (best is None or row["cost"] < best["cost"]) and (more is None or row["cost"] < more[0]["cost"]):
            more = (row, seeds)
    return CostPlan(table, best, all_human, prices.currency, cliffs[0].risk_level if cliffs else RISK_LEVEL, more,
                    prices == CostSpec())
