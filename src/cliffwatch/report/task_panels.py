"""The tasks track in the HTML report: per task, both checks and calibration per curve, and sample items.

A panel per task (reasoning, code, facts) shows, at generation 0 and at the last generation, the
mean over replicates with a 95% t-interval of: deep accuracy, surface validity, the "shape without
substance" rate, the calibration error, confidence in wrong answers, and head / tail accuracy.
Below it, a few items the last generation's model answered (failures first): prompt, answer,
reference and which check failed, as the task probes kept them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import t as student_t

from cliffwatch.analysis.quality_loss import FRACTION, REPLICATE, group_columns
from cliffwatch.execution.store import RunStore
from cliffwatch.report.figures import escape as _e

TASKS = ("reasoning", "code", "facts")
COLUMNS = (("accuracy", "deep accuracy"), ("surface", "surface valid"), ("shape", "shape w/o substance"),
           ("ece", "calibration error"), ("wrong_confidence", "conf. when wrong"), ("accuracy_head", "head"),
           ("accuracy_tail", "tail"))
SAMPLE_ROWS = 4


def task_section(run_dir: Path, df: pd.DataFrame) -> list[str]:
    """HTML for every task the run probed ([] if none)."""
    tasks = [t for t in TASKS if f"{t}_accuracy" in set(df["metric"])]
    if not tasks:
        return []
    store = RunStore(Path(run_dir))
    out = ["<h2>Tasks: form and substance</h2>",
           "<p>Surface: the answer has the right form (steps well formed, the function parses, a fact of the "
           "right type). Deep: the right substance (right result, no undefined names and every parameter used, "
           "the right fact). Shape without substance: right form, wrong substance. Mean over replicates "
           "[95% interval].</p>"]
    groups = [FRACTION, *[g for g in group_columns(df) if g != FRACTION]]
    last = int(df["generation"].max())
    for task in tasks:
        out.append(f"<h3>{_e(task)}</h3>")
        out.append(_panel(df, task, groups, last))
        out.append(_items(store, df, task, groups, last))
    return out


def _interval(values: np.ndarray) -> str:
    values = values[~np.isnan(values)]
    if not len(values):
        return "–"
    mean = values.mean()
    if len(values) < 2:
        return f"{mean:.2f}"
    half = student_t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return f"{mean:.2f} [{mean - half:.2f}, {mean + half:.2f}]"


def _panel(df: pd.DataFrame, task: str, groups: list[str], last: int) -> str:
    rows = df[df["metric"].str.startswith(f"{task}_") & df["generation"].isin([0, last])]
    head = "".join(f"<th>{_e(label)}</th>" for _, label in COLUMNS)
    body = []
    for key, part in rows.groupby([*groups, "generation"], sort=True):
        label = " · ".join(f"{g}={v}" for g, v in zip([*groups, "generation"], key))
        cells = []
        for metric, _ in COLUMNS:
            values = part[part["metric"] == f"{task}_{metric}"].groupby(REPLICATE)["value"].mean().to_numpy(dtype=float)
            cells.append(f"<td>{_interval(values)}</td>")
        body.append(f"<tr><td>{_e(label)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def _items(store: RunStore, df: pd.DataFrame, task: str, groups: list[str], last: int) -> str:
    shown = []
    lineages = df[df["generation"] == last].drop_duplicates("lineage")
    for key, part in lineages.groupby(groups, sort=True):
        kept = store.lineage(str(part["lineage"].iloc[0])).artifacts().get(last, {})
        rows = kept.get(f"task_items_{task}")
        if rows is None:
            continue
        label = " · ".join(f"{g}={v}" for g, v in zip(groups, key if isinstance(key, tuple) else (key,)))
        cells = "".join(f"<tr><td><code>{_e(p)}</code></td><td><code>{_e(a)}</code></td><td><code>{_e(r)}</code></td>"
                        f"<td>{_e(f)}</td></tr>" for p, a, r, f in rows[:SAMPLE_ROWS])
        shown.append(f"<p>{_e(label)}, generation {last}:</p><table><tr><th>prompt</th><th>answer</th>"
                     f"<th>reference</th><th>check</th></tr>{cells}</table>")
    return "".join(shown)
