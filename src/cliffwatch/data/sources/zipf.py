"""An infinite Zipf human source: categorical with probabilities rank^-exponent."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from cliffwatch.config.limits import MAX_SUPPORT, WHY, at_most
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import SourceSpec
from cliffwatch.data.sources.categorical import CategoricalSource


class ZipfData(SourceSpec):
    """An infinite categorical source with Zipf(exponent) probabilities over `support` states."""

    source: Literal["zipf"]
    support: Annotated[int, at_most(MAX_SUPPORT, WHY["support"])] = Field(100, ge=2)
    exponent: float = Field(1.1, gt=0)


@register_source("zipf")
class ZipfSource(CategoricalSource):
    Spec = ZipfData

    def __init__(self, spec: ZipfData, holdout: int, rng: np.random.Generator) -> None:
        ranks = np.arange(1, spec.support + 1, dtype=float)
        self._setup(ranks**-spec.exponent, holdout, rng, f"zipf:{spec.support}:{spec.exponent}")
