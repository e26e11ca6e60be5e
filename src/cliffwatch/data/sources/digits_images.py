"""scikit-learn's real handwritten digits as 8 x 8 images in [0, 1], with their labels."""

from __future__ import annotations

from typing import Literal

import numpy as np

from cliffwatch.core.modality import IMAGE, DataInfo
from cliffwatch.core.registry import register_source
from cliffwatch.data.images import SHAPE, real_digits
from cliffwatch.data.sources.base import PoolSource, SourceSpec


class DigitsImagesData(SourceSpec):
    """scikit-learn's 1,797 real handwritten digits as 8 x 8 grey images in [0, 1]."""

    source: Literal["digits-images"]


@register_source("digits-images")
class DigitsImagesSource(PoolSource):
    """Held-out reference and training pool split per seed; ``reference_labels`` and
    ``pool_labels`` are the true digits of each (probes and the self-correction filter use them)."""

    Spec = DigitsImagesData
    modality = IMAGE

    def __init__(self, spec: DigitsImagesData, holdout: int, rng: np.random.Generator) -> None:
        images, labels = real_digits()
        self.fingerprint = "sklearn-digits:images8x8"
        # one permutation splits the images and their labels alike
        self._split(np.arange(len(images)), holdout, rng, len(images), "sklearn digits")
        self.reference_labels, self.pool_labels = labels[self._reference], labels[self.pool]
        self._reference, self.pool = images[self._reference], images[self.pool]

    @property
    def info(self) -> DataInfo:
        return DataInfo(IMAGE, dim=SHAPE[0] * SHAPE[1], shape=SHAPE)
