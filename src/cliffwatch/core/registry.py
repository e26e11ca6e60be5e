"""Decorator registries for families, probes and filters (one component per file)."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

from cliffwatch.core.errors import RegistryError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(obj: T) -> T:
            if name in self._items:
                raise RegistryError(f"{self.kind} {name!r} is registered twice")
            obj.name = name  # type: ignore[attr-defined]
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        _load_builtins()
        try:
            return self._items[name]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self._items))}"
            ) from None

    def names(self) -> list[str]:
        _load_builtins()
        return sorted(self._items)

    def items(self) -> list[tuple[str, T]]:
        _load_builtins()
        return sorted(self._items.items())


FAMILIES: Registry = Registry("family")
PROBES: Registry = Registry("probe")
FILTERS: Registry = Registry("filter")

register_family = FAMILIES.register
register_probe = PROBES.register
register_filter = FILTERS.register

_loaded = False


def _load_builtins() -> None:
    """Import the built-in component packages once so their decorators run."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    import importlib
    import pkgutil

    for package in ("cliffwatch.families", "cliffwatch.probes", "cliffwatch.filters"):
        try:
            pkg = importlib.import_module(package)
        except ModuleNotFoundError:
            continue
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.name.startswith("_"):
                importlib.import_module(f"{package}.{info.name}")
