"""The cheapest data mix that keeps the quality loss within τ after G generations.

What a mix buys is priced as loop/mixing.py counts it. A mix counts as safe when the upper end of
its ΔQ confidence interval stays within τ, and so does every smaller fraction's: the plan does
not bet on a lucky point estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from cliffwatch.analysis.cliff import Cliff
from cliffwatch.analysis.quality_loss import FRACTION
from cliffwatch.config.schema import CostSpec
from cliffwatch.loop.mixing import mix_cost


_COLUMNS = {FRACTION, "cost", "loss", "loss_low", "loss_high", "tolerance", "safe"}


@dataclass
class CostPlan:
    table: pd.DataFrame  # one row per candidate mix: labels, s, cost, loss and CI, safe
    best: pd.Series | None  # the cheapest safe mix, or None if no mix is safe
    all_human: pd.Series  # the reference: s = 0 (the most expensive)
    currency: str

    @property
    def labels(self) -> list[str]:
        """The swept fields (beside s) that tell candidate mixes apart."""
        return [k for k in self.table.columns if k not in _COLUMNS]


def plan(cliffs: list[Cliff], samples: int, prices: CostSpec, human: str = "fixed") -> CostPlan:
    """The cheapest safe mix among every swept (group, fraction) of the analysed cliffs, priced over
    the generations the cliff was located at."""
    rows = []
    for cliff in cliffs:
        mode = str(cliff.group.get("human", human))
        n = int(cliff.group.get("samples", samples))
        for s, loss, low, high, safe in zip(cliff.fractions, cliff.loss, cliff.loss_low, cliff.loss_high, cliff.safe):
            rows.append({**cliff.group, FRACTION: float(s), "cost": mix_cost(s, n, cliff.generation, mode, prices.human_price, prices.synthetic_price),
                         "loss": loss, "loss_low": low, "loss_high": high, "tolerance": cliff.tolerance,
                         "safe": bool(safe)})
    table = pd.DataFrame(rows).sort_values("cost", kind="stable").reset_index(drop=True)
    safe = table[table["safe"]]
    all_human = table[table[FRACTION] == 0].sort_values("cost").iloc[0]
    return CostPlan(table, safe.iloc[0] if len(safe) else None, all_human, prices.currency)
