"""Reading configs: YAML files to validated models, with one-line errors naming the file and field.

The single door of the config layer (schema -> grid -> validate -> load): ``parse`` validates the
fields, then runs every cross-check on every grid point or route (config/validate.py)."""

from __future__ import annotations

import re
import stat
import weakref
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cliffwatch.config.messages import describe_error
from cliffwatch.config.schema import CompareConfig, ExperimentConfig, SweepConfig, config_class
from cliffwatch.config.validate import check
from cliffwatch.core.errors import ConfigError, WrongWorkflowError
from cliffwatch.core.yamlshape import yaml_shape_problem

M = TypeVar("M", bound=BaseModel)
COMMANDS = {ExperimentConfig: "run", SweepConfig: "sweep", CompareConfig: "compare"}
MARKS = {ExperimentConfig: "neither sweep: nor routes:", SweepConfig: "sweep:", CompareConfig: "routes:"}


def parse(model: type[M], raw: object, source: str = "config") -> M:
    """Validate ``raw`` against ``model``, then (a config) run every cross-check on every grid point
    and route; on failure raise ConfigError naming the source and field."""
    try:
        parsed = model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_error(err, prefix='', model=model)}") from None
    if isinstance(parsed, ExperimentConfig):
        checked(parsed, source)
    return parsed


_CHECKED: weakref.WeakValueDictionary[int, ExperimentConfig] = weakref.WeakValueDictionary()


def checked(config: ExperimentConfig, source: str = "config") -> ExperimentConfig:
    """Every cross-check of a config built in Python (``parse`` runs them on what it reads), once
    per config object: the workflows call this on what they are handed, and a config ``parse``
    returned is not checked again."""
    if _CHECKED.get(id(config)) is config:
        return config
    try:
        check(config)
    except ConfigError as err:
        raise type(err)(f"{source}: {err}") from None
    _CHECKED[id(config)] = config
    return config


MAX_CONFIG_BYTES = 1 << 20  # a config is written by hand; a bigger file is a mistake
MAX_DEPTH = 32  # nesting of mappings and lists; deeper would exhaust the YAML composer's recursion
MAX_ALIASES = 100  # *references: a few kilobytes of them can expand into gigabytes ("billion laughs")


class _Loader(yaml.SafeLoader):
    """YAML 1.2's scalars where 1.1 surprises: ``off``, ``no``, ``yes`` and ``on`` stay words (a
    documented ``dedup: off`` is the word), only true/false are booleans; ``1e-3`` is a number, as
    ``1.0e-3`` is. The strict configs then refuse a word where a number or a flag belongs."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
                              list("-+0123456789"))


def read_file_text(path: Path, what: str = "config", limit: int | None = MAX_CONFIG_BYTES) -> str:
    """A regular file's UTF-8 text; a FIFO, a device or a folder is refused before it is opened
    (reading one could block forever or never end). CRLF and CR line ends become LF."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: unreadable ({err.__class__.__name__})") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file (a folder, FIFO or device); give a {what} file")
    if limit is not None and info.st_size > limit:
        raise ConfigError(f"{path}: {info.st_size:,} bytes; a {what} file is at most {limit:,}")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: unreadable (not UTF-8 text at byte offset {err.start})") from None
    except OSError as err:
        raise ConfigError(f"{path}: unreadable ({err.__class__.__name__}: {err.strerror})") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_shape(text: str, path: Path) -> None:
    problem = yaml_shape_problem(text, MAX_DEPTH, MAX_ALIASES)
    if problem is not None:
        line, what = problem
        raise ConfigError(f"{path}:{line}: {what}")


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    text = read_file_text(path)
    try:
        _check_shape(text, path)
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML ({problem})") from None
    except (ValueError, RecursionError, OverflowError) as err:  # e.g. an integer of thousands of digits
        raise ConfigError(f"{path}: invalid value ({err.__class__.__name__}: {str(err)[:100]})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields at the top level")
    return raw


def read_config(path: str | Path) -> dict:
    """A config file's fields, with the data's relative file paths resolved against the file's
    folder (not the working directory): a config names its data where it lies beside it."""
    raw = read_yaml(path)
    base = Path(path).parent.resolve()
    data = raw.get("data")
    spec = _source_spec(data)
    if spec is not None:
        raw["data"] = spec.resolve_paths(data, base)
    sweep = raw.get("sweep")
    if spec is not None and isinstance(sweep, dict):
        for key, values in sweep.items():
            if isinstance(key, str) and key.startswith("data.") and isinstance(values, list):
                name = key[len("data."):]
                sweep[key] = [spec.resolve_paths({**data, name: v}, base).get(name, v) for v in values]
    return raw


def _source_spec(data: Any) -> Any:
    """The registered spec class a ``data:`` mapping names (None if it names none: validation says why)."""
    if not isinstance(data, dict) or not isinstance(data.get("source"), str):
        return None
    from cliffwatch.core.errors import RegistryError
    from cliffwatch.core.registry import SOURCES

    try:
        return SOURCES.get(data["source"]).Spec
    except RegistryError:
        return None


def load(path: str | Path) -> ExperimentConfig:
    """A config file as the model its fields ask for: compare (routes:), sweep (sweep:) or experiment."""
    raw = read_config(path)
    return parse(config_class(raw), raw, str(path))


def _load_as(model: type[M], path: str | Path) -> M:
    """A config file of one workflow; a file written for another is WrongWorkflowError naming its command."""
    raw = read_config(path)
    written = config_class(raw)
    if written is not model and not (model is SweepConfig and written is ExperimentConfig):  # the default grid
        command = COMMANDS[written]
        raise WrongWorkflowError(f"{path}: a {command} config (it has {MARKS[written]}), not a {COMMANDS[model]} "
                                 f"config; run it with `cliffwatch {command} {path}`")
    sweep_only = [k for k in ("cliff", "cost") if k in raw]
    if model is ExperimentConfig and sweep_only:  # a sweep's blocks in a run config
        raise WrongWorkflowError(f"{path}: `{sweep_only[0]}:` belongs to a sweep config, not a run config; run it "
                                 f"with `cliffwatch sweep {path}`")
    return parse(model, raw, str(path))


def load_config(path: str | Path) -> ExperimentConfig:
    return _load_as(ExperimentConfig, path)


def load_sweep(path: str | Path) -> SweepConfig:
    return _load_as(SweepConfig, path)


def load_compare(path: str | Path) -> CompareConfig:
    return _load_as(CompareConfig, path)
