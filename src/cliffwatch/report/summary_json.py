"""summary.json: what a run found, machine-readable (``cliffwatch cliff --json`` prints the same).

Per quality metric: its change from generation 0 to the last (paired by replicate, with the
verdict the terminal prints), and, when the run sweeps the synthetic fraction, its cliff, knee and
safe mix per curve (Cliff.to_dict: each with its interval and the method behind it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.text import Text

from cliffwatch.analysis.cliff import analyze, default_metric
from cliffwatch.analysis.quality_loss import FRACTION, run_metrics
from cliffwatch.core.errors import AnalysisError
from cliffwatch.report.terminal import summarize, verdict

SCHEMA = 1


def _number(x: Any) -> Any:
    """JSON has no nan or infinity: a missing number is null, an infinite one a string."""
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


def run_summary(df: pd.DataFrame, tolerance: float = 0.1, generation: int | None = None,
                loss: str | None = None, primary: str | None = None) -> dict[str, Any]:
    """The summary of one run's results table (as load_results gives it)."""
    index = run_metrics(df)
    quality = [m for m in df["metric"].unique() if m in index and index[m].higher_is_better is not None]
    swept = FRACTION in df.columns and df[FRACTION].nunique() > 1 and (df[FRACTION] == 0).any()
    try:
        primary = primary or default_metric(df)
    except AnalysisError:
        primary = None
    changes = summarize(df).set_index("metric")
    metrics: dict[str, Any] = {}
    for metric in sorted(quality):
        row = changes.loc[metric]
        entry: dict[str, Any] = {
            "change": {
                "generation_0": _number(float(row["gen0"])), "last_generation": int(row["last_generation"]),
                "last": _number(float(row["last"])), "kind": row["change_kind"],
                "low": _number(float(row["change_low"])), "high": _number(float(row["change_high"])),
                "replicates_up": int(row["up"]), "replicates_down": int(row["down"]),
                "sign_test_p": _number(float(row["sign_p"])), "verdict": Text.from_markup(verdict(row)).plain,
                "method": "per-replicate log ratio (difference if a value is not positive): Student-t interval of its "
                          "mean, and an exact sign test",
            },
        }
        if swept:
            try:
                entry["cliffs"] = [c.to_dict() for c in analyze(df, metric, tolerance, generation=generation, loss=loss)]
            except AnalysisError as err:
                entry["cliffs"] = []
                entry["reason"] = str(err)
        metrics[metric] = entry
    return {"schema": SCHEMA, "primary_metric": primary, "tolerance": tolerance, "swept_fraction": bool(swept),
            "metrics": metrics}


def write_summary(run_dir: str | Path, df: pd.DataFrame, **options: Any) -> Path:
    """Write summary.json beside the run's results; returns its path."""
    path = Path(run_dir) / "summary.json"
    path.write_text(json.dumps(run_summary(df, **options), indent=1, allow_nan=False) + "\n")
    return path
