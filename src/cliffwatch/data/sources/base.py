"""The HumanSource interface and the spec every data source's config extends.

Infinite sources (gaussian, zipf, categorical) draw fresh samples from the true distribution.
Finite sources (digits, text corpora) split once, per seed, into a held-out reference and a
training pool; human draws come from the pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

from cliffwatch.core.errors import DataError
from cliffwatch.core.modality import DataInfo, Modality


class SourceSpec(BaseModel):
    """A data source's config: ``{source: NAME, knob: value}``; each source extends it with its own
    knobs and ``source: Literal[NAME]``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)
    source: str

    @classmethod
    def resolve_paths(cls, raw: dict[str, Any], base: Path) -> dict[str, Any]:
        """``raw`` (this spec as a config file writes it) with its file paths made relative to
        ``base``, the config file's folder; a source without paths returns it unchanged."""
        return raw


class HumanSource(ABC):
    """Registered with ``@register_source(name)``. ``reference`` is the held-out human data;
    ``draw`` gives n human items per chain."""

    name: ClassVar[str]
    Spec: ClassVar[type[SourceSpec]]
    modality: ClassVar[Modality]
    fingerprint: str = ""
    provenance: dict = {}
    facts: Any = None

    @classmethod
    def key_params(cls, spec: SourceSpec) -> dict[str, Any]:
        """What of ``spec`` determines the data, for the lineage key (and so every random stream):
        by default the spec itself; a source that reads files keys them by content instead."""
        return spec.model_dump(mode="json")

    @classmethod
    def check(cls, spec: SourceSpec) -> str | None:
        """A cross-field problem with ``spec`` found without loading any data (None if there is none)."""
        return None

    @property
    @abstractmethod
    def info(self) -> DataInfo:
        """What a family needs to know about this data."""

    @abstractmethod
    def reference(self) -> Any:
        """The held-out human reference every probe compares against."""

    @abstractmethod
    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Any:
        """n human items per chain."""

    def true_moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact (mean, covariance) when the source knows them (vector sources)."""
        return None

    def true_probs(self) -> np.ndarray | None:
        """Exact state probabilities when the source knows them (tokens sources)."""
        return None


class PoolSource(HumanSource):
    """A finite human data set: a per-seed held-out reference and a training pool to draw from."""

    def _split(self, items: Any, holdout: int, rng: np.random.Generator, size: int, name: str) -> None:
        if holdout >= size:
            raise DataError(f"{name}: {size} items (sentences), but the holdout alone needs {holdout} and training "
                            "needs more; lower `holdout` or use a larger corpus")
        order = rng.permutation(size)
        self._reference = self._take(items, order[:holdout])
        self.pool = self._take(items, order[holdout:])
        self.pool_size = size - holdout

    @staticmethod
    def _take(items: Any, idx: np.ndarray) -> Any:
        return items[idx]

    def reference(self) -> Any:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Any:
        # without replacement while the pool lasts, so a human draw never repeats an item
        replace = n > self.pool_size
        idx = np.stack([rng.choice(self.pool_size, n, replace=replace) for _ in range(chains)])
        return self.pool[idx]
