"""summary.json: what a run found, machine-readable (``cliffwatch cliff --json`` prints the same).

Per quality metric: its change from generation 0 to the last (paired by replicate, with the
verdict the terminal prints), and, when the run sweeps the synthetic fraction, its cliff, knee and
safe mix per curve (Cliff.to_dict: each with its interval and the method behind it). An
escape-route comparison gives each route's effect instead (ΔQ at generation G and its paired
difference to the baseline, and its cliff when the route ran over the fraction grid).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd
from rich.text import Text

from cliffwatch.analysis.cliff import analyze, default_metric
from cliffwatch.analysis.quality_loss import FRACTION, run_metrics
from cliffwatch.analysis.routes import RouteComparison
from cliffwatch.core.errors import AnalysisError
from cliffwatch.execution.store import atomic_write
from cliffwatch.report.terminal import summarize, verdict

SCHEMA = 1


def _number(x: Any) -> Any:
    """JSON has no nan or infinity: a missing number is null, an infinite one a string."""
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


EFFECT_METHOD = ("mean ΔQ over replicates against the all-human run at generation G with a 95% Student-t "
                 "interval; vs the baseline: the mean paired difference (same seed and chain) with its t interval")


def run_summary(df: pd.DataFrame, tolerance: float = 0.1, generation: int | None = None,
                loss: str | None = None, primary: str | None = None,
                comparison: RouteComparison | None = None) -> dict[str, Any]:
    """The summary of one run's results table (as load_results gives it); ``comparison``: the
    route comparison of an escape-route run (its routes replace the per-metric cliffs)."""
    index = run_metrics(df)
    quality = [m for m in df["metric"].unique() if m in index and index[m].higher_is_better is not None]
    swept = (comparison is None and FRACTION in df.columns and df[FRACTION].nunique() > 1
             and (df[FRACTION] == 0).any())
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
    out = {"schema": SCHEMA, "primary_metric": primary, "tolerance": tolerance, "swept_fraction": bool(swept),
           "metrics": metrics}
    if comparison is not None:
        out["primary_metric"] = comparison.metric
        out["routes"] = _routes(comparison)
    return out


def _routes(c: RouteComparison) -> dict[str, Any]:
    def effect(e: Any) -> dict[str, Any]:
        return {"loss": _number(e.loss), "low": _number(e.low), "high": _number(e.high),
                "vs_baseline": _number(e.diff), "vs_baseline_low": _number(e.diff_low),
                "vs_baseline_high": _number(e.diff_high), "replicates": e.replicates}

    return {
        "metric": c.metric, "generation": c.generation, "tolerance": c.tolerance, "baseline": c.baseline,
        "method": EFFECT_METHOD,
        "routes": [{"name": r.name, "overrides": r.description, "synthetic_fraction": r.fraction,
                    "effects": {m: effect(e) for m, e in r.effects.items()},
                    "cliff": r.cliff.to_dict() if r.cliff is not None else None,
                    "cliff_shift": [_number(x) for x in r.shift], "cost": _number(r.cost),
                    "problem": r.problem or r.note} for r in c.routes],
    }


def write_summary(run_dir: str | Path, df: pd.DataFrame, **options: Any) -> Path:
    """Write summary.json beside the run's results (atomically); returns its path."""
    path = Path(run_dir) / "summary.json"
    text = json.dumps(run_summary(df, **options), indent=1, allow_nan=False) + "\n"

    def write(tmp: str) -> None:
        Path(tmp).write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a summary is meant to be read by tools

    atomic_write(path, write)
    return path
