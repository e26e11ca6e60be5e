"""Image quality and coverage in a digit classifier's feature space, and which digits survive.

``feature_precision`` / ``feature_recall``: k-NN precision and recall (Kynkäänniemi et al., 2019)
of the samples against the held-out human images, on classifier features.
``class_coverage``: the share of the ten digits the model still draws, a digit counting as drawn
while its share of the samples is at least a quarter of its share of the human reference (a
vanished digit still gets a few misclassified strays, so "any sample" would never drop).
``class_tv``: total variation between the samples' digit frequencies and the reference's.
``digit_share_0`` .. ``digit_share_9``: each digit's share of the samples (which vanish first).
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import register_probe
from cliffwatch.data.images import CLASSES
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.image_common import need_more_than, reference_features, sample_classes, sample_features
from cliffwatch.probes.vector_coverage import K, MAX_POINTS, precision_recall

PRESENT = 0.25  # a digit is still drawn while its share is at least this part of its human share


@register_probe("image_precision_recall")
class ImagePrecisionRecall(Probe):
    modality = IMAGE
    metrics = (
        Metric("feature_precision", True, f"share of samples inside the human images' {K}-NN support "
               "(classifier features; realism)", 0.0, 1.0),
        Metric("feature_recall", True, f"share of human images inside the samples' {K}-NN support "
               "(classifier features; variety)", 0.0, 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        features = sample_features(ctx)
        reference = reference_features(ctx)[0]
        n = min(features.shape[1], len(reference), MAX_POINTS)
        need_more_than(n, K, "image_precision_recall")
        precision, recall = precision_recall(features[:, :n], reference[:n])
        return {"feature_precision": precision, "feature_recall": recall}


@register_probe("class_coverage")
class ClassCoverage(Probe):
    modality = IMAGE
    metrics = (
        Metric("class_coverage", True, f"share of digits still drawn (sample share >= {PRESENT:g} x human share)",
               0.0, 1.0),
        Metric("class_tv", False, "total variation between the samples' and the human digit frequencies", 0.0, 1.0),
        *(Metric(f"digit_share_{d}", None, f"share of samples the classifier reads as digit {d}", 0.0, 1.0)
          for d in range(CLASSES)),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        classes = sample_classes(ctx)
        # one bincount for every chain: offset chain c's digits by c * CLASSES
        offsets = np.arange(len(classes))[:, None] * CLASSES
        counts = np.bincount((classes + offsets).ravel(), minlength=len(classes) * CLASSES).reshape(-1, CLASSES)
        shares = counts / classes.shape[1]
        labels = getattr(ctx.source, "reference_labels", None)  # true digits when the source has them
        human = np.bincount(reference_features(ctx)[1] if labels is None else labels, minlength=CLASSES)
        human = human / human.sum()
        out = {
            "class_coverage": ((shares >= PRESENT * human) & (human > 0)).sum(axis=1) / (human > 0).sum(),
            "class_tv": 0.5 * np.abs(shares - human).sum(axis=1),
        }
        out.update({f"digit_share_{d}": shares[:, d] for d in range(CLASSES)})
        return out
