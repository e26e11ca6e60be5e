"""The self-contained HTML report of a run: one file, no network needed to open it.

The page renders the run's one analysis (analysis/run.py, built by ``cliffwatch.api.analysis``):
it reads no run directory and analyses nothing itself. Figures (report/plots.py, report/routes_section.py)
are matplotlib SVGs embedded as data URIs (no pyplot, so no global backend state; text kept as
text, dense bands and cells rasterised: report/figures.py); the style sheet (report/style.py) is
inline, and a few lines of inline script record on <body> whether every figure decoded, which lets
a headless browser check the page. Every mean comes with its 95% Student-t CI over replicates
(seed, chain); where a CI is undefined (one replicate, or an infinite value) the page says so.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from matplotlib import rc_context

from cliffwatch.analysis.cost import CostPlan
from cliffwatch.analysis.quality_loss import FRACTION, group_columns, run_metrics
from cliffwatch.analysis.run import LineageRecord, RunAnalysis
from cliffwatch.core.files import write_shared_text
from cliffwatch.core.metrics import Metric
from cliffwatch.core.version import __version__
from cliffwatch.report.figures import SVG_RC
from cliffwatch.report.figures import escape as _e
from cliffwatch.config.schema import CostSpec
from cliffwatch.report.format import money, num_text, short as num_sig
from cliffwatch.report.glance import glossary, key_fractions, key_numbers, samples_section
from cliffwatch.report.plots import (cliff_figure, cliff_for, direction, fluency_truth, gaming_gap, group_of, heatmaps,
                                     note, parts, trajectories)
from cliffwatch.report.prose import cliff_sentence, cost_sentence, risk_text, seeds_sentence
from cliffwatch.report.routes_section import routes_section
from cliffwatch.report.task_panels import task_section
from cliffwatch.report.style import CSS, FIGURE_CHECK


def write_report(analysis: RunAnalysis, out: Path | None = None) -> Path:
    """Write the HTML report of a run's analysis to ``out`` [default: RUN_DIR/report.html]
    atomically; returns its path. A run whose structure allows no cliff (one fraction, no s = 0)
    still gets a report that says why."""
    out = Path(out) if out is not None else analysis.run_dir / "report.html"
    with rc_context(SVG_RC):  # for every artist and savefig (rcParams are read when artists are made)
        page = _page(analysis)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_shared_text(out, page)
    return out


# ---- the page ---------------------------------------------------------------------------------


def _page(analysis: RunAnalysis) -> str:
    df, meta, snapshot = analysis.results, analysis.meta, analysis.snapshot
    cliffs, cost, comparison = analysis.cliffs, analysis.cost, analysis.comparison
    groups = group_columns(df)
    fractions = np.sort(df[FRACTION].unique())
    replicates = df["seed"].nunique()  # replicates are seeds: chains are averaged within a seed
    name = snapshot.get("name", analysis.run_dir.name)
    data = snapshot.get("data", {})
    facts = (f"{meta.get('kind', 'run')} · family {', '.join(map(str, df['family'].unique()))} on "
             f"{data.get('corpus') or data.get('source', '?')} data · generations 0–{int(df['generation'].max())} · "
             f"{len(fractions)} synthetic fraction{'s' * (len(fractions) != 1)} · {replicates} replicates "
             f"(seeds; chains averaged within a seed) · created {meta.get('created', '?')}")

    lead = [] if comparison is None else [
        f"This run measures {len(comparison.routes)} escape routes against one all-human reference; each route's "
        "effect, interval and cost is in the Escape routes section below."]
    summary = [f"<p>{_e(cliff_sentence(c))}</p>" for c in cliffs] + [f"<p>{_e(line)}</p>" for line in lead]
    if cost is not None:
        summary.append(f"<p>{_e(cost_sentence(cost))}</p>")
    if replicates < 2:
        summary.append("<p>Only one replicate (seed): every confidence interval in this report is undefined "
                       "(shown as nan or not drawn). Run more seeds before trusting these numbers.</p>")
    if analysis.problem:
        summary.append(f"<p>No cliff can be located in this run: {_e(analysis.problem.rstrip('.'))}. The trajectories "
                       "below still show how each metric moved over the generations.</p>")

    body = [f"<h1>cliffwatch report: {_e(name)}</h1>", f"<p class='meta'>{_e(facts)}</p>",
            "<section class='summary'><h2>Summary</h2>", key_numbers(cliffs, cost) if cliffs else "", *summary,
            "<p>Terms are defined once, in the <a href='#glossary'>glossary</a> at the end.</p></section>"]
    index = run_metrics(df)
    metrics = list(dict.fromkeys(df["metric"]))  # in the order the probes report them
    if cliffs:
        body += ["<h2>The cliff</h2>", *(cliff_figure(c) + _risk_table(c) for c in cliffs)]
        body += ["<h2>Quality loss over fraction and generation</h2>", *heatmaps(df, cliffs[0], groups)]
    if comparison is not None:
        body.append(routes_section(comparison))
    else:
        body += ["<h2>Key trajectories</h2>", *trajectories(df, groups, cliffs)]
        body += ["<h2>What the models write</h2>", *_samples(analysis.lineages, df, groups, analysis)]
        body += ["<h2>Fluency vs truthfulness</h2>", *fluency_truth(df, groups, cliffs)]
        body += ["<h2>Gaming gap: automated benchmark vs human-anchored probe</h2>", *gaming_gap(df, groups, cliffs)]
        body += ["<h2>Cost of each mix</h2>", _cost_table(cost)]
    body += task_section(analysis)
    body += ["<h2>Every metric</h2>", _metric_table(df, groups, index, metrics)]
    body += [glossary(metrics, index), "<h2>Provenance</h2>", _provenance(analysis)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>cliffwatch: {_e(name)}</title>"
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{FIGURE_CHECK}</script>\n</body></html>\n")


def _samples(lineages: list[LineageRecord], df: pd.DataFrame, groups: list[str], analysis: RunAnalysis) -> list[str]:
    last = int(df["generation"].max())
    out = []
    for title, part in parts(df, groups):
        group = group_of(part, groups)
        keys = key_fractions(part[FRACTION].unique(), cliff_for(analysis.cliffs, group))
        out.append((f"<h3>{_e(title.lstrip(' —'))}</h3>" if title else "") + samples_section(lineages, keys, group, last))
    return out


def _metric_table(df: pd.DataFrame, groups: list[str], index: dict[str, Metric], metrics: list[str]) -> str:
    """Every metric at generation 0 and at the last generation per fraction (means over replicates),
    behind a toggle: the compact form of the trajectories not drawn."""
    last = int(df["generation"].max())
    out = []
    for title, part in parts(df, groups):
        at = pd.DataFrame({k: part[k].to_numpy() for k in ("metric", "generation", FRACTION, "value")})
        at = at[at["generation"].isin([0, last])]
        first = at[at["generation"] == 0].groupby("metric")["value"].mean()  # generation 0 is all-human data
        final = at[at["generation"] == last].pivot_table(index="metric", columns=FRACTION, values="value",
                                                          aggfunc="mean", dropna=False)
        fractions = np.sort(part[FRACTION].unique())
        final = final.reindex(columns=fractions)
        head = ("<tr><th>metric</th><th>better</th><th>g = 0</th>"
                + "".join(f"<th>g = {last}<br>s = {s:g}</th>" for s in fractions) + "</tr>")
        rows = []
        for m in metrics:
            if m not in first.index and m not in final.index:
                continue
            start = num_sig(float(first.get(m, np.nan)))
            values = final.loc[m].to_numpy(float) if m in final.index else np.full(len(fractions), np.nan)
            cells = "".join(f"<td>{num_sig(float(v))}</td>" for v in values)
            rows.append(f"<tr><td class='text'>{_e(m)}</td><td class='text'>{_e(direction(m, index))}</td>"
                        f"<td>{start}</td>{cells}</tr>")
        out.append(f"<details><summary>Every metric at generation 0 and {last}, per synthetic fraction{_e(title)} "
                   f"({len(rows)} metrics × {len(fractions)} fractions)</summary>"
                   f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></details>")
    return ("<p>Means over replicates. Generation 0 is fitted on human data only, so it is one column for every "
            "fraction (their mean).</p>" + "".join(out))



# ---- tables -----------------------------------------------------------------------------------


_VERDICT = {"within": "yes", "over": "no", "unsure": "unsure (CI straddles τ)"}


def _risk_table(c) -> str:
    """Per fraction of one curve: mean ΔQ with its CI and verdict, how many runs (seeds) crossed τ
    with the exact bound on a single run's risk, and whether it is safe or how many more seeds would
    make it so; then the coarse cell and the seeds the blocked mix needs, in the terminal's words."""
    where = "".join(f", {k} = {v}" for k, v in c.group.items())
    risky = c.risk_high is not None and c.crossed is not None
    mean_ok = np.cumprod(c.loss_high <= c.tolerance).astype(bool)
    head = ["synthetic fraction s", "ΔQ [95% CI]", "within τ"]
    if risky:
        head += [f"runs over τ: risk ≤ (level {c.risk_level:.0%})", "safe mix?"]
    rows = []
    for i, (s, verdict) in enumerate(zip(c.fractions, c.verdicts)):
        cells = [f"<td>{s:g}</td>", f"<td>{num_text(c.loss[i])} [{num_text(c.loss_low[i])}, {num_text(c.loss_high[i])}]</td>",
                 f"<td class='text'>{_VERDICT[verdict]}</td>"]
        if risky:
            cells.append("<td class='text'>reference</td>" if s == 0 else
                         f"<td class='text'>{_e(risk_text(c.crossed[i], c.replicates, c.risk_high[i]))}</td>")
            if c.safe[i]:
                status = "safe"
            elif mean_ok[i]:  # only the risk bound holds it back
                seeds = c.seeds_to_reach(float(s))
                status = ("risk bound too high; no feasible number of seeds" if seeds is None else
                          f"risk bound too high: {seeds} more seed{'s' * (seeds != 1)} at s = 0 … {s:g}")
            else:
                status = "no (mean ΔQ not within τ here or below)"
            cells.append(f"<td class='text'>{_e(status)}</td>")
        rows.append(f"<tr{' class=best' if s == c.safe_fraction else ''}>{''.join(cells)}</tr>")
    notes = []
    if c.coarse_cell is not None:
        a, b = c.coarse_cell
        notes.append(f"The cliff lies in [{a:g}, {b:g}]; the grid is too coarse to place it closer (the loss rises "
                     "inside that one cell): add fractions inside it, or run sweep --adaptive --resolution.")
    if risky:
        notes.append(f"A mix is safe when the 95% Student-t interval of its mean ΔQ stays within τ = {c.tolerance:g} "
                     "and the exact (Clopper–Pearson) 95% upper bound on the risk that a single run crosses τ stays "
                     f"within the risk level {c.risk_level:.0%}, and so do every smaller fraction's; \"k of n\" counts "
                     "the seeds (chains averaged) whose ΔQ exceeds τ.")
        blocked = seeds_sentence(c)
        if blocked:
            notes.append(blocked)
    return (f"<details open><summary>ΔQ and per-run risk by synthetic fraction{_e(where)} (generation {c.generation}, "
            f"{c.replicates} seeds)</summary><table class='risk'><thead><tr>"
            + "".join(f"<th>{_e(h)}</th>" for h in head) + f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + "".join(f"<p>{_e(n)}</p>" for n in notes) + "</details>")



def _cost_table(cost: CostPlan | None) -> str:
    if cost is None:
        return note("No cost plan: pricing the mixes needs a located cliff (a sweep over the synthetic fraction "
                     "that includes the all-human s = 0).")
    table = cost.table
    labels = cost.labels
    head = "".join(f"<th>{_e(c)}</th>" for c in [*labels, "synthetic fraction s", "cost", "ΔQ [95% CI]", "within τ",
                                                  f"runs over τ: risk ≤ (level {cost.risk_level:.0%})", "safe"])
    rows = []
    for i, row in table.iterrows():
        low, high, tau = row["loss_low"], row["loss_high"], row["tolerance"]
        if math.isnan(high):
            verdict = "CI undefined"
        else:
            verdict = "yes" if high <= tau else ("no" if low > tau else "unsure (CI straddles τ)")
        best = cost.best is not None and i == cost.best.name
        cells = [f"<td class='text'>{_e(row[c])}</td>" for c in labels]
        cells += [f"<td>{row[FRACTION]:g}</td>", f"<td>{_e(cost.currency)}{row['cost']:,.0f}</td>",
                  f"<td>{num_text(row['loss'])} [{num_text(low)}, {num_text(high)}]</td>", f"<td class='text'>{verdict}</td>",
                  "<td class='text'>reference</td>" if row[FRACTION] == 0 else
                  f"<td class='text'>{_e(risk_text(row['crossed'], row['replicates'], row['risk_high']))}</td>",
                  f"<td class='text'>{'yes' if row['safe'] else 'no'}</td>"]
        rows.append(f"<tr{' class=best' if best else ''}>{''.join(cells)}</tr>")
    prices = (f"<p><b>At the default prices</b> ({_e(money(cost.currency, CostSpec().human_price))} per new human "
              f"sample, {_e(money(cost.currency, CostSpec().synthetic_price))} per synthetic sample), not prices of this "
              "run's config: set <code>cost: {human_price, synthetic_price}</code> in the sweep config to price your "
              "own data.</p>") if cost.default_prices else ""
    return (prices + "<p>Mixes sorted by the cost of the whole run (human and synthetic samples over every generation). A mix "
            "counts as safe only when the upper end of its ΔQ CI stays within τ and the exact 95% bound on the risk that a "
            f"single run crosses τ stays within the risk level ({cost.risk_level:.0%}), as at every smaller fraction; the "
            "cheapest safe one is highlighted.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")




def _provenance(analysis: RunAnalysis) -> str:
    meta, snapshot = analysis.meta, analysis.snapshot
    sources: dict[tuple[str, str], int] = {}
    for lineage in analysis.lineages:
        key = (str(lineage.fingerprint or "–"), json.dumps(lineage.provenance, sort_keys=True))
        sources[key] = sources.get(key, 0) + 1
    rows = "".join(
        f"<tr><td class='text'><code>{_e(fp)}</code></td>"
        f"<td class='text'>{_e(', '.join(f'{k} {v}' for k, v in json.loads(prov).items()) or '–')}</td>"
        f"<td>{count}</td></tr>" for (fp, prov), count in sorted(sources.items()))
    mixed = "" if len(sources) <= 1 else note(
        "The lineages of this run saw different corpus contents (several fingerprints): compare them with care.")
    return (f"<p>Run written by cliffwatch {_e(meta.get('cliffwatch', '?'))} ({_e(meta.get('kind', '?'))}, created "
            f"{_e(meta.get('created', '?'))}); report rendered by cliffwatch {_e(__version__)}.</p>{mixed}"
            "<table><thead><tr><th>corpus fingerprint</th><th>source versions</th><th>lineages</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p>Config snapshot (<code>config.yaml</code>):</p>"
            f"<pre>{_e(yaml.safe_dump(snapshot, sort_keys=False))}</pre>")
