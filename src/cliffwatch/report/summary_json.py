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
from pathlib import Path
from typing import Any

from rich.text import Text

from cliffwatch.analysis.routes import RouteComparison
from cliffwatch.analysis.run import RunAnalysis
from cliffwatch.config.schema import CostSpec
from cliffwatch.core.files import write_shared_text
from cliffwatch.core.provenance import git_commit, package_versions, rounded
from cliffwatch.report.terminal import verdict

SCHEMA = 1


def _number(x: Any) -> Any:
    """JSON has no nan or infinity: a missing number is null, an infinite one a string."""
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return x


EFFECT_METHOD = ("mean ΔQ over replicates against the all-human run at generation G with a 95% Student-t "
                 "interval; vs the baseline: the mean paired difference (same seed and chain) with its t interval")
CHANGE_METHOD = ("per-replicate log ratio (difference if a value is not positive): Student-t interval of its "
                 "mean, and an exact sign test")


def run_summary(analysis: RunAnalysis) -> dict[str, Any]:
    """The summary of one run's analysis: each section a function of it, so a field is added in one
    place. Numbers are rounded to 12 significant digits (no binary floating-point noise)."""
    out = {"schema": SCHEMA, "primary_metric": analysis.primary, "tolerance": analysis.options.tolerance,
           "swept_fraction": analysis.swept, "metrics": _metrics(analysis)}
    if analysis.comparison is not None:
        out["routes"] = _routes(analysis.comparison)
    out["run"] = _described(analysis)
    return rounded(out)


def _described(analysis: RunAnalysis) -> dict[str, Any]:
    """What the run was and what wrote it, so this one file stands on its own: the config, when the
    run was created and by which cliffwatch, the cliffwatch that wrote this summary (with its git
    commit when run from a checkout) and the package versions, the human data's content fingerprint
    and provenance, and each lineage's labels next to its id. (No clock time of its own: the summary
    is a function of the analysis, so summary.json and `cliff --json` agree.)"""
    from cliffwatch.core.version import __version__
    from cliffwatch.core.labels import describe

    data: dict[str, dict[str, Any]] = {}
    for record in analysis.lineages:
        key = record.fingerprint or json.dumps(record.provenance, sort_keys=True, default=str)
        data.setdefault(key, {"fingerprint": record.fingerprint, "provenance": record.provenance})
    labels = describe({r.id: {**r.labels, "seed": r.seed} for r in analysis.lineages})
    return {
        "kind": analysis.kind, "name": analysis.snapshot.get("name"), "adaptive": analysis.adaptive,
        "config": analysis.snapshot,
        "created": analysis.meta.get("created"), "created_by": {"cliffwatch": analysis.meta.get("cliffwatch")},
        "written_by": {"cliffwatch": __version__, "git": git_commit(), **package_versions()},
        "data": list(data.values()),
        **({"prices": {**analysis.snapshot["cost"],
                       "default": analysis.snapshot["cost"] == CostSpec().model_dump(mode="json")}}
           if isinstance(analysis.snapshot.get("cost"), dict) else {}),
        "lineages": [{"id": r.id, "label": labels[r.id], "seed": r.seed, "labels": r.labels}
                     for r in sorted(analysis.lineages, key=lambda r: labels[r.id])],
    }


def _metrics(analysis: RunAnalysis) -> dict[str, Any]:
    """Per quality metric: its change from generation 0 to the last and, in a sweep, its cliffs."""
    changes = analysis.changes.set_index("metric")
    cliffs = analysis.metric_cliffs if analysis.swept else {}
    metrics: dict[str, Any] = {}
    for metric in sorted(m for m, better in zip(changes.index, changes["higher_is_better"]) if better is not None):
        row = changes.loc[metric]
        entry: dict[str, Any] = {
            "change": {
                "generation_0": _number(float(row["gen0"])), "last_generation": int(row["last_generation"]),
                "last": _number(float(row["last"])), "kind": row["change_kind"],
                "low": _number(float(row["change_low"])), "high": _number(float(row["change_high"])),
                "replicates_up": int(row["up"]), "replicates_down": int(row["down"]),
                "sign_test_p": _number(float(row["sign_p"])), "verdict": Text.from_markup(verdict(row)).plain,
                "method": CHANGE_METHOD,
            },
        }
        if analysis.swept:
            found = cliffs[metric]
            entry["cliffs"] = [] if isinstance(found, str) else [c.to_dict() for c in found]
            if isinstance(found, str):
                entry["reason"] = found
        metrics[metric] = entry
    return metrics


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


def write_summary(analysis: RunAnalysis) -> Path:
    """Write summary.json beside the run's results (atomically); returns its path."""
    path = analysis.run_dir / "summary.json"
    write_shared_text(path, json.dumps(run_summary(analysis), indent=1, allow_nan=False) + "\n")
    return path
