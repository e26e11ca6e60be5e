"""The self-contained HTML report of a run: one file, no network needed to open it.

Figures are matplotlib SVGs embedded as data URIs (no pyplot, so no global backend state), CSS is
inline, and a few lines of inline script record on <body> whether every figure decoded, which lets
a headless browser check the page. Every mean comes with its 95% Student-t CI over replicates
(seed, chain); where a CI is undefined (one replicate, or an infinite value) the page says so.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib import colormaps, rc_context
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cliffwatch import __version__
from cliffwatch.analysis.cliff import Cliff, analyze, default_metric, loss_surface
from cliffwatch.analysis.cost import CostPlan, plan
from cliffwatch.analysis.quality_loss import FRACTION, REPLICATE, group_columns, run_metrics
from cliffwatch.analysis.stats import mean_ci
from cliffwatch.config.load import parse
from cliffwatch.config.schema import CliffSpec, CompareConfig, SweepConfig
from cliffwatch.core.errors import AnalysisError
from cliffwatch.core.metrics import Metric
from cliffwatch.execution.store import RunStore, atomic_write, load_results
from cliffwatch.report.format import num_text
from cliffwatch.report.prose import cliff_sentence, cost_sentence, route_sentences
from cliffwatch.report.figures import escape as _e
from cliffwatch.report.figures import figure_html as _figure

CMAP_S = colormaps["viridis"]  # synthetic fraction: ordered, colour-blind safe
CMAP_LOSS = colormaps["RdBu_r"].with_extremes(bad="#bbbbbb")  # ΔQ: diverging around 0; grey = infinite
FIGURE_CHECK = """
window.addEventListener('error', e => { document.body.dataset.jsError = String(e.message); });
window.addEventListener('load', () => {
  const figures = [...document.querySelectorAll('figure.plot img')];
  document.body.dataset.figures = figures.length;
  document.body.dataset.figuresOk = figures.every(i => i.complete && i.naturalWidth > 0);
});
"""
CSS = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
h1 { margin-bottom: .2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
.meta { color: #666; }
.summary { background: #f4f7fb; border-left: 4px solid #3b6ea8; padding: .6em 1em; }
.summary p { margin: .4em 0; } .summary h2 { margin-top: 0; border: 0; }
.note { color: #8a5a00; background: #fff8e6; border-left: 4px solid #e0a800; padding: .4em .8em; }
figure.plot { margin: 1em 0; } figure.plot img { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 13px; max-width: 60em; }
table { border-collapse: collapse; font-size: 13px; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f2f2f2; text-align: left; }
td.text { text-align: left; } tr.best { background: #e6f4ea; font-weight: 600; }
dl.metrics dt { font-weight: 600; float: left; clear: left; margin-right: .5em; } dl.metrics dd { margin: 0 0 .2em 0; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: 12px; }
"""
# SVGs are rendered with a fixed hash salt and no date, so the same run gives the same report bytes
SVG_RC = {"svg.hashsalt": "cliffwatch", "font.size": 9, "axes.titlesize": 10}
PANEL = (3.3, 2.5)  # inches per small-multiple panel


def write_report(run_dir: str | Path, out: Path | None = None, *, metric: str | None = None,
                 tolerance: float | None = None, generation: int | None = None) -> Path:
    """Write the HTML report of ``run_dir`` (a sweep or a plain run) to ``out``
    [default: RUN_DIR/report.html] atomically; returns its path.

    ``metric``, ``tolerance`` and ``generation`` override the sweep's ``cliff:`` settings (a plain
    run uses CliffSpec's defaults). Naming a metric or generation the run lacks is an
    AnalysisError; a run whose structure allows no cliff (one fraction, no s = 0) still gets a
    report that says why.
    """
    run_dir = Path(run_dir)
    store = RunStore.open(run_dir)
    df = load_results(run_dir)
    snapshot = store.config()
    # an adaptive sweep records `adaptive: true` beside the sweep config (see api.sweep)
    raw = {k: v for k, v in snapshot.items() if k != "adaptive"}
    if store.kind == "compare":  # an escape-route comparison: each route against the one all-human run
        from cliffwatch.analysis.routes import analyze_routes
        from cliffwatch.report.routes_section import routes_section

        comparison = analyze_routes(parse(CompareConfig, raw, str(run_dir / "config.yaml")), df)
        with rc_context(SVG_RC):
            lead = [f"This run measures {len(comparison.routes)} escape routes against one all-human reference; "
                    "each route's effect, interval and cost is in the Escape routes section below."]
            page = _page(store, df, snapshot, [], None, None, routes=(lead, routes_section(comparison)))
        return _write(page, Path(out) if out is not None else run_dir / "report.html")
    config = parse(SweepConfig, raw, str(run_dir / "config.yaml")) if store.kind == "sweep" else None
    spec = config.cliff if config else CliffSpec()
    if metric is not None and metric not in set(df["metric"]):
        raise AnalysisError(f"metric {metric!r} is not in this run; present: {', '.join(sorted(df['metric'].unique()))}")
    if generation is not None and generation not in set(df["generation"]):
        raise AnalysisError(f"generation {generation} is not in this run (0..{int(df['generation'].max())})")
    tolerance = spec.tolerance if tolerance is None else tolerance
    generation = spec.generation if generation is None else generation

    cliffs, cost, problem = [], None, None
    fractions = sorted(df[FRACTION].unique())
    if len(fractions) == 1:  # analyze would say so too, but only after complaining about a missing s = 0
        problem = (f"it has a single synthetic fraction (s = {fractions[0]:g}); a cliff needs a sweep over several, "
                   "including the all-human s = 0")
    else:
        try:
            cliffs = analyze(df, metric or spec.metric or default_metric(df), tolerance, spec.relative, generation)
            if config is not None:
                cost = plan(cliffs, config.policy.samples, config.cost, config.policy.human)
        except AnalysisError as err:
            problem = str(err)

    with rc_context(SVG_RC):  # for every artist and savefig (rcParams are read when artists are made)
        page = _page(store, df, snapshot, cliffs, cost, problem)
    return _write(page, Path(out) if out is not None else run_dir / "report.html")


def _write(page: str, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)

    def write(tmp: str) -> None:
        Path(tmp).write_text(page, encoding="utf-8")
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a report is meant to be shared

    atomic_write(out, write)
    return out


# ---- the page ---------------------------------------------------------------------------------


def _page(store: RunStore, df: pd.DataFrame, snapshot: dict, cliffs: list[Cliff], cost: CostPlan | None,
          problem: str | None, routes: tuple[list[str], str] | None = None) -> str:
    meta = store.meta
    groups = group_columns(df)
    fractions = np.sort(df[FRACTION].unique())
    replicates = df[REPLICATE].drop_duplicates().shape[0]
    name = snapshot.get("name", store.path.name)
    data = snapshot.get("data", {})
    facts = (f"{meta.get('kind', 'run')} · family {', '.join(map(str, df['family'].unique()))} on "
             f"{data.get('corpus') or data.get('source', '?')} data · generations 0–{int(df['generation'].max())} · "
             f"{len(fractions)} synthetic fraction{'s' * (len(fractions) != 1)} · {replicates} replicates "
             f"(seed × chain) · created {meta.get('created', '?')}")

    summary = [f"<p>{_e(cliff_sentence(c))}</p>" for c in cliffs] + [f"<p>{_e(line)}</p>" for line in (routes[0] if routes else [])]
    if cost is not None:
        summary.append(f"<p>{_e(cost_sentence(cost))}</p>")
    if replicates < 2:
        summary.append("<p>Only one replicate (seed × chain): every confidence interval in this report is undefined "
                       "(shown as nan or not drawn). Run more seeds or chains before trusting these numbers.</p>")
    if problem:
        summary.append(f"<p>No cliff can be located in this run: {_e(problem.rstrip('.'))}. The trajectories below still "
                       "show how each metric moved over the generations.</p>")

    body = [f"<h1>cliffwatch report: {_e(name)}</h1>", f"<p class='meta'>{_e(facts)}</p>",
            "<section class='summary'><h2>Summary</h2>", *summary, "</section>"]
    if cliffs:
        body += ["<h2>The cliff</h2>", *(_cliff_figure(c) for c in cliffs)]
        body += ["<h2>Quality loss over fraction and generation</h2>", *_heatmaps(df, cliffs[0], groups)]
    if routes:
        body.append(routes[1])
    body += ["<h2>Metric trajectories</h2>", *_trajectories(df, groups)]
    body += ["<h2>Fluency vs truthfulness</h2>", *_fluency_truth(df, groups)]
    body += ["<h2>Gaming gap: automated benchmark vs human-anchored probe</h2>", *_gaming_gap(df, groups)]
    if not routes:  # a comparison prices each route in its own section
        body += ["<h2>Cost of each mix</h2>", _cost_table(cost)]
    body += ["<h2>Provenance</h2>", _provenance(store, snapshot)]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>cliffwatch: {_e(name)}</title>"
            f"<style>{CSS}</style></head>\n<body>\n" + "\n".join(body)
            + f"\n<script>{FIGURE_CHECK}</script>\n</body></html>\n")




def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _note(text: str) -> str:
    return f"<p class='note'>{_e(text)}</p>"


def _parts(df: pd.DataFrame, groups: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(heading suffix, rows) per combination of the swept fields other than s."""
    if not groups:
        yield "", df
        return
    for key, part in df.groupby(groups, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield " — " + ", ".join(f"{k} = {v}" for k, v in zip(groups, key)), part


def _direction(metric: str, metrics: dict[str, Metric]) -> str:
    entry = metrics.get(metric)
    return _better(entry.higher_is_better if entry else None)


def _better(better: bool | None) -> str:
    return {True: "↑ better", False: "↓ better", None: "no better direction"}[better]


def _loss_label(relative: bool) -> str:
    return f"ΔQ ({'relative' if relative else 'absolute'}, ↑ worse)"


def _s_colours(fractions: np.ndarray) -> tuple[Normalize, Any]:
    norm = Normalize(float(fractions.min()), float(fractions.max()) if fractions.max() > fractions.min() else 1.0)
    return norm, lambda s: CMAP_S(norm(s))


def _s_colourbar(fig: Figure, axes, norm: Normalize) -> None:
    fig.colorbar(ScalarMappable(norm, CMAP_S), ax=axes, label="synthetic fraction s", shrink=0.8)


def _stats(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and 95% Student-t CI of ``value`` over replicates per ``keys``; n = replicates."""
    rows = []
    for key, part in df.groupby(keys, sort=True):
        mean, low, high = mean_ci(part["value"].to_numpy())
        rows.append((*key, mean, low, high, len(part)))
    return pd.DataFrame(rows, columns=[*keys, "mean", "low", "high", "n"])


def _ci_note(stats: pd.DataFrame) -> str:
    """What the caption must admit: points with an infinite mean, or without a CI."""
    infinite = int(np.isinf(stats["mean"]).sum())
    missing = int(stats["mean"].isna().sum())
    undefined = int((np.isfinite(stats["mean"]) & stats["low"].isna()).sum())
    notes = []
    if infinite:
        notes.append(f"{infinite} point(s) have an infinite mean (a collapsed model) and are not drawn")
    if missing:
        notes.append(f"{missing} point(s) are undefined (the probe could not measure them, e.g. too few samples) "
                     "and are not drawn")
    if undefined:
        notes.append(f"the CI is undefined at {undefined} point(s) (one replicate, or an infinite replicate value); "
                     "they are drawn without a band")
    return (" " + "; ".join(notes) + ".") if notes else ""


# ---- figures ----------------------------------------------------------------------------------


def _cliff_figure(c: Cliff) -> str:
    fig = _new_figure(10, 4.2)
    ax = fig.subplots()
    s = c.fractions
    ax.fill_between(s, c.loss_low, c.loss_high, color="#3b6ea8", alpha=0.25, label="95% CI of mean ΔQ")
    ax.plot(s, c.loss, "o-", color="#3b6ea8", label=f"mean ΔQ at generation {c.generation}")
    ax.axhline(c.tolerance, color="crimson", ls="--", lw=1.2, label=f"τ = {c.tolerance:g}")
    if c.found:
        if np.isfinite(c.cliff_low):
            high = f"{c.cliff_high:.2f}" if np.isfinite(c.cliff_high) else "beyond the grid"
            ax.axvspan(c.cliff_low, min(c.cliff_high, s[-1]), color="orange", alpha=0.2,
                       label=f"cliff 95% CI [{c.cliff_low:.2f}, {high}]")
        ax.axvline(c.cliff, color="darkorange", lw=2, label=f"cliff s = {c.cliff:.2f}")
    if np.isfinite(c.knee):
        # the intercept of a least-squares fit makes the residuals sum to zero
        hinge = c.slope_left * s + (c.slope_right - c.slope_left) * np.maximum(0.0, s - c.knee)
        intercept = np.mean(c.loss - hinge)
        grid = np.linspace(s[0], s[-1], 200)
        fit = intercept + c.slope_left * grid + (c.slope_right - c.slope_left) * np.maximum(0.0, grid - c.knee)
        ax.plot(grid, fit, ls=":", color="#444", label="two-segment fit")
        y = intercept + c.slope_left * c.knee
        ax.errorbar([c.knee], [y], xerr=[[c.knee - c.knee_low], [c.knee_high - c.knee]], fmt="D", color="#444",
                    capsize=3, label=f"knee s = {c.knee:.2f} [{c.knee_low:.2f}, {c.knee_high:.2f}]")
    ax.set_xlabel("synthetic fraction s (share of each generation's training data)")
    ax.set_ylabel(_loss_label(c.relative))
    where = "".join(f", {k} = {v}" for k, v in c.group.items())
    ax.set_title(f"Quality loss of {c.metric} vs synthetic fraction{where}")
    fig.legend(loc="outside right upper", fontsize=8)
    ax.grid(alpha=0.3)
    kind = "relative change" if c.relative else "difference"
    caption = (f"ΔQ is the {kind} of {_e(c.metric)} ({_better(c.higher_is_better)}) against the all-human run (s = 0) at "
               f"generation {c.generation}, paired by replicate, so positive means worse. Mean over {c.replicates} "
               "replicates (seed × chain) with a 95% Student-t band. The cliff is the smallest s whose mean "
               "ΔQ exceeds τ (interpolated), with its 95% interval shaded (the band inverted, widened for interpolation).")
    if c.replicates < 2:
        caption += " With one replicate the CIs are undefined: the band and the cliff CI are not drawn."
    if not c.found:
        caption += f" The mean ΔQ stays within τ up to s = {s[-1]:g}: no cliff on this grid."
    if not np.isfinite(c.knee):
        caption += f" Knee not drawn: {c.knee_interval.reason if c.knee_interval else 'no knee fit'}."
    else:
        caption += f" The two-segment fit bends at s = {c.knee:.2f} (slope {c.slope_left:.3g} → {c.slope_right:.3g}); "
        caption += ("with one replicate it is unknown whether the bend is real." if c.replicates < 2 else
                    f"the bend is {'' if c.nonlinear else 'not '}significant (curvature t test, p = {c.nonlinear_p:.2g}).")
    if np.isfinite(c.safe_fraction):
        caption += f" Largest fraction whose whole CI stays within τ: s = {c.safe_fraction:g}."
    return _figure(fig, f"cliff plot of {c.metric}{where}", caption)


def _heatmaps(df: pd.DataFrame, cliff: Cliff, groups: list[str]) -> list[str]:
    surface = loss_surface(df, cliff.metric, cliff.relative)
    out = []
    for title, part in _parts(surface.reset_index(), groups):
        z = part.set_index(FRACTION).drop(columns=groups).sort_index()
        s, gens = z.index.to_numpy(float), z.columns.to_numpy(int)
        values = z.to_numpy(float)
        finite = values[np.isfinite(values)]
        limit = float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0
        fig = _new_figure(8, 2.1 + 0.25 * len(s))
        ax = fig.subplots()
        mesh = ax.pcolormesh(_edges(gens.astype(float)), _edges(s), np.ma.masked_invalid(values),
                             cmap=CMAP_LOSS, norm=Normalize(-limit, limit))
        fig.colorbar(mesh, ax=ax, label=_loss_label(cliff.relative))
        crosses = bool(finite.size and finite.min() < cliff.tolerance < finite.max() and min(values.shape) > 1)
        if crosses:
            ax.contour(gens, s, np.ma.masked_invalid(values), levels=[cliff.tolerance], colors="black", linewidths=1.5)
        ax.set_xticks(gens)
        ax.set_yticks(s, [f"{v:g}" for v in s])
        ax.set_xlabel("generation")
        ax.set_ylabel("synthetic fraction s")
        ax.set_title(f"Mean ΔQ of {cliff.metric}{title}")
        caption = (f"Mean ΔQ of {_e(cliff.metric)} over replicates per (s, generation); red = worse than the all-human "
                   "run at the same generation, blue = better, white = no change. ")
        caption += (f"The black contour marks ΔQ = τ = {cliff.tolerance:g}." if crosses else
                    f"ΔQ never crosses τ = {cliff.tolerance:g} inside the grid, so no τ contour.")
        if finite.size < values.size:
            caption += " Grey cells: infinite or undefined ΔQ (a collapsed model)."
        out.append(_figure(fig, f"heatmap of quality loss{title}", caption))
    return out


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges halfway between grid points, so an uneven grid (adaptive search) is drawn to scale."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _trajectories(df: pd.DataFrame, groups: list[str]) -> list[str]:
    index = run_metrics(df)
    metrics = list(dict.fromkeys(df["metric"]))  # in the order the probes report them
    out = []
    for title, part in _parts(df, groups):
        stats = _stats(part, ["metric", FRACTION, "generation"])
        fractions = np.sort(part[FRACTION].unique())
        norm, colour = _s_colours(fractions)
        cols = min(4, len(metrics))
        rows = math.ceil(len(metrics) / cols)
        fig = _new_figure(PANEL[0] * cols + 1, PANEL[1] * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, metric in zip(axes, metrics):
            m = stats[stats["metric"] == metric]
            for s, line in m.groupby(FRACTION):
                ax.fill_between(line["generation"], line["low"], line["high"], color=colour(s), alpha=0.15, lw=0)
                ax.plot(line["generation"], line["mean"], color=colour(s), lw=1.4, label=f"s = {s:g}")
            finite = m["mean"].to_numpy()[np.isfinite(m["mean"].to_numpy())]
            if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
                ax.set_yscale("log")  # perplexities and distances can grow by orders of magnitude
            if not finite.size:
                ax.text(0.5, 0.5, "no finite value", transform=ax.transAxes, ha="center", color="#888")
            ax.set_title(metric)
            ax.set_xlabel("generation")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no generation 0.5
            ax.set_ylabel(f"value ({_direction(metric, index)}{', log' if ax.get_yscale() == 'log' else ''})")
            ax.grid(alpha=0.3)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        if len(fractions) > 1:
            _s_colourbar(fig, axes[: len(metrics)], norm)
        else:
            axes[0].legend(fontsize=8)
        n = int(stats["n"].min())
        caption = (f"Mean over replicates (seed × chain; at least {n} per point) per synthetic fraction, with a shaded "
                   f"95% Student-t CI.{_ci_note(stats)}")
        described = "".join(f"<dt>{_e(m)}</dt><dd>{_e(index[m].description)}</dd>" for m in metrics if m in index)
        out.append(_figure(fig, f"metric trajectories{title}", caption) + f"<dl class='metrics'>{described}</dl>")
    return out


def _fluency_truth(df: pd.DataFrame, groups: list[str]) -> list[str]:
    x, y = "self_ppl", "fact_accuracy"
    missing = [m for m in (x, y) if m not in set(df["metric"])]
    if missing:
        return [_note(f"Not measured in this run (no {' or '.join(missing)}): it needs the text track with a fact "
                      "base and the confidence and fact probes.")]
    out = []
    for title, part in _parts(df, groups):
        long = _stats(part[part["metric"].isin([x, y])], [FRACTION, "generation", "metric"])
        stats = long.pivot_table(index=[FRACTION, "generation"], columns="metric", values=["mean", "low", "high"],
                                 dropna=False)
        fractions = np.sort(stats.index.get_level_values(FRACTION).unique())
        norm, colour = _s_colours(fractions)
        fig = _new_figure(6.5, 4.5)
        ax = fig.subplots()
        for s in fractions:
            p = stats.loc[s]
            mx, my = p[("mean", x)].to_numpy(), p[("mean", y)].to_numpy()
            xerr = np.abs(np.vstack([mx - p[("low", x)], p[("high", x)] - mx]))
            yerr = np.abs(np.vstack([my - p[("low", y)], p[("high", y)] - my]))
            ax.errorbar(mx, my, xerr=xerr, yerr=yerr, color=colour(s), lw=1.4, elinewidth=0.6, alpha=0.9,
                        marker=".", label=f"s = {s:g}")
            ax.plot(mx[:1], my[:1], "o", color=colour(s), mfc="white")  # generation 0
            ax.plot(mx[-1:], my[-1:], "s", color=colour(s))  # last generation
        if len(fractions) > 1:
            _s_colourbar(fig, ax, norm)
        else:
            ax.legend(fontsize=8)
        ax.set_xlabel("self-perplexity on own samples (↓ = more confident / fluent)")
        ax.set_ylabel("fact accuracy (↑ more truthful)")
        ax.set_title(f"Fluency vs truthfulness over generations{title}")
        ax.grid(alpha=0.3)
        caption = ("One trajectory per synthetic fraction, from generation 0 (open circle) to the last (square); "
                   "error bars are 95% Student-t CIs over replicates. A model collapsing the way the field warns about "
                   "moves down and to the left: more confident, less truthful." + _ci_note(long))
        out.append(_figure(fig, f"fluency vs truthfulness{title}", caption))
    return out


def _gaming_gap(df: pd.DataFrame, groups: list[str]) -> list[str]:
    bench, human = "synthetic_ppl", "heldout_ppl"
    missing = [m for m in (bench, human) if m not in set(df["metric"])]
    if missing:
        return [_note(f"Not measured in this run (no {' or '.join(missing)}): it needs the text track with the "
                      "fidelity and gaming probes.")]
    out = []
    for title, part in _parts(df, groups):
        fractions = np.sort(part[FRACTION].unique())
        shown = list(dict.fromkeys([fractions[0], fractions[len(fractions) // 2], fractions[-1]]))  # 0, mid, 1
        stats = _stats(part[part["metric"].isin([bench, human]) & part[FRACTION].isin(shown)],
                       [FRACTION, "metric", "generation"])
        fig = _new_figure(PANEL[0] * len(shown) + 0.5, 3.2)
        axes = np.atleast_1d(fig.subplots(1, len(shown), sharey=True, squeeze=False)).ravel()
        for ax, s in zip(axes, shown):
            for metric, colour, label in ((bench, "#d17a00", "automated benchmark (previous generation's samples)"),
                                          (human, "#3b6ea8", "held-out human text")):
                line = stats[(stats[FRACTION] == s) & (stats["metric"] == metric)]
                ax.fill_between(line["generation"], line["low"], line["high"], color=colour, alpha=0.2, lw=0)
                ax.plot(line["generation"], line["mean"], color=colour, lw=1.6, label=label)
            ax.set_title(f"s = {s:g}")
            ax.set_xlabel("generation")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no generation 0.5
            ax.grid(alpha=0.3)
        axes[0].set_ylabel("perplexity (↓ better)")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, fontsize=8)
        fig.suptitle(f"Gaming gap{title}", fontsize=10)
        caption = ("Perplexity of each generation's model on the previous generation's samples (what a benchmark built "
                   "from synthetic data measures) beside its perplexity on held-out human text, mean over replicates "
                   "with 95% Student-t bands (at generation 0 there is no previous model, so both score the human "
                   "reference). Where the first falls while the second rises, the benchmark says "
                   "\u201cbetter\u201d while the model gets worse." + _ci_note(stats))
        out.append(_figure(fig, f"gaming gap{title}", caption))
    return out


# ---- tables -----------------------------------------------------------------------------------


def _cost_table(cost: CostPlan | None) -> str:
    if cost is None:
        return _note("No cost plan: pricing the mixes needs a located cliff (a sweep over the synthetic fraction "
                     "that includes the all-human s = 0).")
    table = cost.table
    labels = [c for c in table.columns if c not in {FRACTION, "cost", "loss", "loss_low", "loss_high", "tolerance", "safe"}]
    head = "".join(f"<th>{_e(c)}</th>" for c in [*labels, "synthetic fraction s", "cost", "ΔQ [95% CI]", "within τ"])
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
                  f"<td>{num_text(row['loss'])} [{num_text(low)}, {num_text(high)}]</td>", f"<td class='text'>{verdict}</td>"]
        rows.append(f"<tr{' class=best' if best else ''}>{''.join(cells)}</tr>")
    return ("<p>Mixes sorted by the cost of the whole run (human and synthetic samples over every generation). A mix "
            "counts as safe only when the upper end of its ΔQ CI stays within τ; the cheapest safe one is highlighted.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


def _provenance(store: RunStore, snapshot: dict) -> str:
    meta = store.meta
    sources: dict[tuple[str, str], int] = {}
    for lineage in store.lineages():
        m = lineage.meta()
        key = (str(m.get("fingerprint", "–")), json.dumps(m.get("provenance", {}), sort_keys=True))
        sources[key] = sources.get(key, 0) + 1
    rows = "".join(
        f"<tr><td class='text'><code>{_e(fp)}</code></td>"
        f"<td class='text'>{_e(', '.join(f'{k} {v}' for k, v in json.loads(prov).items()) or '–')}</td>"
        f"<td>{count}</td></tr>" for (fp, prov), count in sorted(sources.items()))
    mixed = "" if len(sources) <= 1 else _note(
        "The lineages of this run saw different corpus contents (several fingerprints): compare them with care.")
    return (f"<p>Run written by cliffwatch {_e(meta.get('cliffwatch', '?'))} ({_e(meta.get('kind', '?'))}, created "
            f"{_e(meta.get('created', '?'))}); report rendered by cliffwatch {_e(__version__)}.</p>{mixed}"
            "<table><thead><tr><th>corpus fingerprint</th><th>source versions</th><th>lineages</th></tr></thead>"
            f"<tbody>{rows}</tbody></table><p>Config snapshot (<code>config.yaml</code>):</p>"
            f"<pre>{_e(yaml.safe_dump(snapshot, sort_keys=False))}</pre>")
