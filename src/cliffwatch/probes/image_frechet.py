"""Fréchet distance in a digit classifier's feature space: FID for 8 x 8 digits.

FID compares Gaussian fits of Inception features; here the features are the hidden layer of a
small network trained on the real labelled digits (cliffwatch.data.images), so the distance
weighs what separates digits, not raw pixel noise, and needs no downloaded weights.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.moments import sample_moments
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.image_common import reference_features, sample_features
from cliffwatch.probes.vector_frechet import frechet


@register_probe("image_frechet")
class ImageFrechet(Probe):
    modality = IMAGE
    metrics = (Metric("class_frechet", False, "Fréchet distance between samples and human images in a digit "
                      "classifier's feature space (FID for digits)", 0.0),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        mean, cov = sample_moments(sample_features(ctx))
        ref_mean, ref_cov = sample_moments(reference_features(ctx)[0])
        return {"class_frechet": np.maximum(frechet(mean, cov, ref_mean, ref_cov), 0.0)}
