"""The one analysis of a finished run, from which every output is rendered.

``api.analysis`` reads a run directory once (its config, results and lineage records) and hands
them to :func:`analyze_run`; the terminal tables, ``summary.json``, ``cliffwatch cliff --json`` and
the HTML report only render the RunAnalysis it returns, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from cliffwatch.analysis.change import summarize
from cliffwatch.analysis.cliff import Cliff, analyze, default_metric
from cliffwatch.analysis.cost import CostPlan, plan
from cliffwatch.analysis.quality_loss import FRACTION, run_metrics
from cliffwatch.analysis.routes import RouteComparison, analyze_routes
from cliffwatch.analysis.stats import RISK_LEVEL
from cliffwatch.config.schema import CliffSpec, CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import AnalysisError


@dataclass(frozen=True)
class LineageRecord:
    """What a lineage recorded beside its results (lineages/<id>/lineage.json)."""

    id: str
    seed: int
    labels: dict[str, Any]
    fingerprint: str | None
    provenance: dict[str, Any]
    samples: list[dict] | None = None  # read for the smallest seed of each grid point only
    # the task probes' sample items at the last generation (task -> rows of prompt, answer,
    # reference, failed check), read with the samples
    task_items: dict[str, list[list[str]]] | None = None


@dataclass(frozen=True)
class CliffOptions:
    """How the cliff is located: the config's ``cliff:`` settings, or the caller's overrides."""

    metric: str | None = None
    tolerance: float = 0.1
    relative: bool = True
    generation: int | None = None
    risk: float = RISK_LEVEL  # the safe mix's largest acceptable per-run risk

    @classmethod
    def of(cls, config: ExperimentConfig, metric: str | None = None, tolerance: float | None = None,
           generation: int | None = None, absolute: bool = False, risk: float | None = None) -> "CliffOptions":
        """A sweep's (or comparison's) ``cliff:`` block with the caller's overrides; a plain run:
        CliffSpec's defaults."""
        spec = config.cliff if isinstance(config, SweepConfig) else CliffSpec()
        return cls(metric or spec.metric, spec.tolerance if tolerance is None else tolerance,
                   spec.relative and not absolute, spec.generation if generation is None else generation,
                   spec.risk if risk is None else risk)


@dataclass
class RunAnalysis:
    """A finished run and everything found in it: the inputs every output shows, and the results."""

    run_dir: Path
    kind: str  # run | sweep | compare
    adaptive: bool  # an adaptive sweep: its grid is what the bisection ran
    meta: dict[str, Any]  # run.json: version, kind, created, metric declarations
    snapshot: dict[str, Any]  # config.yaml as written
    config: ExperimentConfig
    results: pd.DataFrame
    lineages: list[LineageRecord]
    options: CliffOptions
    primary: str | None  # the cliff's metric (None: the run reports no default quality metric)
    cliffs: list[Cliff] = field(default_factory=list)
    cost: CostPlan | None = None
    problem: str | None = None  # why no cliff can be located (None when located, or for a comparison)
    comparison: RouteComparison | None = None

    @property
    def swept(self) -> bool:
        """The run sweeps the synthetic fraction from the all-human s = 0 (so cliffs exist)."""
        fractions = self.results[FRACTION] if FRACTION in self.results.columns else pd.Series(dtype=float)
        return self.comparison is None and fractions.nunique() > 1 and bool((fractions == 0).any())

    @cached_property
    def changes(self) -> pd.DataFrame:
        """Per metric: generation 0 vs the last, paired by replicate (analysis.change.summarize),
        computed on first use (the terminal and summary.json show it; the page does not)."""
        return summarize(self.results)

    @cached_property
    def task_panels(self) -> dict:
        """The tasks track's panels (analysis.tasks), computed on first use; empty without task probes."""
        from cliffwatch.analysis.tasks import task_panels

        return task_panels(self.results)

    @cached_property
    def metric_cliffs(self) -> dict[str, list[Cliff] | str]:
        """Every quality metric's cliffs (or why it has none), computed on first use: summary.json
        shows them all, the page and the terminal only the primary's (``cliffs``, shared here)."""
        index = run_metrics(self.results)
        out: dict[str, list[Cliff] | str] = {}
        for metric in sorted(m for m in self.results["metric"].unique()
                             if m in index and index[m].higher_is_better is not None):
            if metric == self.primary and self.cliffs:
                out[metric] = self.cliffs
                continue
            try:
                out[metric] = _cliffs(self.results, metric, self.options)
            except AnalysisError as err:
                out[metric] = str(err)
        return out


def analyze_run(run_dir: Path, kind: str, adaptive: bool, meta: dict[str, Any], snapshot: dict[str, Any],
                config: ExperimentConfig, results: pd.DataFrame, lineages: list[LineageRecord],
                options: CliffOptions) -> RunAnalysis:
    """The analysis of a finished run's results. An override naming a metric or generation the
    run lacks is an AnalysisError; a run whose structure allows no cliff (one fraction, no s = 0)
    gets ``problem`` saying why."""
    present = set(results["metric"].unique())
    if options.metric is not None and options.metric not in present:
        raise AnalysisError(f"metric {options.metric!r} is not in this run; present: {', '.join(sorted(present))}")
    if options.generation is not None and options.generation not in set(results["generation"]):
        raise AnalysisError(f"generation {options.generation} is not in this run "
                            f"(0..{int(results['generation'].max())})")
    analysis = RunAnalysis(run_dir, kind, adaptive, meta, snapshot, config, results, lineages, options, None)
    if isinstance(config, CompareConfig):  # each route against the one all-human run
        analysis.comparison = analyze_routes(config, results)
        analysis.primary = analysis.comparison.metric
        return analysis
    try:
        analysis.primary = options.metric or default_metric(results)
    except AnalysisError as err:
        analysis.problem = str(err)
        return analysis
    fractions = sorted(results[FRACTION].unique())
    if len(fractions) == 1:  # analyze would say so too, but only after complaining about a missing s = 0
        analysis.problem = (f"it has only one synthetic fraction (s = {fractions[0]:g}); a cliff needs a sweep over "
                            "several, including the all-human s = 0")
        return analysis
    try:
        analysis.cliffs = _cliffs(results, analysis.primary, options)
    except AnalysisError as err:
        analysis.problem = str(err)
        return analysis
    if isinstance(config, SweepConfig):
        analysis.cost = plan(analysis.cliffs, config.policy.samples, config.cost, config.policy.human)
    return analysis


def _cliffs(results: pd.DataFrame, metric: str, options: CliffOptions) -> list[Cliff]:
    return analyze(results, metric, options.tolerance, options.relative, options.generation, risk=options.risk)
