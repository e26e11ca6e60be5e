"""Shared by the image probes: checked samples, and the classifier features of the reference,
computed once per process per reference (the reference is the same every generation)."""

from __future__ import annotations

import hashlib

import numpy as np

from cliffwatch.core.errors import DataError
from cliffwatch.core.modality import IMAGE
from cliffwatch.data.images import digit_classifier
from cliffwatch.probes.base import ProbeContext

_REFERENCE_CACHE: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
_CACHE_SIZE = 8  # references of the lineages one process runs; a few suffice


def samples(ctx: ProbeContext) -> np.ndarray:
    """This generation's samples as (C, n, H, W), checked against the data's image shape."""
    return IMAGE.check(ctx.samples, ctx.info.shape, "image probes: model samples")


def sample_features(ctx: ProbeContext) -> np.ndarray:
    """(C, n, hidden) classifier features of the samples, shared by the probes of a generation."""
    if "image_features" not in ctx.cache:
        ctx.cache["image_features"] = digit_classifier().features(samples(ctx))
    return ctx.cache["image_features"]


def sample_classes(ctx: ProbeContext) -> np.ndarray:
    """(C, n) predicted digit of every sample."""
    if "image_classes" not in ctx.cache:
        classifier = digit_classifier()
        ctx.cache["image_classes"] = np.argmax(sample_features(ctx) @ classifier.out_weights + classifier.out_bias, -1)
    return ctx.cache["image_classes"]


def reference_features(ctx: ProbeContext) -> tuple[np.ndarray, np.ndarray]:
    """(features (m, hidden), predicted digits (m,)) of the held-out reference, cached by content."""
    reference = IMAGE.check(ctx.reference, ctx.info.shape, "image probes: reference")
    key = hashlib.blake2b(reference.tobytes(), digest_size=16).digest()
    if key not in _REFERENCE_CACHE:
        if len(_REFERENCE_CACHE) >= _CACHE_SIZE:
            _REFERENCE_CACHE.pop(next(iter(_REFERENCE_CACHE)))
        classifier = digit_classifier()
        _REFERENCE_CACHE[key] = (classifier.features(reference), classifier.predict(reference))
    return _REFERENCE_CACHE[key]


def need_more_than(n: int, k: int, what: str) -> None:
    """A one-line DataError when a k-NN estimate gets n <= k points (each point's k-th neighbour
    among the others must exist)."""
    if n <= k:
        raise DataError(f"{what}: {n} samples, but its k-NN estimate needs more than k = {k}; "
                        "raise probe_samples (and holdout)")
