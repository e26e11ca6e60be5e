"""The report's figures: cliff plot, ΔQ heatmap, key trajectories, fluency vs truthfulness, gaming gap.

Each section draws what the run's analysis (analysis/run.py) holds, as matplotlib SVGs embedded as
data URIs (report/figures.py); means and bands over replicates are analysis.change.point_stats.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import FuncNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from cliffwatch.analysis.change import point_stats
from cliffwatch.analysis.cliff import Cliff, loss_surface
from cliffwatch.analysis.quality_loss import FRACTION, run_metrics
from cliffwatch.core.metrics import Metric
from cliffwatch.report.figures import escape as _e
from cliffwatch.report.figures import figure_html as _figure
from cliffwatch.report.format import num_text
from cliffwatch.report.glance import key_fractions

# ΔQ: sequential from 0 (no loss) up; below 0 (better than all-human) is clipped to the lowest colour;
# grey = infinite or undefined
CMAP_LOSS = colormaps["YlOrRd"].with_extremes(bad="#bbbbbb", under="#ffffe5")
REPLICATE_COLOUR = "#7a7a7a"
KNEE_COLOUR = "#6a3d9a"
SAFE_COLOUR = "#2e7d32"
ROLE_COLOURS = {"all-human": "#1f4e9c", "safe mix": "#2e7d32", "past the cliff": "#e08214", "fully synthetic": "#b2182b",
                "largest s": "#b2182b"}
PANEL = (3.3, 2.5)  # inches per small-multiple panel
KEY_METRICS = 8  # trajectory panels at most; every metric is in the table


def _new_figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def note(text: str) -> str:
    return f"<p class='note'>{_e(text)}</p>"


def parts(df: pd.DataFrame, groups: list[str]) -> Iterator[tuple[str, pd.DataFrame]]:
    """(heading suffix, rows) per combination of the swept fields other than s."""
    if not groups:
        yield "", df
        return
    for key, part in df.groupby(groups, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        yield " — " + ", ".join(f"{k} = {v}" for k, v in zip(groups, key)), part


def direction(metric: str, metrics: dict[str, Metric]) -> str:
    entry = metrics.get(metric)
    return _better(entry.higher_is_better if entry else None)


def _better(better: bool | None) -> str:
    return {True: "↑ better", False: "↓ better", None: "no better direction"}[better]


def _loss_label(relative: bool) -> str:
    return f"ΔQ ({'relative' if relative else 'absolute'}, ↑ worse)"


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


def cliff_figure(c: Cliff) -> str:
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
               f"the decision region around τ; grey dots are the {c.replicates} replicates (seeds; chains averaged within a seed), the blue "
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


def heatmaps(df: pd.DataFrame, cliff: Cliff, groups: list[str]) -> list[str]:
    surface = loss_surface(df, cliff.metric, cliff.relative, cliff.loss_kind)
    out = []
    for title, part in parts(surface.reset_index(), groups):
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


def group_of(part: pd.DataFrame, groups: list[str]) -> dict[str, Any]:
    return {k: part[k].iloc[0] for k in groups}


def cliff_for(cliffs: list[Cliff], group: dict[str, Any]) -> Cliff | None:
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


def trajectories(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    """The key metrics over generations at the key fractions only (all-human, safe mix, past the
    cliff, fully synthetic); every metric at every fraction is in the table further down."""
    metrics, index = _key_metrics(df, cliffs), run_metrics(df)
    out = []
    for title, part in parts(df, groups):
        keys = key_fractions(part[FRACTION].unique(), cliff_for(cliffs, group_of(part, groups)))
        stats = point_stats(part[part[FRACTION].isin(list(keys)) & part["metric"].isin(metrics)],
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
            ax.set_ylabel(f"{direction(metric, index)}{', log' if ax.get_yscale() == 'log' else ''}")
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



def fluency_truth(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    x, y = "self_ppl", "fact_accuracy"
    missing = [m for m in (x, y) if m not in set(df["metric"])]
    if missing:
        return [note(f"Not measured in this run (no {' or '.join(missing)}): it needs the text track with a fact "
                      "base and the confidence and fact probes.")]
    out = []
    for title, part in parts(df, groups):
        long = point_stats(part[part["metric"].isin([x, y])], [FRACTION, "generation", "metric"])
        stats = long.pivot_table(index=[FRACTION, "generation"], columns="metric", values=["mean", "low", "high"],
                                 dropna=False)
        keys = key_fractions(part[FRACTION].unique(), cliff_for(cliffs, group_of(part, groups)))
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


def gaming_gap(df: pd.DataFrame, groups: list[str], cliffs: list[Cliff]) -> list[str]:
    bench, human = "synthetic_ppl", "heldout_ppl"
    missing = [m for m in (bench, human) if m not in set(df["metric"])]
    if missing:
        return [note(f"Not measured in this run (no {' or '.join(missing)}): it needs the text track with the "
                      "fidelity and gaming probes.")]
    out = []
    for title, part in parts(df, groups):
        keys = key_fractions(part[FRACTION].unique(), cliff_for(cliffs, group_of(part, groups)))
        shown = list(keys)
        stats = point_stats(part[part["metric"].isin([bench, human]) & part[FRACTION].isin(shown)],
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

