"""The Filter interface: self-correction / verification of synthetic samples before training.

A filter sees one batch of samples from one generator model and returns an accept mask; a
correcting filter may also ``transform`` the samples it accepted (self-correction moves each one
toward the real data) before the next filter and training see them. The loop chains the policy's filters (each sees what the previous ones accepted), records each
filter's acceptance rate per generation, and in ``resample`` mode draws more samples until the
synthetic share is full.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from cliffwatch.core.modality import TEXT, TOKENS, VECTOR, DataInfo, Modality
from cliffwatch.families.base import Family, Model, Params


@dataclass
class FilterContext:
    """What a filter may look at for one batch of one generation."""

    generation: int
    generator: Model  # the model that produced the samples (self-scoring uses it)
    family: Family  # the lineage's family (e.g. to fit a reference model of the human data)
    train: Any  # the previous generation's training set (what the generator was fitted on)
    human: Any  # generation 0's human training set (the only human data every policy has)
    info: DataInfo
    source: Any  # the human data source (a text corpus may carry a fact base: ground truth)
    rng: np.random.Generator


class Filter(ABC):
    """Registered with ``@register_filter(name)``. Constructed once per lineage."""

    name: ClassVar[str]
    Params: ClassVar[type[Params]] = Params
    modalities: ClassVar[tuple[Modality, ...]] = (VECTOR, TOKENS, TEXT)
    # checks items against ground truth: what it passes is `verified` in the loop's manifests
    verifies: ClassVar[bool] = False

    def __init__(self, params: Params | dict | None = None) -> None:
        self.params = params if isinstance(params, Params) else self.Params(**(params or {}))

    @classmethod
    def validate(cls, params: Params, modality: Modality, generators: list[Any]) -> str | None:
        """A config problem found at load time, before any data is read (None if there is none):
        ``generators`` are the family specs that make the synthetic data."""
        return None

    @classmethod
    def check(cls, source: Any) -> str | None:
        """Why this filter cannot run on data from ``source`` (None if it can)."""
        return None

    @abstractmethod
    def accept(self, samples: Any, ctx: FilterContext) -> np.ndarray:
        """Boolean mask of accepted samples: (n,) for text, (chains, n) for arrays. The loop never
        passes an empty batch (a batch has no quantile)."""

    def transform(self, samples: Any, ctx: FilterContext) -> Any:
        """The accepted samples as they enter training (same shape); unchanged unless the filter corrects them."""
        return samples
