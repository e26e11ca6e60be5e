"""Sample moments of batched vector data: the one place the mean and covariance of samples are computed."""

from __future__ import annotations

import numpy as np

SMALL_DIM = 8  # up to this many dimensions, a batch of chains is moved to its item-contiguous layout


def sample_moments(x: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) over the item axis of ``x`` shaped (..., n, d): (..., d) and (..., d, d).

    ``ddof=1`` gives the unbiased covariance, ``ddof=0`` the maximum-likelihood one. A batch of
    chains of at most SMALL_DIM dimensions gets the same numbers, to the bit, whatever its memory
    layout: those of numpy's einsum over each chain's contiguous items (a model's samples come
    that way; a pool the loop concatenated interleaves them, and einsum over interleaved items runs
    its innermost loop over the few dimensions alone, 3x slower than one transposing copy).
    """
    x = np.asarray(x, dtype=float)
    n, d = x.shape[-2], x.shape[-1]
    columns = np.swapaxes(x, -1, -2)  # (..., d, n)
    copied = x.ndim > 2 and x[..., 0, 0].size > 1 and n > 1 and x.strides[-2] != x.itemsize and d <= SMALL_DIM
    if copied:
        columns = np.ascontiguousarray(columns)
    mean = np.add.reduce(columns, axis=-1) / n
    centred = np.subtract(columns, mean[..., None], out=columns if copied else None)  # a copy: centred in place
    return mean, np.einsum("...dn,...en->...de", centred, centred) / max(n - ddof, 1)
