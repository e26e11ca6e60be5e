"""Reading configs: YAML files to validated models, with one-line errors naming the file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cliffwatch.config.messages import describe_error
from cliffwatch.config.schema import CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import ConfigError


def parse(model: type[BaseModel], raw: Any, source: str = "config") -> Any:
    """Validate ``raw`` against ``model``; on failure raise ConfigError naming the source and field."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_error(err, prefix='', model=model)}") from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: unreadable ({err.__class__.__name__}: {err})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields at the top level")
    return raw


def load_config(path: str | Path) -> ExperimentConfig:
    return parse(ExperimentConfig, read_yaml(path), str(path))


def load_sweep(path: str | Path) -> SweepConfig:
    return parse(SweepConfig, read_yaml(path), str(path))


def load_compare(path: str | Path) -> CompareConfig:
    return parse(CompareConfig, read_yaml(path), str(path))
