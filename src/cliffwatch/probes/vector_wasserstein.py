"""1-D Wasserstein distance per dimension between model samples and held-out human data."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe


def wasserstein_1d(samples: np.ndarray, reference: np.ndarray, grid: int = 512) -> np.ndarray:
    """Mean over dimensions of W1 between (C, n, d) samples and (m, d) reference, by quantile matching."""
    q = (np.arange(grid) + 0.5) / grid
    gaps = quantiles_last(samples, q, axis=1)  # (C, d, grid): each chain's numbers contiguous
    gaps -= quantiles_last(reference, q, axis=0)
    return np.abs(gaps, out=gaps).mean(axis=(1, 2))


def quantiles(x: np.ndarray, q: np.ndarray, axis: int) -> np.ndarray:
    """``np.quantile(x, q, axis=axis)`` (its default linear method, the same numbers to the bit): one
    sort, then interpolation, where np.quantile partitions the data around every quantile again."""
    return np.ascontiguousarray(np.moveaxis(quantiles_last(x, q, axis), -1, 0))  # np.quantile's layout


def quantiles_last(x: np.ndarray, q: np.ndarray, axis: int) -> np.ndarray:
    """:func:`quantiles` with the quantiles on the last axis, in place of ``axis``."""
    x = np.sort(np.moveaxis(x, axis, -1), axis=-1)  # along the last axis: contiguous rows sort fastest
    n = x.shape[-1]
    h = (n - 1) * q
    below = np.floor(h)
    lo = below.astype(np.intp)
    hi = np.minimum(lo + 1, n - 1)
    gamma = h - below
    a, b = x[..., lo], x[..., hi]
    # np.quantile's interpolation: from the nearer neighbour, so a quantile never leaves [a, b]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    nan = np.isnan(x[..., -1])  # a slice holding NaN (sorted last) has NaN quantiles
    if nan.any():
        out[nan] = np.nan
    return out


@register_probe("wasserstein")
class Wasserstein(Probe):
    modality = VECTOR
    metrics = (Metric("wasserstein", False, "1-D Wasserstein distance to human data, averaged over dimensions", 0.0,
                       loss="ratio_of_means"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return {"wasserstein": wasserstein_1d(ctx.samples, ctx.reference)}
