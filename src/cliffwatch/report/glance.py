"""The report's at-a-glance pieces: the key-numbers box, the key fractions, the sample text and the
one glossary. HTML fragments in the page's style (see report/html.py)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cliffwatch.analysis.cliff import SAFE_METHOD, Cliff
from cliffwatch.analysis.cost import CostPlan
from cliffwatch.analysis.quality_loss import FRACTION
from cliffwatch.analysis.run import LineageRecord
from cliffwatch.core.metrics import Metric
from cliffwatch.report.figures import escape as _e
from cliffwatch.report.format import money

SAMPLE_ITEMS = 3  # sentences (or rows) shown per cell
SAMPLE_WORDS = 30  # a longer sentence is cut with an ellipsis
STATUS = {"located": "", "beyond_grid": "no crossing on the grid", "none": "none", "undetermined": "undetermined"}


def key_fractions(fractions: np.ndarray, cliff: Cliff | None) -> dict[float, str]:
    """The fractions worth a trajectory each: all-human, the safe mix, the first grid fraction past
    the cliff, fully synthetic (the largest s). s -> its role(s)."""
    fractions = np.sort(np.asarray(fractions, dtype=float))
    roles: dict[float, list[str]] = {}

    def add(s: float, role: str) -> None:
        roles.setdefault(float(s), []).append(role)

    if fractions[0] == 0:
        add(0.0, "all-human")
    if cliff is not None:
        if np.isfinite(cliff.safe_fraction) and cliff.safe_fraction > 0:
            add(cliff.safe_fraction, "safe mix")
        if cliff.found:
            add(fractions[np.searchsorted(fractions, cliff.cliff)], "past the cliff")
    if len(fractions) > 1 or not roles:
        add(fractions[-1], "fully synthetic" if fractions[-1] == 1 else "largest s")
    return {s: ", ".join(r) for s, r in sorted(roles.items())}


def _interval(estimate: float, low: float, high: float) -> tuple[str, str]:
    if not math.isfinite(estimate):
        return "–", "–"
    bounds = "–" if not math.isfinite(low) else f"[{low:.2f}, {'beyond the grid' if math.isinf(high) else f'{high:.2f}'}]"
    return f"{estimate:.2f}", bounds


def key_numbers(cliffs: list[Cliff], cost: CostPlan | None) -> str:
    """The cliff, the knee and the safe mix per curve, each with its interval and method: a table."""
    rows = []
    for c in cliffs:
        where = ", ".join(f"{k} = {v}" for k, v in c.group.items())
        head = f"<tr><th colspan='4'>{_e(c.metric)} at generation {c.generation}, τ = {c.tolerance:g}" + (
            f" — {_e(where)}" if where else "") + f" ({c.replicates} replicates)</th></tr>"
        items = []
        ci = c.cliff_interval
        if ci is not None:
            value, bounds = _interval(ci.estimate, ci.low, ci.high)
            if ci.status == "beyond_grid":
                value, bounds = f"> {c.fractions[-1]:g}", (f"lower bound {ci.low:.2f}" if math.isfinite(ci.low) else "–")
            items.append(("cliff s", value, bounds, ci.method, ci.reason or STATUS[ci.status]))
        ki = c.knee_interval
        if ki is not None:
            value, bounds = _interval(ki.estimate, ki.low, ki.high)
            note = ki.reason or (f"slope {c.slope_left:.3g} → {c.slope_right:.3g}; curvature p = {c.nonlinear_p:.2g}")
            items.append(("knee s", value, bounds, ki.method, note))
        safe = c.safe_fraction
        at = np.flatnonzero(c.fractions == safe)
        safe_loss = (f"ΔQ {c.loss[at[0]]:.3g} [{c.loss_low[at[0]]:.3g}, {c.loss_high[at[0]]:.3g}]" if at.size else "–")
        items.append(("safe mix s", f"{safe:g}" if math.isfinite(safe) else "none", safe_loss, SAFE_METHOD,
                      "" if math.isfinite(safe) else "even the smallest synthetic fraction's interval exceeds τ"))
        body = "".join(
            f"<tr><td class='text'><b>{_e(name)}</b></td><td class='num'>{_e(value)}</td><td>{_e(bounds)}</td>"
            f"<td class='text method'>{_e(method)}{f'<br><i>{_e(note)}</i>' if note else ''}</td></tr>"
            for name, value, bounds, method, note in items)
        rows.append(head + "<tr><th>quantity</th><th>estimate</th><th>95% interval</th><th>method · note</th></tr>" + body)
    if cost is not None and cost.best is not None:
        best = cost.best
        rows.append(f"<tr><td class='text'><b>cheapest safe mix</b></td><td class='num'>s = {best[FRACTION]:g}</td>"
                    f"<td>{_e(money(cost.currency, best['cost']))}{' at the default prices' if cost.default_prices else ''}"
                    "</td><td class='text method'>the cheapest mix whose "
                    "whole ΔQ interval stays within τ (table: Cost of each mix)</td></tr>")
    return f"<table class='keys'>{''.join(rows)}</table>"


def _item_text(item: Any) -> str:
    if isinstance(item, str):
        words = item.split()
        return " ".join(words[:SAMPLE_WORDS]) + (" …" if len(words) > SAMPLE_WORDS else "")
    if isinstance(item, list):
        return "(" + ", ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in item) + ")"
    return f"{item:.3g}" if isinstance(item, float) else str(item)


def samples_section(lineages: list[LineageRecord], fractions: dict[float, str], group: dict[str, Any], last: int) -> str:
    """Samples of the models at generation 0 and at the last generation, for the key fractions, from
    the lineage with the smallest seed (the samples its analysis read from lineages/<id>/samples.jsonl)."""
    by_fraction: dict[float, tuple[int, LineageRecord]] = {}
    for lineage in lineages:
        s = float(lineage.labels.get(FRACTION, math.nan))
        if lineage.samples is None or s not in fractions or any(lineage.labels.get(k) != v for k, v in group.items()):
            continue
        if s not in by_fraction or lineage.seed < by_fraction[s][0]:
            by_fraction[s] = (lineage.seed, lineage)
    rows = []
    for s, role in fractions.items():
        if s not in by_fraction:
            continue
        seed, lineage = by_fraction[s]
        gens = {d["generation"]: d["items"] for d in lineage.samples or []}
        if not gens:
            continue
        cells = "".join(
            "<td class='text sample'><ul>" + "".join(f"<li>{_e(_item_text(i))}</li>" for i in gens[g][:SAMPLE_ITEMS])
            + "</ul></td>" if g in gens else "<td>–</td>" for g in (0, last))
        rows.append(f"<tr><td class='text'>s = {s:g}<br><span class='role'>{_e(role)}, seed {seed}</span></td>{cells}</tr>")
    if not rows:
        return ("<p class='note'>This run saved no model samples (runs written by an older cliffwatch keep none; newer "
                "runs save a few per generation in lineages/&lt;id&gt;/samples.jsonl).</p>")
    return ("<p>What the model emits: the first samples its probes drew at generation 0 (fitted on human data only) and "
            f"at generation {last}, one lineage per key fraction.</p><table class='samples'><thead><tr><th>fraction</th>"
            f"<th>generation 0</th><th>generation {last}</th></tr></thead><tbody>{''.join(rows)}</tbody></table>")


TERMS = [
    ("synthetic fraction s", "the share of each generation's training data that the previous generation's model "
     "generated (the rest is human data); s = 0 is the all-human run every loss is measured against."),
    ("generation", "one round of the loop: fit on the mix, sample, mix the samples with human data, refit. "
     "Generation 0 is fitted on human data only."),
    ("replicate", "one (seed, chain): the unit whose randomness is independent. Every interval is over replicates."),
    ("ΔQ (quality loss)", "how much worse a lineage is than the all-human run of the same replicate at the same "
     "generation, in the metric's own loss (a relative change, a ratio of means or a difference); positive = worse."),
    ("τ (tolerance)", "the largest quality loss you accept."),
    ("cliff", "the smallest s whose mean ΔQ exceeds τ (interpolated between grid points), with a 95% interval from the "
     "inverted ΔQ band widened by a bound on the interpolation error."),
    ("knee", "where a continuous two-segment line fitted to ΔQ(s) bends; reported only when a curvature t test "
     "rejects a straight line, with a 95% interval from inverted t tests."),
    ("safe mix", "the largest grid fraction whose whole 95% ΔQ interval, and every smaller fraction's, stays within τ."),
    ("95% interval", "a Student-t interval over replicates; shaded bands in the figures are these intervals."),
]


def glossary(metrics: list[str], index: dict[str, Metric]) -> str:
    """The one glossary of the page: the terms, then every metric the run reports."""
    terms = "".join(f"<dt>{_e(t)}</dt><dd>{_e(d)}</dd>" for t, d in TERMS)
    described = "".join(
        f"<dt>{_e(m)}</dt><dd>{_e(index[m].description)}"
        f" ({ {True: 'higher is better', False: 'lower is better', None: 'a diagnostic'}[index[m].higher_is_better]})</dd>"
        for m in metrics if m in index)
    return f"<h2 id='glossary'>Glossary</h2><dl class='glossary'>{terms}{described}</dl>"
