"""Escape routes, measured: each route's effect from a comparison's results (config.schema's
CompareConfig says what a route is).

Everything but the family and the policy is shared (data, holdout, seeds, chains, generations,
probes), so the lineages of one seed see the same human data (common random numbers) and every
route's quality loss is paired by seed with the same reference. A seed's chains share its human
data, so they are averaged into one replicate per seed before any interval (stats.seed_means). A
route that changes the family is still measured against the base family's all-human run: its ΔQ
then holds the family change too. Per route, at generation G (95% Student-t intervals over seeds):

- ΔQ(route) against the all-human reference, as analysis.loss_table defines it (positive = worse);
- ΔQ(route) − ΔQ(baseline), paired by replicate (the baseline is the route named ``baseline``,
  else the first route), and any other pair of routes by ``RouteComparison.contrast``;
- growth: the change of ΔQ per generation over the last quarter of the run, paired by replicate
  (a bounded loss levels off, a diverging one keeps growing);
- per swept route: its cliff (cliff.py) and the cliff's shift from the baseline's: the difference of
  the two cliff intervals, each at 97.5% so that both hold together with 95% (Bonferroni); it holds
  for sharp cliffs as the cliff interval does, where the old percentile bootstrap covered 76-92%;
- cost per loop (one replicate) up to G: human samples bought (a fresh anchor buys new human data
  every generation, a fixed one re-uses generation 0's, as loop/mixing.py prices a mix), synthetic
  samples drawn and discarded by filters, and their price.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cliffwatch.analysis.cliff import Cliff, analyze_curve, crossing, default_metric
from cliffwatch.analysis.quality_loss import (
    FRACTION,
    REPLICATE,
    direction,
    loss_kind,
    quality_loss,
    replicate_matrix,
    run_metrics,
)
from cliffwatch.analysis.intervals import MIN_FRACTIONS, cliff_bounds
from cliffwatch.analysis.stats import LEVEL, mean_ci, seed_means
from cliffwatch.config.grid import ROUTE, RoutePoint, route_points
from cliffwatch.config.schema import FRACTION_PATH, CompareConfig, CostSpec, ExperimentConfig
from cliffwatch.core.errors import AnalysisError
from cliffwatch.loop import mixing
from cliffwatch.loop.lineage import Lineage


def lineage_ids(point: RoutePoint) -> set[str]:
    return {Lineage(point.config, seed).id for seed in point.config.seeds}


# ---- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Effect:
    """A route's quality loss on one metric at generation G, and its difference to the baseline's."""

    loss: float  # mean ΔQ vs the all-human reference (positive = worse), 95% Student-t CI
    low: float
    high: float
    diff: float  # mean of ΔQ(route) − ΔQ(baseline), paired by replicate (nan for the baseline)
    diff_low: float
    diff_high: float
    replicates: int


@dataclass
class RouteResult:
    name: str
    description: str  # its overrides, readable
    fraction: float  # the synthetic fraction its headline effect is measured at
    fixes_fraction: bool  # the route sets s itself (else it runs at the base policy's s)
    effects: dict[str, Effect] = field(default_factory=dict)  # metric -> effect
    cliff: Cliff | None = None  # when the route ran over several fractions
    shift: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # its cliff − the baseline's, 95% CI (inf: unbounded)
    growth: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # ΔQ per generation late in the run, 95% CI
    human_samples: float = math.nan  # bought per loop (replicate) up to generation G
    synthetic_drawn: float = math.nan
    synthetic_discarded: float = math.nan  # drawn, paid for, and rejected by the filters
    cost: float = math.nan
    extra_human_samples: float = math.nan  # vs the baseline
    extra_cost: float = math.nan
    acceptance: dict[str, float] = field(default_factory=dict)  # filter -> mean acceptance rate
    problem: str | None = None  # why it could not be measured at all (none of its lineages reached G)
    note: str | None = None  # what limits what was measured (no cliff could be located)


@dataclass
class RouteComparison:
    name: str
    metric: str  # the primary metric
    higher_is_better: bool
    relative: bool
    generation: int
    tolerance: float
    baseline: str
    currency: str
    reference: tuple[float, float, float]  # the all-human run's primary metric at G: mean, 95% CI
    routes: list[RouteResult]
    losses: dict[str, pd.DataFrame]  # metric -> ΔQ at G per seed (chains averaged) x route
    trajectories: pd.DataFrame  # route, generation, loss, low, high: primary ΔQ at each route's fraction
    default_prices: bool = False  # the config set no prices of its own: the costs are placeholders

    def route(self, name: str) -> RouteResult:
        return next(r for r in self.routes if r.name == name)

    def contrast(self, a: str, b: str, metric: str | None = None) -> tuple[float, float, float]:
        """Mean of ΔQ(a) − ΔQ(b) at G over the replicates both have, with a 95% Student-t CI:
        negative = route a loses less quality than route b."""
        return _contrast(self.losses[metric or self.metric], a, b)

    def table(self) -> pd.DataFrame:
        """One row per route: headline effect, difference to the baseline, late growth, cliff, cost."""
        rows = []
        for r in self.routes:
            e = r.effects.get(self.metric, Effect(*(math.nan,) * 6, 0))
            rows.append({
                ROUTE: r.name, "overrides": r.description, FRACTION: r.fraction,
                "loss": e.loss, "loss_low": e.low, "loss_high": e.high,
                "diff": e.diff, "diff_low": e.diff_low, "diff_high": e.diff_high,
                "growth": r.growth[0], "cliff": r.cliff.cliff if r.cliff else math.nan, "shift": r.shift[0],
                "human_samples": r.human_samples, "synthetic_discarded": r.synthetic_discarded,
                "cost": r.cost, "extra_cost": r.extra_cost, "replicates": e.replicates,
                "problem": r.problem or r.note or "",
            })
        return pd.DataFrame(rows)


# ---- analysing -----------------------------------------------------------------------------------


def analyze_routes(config: CompareConfig, df: pd.DataFrame) -> RouteComparison:
    """The route comparison of a compare run's results (the workflows only analyse finished runs)."""
    spec = config.cliff
    metric = spec.metric or default_metric(df)
    metrics = [metric, *(m for m in config.metrics if m != metric)]
    for m in metrics:
        if m not in set(df["metric"]):
            raise AnalysisError(f"metric {m!r} is not in this run; present: {', '.join(sorted(df['metric'].unique()))}")
    generation = config.generations if spec.generation is None else spec.generation
    if generation > config.generations:
        raise AnalysisError(f"generation {generation} is not in this run (0..{config.generations})")

    points = route_points(config)
    reference = points[0]
    ref_values = _values(df, metric, lineage_ids(reference))
    ref_at_g = seed_means(ref_values[ref_values["generation"] == generation].set_index(REPLICATE)["value"]).to_numpy()
    if not len(ref_at_g):
        raise AnalysisError(f"the all-human reference has no results at generation {generation}")

    by_route: dict[str, list[RoutePoint]] = {}
    for p in points[1:]:
        by_route.setdefault(p.route, []).append(p)
    operating = {name: config.operating_fraction(name) for name in by_route}
    curves = {m: {name: _route_losses(df, m, pts, reference, spec.relative) for name, pts in by_route.items()} for m in metrics}
    at_g = {m: pd.DataFrame({name: _at(curves[m][name], operating[name], generation) for name in by_route}) for m in metrics}
    baseline = config.baseline

    results, trajectories = [], []
    for name, pts in by_route.items():
        route = RouteResult(name, _describe_route(config.routes[name]), operating[name], FRACTION_PATH in config.routes[name])
        for m in metrics:
            mine = at_g[m][name].dropna()
            if len(mine):
                diff = _contrast(at_g[m], name, baseline) if name != baseline else (math.nan,) * 3
                route.effects[m] = Effect(*mean_ci(mine.to_numpy()), *diff, len(mine))
        if metric not in route.effects:
            route.problem = f"no replicate reached generation {generation} (its lineages failed or have not run)"
            results.append(route)
            continue
        trajectories.append(_trajectory(curves[metric][name], name, operating[name]))
        route.growth = _growth(curves[metric][name], operating[name], generation)
        if len(pts) > 1:
            try:
                kind = loss_kind(metric, run_metrics(df), spec.relative)
                route.cliff = analyze_curve(curves[metric][name], metric, spec.tolerance, kind != "difference", generation,
                                             {ROUTE: name}, loss_kind=kind)
            except AnalysisError as err:
                route.note = f"no cliff: {err}"
        operating_ids = lineage_ids(next(p for p in pts if p.fraction == operating[name]))
        _costs(route, df, operating_ids, pts[0].config, generation, config.cost)
        results.append(route)

    base = next(r for r in results if r.name == baseline)
    for r in results:
        if r.name == baseline or base.problem or r.problem:
            continue
        r.extra_human_samples = r.human_samples - base.human_samples
        r.extra_cost = r.cost - base.cost
        if r.cliff is not None and base.cliff is not None:
            r.shift = _cliff_shift(curves[metric][r.name], curves[metric][baseline], generation, spec.tolerance)
    empty = pd.DataFrame(columns=[ROUTE, "generation", "loss", "low", "high"])
    return RouteComparison(
        config.name, metric, direction(metric, run_metrics(df)), loss_kind(metric, run_metrics(df), spec.relative) != "difference",
        generation, spec.tolerance, baseline, config.cost.currency, mean_ci(ref_at_g), results, at_g,
        pd.concat(trajectories, ignore_index=True) if trajectories else empty, config.cost == CostSpec(),
    )


def _contrast(table: pd.DataFrame, a: str, b: str) -> tuple[float, float, float]:
    """Mean of column a − column b over the rows (replicates) that have both, 95% Student-t CI."""
    if a not in table or b not in table:
        return (math.nan,) * 3
    paired = table[[a, b]].dropna()
    return mean_ci((paired[a] - paired[b]).to_numpy())


def _values(df: pd.DataFrame, metric: str, ids: set[str]) -> pd.DataFrame:
    rows = df[(df["metric"] == metric) & df["lineage"].isin(ids)]
    return rows[["generation", *REPLICATE, "value"]]


def _route_losses(df: pd.DataFrame, metric: str, points: list[RoutePoint], reference: RoutePoint,
                  relative: bool) -> pd.DataFrame:
    """ΔQ per (s, generation, replicate) of one route against the all-human reference, as
    analysis.loss_table defines it (positive = worse)."""
    ref = _values(df, metric, lineage_ids(reference)).rename(columns={"value": "baseline"})
    parts = []
    for p in points:
        part = _values(df, metric, lineage_ids(p)).merge(ref, on=["generation", *REPLICATE], how="inner")
        part[FRACTION] = p.fraction
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    metrics = run_metrics(df)
    out["loss"] = quality_loss(out, [FRACTION, "generation"], loss_kind(metric, metrics, relative), direction(metric, metrics))
    out.attrs["metrics"] = metrics
    return out


def _at(losses: pd.DataFrame, s: float, generation: int) -> pd.Series:
    """ΔQ per seed (its chains averaged) at one fraction and generation."""
    rows = losses[(losses[FRACTION] == s) & (losses["generation"] == generation)]
    return seed_means(rows.set_index(REPLICATE)["loss"])


def _trajectory(losses: pd.DataFrame, route: str, s: float) -> pd.DataFrame:
    rows = [(route, int(g), *mean_ci(seed_means(part.set_index(REPLICATE)["loss"]).to_numpy()))
            for g, part in losses[losses[FRACTION] == s].groupby("generation")]
    return pd.DataFrame(rows, columns=[ROUTE, "generation", "loss", "low", "high"])


def _growth(losses: pd.DataFrame, s: float, generation: int) -> tuple[float, float, float]:
    """Mean change of ΔQ per generation over the last quarter of the run (g = G − k .. G, k = G // 4,
    at least 1), paired by seed: a bounded loss levels off (CI around 0), a diverging one keeps
    growing. Nan before generation 1."""
    k = max(1, generation // 4)
    if generation < 1:
        return (math.nan,) * 3
    late, early = _at(losses, s, generation), _at(losses, s, generation - k)
    paired = pd.concat([late, early], axis=1, join="inner").dropna()
    return mean_ci((paired.iloc[:, 0] - paired.iloc[:, 1]).to_numpy() / k)


def _cliff_shift(route: pd.DataFrame, baseline: pd.DataFrame, generation: int, tolerance: float,
                 level: float = LEVEL) -> tuple[float, float, float]:
    """The route's cliff minus the baseline's, on the seeds both have at every fraction. Its interval
    is [low_a − high_b, high_a − low_b] from the two cliff intervals at 1 − (1 − level)/2 each: when
    both hold, which they do together with probability ≥ level, the shift lies inside. A curve that
    never crosses τ has its cliff beyond the grid (inf); neither crossing gives no shift (nan)."""
    a, b = (seed_means(replicate_matrix(x, generation)) for x in (route, baseline))
    common = a.index.intersection(b.index)
    if list(a.columns) != list(b.columns) or len(common) < 2 or a.shape[1] < MIN_FRACTIONS:
        return (math.nan,) * 3
    fractions = a.columns.to_numpy(dtype=float)
    point, low, high = shift_bounds(fractions, a.loc[common].to_numpy(), b.loc[common].to_numpy(), tolerance, level)
    return float(point), float(low), float(high)


def shift_bounds(fractions: np.ndarray, a: np.ndarray, b: np.ndarray, tolerance: float, level: float = LEVEL
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(shift, low, high) of cliff(a) − cliff(b), batched over the leading axes of the (…, n, K)
    replicate matrices; nan where neither crosses τ."""
    ca, cb = (np.nan_to_num(crossing(fractions, z.mean(axis=-2), tolerance), nan=np.inf) for z in (a, b))
    each = 1 - (1 - level) / 2
    (low_a, high_a, _), (low_b, high_b, _) = (cliff_bounds(fractions, z, tolerance, each) for z in (a, b))
    with np.errstate(invalid="ignore"):
        point = ca - cb
        low, high = low_a - high_b, high_a - low_b
    bad = np.isnan(point)
    return np.where(bad, np.nan, point), np.where(bad, np.nan, low), np.where(bad, np.nan, high)


def _costs(route: RouteResult, df: pd.DataFrame, ids: set[str], config: ExperimentConfig, generation: int,
           prices: CostSpec) -> None:
    """What one loop (replicate) of the route buys up to generation G at its operating fraction: as
    mixing.mix_cost prices the planned mix, plus the synthetic draws that filters rejected and had
    replaced (resample mode)."""
    p = config.policy
    rows = df[df["lineage"].isin(ids) & df["generation"].between(1, generation)]
    loop = rows.pivot_table(index=[*REPLICATE, "generation"], columns="metric", values="value", aggfunc="first")
    kinds = {m.kind: m.name for m in run_metrics(df).values() if m.kind in ("synthetic_drawn", "synthetic_kept")}
    planned = generation * mixing.synthetic_count(route.fraction, p.samples)
    if kinds.get("synthetic_drawn") in loop:  # only lineages with filters record their draws
        totals = loop[[kinds["synthetic_drawn"], kinds["synthetic_kept"]]].groupby(level=REPLICATE).sum()
        drawn, kept = totals[kinds["synthetic_drawn"]], totals[kinds["synthetic_kept"]]
        route.synthetic_drawn = float(drawn.mean())
        route.synthetic_discarded = float((drawn - kept).mean())
    else:
        route.synthetic_drawn, route.synthetic_discarded = float(planned), 0.0
    route.acceptance = {m.subject: float(loop[m.name].mean()) for m in run_metrics(df).values()
                        if m.kind == "acceptance" and m.name in loop}
    route.human_samples = float(mixing.human_bought(route.fraction, p.samples, p.human, generation))
    resampled = route.synthetic_drawn - planned
    route.cost = (mixing.mix_cost(route.fraction, p.samples, generation, p.human, prices.human_price, prices.synthetic_price)
                  + resampled * prices.synthetic_price)


def _describe_route(overrides: dict[str, Any]) -> str:
    """The overrides as ``field = value``, lists of specs compact: ``ngram(order=2) + ngram(order=4)``."""
    if not overrides:
        return "no change"
    return ", ".join(f"{path.removeprefix('policy.')} = {_compact(value)}" for path, value in overrides.items())


def _compact(value: Any) -> str:
    if isinstance(value, list):
        return " + ".join(_compact(v) for v in value)
    if isinstance(value, dict):
        if "family" in value and "name" not in value:  # a generator: its family, and its weight unless 1
            weight = value.get("weight", 1)
            return _compact(value["family"]) + ("" if weight == 1 else f" (weight {weight:g})")
        knobs = ", ".join(f"{k}={_compact(v)}" for k, v in value.items() if k != "name")
        return f"{value.get('name', '')}({knobs})" if knobs else str(value.get("name", "{}"))
    return str(value)
