"""Planning: the lineages a workflow runs, and the metrics its run directory declares."""

from __future__ import annotations

from typing import Any

from cliffwatch.config.grid import ROUTE, at_fraction, grid_variants, route_variants
from cliffwatch.config.schema import FRACTION_PATH, CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.config.validate import metrics_for
from cliffwatch.core.labels import describe  # noqa: F401 (the runner and the selection use it from here)
from cliffwatch.core.metrics import Metric
from cliffwatch.loop.engine import loop_metrics
from cliffwatch.loop.lineage import Lineage


def experiment_lineages(config: ExperimentConfig) -> list[Lineage]:
    """One lineage per seed."""
    return [Lineage(config, seed) for seed in config.seeds]


def sweep_lineages(config: SweepConfig) -> list[Lineage]:
    """Every (grid point, seed) lineage of a sweep (a compare config: WrongWorkflowError)."""
    out = []
    for labels, variant in grid_variants(config):
        tags = tuple((k, v) for k, v in labels.items() if f"policy.{k}" not in config.sweep)
        out.extend(Lineage(variant, seed, tags) for seed in variant.seeds)
    return out


def compare_lineages(config: CompareConfig) -> list[Lineage]:
    """Every distinct (route point, seed) lineage, tagged with its route."""
    return [Lineage(variant, seed, ((ROUTE, labels[ROUTE]),)) for labels, variant in route_variants(config) for seed in variant.seeds]


def planned_lineages(config: ExperimentConfig) -> list[Lineage]:
    """The lineages of any workflow's config."""
    if isinstance(config, CompareConfig):
        return compare_lineages(config)
    if isinstance(config, SweepConfig):
        return sweep_lineages(config)
    return experiment_lineages(config)


def combinations(config: SweepConfig) -> list[tuple[tuple[str, Any], ...]]:
    """Each combination of the swept fields other than the synthetic fraction (one cliff curve each)."""
    others = {k: v for k, v in config.sweep.items() if k != FRACTION_PATH}
    return [tuple(sorted(labels.items())) for labels, _ in grid_variants(config, others)]


def fraction_lineages(config: SweepConfig, fractions: dict[tuple, list[float]],
                      seeds: dict[tuple, list[int]] | None = None) -> list[Lineage]:
    """Lineages at the given fractions of each combination (adaptive search), for the config's
    seeds or, with ``seeds``, for those given per combination (seeds an adaptive sweep adds)."""
    others = {k: v for k, v in config.sweep.items() if k != FRACTION_PATH}
    out = []
    for labels, variant in grid_variants(config, others):
        tags = tuple((k, v) for k, v in labels.items() if f"policy.{k}" not in others)
        combination = tuple(sorted(labels.items()))
        for fraction in fractions.get(combination, []):
            at = at_fraction(variant, fraction)
            chosen = at.seeds if seeds is None else seeds.get(combination, [])
            out.extend(Lineage(at, seed, tags) for seed in chosen)
    return out


def run_metrics(lineages: list[Lineage]) -> list[Metric]:
    """Every metric the lineages can report (probes and loop statistics), once each."""
    seen: dict[str, Metric] = {}
    done = set()
    for lineage in lineages:
        if lineage.key in done:
            continue
        done.add(lineage.key)
        for metric in [*metrics_for(lineage.config).values(), *loop_metrics(lineage.config)]:
            seen.setdefault(metric.name, metric)
    return list(seen.values())


def expected_work(lineage: Lineage) -> float:
    """A rough cost of a lineage (items fitted and drawn over its generations): executors start the
    costliest first, so that the last lineages to run are short and no worker idles long at the end."""
    cfg = lineage.config
    return (cfg.generations + 1) * cfg.chains * cfg.policy.samples * (1.0 + cfg.policy.synthetic_fraction)
