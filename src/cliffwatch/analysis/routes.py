"""Escape routes, measured: run the routes side by side on one setup and report each one's effect.

A compare config is a sweep config plus ``routes``: route name -> overrides of ``family.*`` and
``policy.*`` fields (dotted paths, as in a sweep grid). Each route is the base setup with its
overrides, run at the base policy's synthetic fraction unless it sets its own; when ``sweep``
gives a grid of fractions, every route that does not fix s also runs over the grid, so the
routes' cliffs can be compared. An all-human reference (the base setup at s = 0) always runs.

Everything but the family and the policy is shared (data, holdout, seeds, chains, generations,
probes), so the lineages of one seed see the same human data (common random numbers) and every
route's quality loss is paired by replicate (seed, chain) with the same reference. A route that
changes the family is still measured against the base family's all-human run: its ΔQ then holds
the family change too. Per route, at generation G (95% Student-t intervals over replicates):

- ΔQ(route) against the all-human reference, as analysis.loss_table defines it (positive = worse);
- ΔQ(route) − ΔQ(baseline), paired by replicate (the baseline is the route named ``baseline``,
  else the first route), and any other pair of routes by ``RouteComparison.contrast``;
- growth: the change of ΔQ per generation over the last quarter of the run, paired by replicate
  (a bounded loss levels off, a diverging one keeps growing);
- per swept route: its cliff (analysis.py) and the cliff's shift from the baseline's (bootstrap);
- cost per loop (one replicate) up to G: human samples bought (a fresh anchor buys new human data
  every generation, a fixed one re-uses generation 0's, as cost.mix_cost prices a mix), synthetic
  samples drawn and discarded by filters, and their price.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, field_validator, model_validator

from cliffwatch.analysis.cliff import (FRACTION, REPLICATE, Cliff, analyze_curve, crossing, default_metric, direction,
                                       loss_kind, quality_loss)
from cliffwatch.analysis.cost import mix_cost
from cliffwatch.analysis.stats import BOOTSTRAP_SEED, RESAMPLES, mean_ci
from cliffwatch.config.schema import CostSpec, ExperimentConfig, SweepConfig, describe_error, parse, read_yaml
from cliffwatch.core.errors import AnalysisError
from cliffwatch.loop.engine import Lineage
from cliffwatch.probes.base import metric_index
from cliffwatch.core.seeding import stable_hash
from cliffwatch.execution.store import RunStore, load_results
from cliffwatch.execution.runner import execute, prepare_run

FRACTION_PATH = "policy.synthetic_fraction"
REFERENCE = "all-human"  # the route tag of the implicit all-human run
ROUTE = "route"  # the results column that names a lineage's route
ROUTE_FIELDS = ("family", "policy")  # what a route may change; the rest is shared, so routes stay paired


@dataclass(frozen=True)
class RoutePoint:
    """One (route, synthetic fraction) of a comparison and the experiment it runs."""

    route: str
    fraction: float
    config: ExperimentConfig

    def lineage_ids(self) -> set[str]:
        return {Lineage(self.config, seed).id for seed in self.config.seeds}


class CompareConfig(SweepConfig):
    """A sweep config plus ``routes``: the escape routes to run side by side on its setup."""

    sweep: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="optional {policy.synthetic_fraction: [...]}: routes that do not fix s also run over these fractions",
    )
    routes: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="route name -> {dotted family.* / policy.* path: value}; `baseline` (or the first) is the no-route baseline",
    )
    metrics: list[str] = Field(default_factory=list, description="further metrics reported per route beside cliff.metric")

    @field_validator("routes", mode="before")
    @classmethod
    def _empty_routes(cls, value: Any) -> Any:
        # `baseline:` with nothing after it (YAML null) is the base setup unchanged
        return {k: ({} if v is None else v) for k, v in value.items()} if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _valid_compare(self) -> "CompareConfig":
        # SweepConfig's own validator has already built (and so validated) every route via variants()
        for path in self.sweep:
            if path != FRACTION_PATH:
                raise ValueError(f"@sweep.{path}: a compare config sweeps only {FRACTION_PATH}; make other variations routes")
        index = metric_index()
        for name in self.metrics:
            if name not in index or index[name][1].higher_is_better is None:
                known = sorted(m for m, (_, metric) in index.items() if metric.higher_is_better is not None)
                raise ValueError(f"@metrics: {name!r} is not a quality metric; known: {', '.join(known)}")
        return self

    @property
    def baseline(self) -> str:
        return "baseline" if "baseline" in self.routes else next(iter(self.routes))

    def base(self) -> ExperimentConfig:
        return ExperimentConfig.model_validate(self.model_dump(exclude={"sweep", "cliff", "cost", "routes", "metrics"}))

    def points(self) -> list[RoutePoint]:
        """The reference, then every route at each of its fractions (a route that fixes s: that one;
        otherwise the base policy's fraction and the swept grid)."""
        grid = self.sweep.get(FRACTION_PATH, [])
        for value in grid:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"@sweep.{FRACTION_PATH}: fractions must be numbers in [0, 1] (got {value!r})")
        base = self.base()
        out = [RoutePoint(REFERENCE, 0.0, _at_fraction(base, 0.0))]
        raw = base.model_dump(mode="json")
        for name, overrides in self.routes.items():
            if name == REFERENCE:
                raise ValueError(f"@routes.{name}: the name is reserved for the implicit all-human reference")
            route = _route_config(name, overrides, raw)
            own = route.policy.synthetic_fraction
            fractions = [own] if FRACTION_PATH in overrides else sorted({float(own), *map(float, grid)})
            out.extend(RoutePoint(name, float(s), _at_fraction(route, s)) for s in fractions)
        return out

    def variants(self) -> list[tuple[dict[str, Any], ExperimentConfig]]:
        """({route: name}, experiment) per distinct experiment: a point that repeats an earlier one
        (the baseline at s = 0 is the reference) runs once, under the first route that names it."""
        seen, out = set(), []
        for point in self.points():
            key = stable_hash(point.config.lineage_params())
            if key not in seen:
                seen.add(key)
                out.append(({ROUTE: point.route}, point.config))
        return out


def _at_fraction(config: ExperimentConfig, s: float) -> ExperimentConfig:
    # float: a YAML `0` and the reference's 0.0 must hash to the same lineage
    return config.model_copy(update={"policy": config.policy.model_copy(update={"synthetic_fraction": float(s)})})


def _route_config(name: str, overrides: dict[str, Any], base: dict) -> ExperimentConfig:
    """The base experiment (as a JSON dict) with one route's overrides; errors name the route and field."""
    raw = copy.deepcopy(base)
    for path, value in overrides.items():
        where = f"@routes.{name}.{path}"
        *parents, leaf = path.split(".")
        if path.split(".")[0] not in ROUTE_FIELDS:
            raise ValueError(f"{where}: a route may change family.* and policy.* only (the rest is shared, so every "
                             "route stays paired with the all-human reference)")
        node: Any = raw
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise ValueError(f"{where}: no such field")
            node = node[part]
        # a family's knobs may be absent from the dump (defaults), so any key is allowed there
        if not isinstance(node, dict) or (leaf not in node and parents != ["family"]):
            allowed = f"; allowed: {', '.join(sorted(node))}" if isinstance(node, dict) else ""
            raise ValueError(f"{where}: no such field{allowed}")
        node[leaf] = value
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ValueError("@" + describe_error(err, prefix=f"routes.{name}.", model=ExperimentConfig)) from None


def load_compare(path: str | Path) -> CompareConfig:
    return parse(CompareConfig, read_yaml(path), str(path))


def compare_lineages(config: CompareConfig) -> list[Lineage]:
    """Every distinct (route point, seed) lineage, tagged with its route."""
    return [Lineage(variant, seed, ((ROUTE, labels[ROUTE]),)) for labels, variant in config.variants() for seed in variant.seeds]


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
    shift: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # its cliff − the baseline's, 95% CI
    growth: tuple[float, float, float] = (math.nan, math.nan, math.nan)  # ΔQ per generation late in the run, 95% CI
    human_samples: float = math.nan  # bought per loop (replicate) up to generation G
    synthetic_drawn: float = math.nan
    synthetic_discarded: float = math.nan  # drawn, paid for, and rejected by the filters
    cost: float = math.nan
    extra_human_samples: float = math.nan  # vs the baseline
    extra_cost: float = math.nan
    acceptance: dict[str, float] = field(default_factory=dict)  # filter -> mean acceptance rate
    problem: str | None = None  # why it could not be measured at all (its lineages failed, none reached G)
    note: str | None = None  # what limits what was measured (some lineages failed, no cliff could be located)


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
    losses: dict[str, pd.DataFrame]  # metric -> ΔQ at G per replicate (index seed, chain) x route
    trajectories: pd.DataFrame  # route, generation, loss, low, high: primary ΔQ at each route's fraction

    def route(self, name: str) -> RouteResult:
        return next(r for r in self.routes if r.name == name)

    def contrast(self, a: str, b: str, metric: str | None = None) -> tuple[float, float, float]:
        """Mean of ΔQ(a) − ΔQ(b) at G over the replicates both have, with a 95% Student-t CI:
        negative = route a loses less quality than route b."""
        return _contrast(self.losses[metric or self.metric], a, b)

    def summaries(self) -> list[str]:
        """One plain-language sentence (or a few) per route."""
        return [self._summary(r) for r in self.routes]

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

    def _summary(self, r: RouteResult) -> str:
        where = f"{r.name} ({r.description}{'' if r.fixes_fraction else f', s = {r.fraction:g}'})"
        if r.problem:
            return f"{where}: not measured — {r.problem}."
        e, base = r.effects[self.metric], self.route(self.baseline)
        loss = f"the {'relative ' if self.relative else ''}quality loss of {self.metric} at generation {self.generation}"
        if r.name == self.baseline:
            text = f"{where} is the baseline: {loss} is {ci_text(e.loss, e.low, e.high)} against the all-human run."
        elif base.problem:
            text = f"{where}: {loss} is {ci_text(e.loss, e.low, e.high)}; the baseline was not measured, so no comparison."
        else:
            b = base.effects[self.metric]
            if not np.isfinite(e.diff_low):
                verb = "changes"  # no CI (one replicate, or an infinite value): no verdict
            elif e.diff_high < 0:
                verb = "cuts"
            elif e.diff_low > 0:
                verb = "raises"
            else:
                verb = "does not measurably change"
            text = (f"{where} {verb} {loss} from {ci_text(b.loss, b.low, b.high)} to {ci_text(e.loss, e.low, e.high)} "
                    f"(paired difference {ci_text(e.diff, e.diff_low, e.diff_high, signed=True)}) {self._cost_phrase(r)}.")
        if r.synthetic_discarded > 0:
            rates = ", ".join(f"{k} {v:.0%}" for k, v in r.acceptance.items())
            text += (f" Its filters discard {r.synthetic_discarded:,.0f} synthetic samples per loop (mean acceptance "
                     f"{rates}).")
        if np.isfinite(r.growth[0]):
            text += " " + self._growth_phrase(r)
        if r.cliff is not None:
            text += " " + self._cliff_phrase(r)
        if r.note:
            text += f" Note: {r.note}."
        return text

    def _cost_phrase(self, r: RouteResult) -> str:
        extra, human = r.extra_cost, r.extra_human_samples
        if not np.isfinite(extra) or abs(extra) < 0.005:
            text = "at the same cost"
        else:
            text = f"for {money(self.currency, abs(extra))} {'more' if extra > 0 else 'less'}"
        if np.isfinite(human) and human != 0:
            text += f" ({abs(human):,.0f} {'more' if human > 0 else 'fewer'} human samples per loop)"
        return text

    def _growth_phrase(self, r: RouteResult) -> str:
        mean, low, high = r.growth
        k = max(1, self.generation // 4)
        over = f"over generations {self.generation - k}–{self.generation}"
        if not np.isfinite(low):
            return f"Its loss changes by {num_text(mean, True)} per generation {over} (no CI)."
        if low > 0:
            return f"Its loss is still growing {over}: {ci_text(mean, low, high, signed=True)} per generation."
        if high < 0:
            return f"Its loss is shrinking {over}: {ci_text(mean, low, high, signed=True)} per generation."
        return f"Its loss shows no measurable growth {over}: {ci_text(mean, low, high, signed=True)} per generation."

    def _cliff_phrase(self, r: RouteResult) -> str:
        c = r.cliff
        if not c.found:
            text = f"Its loss stays within τ = {c.tolerance:g} up to s = {c.fractions[-1]:g} (no cliff on the grid)"
        else:
            high = "beyond the grid" if np.isinf(c.cliff_high) else f"{c.cliff_high:.2f}"
            text = f"Its cliff is at s = {c.cliff:.2f} [{c.cliff_low:.2f}, {high}]"
        if r.name != self.baseline and np.isfinite(r.shift[0]):
            text += f", {ci_text(*r.shift, signed=True, digits=2)} from the baseline's"
        return text + "."


def num_text(x: float, signed: bool = False, digits: int = 3) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def ci_text(mean: float, low: float, high: float, signed: bool = False, digits: int = 3) -> str:
    """``mean [low, high]``; an undefined bound reads –."""
    return f"{num_text(mean, signed, digits)} [{num_text(low, signed, digits)}, {num_text(high, signed, digits)}]"


def money(currency: str, x: float) -> str:
    """Whole units from 100 up, cents below (a few synthetic samples cost less than one unit)."""
    return "–" if math.isnan(x) else f"{currency}{x:,.{0 if abs(x) >= 100 else 2}f}"


# ---- running and analysing ------------------------------------------------------------------------


def compare(config: CompareConfig, out: str | Path, workers: int = 1, overwrite: bool = False,
            progress: Callable[[int], None] | None = None) -> RouteComparison:
    """Run (or resume) every route and the all-human reference into ``out``, then analyse them.
    Routes whose lineages fail are reported with the reason; only a run where every lineage fails
    raises (LineageError)."""
    store = prepare_run(out, config.model_dump(mode="json"), "compare", overwrite)
    outcome = execute(store, compare_lineages(config), workers, progress)
    return analyze_routes(out, failures=outcome.failed)


def analyze_routes(run_dir: str | Path, failures: dict[str, str] | None = None,
                   resamples: int = RESAMPLES) -> RouteComparison:
    """The route comparison of a compare run directory (finished or not). ``failures`` (lineage id
    -> reason, as ``compare`` gets them from the runner) explains routes that have no results."""
    store = RunStore.open(run_dir)
    snapshot = store.config()
    if "routes" not in snapshot:
        raise AnalysisError(f"{run_dir}: not a route comparison (its config has no `routes`)")
    config = parse(CompareConfig, snapshot, str(Path(run_dir) / "config.yaml"))
    return _analyze(config, load_results(run_dir), failures or {}, resamples)


def _analyze(config: CompareConfig, df: pd.DataFrame, failures: dict[str, str], resamples: int) -> RouteComparison:
    spec = config.cliff
    metric = spec.metric or default_metric(df)
    metrics = [metric, *(m for m in config.metrics if m != metric)]
    for m in metrics:
        if m not in set(df["metric"]):
            raise AnalysisError(f"metric {m!r} is not in this run; present: {', '.join(sorted(df['metric'].unique()))}")
    generation = config.generations if spec.generation is None else spec.generation
    if generation > config.generations:
        raise AnalysisError(f"generation {generation} is not in this run (0..{config.generations})")

    points = config.points()
    reference = points[0]
    ref_values = _values(df, metric, reference.lineage_ids())
    ref_at_g = ref_values.loc[ref_values["generation"] == generation, "value"].to_numpy()
    if not len(ref_at_g):
        reason = _failure(reference.lineage_ids(), failures)
        raise AnalysisError(f"the all-human reference has no results at generation {generation}"
                            + (f": {reason}" if reason else ""))

    by_route: dict[str, list[RoutePoint]] = {}
    for p in points[1:]:
        by_route.setdefault(p.route, []).append(p)
    operating = {name: _operating(config, name) for name in by_route}
    curves = {m: {name: _route_losses(df, m, pts, reference, spec.relative) for name, pts in by_route.items()} for m in metrics}
    at_g = {m: pd.DataFrame({name: _at(curves[m][name], operating[name], generation) for name in by_route}) for m in metrics}
    baseline = config.baseline

    results, trajectories = [], []
    for name, pts in by_route.items():
        route = RouteResult(name, _describe_route(config.routes[name]), operating[name], FRACTION_PATH in config.routes[name])
        failed = _failure({i for p in pts for i in p.lineage_ids()}, failures)
        for m in metrics:
            mine = at_g[m][name].dropna()
            if len(mine):
                diff = _contrast(at_g[m], name, baseline) if name != baseline else (math.nan,) * 3
                route.effects[m] = Effect(*mean_ci(mine.to_numpy()), *diff, len(mine))
        if metric not in route.effects:
            route.problem = failed or f"no replicate reached generation {generation} (its lineages failed or have not run)"
            results.append(route)
            continue
        route.note = failed
        trajectories.append(_trajectory(curves[metric][name], name, operating[name]))
        route.growth = _growth(curves[metric][name], operating[name], generation)
        if len(pts) > 1:
            try:
                kind = loss_kind(metric, spec.relative)
                route.cliff = analyze_curve(curves[metric][name], metric, spec.tolerance, kind != "difference", generation,
                                             {ROUTE: name}, resamples, loss_kind=kind)
            except AnalysisError as err:
                route.note = f"no cliff: {err}"
        operating_ids = next(p for p in pts if p.fraction == operating[name]).lineage_ids()
        _costs(route, df, operating_ids, pts[0].config, generation, config.cost)
        results.append(route)

    base = next(r for r in results if r.name == baseline)
    for r in results:
        if r.name == baseline or base.problem or r.problem:
            continue
        r.extra_human_samples = r.human_samples - base.human_samples
        r.extra_cost = r.cost - base.cost
        if r.cliff is not None and base.cliff is not None:
            r.shift = _cliff_shift(curves[metric][r.name], curves[metric][baseline], generation, spec.tolerance, resamples)
    empty = pd.DataFrame(columns=[ROUTE, "generation", "loss", "low", "high"])
    return RouteComparison(
        config.name, metric, direction(metric), loss_kind(metric, spec.relative) != "difference", generation,
        spec.tolerance, baseline, config.cost.currency, mean_ci(ref_at_g), results, at_g,
        pd.concat(trajectories, ignore_index=True) if trajectories else empty,
    )


def _contrast(table: pd.DataFrame, a: str, b: str) -> tuple[float, float, float]:
    """Mean of column a − column b over the rows (replicates) that have both, 95% Student-t CI."""
    if a not in table or b not in table:
        return (math.nan,) * 3
    paired = table[[a, b]].dropna()
    return mean_ci((paired[a] - paired[b]).to_numpy())


def _operating(config: CompareConfig, route: str) -> float:
    """The fraction a route's headline effect is measured at: its own, else the base policy's."""
    override = config.routes[route].get(FRACTION_PATH)
    return float(config.policy.synthetic_fraction if override is None else override)


def _failure(ids: set[str], failures: dict[str, str]) -> str | None:
    reasons = [failures[i] for i in sorted(ids) if i in failures]
    if not reasons:
        return None
    return f"{len(reasons)} of {len(ids)} lineages failed; first: {reasons[0]}"


def _values(df: pd.DataFrame, metric: str, ids: set[str]) -> pd.DataFrame:
    rows = df[(df["metric"] == metric) & df["lineage"].isin(ids)]
    return rows[["generation", *REPLICATE, "value"]]


def _route_losses(df: pd.DataFrame, metric: str, points: list[RoutePoint], reference: RoutePoint,
                  relative: bool) -> pd.DataFrame:
    """ΔQ per (s, generation, replicate) of one route against the all-human reference, as
    analysis.loss_table defines it (positive = worse)."""
    ref = _values(df, metric, reference.lineage_ids()).rename(columns={"value": "baseline"})
    parts = []
    for p in points:
        part = _values(df, metric, p.lineage_ids()).merge(ref, on=["generation", *REPLICATE], how="inner")
        part[FRACTION] = p.fraction
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["loss"] = quality_loss(out, [FRACTION, "generation"], loss_kind(metric, relative), direction(metric))
    return out


def _at(losses: pd.DataFrame, s: float, generation: int) -> pd.Series:
    """ΔQ per replicate (indexed by seed, chain) at one fraction and generation."""
    rows = losses[(losses[FRACTION] == s) & (losses["generation"] == generation)]
    return rows.set_index(REPLICATE)["loss"]


def _trajectory(losses: pd.DataFrame, route: str, s: float) -> pd.DataFrame:
    rows = [(route, int(g), *mean_ci(part["loss"].to_numpy())) for g, part in losses[losses[FRACTION] == s].groupby("generation")]
    return pd.DataFrame(rows, columns=[ROUTE, "generation", "loss", "low", "high"])


def _growth(losses: pd.DataFrame, s: float, generation: int) -> tuple[float, float, float]:
    """Mean change of ΔQ per generation over the last quarter of the run (g = G − k .. G, k = G // 4,
    at least 1), paired by replicate: a bounded loss levels off (CI around 0), a diverging one keeps
    growing. Nan before generation 1."""
    k = max(1, generation // 4)
    if generation < 1:
        return (math.nan,) * 3
    late, early = _at(losses, s, generation), _at(losses, s, generation - k)
    paired = pd.concat([late, early], axis=1, join="inner").dropna()
    return mean_ci((paired.iloc[:, 0] - paired.iloc[:, 1]).to_numpy() / k)


def _cliff_shift(route: pd.DataFrame, baseline: pd.DataFrame, generation: int, tolerance: float,
                 resamples: int) -> tuple[float, float, float]:
    """The route's cliff minus the baseline's, on the replicates both have at every fraction, with a
    paired percentile-bootstrap CI (the same resampled replicates for both curves). A curve with no
    crossing counts as a cliff beyond the grid (inf); resamples where neither crosses say nothing
    about the shift and are left out."""
    def matrix(losses: pd.DataFrame) -> pd.DataFrame:
        at_g = losses[losses["generation"] == generation]
        return at_g.pivot_table(index=REPLICATE, columns=FRACTION, values="loss", aggfunc="first").dropna()

    a, b = matrix(route), matrix(baseline)
    common = a.index.intersection(b.index)
    if list(a.columns) != list(b.columns) or len(common) < 2:
        return (math.nan,) * 3
    fractions = a.columns.to_numpy(dtype=float)
    a, b = a.loc[common].to_numpy(), b.loc[common].to_numpy()

    def shift(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        cx, cy = (np.where(np.isnan(c), np.inf, c) for c in (crossing(fractions, z, tolerance) for z in (x, y)))
        with np.errstate(invalid="ignore"):
            return np.atleast_1d(cx - cy)  # inf − inf = nan: neither crosses

    point = float(shift(a.mean(axis=0), b.mean(axis=0))[0])
    idx = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(common), size=(resamples, len(common)))
    boot = shift(a[idx].mean(axis=1), b[idx].mean(axis=1))
    boot = boot[~np.isnan(boot)]
    if not len(boot):
        return point, math.nan, math.nan
    low, high = np.quantile(boot, [0.025, 0.975], method="inverted_cdf")
    return point, float(low), float(high)


def _costs(route: RouteResult, df: pd.DataFrame, ids: set[str], config: ExperimentConfig, generation: int,
           prices: CostSpec) -> None:
    """What one loop (replicate) of the route buys up to generation G at its operating fraction: as
    cost.mix_cost prices the planned mix, plus the synthetic draws that filters rejected and had
    replaced (resample mode)."""
    p = config.policy
    rows = df[df["lineage"].isin(ids) & df["generation"].between(1, generation)]
    loop = rows.pivot_table(index=[*REPLICATE, "generation"], columns="metric", values="value", aggfunc="first")
    planned = generation * round(route.fraction * p.samples)
    if "synthetic_drawn" in loop:  # only lineages with filters record their draws
        totals = loop[["synthetic_drawn", "synthetic_kept"]].groupby(level=REPLICATE).sum()
        route.synthetic_drawn = float(totals["synthetic_drawn"].mean())
        route.synthetic_discarded = float((totals["synthetic_drawn"] - totals["synthetic_kept"]).mean())
    else:
        route.synthetic_drawn, route.synthetic_discarded = float(planned), 0.0
    route.acceptance = {c.removeprefix("acceptance:"): float(loop[c].mean()) for c in loop if c.startswith("acceptance:")}
    new_human = p.samples - round(route.fraction * p.samples) if p.human == "fresh" else 0
    route.human_samples = float(p.samples + generation * new_human)
    resampled = route.synthetic_drawn - planned
    route.cost = mix_cost(route.fraction, p.samples, generation, p.human, prices) + resampled * prices.synthetic_price


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
