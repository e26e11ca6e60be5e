"""A few sample images per generation for the report's grids, and how varied the samples are.

``pixel_spread``: the samples' mean pairwise pixel distance over the human reference's (1: as
varied as human images; below 1: collapsing toward a few prototypes; above 1: noisier than human
images). It has no better direction, so it is a diagnostic, not a cliff metric.
The probe also keeps ``GRID`` samples of chain 0 as 8-bit images in ``ctx.artifacts["samples"]``;
the run stores them beside the generation's results (lineages/<id>/samples/gen-NNNNNN.npy).
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.image_common import samples

GRID = 16  # images kept per generation: a 4 x 4 grid
SPREAD_POINTS = 500  # pairwise distances are O(n^2): a random 500 of each side estimate the mean well


def mean_pairwise_distance(x: np.ndarray) -> np.ndarray:
    """Mean Euclidean distance between distinct items of (..., n, d)."""
    sq = (x * x).sum(-1)
    d2 = np.clip(sq[..., :, None] + sq[..., None, :] - 2 * x @ np.swapaxes(x, -1, -2), 0.0, None)
    n = x.shape[-2]
    return np.sqrt(d2).sum(axis=(-2, -1)) / (n * (n - 1))


@register_probe("image_samples")
class ImageSamples(Probe):
    modality = IMAGE
    metrics = (Metric("pixel_spread", None, "mean pairwise pixel distance of samples over that of human images "
                      "(1: as varied)", 0.0),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        x = samples(ctx)
        ctx.artifacts["samples"] = np.round(x[0, :GRID] * 255).astype(np.uint8)
        flat = x.reshape(x.shape[0], x.shape[1], -1)[:, :SPREAD_POINTS]
        reference = np.asarray(ctx.reference).reshape(len(ctx.reference), -1)
        reference = reference[ctx.rng.permutation(len(reference))[:SPREAD_POINTS]]
        if flat.shape[1] < 2:
            return {"pixel_spread": np.full(x.shape[0], np.nan)}
        return {"pixel_spread": mean_pairwise_distance(flat) / mean_pairwise_distance(reference)}
