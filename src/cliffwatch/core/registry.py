"""Lazy, pluggable registries of components: families, probes, filters, data sources, executors.

A component is declared by name and import path ("module:attr") through a Python entry point:
cliffwatch's own components in its pyproject.toml, a third-party package's in its own, each in the
group of its kind (``cliffwatch.families``, ``cliffwatch.probes``, ``cliffwatch.filters``,
``cliffwatch.sources``, ``cliffwatch.executors``). An entry point may name the extra it needs
(``gpt = "cliffwatch.families.gpt:GPTFamily [neural]"``). Nothing is imported until a component
is used, so a family that imports torch costs nothing to a Gaussian config, and a plugin that
fails to import breaks only the commands that use it.

Components defined in Python (a notebook, a test) register with the decorators
(``@register_family("name")``); a declared component's module uses the same decorator, which then
only binds the class to its declaration.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Callable, Generic, Iterator, TypeVar

from cliffwatch.core.errors import RegistryError

T = TypeVar("T")
OWN = "cliffwatch"  # the distribution of the built-in components


@dataclass(frozen=True)
class Entry:
    """One declared component."""

    name: str
    target: str  # "module:attr"
    package: str  # the distribution that declares it ("cliffwatch" or a plugin's)
    extra: str | None = None  # the optional extra it needs, if any

    @property
    def missing(self) -> list[str]:
        """Distributions of its extra that are not installed (empty if none is missing)."""
        return [] if self.extra is None else _missing_requirements(self.package, self.extra)

    @property
    def install_hint(self) -> str:
        pkg = OWN if self.package == OWN else self.package
        return f"pip install '{pkg}[{self.extra}]'"


class Registry(Generic[T]):
    """Name -> component of one kind, loaded on first use."""

    def __init__(self, kind: str, group: str) -> None:
        self.kind = kind
        self.group = group
        self._runtime: dict[str, Entry] = {}  # registered from Python, not declared by an entry point
        self._loaded: dict[str, T] = {}

    # -- declaring --------------------------------------------------------------------------------
    def entries(self) -> dict[str, Entry]:
        """Every declared or registered component by name; two packages declaring one name is an error."""
        out: dict[str, Entry] = {}
        for entry in [*_declared(self.group), *self._runtime.values()]:
            other = out.get(entry.name)
            if other is not None and other.target != entry.target:
                raise RegistryError(
                    f"{self.kind} {entry.name!r} is registered twice: by {other.package} ({other.target}) "
                    f"and by {entry.package} ({entry.target}); uninstall one of them"
                )
            out[entry.name] = entry
        return out

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: bind ``obj`` to ``name`` (its declaration, or a new runtime registration)."""

        def decorate(obj: T) -> T:
            target = f"{obj.__module__}:{obj.__qualname__}"
            declared = {e.name: e for e in _declared(self.group)}.get(name)
            known = self._runtime.get(name) or declared
            if known is not None and known.target != target:
                raise RegistryError(f"{self.kind} {name!r} is registered twice: {known.target} ({known.package}) and {target}")
            obj.name = name  # type: ignore[attr-defined]
            if declared is None:
                self._runtime[name] = Entry(name, target, _package_of(obj.__module__))
            self._loaded[name] = obj
            return obj

        return decorate

    def unregister(self, name: str) -> None:
        """Forget a component registered from Python (tests, notebooks)."""
        self._runtime.pop(name, None)
        self._loaded.pop(name, None)

    # -- using ------------------------------------------------------------------------------------
    def get(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        entries = self.entries()
        entry = entries.get(name)
        if entry is None:
            raise RegistryError(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(entries))}")
        if entry.missing:
            raise RegistryError(f"{self.kind} {name!r} needs the {entry.extra!r} extra ({', '.join(entry.missing)} "
                                f"missing): {entry.install_hint}")
        module, _, attr = entry.target.partition(":")
        try:
            obj = getattr(importlib.import_module(module), attr)
        except Exception as err:  # a broken plugin must name itself, not crash the command
            raise RegistryError(f"{self.kind} {name!r} from {entry.package} failed to import "
                                f"({entry.target}): {err.__class__.__name__}: {err}") from None
        obj.name = name
        self._loaded[name] = obj
        return obj

    def names(self) -> list[str]:
        return sorted(self.entries())

    def available(self) -> list[str]:
        """Names whose extra is installed (they may still fail to import: see ``get``)."""
        return sorted(n for n, e in self.entries().items() if not e.missing)

    def items(self) -> Iterator[tuple[str, T]]:
        """Every available component, imported (in name order)."""
        for name in self.available():
            yield name, self.get(name)


@cache
def _entry_points(group: str) -> tuple[metadata.EntryPoint, ...]:
    return tuple(metadata.entry_points(group=group))


@cache  # reading each entry point's distribution name parses its metadata: once per process
def _declared(group: str) -> tuple[Entry, ...]:
    out = []
    for ep in _entry_points(group):
        package = ep.dist.name if ep.dist is not None else "?"
        extras = list(ep.extras)
        out.append(Entry(ep.name, ep.value.split("[")[0].strip(), package, extras[0] if extras else None))
    return tuple(out)


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@cache
def _missing_requirements(package: str, extra: str) -> list[str]:
    """The distributions that ``package[extra]`` requires and that are not installed."""
    try:
        requires = metadata.requires(package) or []
    except metadata.PackageNotFoundError:
        return []
    missing = []
    for req in requires:
        marker = req.partition(";")[2].replace("'", '"').replace(" ", "")
        if f'extra=="{extra}"' not in marker:
            continue
        name = _NAME.match(req).group(1)
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
    return missing


def _package_of(module: str) -> str:
    top = module.split(".")[0]
    return OWN if top == OWN else top


def refresh() -> None:
    """Re-read the entry points (after installing a plugin in the running process)."""
    _entry_points.cache_clear()
    _declared.cache_clear()
    _missing_requirements.cache_clear()


FAMILIES: Registry[Any] = Registry("family", "cliffwatch.families")
PROBES: Registry[Any] = Registry("probe", "cliffwatch.probes")
FILTERS: Registry[Any] = Registry("filter", "cliffwatch.filters")
SOURCES: Registry[Any] = Registry("data source", "cliffwatch.sources")
EXECUTORS: Registry[Any] = Registry("executor", "cliffwatch.executors")

register_family = FAMILIES.register
register_probe = PROBES.register
register_filter = FILTERS.register
register_source = SOURCES.register
register_executor = EXECUTORS.register
