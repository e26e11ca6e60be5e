"""Reading configs: YAML files to validated models, with one-line errors naming the file and field."""

from __future__ import annotations

import stat
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


MAX_CONFIG_BYTES = 1 << 20  # a config is written by hand; a bigger file is a mistake
MAX_DEPTH = 32  # nesting of mappings and lists; deeper would exhaust the YAML composer's recursion
MAX_ALIASES = 100  # *references: a few kilobytes of them can expand into gigabytes ("billion laughs")


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
    """Refuse deep nesting and alias bombs from the event stream, before anything is built."""
    depth = aliases = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise ConfigError(f"{path}:{event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise ConfigError(f"{path}:{event.start_mark.line + 1}: more than {MAX_ALIASES} YAML aliases (*name)")


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    text = read_file_text(path)
    try:
        _check_shape(text, path)
        raw = yaml.safe_load(text)
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


def load_config(path: str | Path) -> ExperimentConfig:
    return parse(ExperimentConfig, read_yaml(path), str(path))


def load_sweep(path: str | Path) -> SweepConfig:
    return parse(SweepConfig, read_yaml(path), str(path))


def load_compare(path: str | Path) -> CompareConfig:
    return parse(CompareConfig, read_yaml(path), str(path))
