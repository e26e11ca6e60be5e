"""The experiments a sweep or a comparison expands into: dotted field paths, grid points, routes."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cliffwatch.config.messages import describe_error
from cliffwatch.config.schema import FRACTION_PATH, ExperimentConfig
from cliffwatch.core.errors import ConfigError
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


def grid_variants(config: Any) -> list[tuple[dict[str, Any], ExperimentConfig]]:
    """(labels, experiment) for every point of a sweep's grid; labels name the swept values."""
    base = config.model_dump(mode="json", exclude=set(UNSWEPT) - {"name", "seeds", "probes"})
    paths = list(config.sweep)
    out = []
    for values in itertools.product(*(config.sweep[p] for p in paths)):
        raw = copy.deepcopy(base)
        for path, value in zip(paths, values):
            assign(raw, path, value, f"sweep.{path}")
        try:
            variant = ExperimentConfig.model_validate(raw)
        except ValidationError as err:
            where = ", ".join(f"{p}={v!r}" for p, v in zip(paths, values))
            raise ConfigError(f"sweep: grid point {where}: {describe_error(err, prefix='')}") from None
        out.append(({label_name(p): v for p, v in zip(paths, values)}, variant))
    return out


@dataclass(frozen=True)
class RoutePoint:
    """One (route, synthetic fraction) of a comparison and the experiment it runs."""

    route: str
    fraction: float
    config: ExperimentConfig


def at_fraction(config: ExperimentConfig, s: float) -> ExperimentConfig:
    # float: a YAML `0` and the reference's 0.0 must hash to the same lineage
    return config.model_copy(update={"policy": config.policy.model_copy(update={"synthetic_fraction": float(s)})})


def route_points(config: Any) -> list[RoutePoint]:
    """The all-human reference, then every route at each of its fractions (a route that fixes s:
    that one; otherwise the base policy's fraction and the swept grid)."""
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


def route_variants(config: Any) -> list[tuple[dict[str, Any], ExperimentConfig]]:
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
