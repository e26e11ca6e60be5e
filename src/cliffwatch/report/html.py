"""The self-contained HTML report of a run: one file, no network needed to open it.

Figures are matplotlib SVGs embedded as data URIs (no pyplot, so no global backend state; text kept
as text, dense bands and cells rasterised: report/figures.py), CSS is inline, and a few lines of inline script record on <body> whether every figure decoded, which lets
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
from scipy.stats import t as student_t
from matplotlib import colormaps, rc_context
from matplotlib.collections import LineCollection
from matplotlib.colors import FuncNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cliffwatch import __version__
from cliffwatch.analysis.cliff import Cliff, analyze, default_metric, loss_surface
from cliffwatch.analysis.cost import CostPlan, plan
from cliffwatch.analysis.quality_loss import FRACTION, REPLICATE, group_columns, run_metrics
from cliffwatch.config.load import parse
from cliffwatch.config.schema import CliffSpec, CompareConfig, SweepConfig
from cliffwatch.core.errors import AnalysisError
from cliffwatch.core.metrics import Metric
from cliffwatch.execution.store import RunStore, atomic_write, load_results
from cliffwatch.report.format import num_text, short as num_sig
from cliffwatch.report.prose import cliff_sentence, cost_sentence, route_sentences
from cliffwatch.report.figures import SVG_RC
from cliffwatch.report.figures import escape as _e
from cliffwatch.report.figures import figure_html as _figure
from cliffwatch.report.glance import glossary, key_fractions, key_numbers, samples_section

# ΔQ: sequential from 0 (no loss) up; below 0 (better than all-human) is clipped to the lowest colour;
# grey = infinite or undefined
CMAP_LOSS = colormaps["YlOrRd"].with_extremes(bad="#bbbbbb", under="#ffffe5")
REPLICATE_COLOUR = "#7a7a7a"
KNEE_COLOUR = "#6a3d9a"
SAFE_COLOUR = "#2e7d32"
ROLE_COLOURS = {"all-human": "#1f4e9c", "safe mix": "#2e7d32", "past the cliff": "#e08214", "fully synthetic": "#b2182b",
                "largest s": "#b2182b"}
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
table.keys { font-size: 14px; background: #fff; } table.keys th[colspan] { background: #e3ebf5; }
table.keys td.num { font-weight: 700; font-size: 16px; } td.method { color: #555; font-size: 12px; max-width: 34em; }
table.samples td.sample { max-width: 30em; font-size: 12px; } table.samples ul { margin: 0; padding-left: 1.1em; }
span.role { color: #666; font-size: 12px; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 .4em 1.5em; color: #333; }
details { margin: .6em 0; } details summary { cursor: pointer; color: #3b6ea8; }
"""
PANEL = (3.3, 2.5)  # inches per small-multiple panel
KEY_METRICS = 8  # trajectory panels at most; every metric is in the table


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
            "<section class='summary'><h2>Summary</h2>", key_numbers(cliffs, cost) if cliffs else "", *summary,
            "<p>Terms are defined once, in the <a href='#glossary'>glossary</a> at the end.</p></section>"]
    index = run_metrics(df)
    metrics = list(dict.fromkeys(df["metric"]))  # in the order the probes report them
    if cliffs:
        body += ["<h2>The cliff</h2>", *(_cliff_figure(c) for c in cliffs)]
        body += ["<h2>Quality loss over fraction and generation</h2>", *_heatmaps(df, cliffs[0], groups)]
    if routes:
        body.append(routes[1])
    else:
        body += ["<h2>Key trajectories</h2>", *_trajectories(df, groups, cliffs)]
        body += ["<h2>What the models write</h2>", *_samples(store, df, groups, cliffs)]
        body += ["<h2>Fluency vs truthfulness</h2>", *_fluency_truth(df, groups, cliffs)]
        body += ["<h2>Gaming gap: automated benchmark vs human-anchored probe</h2>", *_gaming_gap(df, groups, cliffs)]
        body += ["<h2>Cost of each mix</h2>", _cost_table(cost)]
    body += ["<h2>Every metric</h2>", _metric_table(df, groups, index, metrics)]
    body += [glossary(metrics, index), "<h2>Provenance</h2>", _provenance(store, snapshot)]
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


def _stats(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean and 95% Student-t CI of ``value`` over replicates per ``keys``; n = replicates. As
    mean_ci, vectorised: a non-finite replicate makes the mean non-finite and the CI undefined."""
    frame = pd.DataFrame({k: df[k].to_numpy() for k in [*keys, "value"]})  # no attrs to copy on every group
    frame["finite"], frame["missing"] = np.isfinite(frame["value"]), frame["value"].isna()
    g = frame.groupby(keys, sort=True)
    out = g["value"].agg(["mean", "std", "count"])
    n = out["count"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        half = student_t.ppf(0.975, n - 1) * out["std"].to_numpy() / np.sqrt(n)
    undefined = (n < 2) | ~g["finite"].all().to_numpy()
    half = np.where(undefined, np.nan, half)
    mean = np.where(g["missing"].any().to_numpy(), np.nan, out["mean"].to_numpy())  # pandas would skip a nan
    return pd.DataFrame({**{k: out.index.get_level_values(k) for k in keys}, "mean": mean, "low": mean - half,
                         "high": mean + half, "n": n})


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


def _zoom(c: Cliff) -> tuple[float, float]:
    """The y range of the decision region: τ in the lower middle, room for the band where it
    crosses τ, values far above cut off (the overview panel shows them)."""
    values = np.concatenate([c.loss, c.loss_low, c.loss_high, *(() if c.replicate_loss is None else [c.replicate_loss.ravel()])])
    values = values[np.isfinite(values)]
    if c.tolerance <= 0 or not values.size:
        return (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
    top = 2.5 * c.tolerance
    bottom = min(0.0, max(float(values.min()), -1.5 * c.tolerance)) - 0.15 * c.tolerance
    return bottom, top


def _cliff_figure(c: Cliff) -> str:
    fig = _new_figure(10, 4.4)
    ax, full = fig.subplots(1, 2, width_ratios=[3.2, 1])
    s = c.fractions
    bottom, top = _zoom(c)
    ax.fill_between(s, c.loss_low, c.loss_high, color="#3b6ea8", alpha=0.2, lw=0, label="95% band of mean ΔQ")
    if c.replicate_loss is not None and c.replicates > 1:
        n = len(c.replicate_loss)
        width = 0.25 * float(np.min(np.diff(s))) if len(s) > 1 else 0.02
        offsets = (np.arange(n) - (n - 1) / 2) / max(n - 1, 1) * width  # spread replicates apart a little
        xs = (s[None, :] + offsets[:, None]).ravel()
        ys = np.clip(c.replicate_loss, bottom, top).ravel()  # off-scale replicates sit on the edge
        ax.scatter(xs, ys, s=9, color=REPLICATE_COLOUR, alpha=0.7, lw=0, zorder=3,
                   label=f"each replicate's ΔQ ({n})", rasterized=n * len(s) > 400)
    ax.plot(s, c.loss, "o-", color="#3b6ea8", ms=4, zorder=4, label=f"mean ΔQ at generation {c.generation}")
    off = np.isfinite(c.loss) & (c.loss > top)
    if off.any():
        ax.plot(s[off], np.full(off.sum(), top), "^", color="#3b6ea8", ms=7, clip_on=False, zorder=5,
                label="mean above this scale (see overview)")
    ax.axhline(c.tolerance, color="crimson", ls="--", lw=1.3, label=f"τ = {c.tolerance:g}")
    ax.axhline(0, color="#888", lw=0.8)
    if c.found and np.isfinite(c.cliff_low):
        high = f"{c.cliff_high:.2f}" if np.isfinite(c.cliff_high) else "beyond the grid"
        ax.axvspan(c.cliff_low, min(c.cliff_high, s[-1]), color="orange", alpha=0.22, lw=0,
                   label=f"cliff 95% interval [{c.cliff_low:.2f}, {high}]")
    if c.found:
        ax.axvline(c.cliff, color="darkorange", lw=2, label=f"cliff s = {c.cliff:.2f}")
    if np.isfinite(c.knee):
        y = bottom + 0.07 * (top - bottom)  # a bar along the bottom: where the knee can be
        ax.errorbar([c.knee], [y], xerr=[[c.knee - c.knee_low], [c.knee_high - c.knee]], fmt="D", color=KNEE_COLOUR,
                    capsize=4, lw=2, label=f"knee s = {c.knee:.2f} [{c.knee_low:.2f}, {c.knee_high:.2f}]")
    if np.isfinite(c.safe_fraction):
        ax.axvline(c.safe_fraction, color=SAFE_COLOUR, ls=":", lw=2, label=f"safe mix s = {c.safe_fraction:g}")
    ax.set_ylim(bottom, top)
    ax.set_xlim(s[0] - 0.02, s[-1] + 0.02)
    ax.set_xlabel("synthetic fraction s (share of each generation's training data)")
    ax.set_ylabel(_loss_label(c.relative))
    where = "".join(f", {k} = {v}" for k, v in c.group.items())
    ax.set_title(f"Decision region: ΔQ of {c.metric} near τ{where}")
    ax.grid(alpha=0.3)
    # overview: the whole curve, with the zoomed region marked
    full.fill_between(s, c.loss_low, c.loss_high, color="#3b6ea8", alpha=0.2, lw=0)
    full.plot(s, c.loss, "-", color="#3b6ea8", lw=1.5)
    full.axhline(c.tolerance, color="crimson", ls="--", lw=1)
    full.axhspan(bottom, top, color="#000", alpha=0.07, lw=0)
    full.set_title("whole curve (grey: zoomed)")
    full.set_xlabel("s")
    full.grid(alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=8)
    kind = "relative change" if c.relative else "difference"
    caption = (f"ΔQ is the {kind} of {_e(c.metric)} ({_better(c.higher_is_better)}) against the all-human run (s = 0) at "
               f"generation {c.generation}, paired by replicate, so positive means worse. The left panel is zoomed on "
               f"the decision region around τ; grey dots are the {c.replicates} replicates (seed × chain), the blue "
               "band the 95% Student-t band of their mean; the orange span is the cliff's 95% interval (the band "
               "inverted, widened for interpolation).")
    if off.any():
        caption += f" Off this scale, mean ΔQ reaches {num_text(float(np.nanmax(c.loss[np.isfinite(c.loss)])))} (right panel)."
    if c.replicates < 2:
        caption += " With one replicate the intervals are undefined: the band and the cliff interval are not drawn."
    if not c.found:
        caption += f" The mean ΔQ stays within τ up to s = {s[-1]:g}: no cliff on this grid."
    if not np.isfinite(c.knee):
        caption += f" No knee drawn: {_e(c.knee_interval.reason) if c.knee_interval else 'no knee fit'}."
    else:
        caption += (f" The purple bar is the knee's 95% interval (the two-segment fit bends at s = {c.knee:.2f}, slope "
                    f"{c.slope_left:.3g} → {c.slope_right:.3g}).")
    return _figure(fig, f"cliff plot of {c.metric}{where}", caption)


def _heatmaps(df: pd.DataFrame, cliff: Cliff, groups: list[str]) -> list[str]:
    surface = loss_surface(df, cliff.metric, cliff.relative, cliff.loss_kind)
    out = []
    for title, part in _parts(surface.reset_index(), groups):
        z = part.set_index(FRACTION).drop(columns=groups).sort_index()
        s, gens = z.index.to_numpy(float), z.columns.to_numpy(int)
        values = z.to_numpy(float)
        finite = values[np.isfinite(values)]
        tau = cliff.tolerance
        vmax = float(finite.max()) if finite.size else 1.0
        stretched = tau > 0 and vmax > 4 * tau
        norm = _loss_norm(tau, vmax) if stretched else Normalize(0.0, max(vmax, 2 * tau, 1e-12))
        fig = _new_figure(8, 2.1 + 0.25 * len(s))
        ax = fig.subplots()
        x_edges, y_edges = _edges(gens.astype(float)), _edges(s)
        mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(values), cmap=CMAP_LOSS, norm=norm,
                             rasterized=values.size > 400)  # a large grid as one image
        bar = fig.colorbar(mesh, ax=ax, label=_loss_label(cliff.relative),
                           extend="min" if finite.size and finite.min() < 0 else "neither")
        bar.ax.axhline(tau, color="black", lw=2)
        above_ticks = MaxNLocator(4).tick_values(tau, vmax) if stretched else np.linspace(0, norm.vmax, 4)
        bar.set_ticks(sorted({0.0, tau, *(t for t in above_ticks if 0 < t <= norm.vmax)}))
        bar.ax.set_yticklabels([f"{t:g}" + (" = τ" if t == tau else "") for t in bar.get_ticks()])
        crosses = bool(finite.size and finite.min() <= tau < finite.max())
        if crosses:
            ax.add_collection(_tau_boundary(values > tau, x_edges, y_edges))
        if values.size <= 200:  # a readable grid: print each cell's value
            for (i, j), v in np.ndenumerate(values):
                colour = "white" if np.isfinite(v) and norm(v) > 0.7 else "black"
                ax.text(gens[j], s[i], "∞" if np.isinf(v) else ("" if np.isnan(v) else f"{v:.2g}"),
                        ha="center", va="center", fontsize=6.5, color=colour)
        ax.set_xticks(gens)
        ax.set_yticks(s, [f"{v:g}" for v in s])
        ax.set_xlabel("generation")
        ax.set_ylabel("synthetic fraction s")
        ax.set_title(f"Mean ΔQ of {cliff.metric}{title}")
        caption = (f"Mean ΔQ of {_e(cliff.metric)} over replicates per (s, generation), on a sequential scale from 0 "
                   "(no loss: lightest) up; cells better than the all-human run (ΔQ below 0) take the lightest colour. ")
        if stretched:
            caption += ("The scale is linear up to τ (black mark on the colour bar), which sits mid-scale, and "
                        "logarithmic above it. ")
        caption += (f"The black line separates the cells above τ = {tau:g} from those within it." if crosses else
                    f"ΔQ never crosses τ = {tau:g} inside the grid, so no τ contour.")
        if finite.size < values.size:
            caption += " Grey cells: infinite or undefined ΔQ (a collapsed model)."
        out.append(_figure(fig, f"heatmap of quality loss{title}", caption))
    return out


def _loss_norm(tau: float, vmax: float) -> FuncNorm:
    """Linear on [0, τ] onto the lower half of the colours, logarithmic on [τ, vmax] onto the upper
    half: the decision region and the far tail both stay readable."""
    span = math.log(vmax / tau)

    def forward(x):
        x = np.asarray(x, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(x <= tau, 0.5 * x / tau, 0.5 + 0.5 * np.log(np.maximum(x, tau) / tau) / span)

    def inverse(y):
        y = np.asarray(y, dtype=float)
        return np.where(y <= 0.5, 2 * y * tau, tau * np.exp((2 * y - 1) * span))

    return FuncNorm((forward, inverse), 0.0, vmax)


def _tau_boundary(above: np.ndarray, x_edges: np.ndarray, y_edges: np.ndarray) -> LineCollection:
    """The cell edges between ΔQ > τ and ΔQ ≤ τ (rows: s, columns: generation), as one line set:
    exact cell borders, not a contour interpolated across cells."""
    rows, cols = np.nonzero(above[1:, :] != above[:-1, :])  # between s rows i and i+1
    horizontal = np.stack([np.stack([x_edges[cols], y_edges[rows + 1]], 1),
                           np.stack([x_edges[cols + 1], y_edges[rows + 1]], 1)], 1)
    rows, cols = np.nonzero(above[:, 1:] != above[:, :-1])  # between generations j and j+1
    vertical = np.stack([np.stack([x_edges[cols + 1], y_edges[rows]], 1),
                         np.stack([x_edges[cols + 1], y_edges[rows + 1]], 1)], 1)
    return LineCollection(np.concatenate([horizontal, vertical]), colors="black", linewidths=2)


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges halfway between grid points, so an uneven grid (adaptive search) is drawn to scale."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def _group_of(part: pd.DataFrame, groups: list[str]) -> dict[str, Any]:
    return {k: part[k].iloc[0] for k in groups}


def _cliff_for(cliffs: list[Cliff], group: dict[str, Any]) -> Cliff | None:
    return next((c for c in cliffs if all(c.group.get(k) == v for k, v in group.items())), None)


def _key_metrics(df: pd.DataFrame, cliffs: list[Cliff]) -> list[str]:
    """The cliff's metric, then the first quality metric of every other probe (at most KEY_METRICS)."""
    index = run_metrics(df)
    owners = df.drop_duplicates("metric").set_index("metric")["probe"]
    quality = [m for m in owners.index if m in index and index[m].higher_is_better is not None]
    chosen = [cliffs[0].metric] if cliffs else []
    probes = {owners[m] for m in chosen}
    for m in quality:
        if owners[m] not in probes:
            chosen.append(m)
            probes.add(owners[m])
    return (chosen or list(owners.index))[:KEY_METRICS]


def _trajectories(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    """The key metrics over generations at the key fractions only (all-human, safe mix, past the
    cliff, fully synthetic); every metric at every fraction is in the table further down."""
    metrics, index = _key_metrics(df, cliffs), run_metrics(df)
    out = []
    for title, part in _parts(df, groups):
        keys = key_fractions(part[FRACTION].unique(), _cliff_for(cliffs, _group_of(part, groups)))
        stats = _stats(part[part[FRACTION].isin(list(keys)) & part["metric"].isin(metrics)],
                       ["metric", FRACTION, "generation"])
        colours = _key_colours(keys)
        cols = min(4, len(metrics))
        rows = math.ceil(len(metrics) / cols)
        fig = _new_figure(PANEL[0] * cols, PANEL[1] * rows + 0.4)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, metric in zip(axes, metrics):
            m = stats[stats["metric"] == metric]
            for s, line in m.groupby(FRACTION):
                ax.fill_between(line["generation"], line["low"], line["high"], color=colours[s], alpha=0.15, lw=0)
                ax.plot(line["generation"], line["mean"], color=colours[s], lw=1.6, label=f"s = {s:g} ({keys[s]})")
            finite = m["mean"].to_numpy()[np.isfinite(m["mean"].to_numpy())]
            if finite.size and finite.min() > 0 and finite.max() / finite.min() > 100:
                ax.set_yscale("log")  # perplexities and distances can grow by orders of magnitude
            if not finite.size:
                ax.text(0.5, 0.5, "no finite value", transform=ax.transAxes, ha="center", color="#888")
            ax.set_title(metric)
            ax.set_xlabel("generation")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no generation 0.5
            ax.set_ylabel(f"{_direction(metric, index)}{', log' if ax.get_yscale() == 'log' else ''}")
            ax.grid(alpha=0.3)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(keys), fontsize=8)
        n = int(stats["n"].min()) if len(stats) else 0
        caption = (f"The cliff's metric and one quality metric per probe over the generations at the key fractions, mean over replicates (at least {n} "
                   f"per point) with a shaded 95% Student-t band.{_ci_note(stats)} The other fractions and the "
                   "diagnostics are in the table under Every metric.")
        out.append(_figure(fig, f"key trajectories{title}", caption))
    return out


def _key_colours(keys: dict[float, str]) -> dict[float, str]:
    return {s: ROLE_COLOURS[role.split(", ")[0]] for s, role in keys.items()}


def _samples(store: RunStore, df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    last = int(df["generation"].max())
    out = []
    for title, part in _parts(df, groups):
        group = _group_of(part, groups)
        keys = key_fractions(part[FRACTION].unique(), _cliff_for(cliffs, group))
        out.append((f"<h3>{_e(title.lstrip(' —'))}</h3>" if title else "") + samples_section(store, keys, group, last))
    return out


def _metric_table(df: pd.DataFrame, groups: list[str], index: dict[str, Metric], metrics: list[str]) -> str:
    """Every metric at generation 0 and at the last generation per fraction (means over replicates),
    behind a toggle: the compact form of the trajectories not drawn."""
    last = int(df["generation"].max())
    out = []
    for title, part in _parts(df, groups):
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
            rows.append(f"<tr><td class='text'>{_e(m)}</td><td class='text'>{_e(_direction(m, index))}</td>"
                        f"<td>{start}</td>{cells}</tr>")
        out.append(f"<details><summary>Every metric at generation 0 and {last}, per synthetic fraction{_e(title)} "
                   f"({len(rows)} metrics × {len(fractions)} fractions)</summary>"
                   f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></details>")
    return ("<p>Means over replicates. Generation 0 is fitted on human data only, so it is one column for every "
            "fraction (their mean).</p>" + "".join(out))


def _fluency_truth(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
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
        keys = key_fractions(part[FRACTION].unique(), _cliff_for(cliffs, _group_of(part, groups)))
        colours = _key_colours(keys)
        fig = _new_figure(6.5, 4.5)
        ax = fig.subplots()
        for s in keys:
            p = stats.loc[s]
            mx, my = p[("mean", x)].to_numpy(), p[("mean", y)].to_numpy()
            xerr = np.abs(np.vstack([mx - p[("low", x)], p[("high", x)] - mx]))
            yerr = np.abs(np.vstack([my - p[("low", y)], p[("high", y)] - my]))
            ax.plot(mx, my, ".-", color=colours[s], lw=1.4, alpha=0.9, label=f"s = {s:g} ({keys[s]})")
            ax.plot(mx[:1], my[:1], "o", color=colours[s], mfc="white")  # generation 0
            ax.errorbar(mx[-1:], my[-1:], xerr=xerr[:, -1:], yerr=yerr[:, -1:], fmt="s", color=colours[s],
                        capsize=3)  # last generation, with its interval
        ax.legend(fontsize=8)
        ax.set_xlabel("self-perplexity on own samples (↓ = more confident / fluent)")
        ax.set_ylabel("fact accuracy (↑ more truthful)")
        ax.set_title(f"Fluency vs truthfulness over generations{title}")
        ax.grid(alpha=0.3)
        caption = ("One trajectory per key synthetic fraction, from generation 0 (open circle) to the last (square); "
                   "the error bars on the last point are its 95% Student-t intervals over replicates. A model collapsing the way the field warns about "
                   "moves down and to the left: more confident, less truthful." + _ci_note(long))
        out.append(_figure(fig, f"fluency vs truthfulness{title}", caption))
    return out


def _gaming_gap(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    bench, human = "synthetic_ppl", "heldout_ppl"
    missing = [m for m in (bench, human) if m not in set(df["metric"])]
    if missing:
        return [_note(f"Not measured in this run (no {' or '.join(missing)}): it needs the text track with the "
                      "fidelity and gaming probes.")]
    out = []
    for title, part in _parts(df, groups):
        keys = key_fractions(part[FRACTION].unique(), _cliff_for(cliffs, _group_of(part, groups)))
        shown = list(keys)
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
            ax.set_title(f"s = {s:g} ({keys[s]})")
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
