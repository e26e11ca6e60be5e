"""Every cross-field and cross-component check of a config, run when it loads (config.load.parse).

Each check raises ConfigError("field.path: problem"). Nothing here reads data: checks that need
the data itself (a corpus too small for its holdout, a verifier on a corpus without facts) run in
the execution layer's preflight, still before anything is written.
"""

from __future__ import annotations

import json
from typing import Any

from cliffwatch.config.grid import (REFERENCE, UNSWEPT, grid_variants, point_name, route_points,
                                    route_variants)
from cliffwatch.config.limits import MAX_LINEAGES, MAX_MAGNITUDE, TEMPERATURE, WHY
from cliffwatch.config.schema import FRACTION_PATH, CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import ConfigError, RegistryError
from cliffwatch.core.metrics import Metric
from cliffwatch.core.registry import FAMILIES, FILTERS, PROBES, SOURCES


def check(config: ExperimentConfig) -> None:
    """Every check of a config of any workflow: the setup, then (a sweep or a comparison) every
    grid point or route it expands into."""
    check_experiment(config)
    if isinstance(config, CompareConfig):
        check_compare(config)
    elif isinstance(config, SweepConfig):
        check_sweep(config)


def check_computable(config: ExperimentConfig) -> None:
    """Numbers that pass their field's type but overflow the computation (a generator weight of
    1e308 makes the shares inf/inf, a temperature of 1e300 an infinite covariance), refused at load
    instead of after every lineage has run."""
    low, high = TEMPERATURE
    if not low <= config.policy.temperature <= high:
        raise ConfigError(f"policy.temperature: {config.policy.temperature:g} is outside [{low:g}, {high:g}]: {WHY['temperature']}")
    knobs = [("data", config.data.model_dump(mode="json")), ("family", config.family.params)]
    for i, generator in enumerate(config.policy.generators or []):
        knobs += [(f"policy.generators.{i}.weight", generator.weight), (f"policy.generators.{i}.family", generator.family.params)]
    for where, value in knobs:
        for path, number in _reals(value, where):
            if abs(number) > MAX_MAGNITUDE:
                raise ConfigError(f"{path}: {number:g} is beyond ±{MAX_MAGNITUDE:g}: {WHY['magnitude']}")


def _reals(value: Any, where: str):
    """(path, number) for every real number inside a config value (booleans and ints are not
    reals; their own limits bound them)."""
    if isinstance(value, float):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _reals(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _reals(item, f"{where}.{i}")


def check_experiment(config: ExperimentConfig) -> None:
    check_computable(config)
    source = SOURCES.get(config.data.source)
    modality = source.modality
    reason = source.check(config.data)
    if reason:
        raise ConfigError(f"data: {reason}")
    family = FAMILIES.get(config.family.name)
    if family.modality is not modality:
        raise ConfigError(f"family: {config.family.name!r} models {family.modality} data; source "
                          f"{config.data.source!r} gives {modality} data")
    if config.policy.top_p < 1 and not family.supports_top_p:
        raise ConfigError(f"policy.top_p: family {config.family.name!r} does not support top_p < 1")
    generators = config.policy.generators or []
    for i, generator in enumerate(generators):
        gen_modality = FAMILIES.get(generator.family.name).modality
        if gen_modality is not modality:
            raise ConfigError(f"policy.generators.{i}.family: {generator.family.name!r} models {gen_modality} data, not {modality}")
    generator_families = [g.family for g in generators] or [config.family]
    for i, spec in enumerate(config.policy.filters):
        filter_cls = FILTERS.get(spec.name)
        if modality not in filter_cls.modalities:
            raise ConfigError(f"policy.filters.{i}: filter {spec.name!r} does not apply to {modality} data")
        reason = filter_cls.validate(filter_cls.Params(**spec.params), modality, generator_families)
        if reason:
            raise ConfigError(f"policy.filters.{i}: {reason}")
    if modality.max_chains is not None and config.chains > modality.max_chains:
        raise ConfigError(f"chains: {modality} lineages run {modality.max_chains} chain each: set chains: "
                          f"{modality.max_chains} and use more seeds")
    for name in config.probes or []:
        try:
            probe = PROBES.get(name)
        except RegistryError as err:
            raise ConfigError(f"probes: {err}") from None
        if probe.modality is not modality:
            raise ConfigError(f"probes: probe {name!r} measures {probe.modality} data, not {modality}")


def metrics_for(config: ExperimentConfig) -> dict[str, Metric]:
    """Every metric the config's probes can report: name -> Metric (probe modules are imported)."""
    modality = SOURCES.get(config.data.source).modality
    names = config.probes if config.probes is not None else PROBES.available()
    out = {}
    for name in names:
        probe = PROBES.get(name)
        if probe.modality is modality and (config.probes is not None or not probe.opt_in):
            out.update({m.name: m for m in probe.metrics})
    return out


def _check_grid_shape(config: SweepConfig) -> None:
    """The grid's paths and values, and its size, before it is built: a million points would hang."""
    points = 1
    for path, values in config.sweep.items():
        if path in UNSWEPT:
            raise ConfigError(f"sweep.{path}: cannot be swept")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"sweep.{path}: give a non-empty list of values")
        seen = set()
        for value in values:
            if _grid_key(value) in seen:  # two equal grid points would write one lineage directory
                raise ConfigError(f"sweep.{path}: {value!r} appears more than once")
            seen.add(_grid_key(value))
        points *= len(values)
    routes = len(config.routes) + 1 if isinstance(config, CompareConfig) else 1  # a comparison also runs its reference
    lineages = points * routes * len(config.seeds)
    if lineages > MAX_LINEAGES:
        raise ConfigError(f"sweep: {lineages:,} lineages (grid points x seeds); at most {MAX_LINEAGES:,}: "
                          f"{WHY['lineages']}")


def check_sweep(config: SweepConfig) -> None:
    """The grid, and every grid point as an experiment (a typo'd path or a value that breaks a
    cross-check fails here, naming the point)."""
    _check_grid_shape(config)
    variants = grid_variants(config)
    paths = list(config.sweep)
    for labels, variant in variants:
        try:
            check_experiment(variant)
        except ConfigError as err:
            values = tuple(labels[p.removeprefix("policy.")] for p in paths)
            raise ConfigError(f"sweep: grid point {point_name(paths, values)}: {err}") from None
    fractions = config.sweep.get(FRACTION_PATH)
    if fractions is None and config.policy.synthetic_fraction != 0:
        raise ConfigError(f"sweep: sweep {FRACTION_PATH} (including 0): the cliff is the quality loss against the "
                          "all-human run (s = 0)")
    if fractions is not None and not any(v == 0 and not isinstance(v, bool) for v in fractions):
        raise ConfigError(f"sweep.{FRACTION_PATH}: include 0, the all-human run every quality loss is measured against")
    if fractions is not None and len({float(v) for v in fractions}) < 2:
        raise ConfigError(f"sweep.{FRACTION_PATH}: add a fraction above 0; the cliff is where the quality loss "
                          "crosses τ between fractions, so one fraction has none")
    _check_cliff(config, [v for _, v in variants])


def check_compare(config: CompareConfig) -> None:
    """The fraction grid, and every route as an experiment (errors name the route and field); a
    comparison always runs its own all-human reference, so its grid need not include 0."""
    _check_grid_shape(config)
    checked = {REFERENCE}
    for point in route_points(config):
        if point.route in checked:
            continue
        checked.add(point.route)
        try:
            check_experiment(point.config)
        except ConfigError as err:
            raise ConfigError(f"routes.{point.route}.{err}") from None
    _check_cliff(config, [v for _, v in route_variants(config)])


def _check_cliff(config: SweepConfig, experiments: list[ExperimentConfig]) -> None:
    spec = config.cliff
    if spec.generation is not None and spec.generation > config.generations:
        raise ConfigError(f"cliff.generation: {spec.generation} is past the last generation ({config.generations})")
    metrics = metrics_for(experiments[0]) if experiments else {}
    if spec.metric is not None:
        metric = metrics.get(spec.metric)
        if metric is None:
            known = sorted(m for m, info in metrics.items() if info.higher_is_better is not None)
            raise ConfigError(f"cliff.metric: {spec.metric!r} is not measured by this config's probes; known: {', '.join(known)}")
        if metric.higher_is_better is None:
            raise ConfigError(f"cliff.metric: {spec.metric!r} has no better direction; choose a quality metric")
    for name in config.metrics if isinstance(config, CompareConfig) else []:
        if name not in metrics or metrics[name].higher_is_better is None:
            known = sorted(m for m, info in metrics.items() if info.higher_is_better is not None)
            raise ConfigError(f"metrics: {name!r} is not a quality metric; known: {', '.join(known)}")


def _grid_key(value: Any) -> Any:
    """Equal grid values share a key (0 and 0.0 do; True and 1 do not)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", value)
    return ("json", json.dumps(value, sort_keys=True, default=str))

