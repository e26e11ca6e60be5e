"""Findings in plain language: the sentences the terminal and the HTML report print."""

from __future__ import annotations

import numpy as np

from cliffwatch.analysis.adaptive import grid_fractions
from cliffwatch.analysis.cliff import Cliff
from cliffwatch.analysis.cost import CostPlan
from cliffwatch.analysis.routes import RouteComparison, RouteResult
from cliffwatch.analysis.quality_loss import FRACTION
from cliffwatch.analysis.intervals import MIN_FRACTIONS
from cliffwatch.analysis.stats import FEW_REPLICATES
from cliffwatch.report.format import ci_text, money, num_text


def _tau(c: Cliff) -> str:
    """τ as the sentence needs it: a percentage for relative losses."""
    if c.loss_kind == "log_ratio":
        return f"a log ratio of {c.tolerance:g}"
    return f"{c.tolerance:.0%}" if c.relative else f"{c.tolerance:g}"


def cliff_sentence(c: Cliff) -> str:
    """The cliff of one curve in plain language."""
    what = f"{c.metric} {'falls' if c.higher_is_better else 'rises'} by more than {_tau(c)}"
    where = "".join(f", {k} = {v}" for k, v in c.group.items())
    ci = c.cliff_interval
    if ci is not None and ci.status == "undetermined":
        head = (f"Under this setup{where}, the cliff at generation {c.generation} is undetermined: {ci.reason}"
                + (f" (mean ΔQ first exceeds τ at s = {c.cliff:.2f})." if c.found else "."))
    elif not c.found:
        bound = ""
        if np.isfinite(c.cliff_low):
            bound = ("; even the upper 95% band stays within τ" if c.cliff_low >= c.fractions[-1] else
                     f"; at 95% confidence any cliff lies above s = {c.cliff_low:.2f}")
        head = (f"Under this setup{where}, quality holds at every synthetic fraction up to s = {c.fractions[-1]:g} "
                f"at generation {c.generation}: mean {c.metric} never gets worse by more than τ{bound}.")
    elif c.coarse_cell is not None:
        head = (f"Under this setup{where}, the cliff lies in [{c.coarse_cell[0]:g}, {c.coarse_cell[1]:g}]; the grid is "
                f"too coarse to place it closer ({what} past it at generation {c.generation}).")
    else:
        high = "beyond the grid" if np.isinf(c.cliff_high) else f"{c.cliff_high:.2f}"
        head = (f"Under this setup{where}, quality holds up to s = {c.cliff:.2f} [{c.cliff_low:.2f}, {high}] "
                f"at generation {c.generation} ({what} past it).")
    text = head
    # only where the loss is surely over τ at generation G, never at an unsure fraction
    over = {s for s, v in zip(c.fractions, c.verdicts) if v == "over"}
    collapsing = {s: g for s, g in c.collapse_generations.items()
                  if g is not None and c.found and s >= c.cliff and s in over}
    if collapsing:
        s = min(collapsing)
        text += f" Past s = {s:g} it crosses τ within {collapsing[s]} generation{'s' * (collapsing[s] != 1)}."
    knee = c.knee_interval
    if knee is not None and knee.status == "located":
        text += (f" The curve bends (curvature test p = {c.nonlinear_p:.2g}): a two-segment fit puts the knee at "
                 f"s = {c.knee:.2f} [{c.knee_low:.2f}, {c.knee_high:.2f}], slope {c.slope_left:.3g} → "
                 f"{c.slope_right:.3g}.")
    elif knee is not None:
        text += f" Knee: {knee.reason[0].lower()}{knee.reason[1:]}."
    if 1 < c.replicates < FEW_REPLICATES and len(c.fractions) >= MIN_FRACTIONS:
        text += f" (Only {c.replicates} replicates: the intervals are wide; more seeds narrow them.)"
    return text


def adaptive_sentence(c: Cliff) -> str:
    """What an adaptive search spent against a uniform grid placing the cliff as narrowly."""
    where = c.cliff_interval
    used = len(c.fractions)
    if where is None or where.status != "located" or not np.isfinite(where.high):
        return f"Adaptive search: {used} fractions × {c.replicates} seeds run; no cliff interval to compare a grid with."
    width = where.high - where.low
    grid = grid_fractions(width)
    return (f"Adaptive search: {used} fractions × {c.replicates} seeds = {used * c.replicates} runs for a cliff interval "
            f"{width:.3g} wide; a uniform grid with cells that narrow takes {grid} fractions ({grid * c.replicates} runs).")


NO_PRICES = ("no prices are set (`cost: {human_price: ..., synthetic_price: ...}` in the sweep config), so no mix "
             "is priced")


def cost_sentence(plan: CostPlan) -> str:
    """The cheapest safe mix and what it saves, or that no mix is safe. Without prices of the config's
    own: the largest safe synthetic share instead, and no money. When the cheapest is all human: why."""
    c = plan.currency
    text = _cost_head(plan)
    if plan.more_seeds is not None:
        row, seeds = plan.more_seeds
        extra = "".join(f", {k} = {row[k]}" for k in plan.labels)
        s = row[FRACTION]
        price = "" if plan.default_prices else f" ({c}{row['cost']:,.0f})"
        text += (f" At s = {s:g}{extra}{price} the mean loss is within τ, as at every smaller fraction, "
                 f"but {risk_text(row['crossed'], row['replicates'], row['risk_high'])} > the risk level "
                 f"{plan.risk_level:.0%}: {seeds} more seed{'s' * (seeds != 1)} at s = 0 … {s:g}, none crossing τ, "
                 "would establish it.")
    return text


def seeds_sentence(c: Cliff) -> str:
    """The mix of one curve that only the per-run risk bound holds back, and the seeds that would
    establish it (the cliff section's form of cost_sentence's last sentence); "" when none is."""
    if not np.isfinite(c.blocking):
        return ""
    s = c.blocking
    i = list(c.fractions).index(s)
    seeds = c.seeds_to_reach(s)
    head = (f"At s = {s:g} the mean loss is within τ, as at every smaller fraction, but "
            f"{risk_text(c.crossed[i], c.replicates, c.risk_high[i])} > the risk level {c.risk_level:.0%}")
    if seeds is None:
        return head + ": no feasible number of further seeds would establish it."
    return (head + f": {seeds} more seed{'s' * (seeds != 1)} at s = 0 … {s:g}, none crossing τ, would establish it "
            "(sweep --adaptive --max-seeds can add them).")


def risk_text(crossed: int, runs: int, bound: float) -> str:
    """The per-run risk at one fraction: "0 of 3 runs crossed: risk ≤ 63%"."""
    return f"{int(crossed)} of {int(runs)} runs crossed: risk ≤ {bound:.0%}"


def _cost_head(plan: CostPlan) -> str:
    c = plan.currency
    if plan.best is None:
        return ("No swept mix keeps the quality loss within τ, and the risk that a single run crosses it within "
                f"{plan.risk_level:.0%}, with confidence; only more human data is safe.")
    safe = plan.table[plan.table["safe"]]
    if plan.default_prices:  # no prices of the config's own: the share, not placeholder money
        top = safe.sort_values(FRACTION, kind="stable").iloc[-1]
        extra = "".join(f", {k} = {top[k]}" for k in plan.labels)
        return (f"Largest safe synthetic share: s = {top[FRACTION]:g}{extra}, ΔQ = {top['loss']:.3f} "
                f"[{top['loss_low']:.3f}, {top['loss_high']:.3f}] ≤ τ = {top['tolerance']:g}"
                + ("" if top[FRACTION] == 0 else
                   f"; {risk_text(top['crossed'], top['replicates'], top['risk_high'])} (risk level {plan.risk_level:.0%})")
                + f"; {NO_PRICES}." + (_why_all_human(plan, safe) if top[FRACTION] == 0 else ""))
    extra = "".join(f", {k} = {plan.best[k]}" for k in plan.labels)
    saving = 1 - plan.best["cost"] / plan.all_human["cost"] if plan.all_human["cost"] > 0 else 0.0
    text = (f"Cheapest safe mix: s = {plan.best[FRACTION]:g}{extra}: {c}{plan.best['cost']:,.0f} for the run "
            f"(vs {c}{plan.all_human['cost']:,.0f} all-human, {saving:.0%} less), ΔQ = {plan.best['loss']:.3f} "
            f"[{plan.best['loss_low']:.3f}, {plan.best['loss_high']:.3f}] ≤ τ = {plan.best['tolerance']:g}"
            + ("" if plan.best[FRACTION] == 0 else  # the all-human reference itself: no risk to bound
               f"; {risk_text(plan.best['crossed'], plan.best['replicates'], plan.best['risk_high'])} "
               f"(risk level {plan.risk_level:.0%})") + ".")
    return text + _why_all_human(plan, safe) if plan.best[FRACTION] == 0 else text


def _why_all_human(plan: CostPlan, safe) -> str:
    """Why the cheapest safe mix has no synthetic data: none is safe, or synthetic data costs more here."""
    if not (safe[FRACTION] > 0).any():
        above = plan.table[plan.table[FRACTION] > 0].sort_values(FRACTION, kind="stable")
        if above.empty:
            return ""
        first = above.iloc[0]
        if first["loss_high"] > first["tolerance"]:
            why = f"the ΔQ interval already reaches {first['loss_high']:.3f} > τ"
        else:
            why = f"{risk_text(first['crossed'], first['replicates'], first['risk_high'])} > the risk level {plan.risk_level:.0%}"
        return f" It is all human because no mix with synthetic data is safe: at s = {first[FRACTION]:g} {why}."
    top = safe.sort_values(FRACTION, kind="stable").iloc[-1]
    return (f" It is all human although mixes up to s = {top[FRACTION]:g} are safe, because at these prices "
            "synthetic data adds cost instead of saving it (with a fixed anchor the human data is bought once, at "
            "generation 0, whatever s).")


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
    if c.default_prices:  # no prices of the config's own: the data, not money
        if np.isfinite(human) and human != 0:
            return f"with {abs(human):,.0f} {'more' if human > 0 else 'fewer'} human samples per loop"
        return "with the same human data"
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
