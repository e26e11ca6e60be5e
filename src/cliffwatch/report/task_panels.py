"""The tasks track in the HTML report: a panel per task and a few sample items, as the analysis holds
them (RunAnalysis.task_panels, LineageRecord.task_items).

A panel per task (reasoning, code, facts) shows, at generation 0 and at the last generation, the
mean over replicates [95% interval] of deep accuracy, surface validity, the "shape without
substance" rate, the calibration error, confidence in wrong answers, head / tail accuracy and the
trivial baseline. Below it, a few items the last generation's model answered (failures first):
prompt, answer, reference and which check failed.
"""

from __future__ import annotations

import math

from cliffwatch.analysis.run import RunAnalysis
from cliffwatch.analysis.tasks import panel_groups
from cliffwatch.report.figures import escape as _e

COLUMNS = (("accuracy", "deep accuracy"), ("surface", "surface valid"), ("shape", "shape w/o substance"),
           ("ece", "calibration error"), ("wrong_confidence", "conf. when wrong"), ("accuracy_head", "head"),
           ("accuracy_tail", "tail"), ("majority", "trivial baseline"))
SAMPLE_ROWS = 4


def task_section(analysis: RunAnalysis) -> list[str]:
    """HTML for every task the run probed ([] if none)."""
    panels = analysis.task_panels
    if not panels:
        return []
    out = ["<h2>Tasks: form and substance</h2>",
           "<p>Surface: the answer has the right form (steps well formed, the function parses, a fact of the "
           "right type). Deep: the right substance (right result, no undefined names and every parameter used, "
           "the right fact). Shape without substance: right form, wrong substance. Trivial baseline: always the "
           "most common answer of the item's kind. Mean over replicates [95% interval].</p>"]
    groups = panel_groups(analysis.results)
    last = int(analysis.results["generation"].max())
    head = "".join(f"<th>{_e(label)}</th>" for _, label in COLUMNS)
    for task, rows in panels.items():
        body = "".join(
            f"<tr><td>{_e(_label(row.labels))} · generation {row.generation}</td>"
            + "".join(f"<td>{_cell(*row.cells[m])}</td>" for m, _ in COLUMNS) + "</tr>" for row in rows)
        out += [f"<h3>{_e(task)}</h3>", f"<table><tr><th></th>{head}</tr>{body}</table>", _items(analysis, task, groups, last)]
    return out


def _label(labels: dict) -> str:
    return " · ".join(f"{k}={v}" for k, v in labels.items())


def _cell(mean: float, low: float, high: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{mean:.2f}" if math.isnan(low) else f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def _items(analysis: RunAnalysis, task: str, groups: list[str], last: int) -> str:
    shown = []
    for lineage in sorted(analysis.lineages, key=lambda r: (_label({g: r.labels.get(g) for g in groups}), r.seed)):
        rows = (lineage.task_items or {}).get(task)
        if not rows:
            continue
        cells = "".join(f"<tr><td><code>{_e(p)}</code></td><td><code>{_e(a)}</code></td><td><code>{_e(r)}</code></td>"
                        f"<td>{_e(f)}</td></tr>" for p, a, r, f in rows[:SAMPLE_ROWS])
        shown.append(f"<p>{_e(_label({g: lineage.labels.get(g) for g in groups}))}, seed {lineage.seed}, generation "
                     f"{last}:</p><table><tr><th>prompt</th><th>answer</th><th>reference</th><th>check</th></tr>"
                     f"{cells}</table>")
    return "".join(shown)
