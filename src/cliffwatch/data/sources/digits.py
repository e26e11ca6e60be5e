"""scikit-learn's bundled handwritten digits (real images), as standardised PCA features."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from cliffwatch.core.modality import VECTOR, DataInfo
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import PoolSource, SourceSpec


class DigitsData(SourceSpec):
    """scikit-learn's bundled handwritten digits (real images), as PCA features."""

    source: Literal["digits"]
    components: int = Field(8, ge=1, le=64)


@register_source("digits")
class DigitsSource(PoolSource):
    Spec = DigitsData
    modality = VECTOR

    def __init__(self, spec: DigitsData, holdout: int, rng: np.random.Generator) -> None:
        from sklearn.datasets import load_digits
        from sklearn.decomposition import PCA

        pixels = load_digits().data
        # standardised PCA features: the digits' real variation in a few dimensions
        features = PCA(spec.components, random_state=0).fit_transform(pixels)
        features /= features.std(axis=0)
        self.fingerprint = f"sklearn-digits:pca{spec.components}"
        self.dim = spec.components
        self._split(features, holdout, rng, len(features), "sklearn digits")

    @property
    def info(self) -> DataInfo:
        return DataInfo(VECTOR, dim=self.dim)
