"""The tasks track's panels: per task and curve, both checks and calibration at generation 0 and at
the last generation, mean over replicates with a 95% Student-t interval (analysis.stats.mean_ci).

Nan replicates (a bucket with no scored item, a confidence with no wrong answer) are left out of
their cell's mean; a cell with none left is nan.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cliffwatch.analysis.quality_loss import FRACTION, REPLICATE, group_columns
from cliffwatch.analysis.stats import mean_ci

TASKS = ("reasoning", "code", "facts")
PANEL_METRICS = ("accuracy", "surface", "shape", "ece", "wrong_confidence", "accuracy_head", "accuracy_tail",
                 "majority")


@dataclass(frozen=True)
class TaskRow:
    """One curve (a synthetic fraction, a route...) at one generation: metric -> (mean, low, high)."""

    labels: dict[str, object]
    generation: int
    cells: dict[str, tuple[float, float, float]]


def task_panels(results: pd.DataFrame) -> dict[str, list[TaskRow]]:
    """Task -> its rows, for every task the run probed (empty if none)."""
    present = set(results["metric"])
    tasks = [t for t in TASKS if f"{t}_accuracy" in present]
    if not tasks:
        return {}
    groups = panel_groups(results)
    last = int(results["generation"].max())
    rows = results[results["generation"].isin([0, last])]
    out: dict[str, list[TaskRow]] = {}
    for task in tasks:
        mine = rows[rows["metric"].str.startswith(f"{task}_")]
        out[task] = []
        for key, part in mine.groupby([*groups, "generation"], sort=True):
            cells = {}
            for metric in PANEL_METRICS:
                per_replicate = part[part["metric"] == f"{task}_{metric}"].groupby(REPLICATE)["value"].mean()
                values = per_replicate.to_numpy(dtype=float)
                cells[metric] = mean_ci(values[~np.isnan(values)])
            out[task].append(TaskRow(dict(zip(groups, key[:-1])), int(key[-1]), cells))
    return out


def panel_groups(results: pd.DataFrame) -> list[str]:
    """The columns that name a curve: the synthetic fraction, then whatever else varies (a route)."""
    return [FRACTION, *[g for g in group_columns(results) if g != FRACTION]]
