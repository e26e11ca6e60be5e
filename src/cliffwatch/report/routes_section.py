"""The escape-routes section of the HTML report: each route's quality loss with its CI, side by side.

A self-contained HTML fragment in the page's style (figure.plot, .summary, .note, plain tables):
figures are matplotlib SVGs embedded as data URIs (no pyplot, no network), rendered with a fixed
hash salt and no date, so the same comparison gives the same bytes.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib import colormaps, rc_context
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cliffwatch.analysis.routes import RouteComparison, RouteResult
from cliffwatch.report.format import ci_text, money
from cliffwatch.report.prose import route_sentences
from cliffwatch.report.figures import escape as _e
from cliffwatch.report.figures import SVG_RC
from cliffwatch.report.figures import figure_html as _figure


COLOURS = colormaps["tab10"]
BASELINE = "#444444"


def routes_section(comparison: RouteComparison) -> str:
    """``<h2>Escape routes</h2>`` and what follows: summaries, a forest plot of ΔQ at generation G,
    ΔQ over the generations, the routes' cliff curves (when swept) and tables."""
    c = comparison
    with rc_context(SVG_RC):
        measured = [r for r in c.routes if c.metric in r.effects]
        parts = ["<h2>Escape routes</h2>", _summary(c)]
        if measured:
            parts += [_forest(c, measured), _trajectories(c)]
            swept = [r for r in measured if r.cliff is not None]
            if swept:
                parts.append(_cliff_curves(c, swept))
        parts += [_table(c), _secondary(c)]
    return "\n".join(p for p in parts if p)


# ---- pieces ---------------------------------------------------------------------------------------




def _signed_money(currency: str, x: float) -> str:
    sign = "+" if x > 0 else "−" if x < 0 else ""
    return "–" if math.isnan(x) else sign + money(currency, abs(x))


def _loss_label(c: RouteComparison) -> str:
    return f"ΔQ of {c.metric} ({'relative' if c.relative else 'absolute'}, ↑ worse)"


def _colour(c: RouteComparison, name: str):
    return BASELINE if name == c.baseline else COLOURS([r.name for r in c.routes].index(name) % 10)


def _summary(c: RouteComparison) -> str:
    mean, low, high = c.reference
    better = "higher" if c.higher_is_better else "lower"
    head = (f"<p>All routes run on one setup and are measured at generation {c.generation} against the all-human "
            f"run (s = 0), where {_e(c.metric)} is {ci_text(mean, low, high)} ({better} is better); ΔQ is the "
            f"{'relative' if c.relative else 'absolute'} loss, positive = worse, paired by replicate (a seed; chains averaged within it). "
            f"The baseline is <b>{_e(c.baseline)}</b>.</p>")
    lines = "".join(f"<p>{_e(s)}</p>" for s in route_sentences(c))
    return f"<section class='summary'>{head}{lines}</section>"


def _forest(c: RouteComparison, routes: list[RouteResult]) -> str:
    fig = Figure(figsize=(8, 0.9 + 0.38 * len(routes)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(routes))[::-1]
    for yi, r in zip(y, routes, strict=True):
        e = r.effects[c.metric]
        colour = _colour(c, r.name)
        if np.isfinite(e.low):
            ax.errorbar([e.loss], [yi], xerr=[[e.loss - e.low], [e.high - e.loss]], fmt="o", color=colour, capsize=3)
        else:
            ax.plot([e.loss], [yi], "o", color=colour, mfc="white")  # no CI: an open marker
    ax.axvline(0, color="#888", lw=1)
    ax.axvline(c.tolerance, color="crimson", ls="--", lw=1.2, label=f"τ = {c.tolerance:g}")
    ax.set_yticks(y, [f"{r.name} (s = {r.fraction:g})" for r in routes])
    ax.set_xlabel(_loss_label(c))
    ax.set_title(f"Quality loss per route at generation {c.generation}")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    n = min(r.effects[c.metric].replicates for r in routes)
    caption = (f"Mean ΔQ over replicates (at least {n} per route) with a 95% Student-t interval; the baseline is dark "
               "grey. Open markers have no interval (one replicate, or an infinite value). A route helps where its "
               "interval lies left of the baseline's; the table below gives the paired difference, which is tighter "
               "than comparing the two intervals.")
    return _figure(fig, "forest plot of quality loss per route", caption)


def _trajectories(c: RouteComparison) -> str:
    t = c.trajectories
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    for name, line in t.groupby("route", sort=False):
        colour = _colour(c, name)
        ax.fill_between(line["generation"], line["low"], line["high"], color=colour, alpha=0.15, lw=0)
        ax.plot(line["generation"], line["loss"], color=colour, lw=2 if name == c.baseline else 1.4, label=name)
    ax.axhline(c.tolerance, color="crimson", ls="--", lw=1.2)
    ax.set_xlabel("generation")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(_loss_label(c))
    ax.set_title("Quality loss over generations, per route at its own synthetic fraction")
    fig.legend(loc="outside right upper", fontsize=8)
    ax.grid(alpha=0.3)
    caption = ("Mean ΔQ per generation against the all-human run at the same generation, with shaded 95% Student-t "
               f"bands; the dashed line is τ = {c.tolerance:g}.")
    return _figure(fig, "quality loss over generations per route", caption)


def _cliff_curves(c: RouteComparison, routes: list[RouteResult]) -> str:
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    for r in routes:
        colour, k = _colour(c, r.name), r.cliff
        ax.fill_between(k.fractions, k.loss_low, k.loss_high, color=colour, alpha=0.15, lw=0)
        label = r.name + (f" (cliff s = {k.cliff:.2f})" if k.found else " (no cliff)")
        ax.plot(k.fractions, k.loss, "o-", ms=3, color=colour, lw=2 if r.name == c.baseline else 1.4, label=label)
    ax.axhline(c.tolerance, color="crimson", ls="--", lw=1.2)
    ax.set_xlabel("synthetic fraction s")
    ax.set_ylabel(_loss_label(c))
    ax.set_title(f"The routes' cliffs at generation {c.generation}")
    fig.legend(loc="outside right upper", fontsize=8)
    ax.grid(alpha=0.3)
    caption = ("ΔQ against the one all-human run, per swept route, mean with 95% Student-t bands. A route's cliff is the "
               f"smallest s whose mean ΔQ exceeds τ = {c.tolerance:g}; the table gives each cliff's 95% interval and "
               "its shift from the baseline's (paired by replicate).")
    return _figure(fig, "quality loss vs synthetic fraction per route", caption)


def _table(c: RouteComparison) -> str:
    head = ["route", "overrides", "s", f"ΔQ at g = {c.generation} [95% CI]", "vs baseline [95% CI]",
            "late growth / generation [95% CI]", "cliff [95% CI]", "cliff shift [95% CI]", "human samples / loop",
            "synthetic discarded / loop", "cost / loop", "vs baseline", "replicates", "note"]
    rows = []
    for r in c.routes:
        e = r.effects.get(c.metric)
        effect = ci_text(e.loss, e.low, e.high) if e else "–"
        diff = ci_text(e.diff, e.diff_low, e.diff_high, signed=True) if e and r.name != c.baseline else "–"
        cliff = "–"
        if r.cliff is not None:
            cliff = ci_text(r.cliff.cliff, r.cliff.cliff_low, r.cliff.cliff_high, digits=2) if r.cliff.found else "none ≤ 1"
        shift = ci_text(*r.shift, signed=True, digits=2) if r.cliff is not None and r.name != c.baseline else "–"
        cells = [f"<td class='text'>{_e(r.name)}</td>", f"<td class='text'>{_e(r.description)}</td>",
                 f"<td>{r.fraction:g}</td>", f"<td>{effect}</td>", f"<td>{diff}</td>",
                 f"<td>{ci_text(*r.growth, signed=True) if e else '–'}</td>", f"<td>{cliff}</td>",
                 f"<td>{shift}</td>", f"<td>{_count(r.human_samples)}</td>", f"<td>{_count(r.synthetic_discarded)}</td>",
                 f"<td>{money(c.currency, r.cost)}</td>",
                 f"<td>{_signed_money(c.currency, r.extra_cost) if r.name != c.baseline else '–'}</td>",
                 f"<td>{e.replicates if e else 0}</td>", f"<td class='text'>{_e(r.problem or r.note or '')}</td>"]
        rows.append(f"<tr{' class=best' if r.name == c.baseline else ''}>{''.join(cells)}</tr>")
    k = max(1, c.generation // 4)
    intro = ("<p>Per route: ΔQ against the all-human run and its paired difference to the baseline (highlighted); "
             f"the late growth, the mean change of ΔQ per generation over generations {c.generation - k}–{c.generation} "
             "(around 0: the loss has levelled off; above: it still grows); the cliff when the route ran over the "
             "fraction grid, and what one loop (one replicate) buys over "
             f"generations 1–{c.generation} after generation 0's human data: a fixed anchor re-uses generation 0's "
             "human data, a fresh one buys new human data every generation; filters discard synthetic samples that "
             "were paid for.</p>")
    return (intro + f"<table><thead><tr>{''.join(f'<th>{_e(h)}</th>' for h in head)}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _count(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:,.0f}"


def _secondary(c: RouteComparison) -> str:
    others = sorted({m for r in c.routes for m in r.effects if m != c.metric})
    if not others:
        return ""
    head = "".join(f"<th>{_e(m)}: ΔQ / vs baseline</th>" for m in others)
    rows = []
    for r in c.routes:
        cells = []
        for m in others:
            e = r.effects.get(m)
            if e is None:
                cells.append("<td>–</td>")
                continue
            diff = "" if r.name == c.baseline else f"<br>{ci_text(e.diff, e.diff_low, e.diff_high, signed=True)}"
            cells.append(f"<td>{ci_text(e.loss, e.low, e.high)}{diff}</td>")
        rows.append(f"<tr><td class='text'>{_e(r.name)}</td>{''.join(cells)}</tr>")
    return ("<p>Further metrics at the same generation: ΔQ against the all-human run [95% CI], and below it the paired "
            "difference to the baseline.</p>"
            f"<table><thead><tr><th>route</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")
