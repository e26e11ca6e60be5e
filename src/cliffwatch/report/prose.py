"""Findings in plain language: the sentences the terminal and the HTML report print."""

from __future__ import annotations

import numpy as np

from cliffwatch.analysis.cliff import Cliff
from cliffwatch.analysis.cost import CostPlan
from cliffwatch.analysis.routes import RouteComparison, RouteResult
from cliffwatch.analysis.quality_loss import FRACTION
from cliffwatch.analysis.stats import FEW_REPLICATES
from cliffwatch.report.format import ci_text, money, num_text


def cliff_sentence(c: Cliff) -> str:
    """The cliff of one curve in plain language."""
    what = f"{c.metric} {'falls' if c.higher_is_better else 'rises'} by more than "
    what += f"{c.tolerance:.0%}" if c.relative else f"{c.tolerance:g}"
    where = "".join(f", {k} = {v}" for k, v in c.group.items())
    if not c.found:
        return (f"Under this setup{where}, quality holds at every synthetic fraction up to s = {c.fractions[-1]:g} "
                f"at generation {c.generation}: {c.metric} never gets worse by more than τ.")
    high = "beyond the grid" if np.isinf(c.cliff_high) else f"{c.cliff_high:.2f}"
    text = (f"Under this setup{where}, quality holds up to s = {c.cliff:.2f} [{c.cliff_low:.2f}, {high}] "
            f"at generation {c.generation} ({what} past it).")
    collapsing = {s: g for s, g in c.collapse_generations.items() if g is not None and s >= c.cliff}
    if collapsing:
        s = min(collapsing)
        text += f" Past s = {s:g} it crosses τ within {collapsing[s]} generation{'s' * (collapsing[s] != 1)}."
    if c.replicates < FEW_REPLICATES:
        text += f" (Only {c.replicates} replicates: the bootstrap intervals of the cliff and knee are rough; run more seeds to decide.)"
    if np.isfinite(c.knee):
        shape = "non-linear" if c.nonlinear else "not clearly non-linear"
        text += (f" The curve is {shape}: a two-segment fit bends at s = {c.knee:.2f} "
                 f"[{c.knee_low:.2f}, {c.knee_high:.2f}], slope {c.slope_left:.3g} → {c.slope_right:.3g}.")
    return text


def cost_sentence(plan: CostPlan) -> str:
    c = plan.currency
    if plan.best is None:
        return "No swept mix keeps the quality loss within τ with confidence; only more human data is safe."
    extra = "".join(f", {k} = {plan.best[k]}" for k in plan.labels)
    saving = 1 - plan.best["cost"] / plan.all_human["cost"] if plan.all_human["cost"] > 0 else 0.0
    return (f"Cheapest safe mix: s = {plan.best[FRACTION]:g}{extra}: {c}{plan.best['cost']:,.0f} for the run "
            f"(vs {c}{plan.all_human['cost']:,.0f} all-human, {saving:.0%} less), ΔQ = {plan.best['loss']:.3f} "
            f"[{plan.best['loss_low']:.3f}, {plan.best['loss_high']:.3f}] ≤ τ = {plan.best['tolerance']:g}.")


def route_sentences(c: RouteComparison) -> list[str]:
    """One plain-language sentence (or a few) per route."""
    return [_route_sentence(c, r) for r in c.routes]


def _route_sentence(c: RouteComparison, r: RouteResult) -> str:
    where = f"{r.name} ({r.description}{'' if r.fixes_fraction else f', s = {r.fraction:g}'})"
    if r.problem:
        return f"{where}: not measured — {r.problem}."
    e, base = r.effects[c.metric], c.route(c.baseline)
    loss = f"the {'relative ' if c.relative else ''}quality loss of {c.metric} at generation {c.generation}"
    if r.name == c.baseline:
        text = f"{where} is the baseline: {loss} is {ci_text(e.loss, e.low, e.high)} against the all-human run."
    elif base.problem:
        text = f"{where}: {loss} is {ci_text(e.loss, e.low, e.high)}; the baseline was not measured, so no comparison."
    else:
        b = base.effects[c.metric]
        if not np.isfinite(e.diff_low):
            verb = "changes"  # no CI (one replicate, or an infinite value): no verdict
        elif e.diff_high < 0:
            verb = "cuts"
        elif e.diff_low > 0:
            verb = "raises"
        else:
            verb = "does not measurably change"
        text = (f"{where} {verb} {loss} from {ci_text(b.loss, b.low, b.high)} to {ci_text(e.loss, e.low, e.high)} "
                f"(paired difference {ci_text(e.diff, e.diff_low, e.diff_high, signed=True)}) {_cost_phrase(c, r)}.")
    if r.synthetic_discarded > 0:
        rates = ", ".join(f"{k} {v:.0%}" for k, v in r.acceptance.items())
        text += (f" Its filters discard {r.synthetic_discarded:,.0f} synthetic samples per loop (mean acceptance "
                 f"{rates}).")
    if np.isfinite(r.growth[0]):
        text += " " + _growth_phrase(c, r)
    if r.cliff is not None:
        text += " " + _cliff_phrase(c, r)
    if r.note:
        text += f" Note: {r.note}."
    return text

def _cost_phrase(c: RouteComparison, r: RouteResult) -> str:
    extra, human = r.extra_cost, r.extra_human_samples
    if not np.isfinite(extra) or abs(extra) < 0.005:
        text = "at the same cost"
    else:
        text = f"for {money(c.currency, abs(extra))} {'more' if extra > 0 else 'less'}"
    if np.isfinite(human) and human != 0:
        text += f" ({abs(human):,.0f} {'more' if human > 0 else 'fewer'} human samples per loop)"
    return text

def _growth_phrase(c: RouteComparison, r: RouteResult) -> str:
    mean, low, high = r.growth
    k = max(1, c.generation // 4)
    over = f"over generations {c.generation - k}–{c.generation}"
    if not np.isfinite(low):
        return f"Its loss changes by {num_text(mean, True)} per generation {over} (no CI)."
    if low > 0:
        return f"Its loss is still growing {over}: {ci_text(mean, low, high, signed=True)} per generation."
    if high < 0:
        return f"Its loss is shrinking {over}: {ci_text(mean, low, high, signed=True)} per generation."
    return f"Its loss shows no measurable growth {over}: {ci_text(mean, low, high, signed=True)} per generation."

def _cliff_phrase(c: RouteComparison, r: RouteResult) -> str:
    cliff = r.cliff
    if not cliff.found:
        text = f"Its loss stays within τ = {cliff.tolerance:g} up to s = {cliff.fractions[-1]:g} (no cliff on the grid)"
    else:
        high = "beyond the grid" if np.isinf(cliff.cliff_high) else f"{cliff.cliff_high:.2f}"
        text = f"Its cliff is at s = {cliff.cliff:.2f} [{cliff.cliff_low:.2f}, {high}]"
    if r.name != c.baseline and np.isfinite(r.shift[0]):
        text += f", {ci_text(*r.shift, signed=True, digits=2)} from the baseline's"
    return text + "."
