"""The experiments a sweep or a comparison expands into: dotted field paths, grid points, routes.

Above the schema and below validate: the points are built here once per config (and kept, so
the checks, the plan and the analysis of one config share one expansion); validate.py checks them."""

from __future__ import annotations

import copy
import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from pydantic import ValidationError

from cliffwatch.config.messages import describe_error
from cliffwatch.config.schema import FRACTION_PATH, CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import ConfigError, WrongWorkflowError
from cliffwatch.core.seeding import stable_hash

UNSWEPT = ("name", "seeds", "probes", "sweep", "cliff", "cost", "routes", "metrics")
REFERENCE = "all-human"  # the route tag of a comparison's implicit all-human run
ROUTE = "route"  # the results column that names a lineage's route
ROUTE_FIELDS = ("family", "policy")  # what a route may change; the rest is shared, so routes stay paired


def assign(raw: dict, path: str, value: Any, where: str) -> None:
    """Set a dotted field path in a config dump. It must exist already (a family's knobs may be new,
    since the dump leaves defaults out), so a typo is an error naming ``where`` and what is allowed."""
    node: Any = raw
    *parents, leaf = path.split(".")
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"{where}: no such field")
        node = node[part]
    if not isinstance(node, dict) or (leaf not in node and parents != ["family"]):
        allowed = f"; allowed: {', '.join(sorted(node))}" if isinstance(node, dict) else ""
        raise ConfigError(f"{where}: no such field{allowed}")
    node[leaf] = value


def label_name(path: str) -> str:
    """The results column of a swept field: policy fields by their own name, others by their path."""
    return path.removeprefix("policy.")


def _experiment(raw: dict, error_prefix: str) -> ExperimentConfig:
    try:
        return ExperimentConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe_error(err, prefix=error_prefix, model=ExperimentConfig)) from None


Variants = list[tuple[dict[str, Any], ExperimentConfig]]
T = TypeVar("T")
_EXPANDED: OrderedDict[str, list[Any]] = OrderedDict()  # a config's JSON -> its points (experiments are frozen)
_KEEP = 8


def _expanded(key: str, expand: Callable[[], list[T]]) -> list[T]:
    if key not in _EXPANDED:
        _EXPANDED[key] = expand()
        while len(_EXPANDED) > _KEEP:
            _EXPANDED.popitem(last=False)
    return list(_EXPANDED[key])


def compare_in_sweep(config: SweepConfig) -> None:
    """A comparison is not a sweep: its routes would be dropped (or, before, silently run)."""
    if isinstance(config, CompareConfig):
        raise WrongWorkflowError(f"{config.name}: a compare config (it has routes:) cannot run as a sweep; run it with "
                                 "`cliffwatch compare` (cliffwatch.api.compare)")


def grid_variants(config: SweepConfig, sweep: dict[str, list[Any]] | None = None) -> Variants:
    """(labels, experiment) for every point of a sweep's grid (``sweep``: another grid over the same
    setup); labels name the swept values. A compare config is a WrongWorkflowError."""
    compare_in_sweep(config)
    grid = config.sweep if sweep is None else sweep
    key = json.dumps([config.model_dump(mode="json"), grid], sort_keys=True, default=str)
    return _expanded(key, lambda: _grid_points(config, grid))


def _grid_points(config: SweepConfig, grid: dict[str, list[Any]]) -> Variants:
    base = config.model_dump(mode="json", exclude=set(UNSWEPT) - {"name", "seeds", "probes"})
    paths = list(grid)
    out, lineages = [], {}
    for values in itertools.product(*(grid[p] for p in paths)):
        raw = copy.deepcopy(base)
        for path, value in zip(paths, values):
            assign(raw, path, value, f"sweep.{path}")
        try:
            variant = ExperimentConfig.model_validate(raw)
        except ValidationError as err:
            raise ConfigError(f"sweep: grid point {point_name(paths, values)}: {describe_error(err, prefix='')}") from None
        # compared as validated: two points that are one lineage would share its directory
        key = stable_hash(variant.lineage_params())
        if key in lineages:
            raise ConfigError(f"sweep: grid points {lineages[key]} and {point_name(paths, values)} are the same lineage "
                              "(the values are equal once validated, or the field does not change the experiment); drop one")
        lineages[key] = point_name(paths, values)
        out.append(({label_name(p): v for p, v in zip(paths, values)}, variant))
    return out


def point_name(paths: list[str], values: tuple[Any, ...]) -> str:
    return ", ".join(f"{p}={v!r}" for p, v in zip(paths, values))


@dataclass(frozen=True)
class RoutePoint:
    """One (route, synthetic fraction) of a comparison and the experiment it runs."""

    route: str
    fraction: float
    config: ExperimentConfig


def at_fraction(config: ExperimentConfig, s: float) -> ExperimentConfig:
    # float: a YAML `0` and the reference's 0.0 must hash to the same lineage
    return config.model_copy(update={"policy": config.policy.model_copy(update={"synthetic_fraction": float(s)})})


def route_points(config: CompareConfig) -> list[RoutePoint]:
    """The all-human reference, then every route at each of its fractions (a route that fixes s:
    that one; otherwise the base policy's fraction and the swept grid)."""
    key = json.dumps(["routes", config.model_dump(mode="json")], sort_keys=True, default=str)
    return _expanded(key, lambda: _route_points(config))


def _route_points(config: CompareConfig) -> list[RoutePoint]:
    for path in config.sweep:
        if path != FRACTION_PATH:
            raise ConfigError(f"sweep.{path}: a compare config sweeps only {FRACTION_PATH}; make other variations routes")
    grid = config.sweep.get(FRACTION_PATH, [])
    for value in grid:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise ConfigError(f"sweep.{FRACTION_PATH}: fractions must be numbers in [0, 1] (got {value!r})")
    base = config.base()
    out = [RoutePoint(REFERENCE, 0.0, at_fraction(base, 0.0))]
    raw = base.model_dump(mode="json")
    for name, overrides in config.routes.items():
        if name == REFERENCE:
            raise ConfigError(f"routes.{name}: the name is reserved for the implicit all-human reference")
        route = _route_config(name, overrides, raw)
        own = route.policy.synthetic_fraction
        fractions = [own] if FRACTION_PATH in overrides else sorted({float(own), *map(float, grid)})
        out.extend(RoutePoint(name, float(s), at_fraction(route, s)) for s in fractions)
    return out


def route_variants(config: CompareConfig) -> Variants:
    """({route: name}, experiment) per distinct experiment: a point that repeats an earlier one
    (the baseline at s = 0 is the reference) runs once, under the first route that names it."""
    seen, out = set(), []
    for point in route_points(config):
        key = stable_hash(point.config.lineage_params())
        if key not in seen:
            seen.add(key)
            out.append(({ROUTE: point.route}, point.config))
    return out


def _route_config(name: str, overrides: dict[str, Any], base: dict) -> ExperimentConfig:
    """The base experiment (as a JSON dict) with one route's overrides; errors name the route and field."""
    raw = copy.deepcopy(base)
    for path, value in overrides.items():
        where = f"routes.{name}.{path}"
        if path.split(".")[0] not in ROUTE_FIELDS:
            raise ConfigError(f"{where}: a route may change family.* and policy.* only (the rest is shared, so every "
                              "route stays paired with the all-human reference)")
        assign(raw, path, value, where)
    return _experiment(raw, f"routes.{name}.")
