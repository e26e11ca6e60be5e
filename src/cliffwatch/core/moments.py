"""Sample moments of batched vector data: the one place the mean and covariance of samples are computed."""

from __future__ import annotations

import numpy as np

SMALL_DIM = 8  # up to this many dimensions, interleaved batches take the item-first path (see below)


def sample_moments(x: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) over the item axis of ``x`` shaped (..., n, d): (..., d) and (..., d, d).

    ``ddof=1`` gives the unbiased covariance, ``ddof=0`` the maximum-likelihood one. The numbers are
    numpy's einsum's, to the bit, whatever the layout; only the speed depends on it.
    """
    x = np.asarray(x, dtype=float)
    n, d = x.shape[-2], x.shape[-1]
    if x.ndim > 2 and x[..., 0, 0].size > 1 and n > 1 and x.strides[-2] != x.itemsize and d <= SMALL_DIM:
        return _item_first(x, ddof)
    columns = np.swapaxes(x, -1, -2)  # (..., d, n)
    mean = np.add.reduce(columns, axis=-1) / n
    centred = columns - mean[..., None]
    return mean, np.einsum("...dn,...en->...de", centred, centred) / max(n - ddof, 1)


def _item_first(x: np.ndarray, ddof: int) -> tuple[np.ndarray, np.ndarray]:
    """The moments of a batch of chains whose items interleave (a pool the loop concatenated).

    For such a batch the einsum adds item after item, with its innermost loop over the few
    dimensions alone. Here the items come first (n, ..., d), so each of the same additions, in the
    same order, is one vectorised step over every chain; the copy is made a block of items at a
    time (a whole transposed copy reads one item of every chain per row, far apart in memory) and
    then centred in place (a pool of thousands of items per chain is refitted every generation).
    """
    n, d = x.shape[-2], x.shape[-1]
    rows = np.empty((n,) + x.shape[:-2] + (d,))
    for start in range(0, n, 256):
        rows[start:start + 256] = np.moveaxis(x[..., start:start + 256, :], -2, 0)
    mean = np.add.reduce(rows, axis=0) / n
    rows -= mean
    cov = np.empty(mean.shape + (d,))
    product = np.empty(rows.shape[:-1])
    for i in range(d):
        for j in range(i, d):
            np.multiply(rows[..., i], rows[..., j], out=product)
            cov[..., i, j] = cov[..., j, i] = np.add.reduce(product, axis=0)
    return mean, cov / max(n - ddof, 1)
