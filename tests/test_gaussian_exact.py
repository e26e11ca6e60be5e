"""The Gaussian family's fast paths give the textbook formulas' values (sampling bit for bit, the fit to rounding)."""

import numpy as np
import pytest

from cliffwatch.families.base import DataInfo
from cliffwatch.families.gaussian import GaussianFamily
from cliffwatch.probes.vector_moments import _norm


@pytest.mark.parametrize("dim", [1, 2, 4, 12])
@pytest.mark.parametrize("covariance", ["unbiased", "mle"])
def test_fit_and_sample_equal_the_textbook_formulas(dim, covariance):
    rng = np.random.default_rng(dim)
    data = rng.standard_normal((30, 50, dim)) * rng.random(dim) * 5 + rng.standard_normal(dim) * 100
    model = GaussianFamily(DataInfo("vector", dim=dim), {"covariance": covariance}).fit(data, rng)
    mean = data.mean(axis=1)
    centred = data - mean[:, None, :]
    ddof = 1 if covariance == "unbiased" else 0
    # the fit sums along the item axis in another order than the textbook's: equal to rounding
    assert np.allclose(model.mean, mean, rtol=1e-13, atol=1e-12)
    assert np.allclose(model.cov, (np.swapaxes(centred, 1, 2) @ centred) / (50 - ddof), rtol=1e-12, atol=1e-12)
    mean = model.mean

    root = np.linalg.cholesky(model.cov) if dim > 1 else np.sqrt(model.cov)
    for temperature in (1.0, 0.5):
        z = np.random.default_rng(7).standard_normal((30, dim, 40))  # drawn item axis last
        expected = np.swapaxes(np.sqrt(temperature) * (root @ z) + mean[:, :, None], 1, 2)
        drawn = model.sample(40, np.random.default_rng(7), temperature=temperature)
        if temperature == 1.0:
            assert np.array_equal(drawn, expected)
        else:
            assert np.allclose(drawn, expected, rtol=1e-13, atol=1e-12)


@pytest.mark.parametrize("shape,axis", [((100, 4), 1), ((100, 4, 4), (1, 2)), ((7, 1), 1), ((5, 30, 30), (1, 2))])
def test_moment_norms_equal_numpy_linalg(shape, axis):
    x = np.random.default_rng(0).standard_normal(shape) * 3.7
    assert np.array_equal(_norm(x, axis=axis), np.linalg.norm(x, axis=axis))
