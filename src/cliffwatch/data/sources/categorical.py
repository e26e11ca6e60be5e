"""Infinite categorical human sources: explicit probabilities, or Zipf over a support."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from cliffwatch.config.limits import MAX_SUPPORT, WHY, at_most
from cliffwatch.core.errors import DataError
from cliffwatch.core.modality import TOKENS, DataInfo
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import HumanSource, SourceSpec


class CategoricalData(SourceSpec):
    """An infinite categorical source with explicit probabilities (normalised)."""

    source: Literal["categorical"]
    probs: Annotated[list[Annotated[float, Field(ge=0)]], at_most(MAX_SUPPORT, WHY["support"])] = Field(min_length=2)


@register_source("categorical")
class CategoricalSource(HumanSource):
    Spec = CategoricalData
    modality = TOKENS

    def __init__(self, spec: CategoricalData, holdout: int, rng: np.random.Generator) -> None:
        self._setup(self.probabilities(spec), holdout, rng, f"categorical:{len(spec.probs)}")

    @classmethod
    def probabilities(cls, spec: CategoricalData) -> np.ndarray:
        probs = np.asarray(spec.probs, dtype=float)
        if probs.sum() <= 0:
            raise DataError("data.probs: probabilities must sum to a positive number")
        return probs

    def _setup(self, probs: np.ndarray, holdout: int, rng: np.random.Generator, name: str) -> None:
        self.probs = probs / probs.sum()
        self._cdf = np.cumsum(self.probs)
        self._reference = self.draw(holdout, rng, 1)[0]
        self.fingerprint = name

    @property
    def info(self) -> DataInfo:
        return DataInfo(TOKENS, support=len(self.probs))

    def reference(self) -> np.ndarray:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> np.ndarray:
        u = rng.random((chains, n))
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), len(self.probs) - 1).astype(np.int64)

    def true_probs(self) -> np.ndarray:
        return self.probs
