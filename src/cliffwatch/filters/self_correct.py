"""``self_correct``: move each synthetic image toward the real data of its digit before training.

Self-correcting self-consuming loops (Gillman et al., ICML 2024) pass every synthetic sample
through a correction function that knows the real data; a strong enough correction keeps even a
fully synthetic loop stable. Here the correction is: read the sample's digit with the classifier
trained on real labelled digits (cliffwatch.data.images), find the nearest of that digit's
``clusters`` k-means centres of the real training pool, and move the sample ``strength`` of the way
to it (0: unchanged, 1: replaced by the centre). Nothing is rejected.

The corrector knows the labelled human pool, as the verifier knows the fact base: it is an
oracle-like route, compared against the human anchor in examples/images-routes.yaml.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import register_filter
from cliffwatch.data.images import CLASSES, digit_classifier
from cliffwatch.families.base import Params
from cliffwatch.filters.base import Filter, FilterContext


class SelfCorrectParams(Params):
    strength: float = Field(0.5, ge=0.0, le=1.0, description="share of the way to the nearest real cluster")
    clusters: int = Field(5, ge=1, le=50, description="k-means centres per digit of the real pool")


def class_centres(images: np.ndarray, labels: np.ndarray, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """(centres (m, D), their digit (m,)): k-means of each digit's flattened images (fixed seed)."""
    from sklearn.cluster import KMeans

    flat = images.reshape(len(images), -1)
    centres, owners = [], []
    for digit in range(CLASSES):
        members = flat[labels == digit]
        if len(members) == 0:
            continue
        k = min(clusters, len(members))
        centres.append(KMeans(k, n_init=3, random_state=0).fit(members).cluster_centers_)
        owners.append(np.full(k, digit))
    return np.concatenate(centres), np.concatenate(owners)


def correct(samples: np.ndarray, centres: np.ndarray, owners: np.ndarray, strength: float) -> np.ndarray:
    """Each image of (C, n, H, W) moved ``strength`` of the way to the nearest centre of its predicted digit."""
    flat = samples.reshape(*samples.shape[:2], -1)
    predicted = digit_classifier().predict(samples)  # (C, n)
    d2 = (flat**2).sum(-1)[..., None] - 2 * flat @ centres.T + (centres**2).sum(-1)
    d2 = np.where(owners == predicted[..., None], d2, np.inf)  # only centres of the predicted digit
    nearest = centres[np.argmin(d2, axis=-1)]
    return (flat + strength * (nearest - flat)).reshape(samples.shape)


@register_filter("self_correct")
class SelfCorrect(Filter):
    Params = SelfCorrectParams
    modalities = (IMAGE,)

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._centres: tuple[np.ndarray, np.ndarray] | None = None  # per lineage: its source's pool

    @classmethod
    def check(cls, source) -> str | None:
        if getattr(source, "pool_labels", None) is None:
            return "self_correct needs labelled real images (source digits-images)"
        return None

    def accept(self, samples: np.ndarray, ctx: FilterContext) -> np.ndarray:
        return np.ones(np.shape(samples)[:2], dtype=bool)

    def transform(self, samples: np.ndarray, ctx: FilterContext) -> np.ndarray:
        samples = IMAGE.check(samples, ctx.info.shape, "self_correct: samples")
        if self._centres is None:
            self._centres = class_centres(ctx.source.pool, ctx.source.pool_labels, self.params.clusters)
        return correct(samples, *self._centres, self.params.strength)
