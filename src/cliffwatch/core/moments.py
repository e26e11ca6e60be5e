"""Sample moments of batched vector data: the one place the mean and covariance of samples are computed."""

from __future__ import annotations

import numpy as np


def sample_moments(x: np.ndarray, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(mean, covariance) over the item axis of ``x`` shaped (..., n, d): (..., d) and (..., d, d).

    ``ddof=1`` gives the unbiased covariance, ``ddof=0`` the maximum-likelihood one. The work runs
    on the (..., d, n) layout, where every reduction is along the item axis: contiguous for samples
    a family drew in that layout (the Gaussian's), and no slower for the others.
    """
    columns = np.swapaxes(np.asarray(x, dtype=float), -1, -2)
    n = columns.shape[-1]
    mean = np.add.reduce(columns, axis=-1) / n
    centred = columns - mean[..., None]
    return mean, np.einsum("...dn,...en->...de", centred, centred) / max(n - ddof, 1)
