"""The vector fast paths (the Gaussian family, the moment and Wasserstein probes) give the textbook formulas' values (sampling bit for bit, the fit to rounding)."""

import numpy as np
import pytest

from cliffwatch.core.moments import SMALL_DIM, sample_moments
from cliffwatch.families.base import DataInfo
from cliffwatch.families.gaussian import GaussianFamily
from cliffwatch.probes.vector_moments import _norm
from cliffwatch.probes.vector_wasserstein import quantiles, wasserstein_1d


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


@pytest.mark.parametrize("shape", [(3, 1, 2), (3, 2, 1), (1, 1000, 2), (50, 37, 3), (2, 4096, 1)])
@pytest.mark.parametrize("kind", ["normal", "ties", "nan", "inf"])
def test_wasserstein_quantiles_equal_numpy_quantile_to_the_bit(shape, kind):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_t(3, size=shape) * 4.1
    if kind == "ties":
        x = np.round(x)
    elif kind in ("nan", "inf"):
        x[0, -1, 0] = np.nan if kind == "nan" else np.inf
    q = np.concatenate([(np.arange(512) + 0.5) / 512, rng.random(40), [0.0, 1.0]])
    with np.errstate(invalid="ignore"):  # inf - inf, as inside np.quantile
        assert np.array_equal(quantiles(x, q, axis=1), np.quantile(x, q, axis=1), equal_nan=True)
    reference = rng.standard_normal((shape[1], shape[2]))
    assert np.array_equal(quantiles(reference, q, axis=0), np.quantile(reference, q, axis=0))
    if kind == "normal":  # the probe: the textbook formula on np.quantile, to rounding (it sums in another order)
        grid = (np.arange(512) + 0.5) / 512
        textbook = np.abs(np.quantile(x, grid, axis=1) - np.quantile(reference, grid, axis=0)[:, None, :]).mean(axis=(0, 2))
        np.testing.assert_allclose(wasserstein_1d(x, reference), textbook, rtol=1e-13)


@pytest.mark.parametrize("ddof", [0, 1])
def test_sample_moments_equal_numpy_cov(ddof):
    x = np.random.default_rng(ddof).standard_normal((4, 60, 3)) * [1.0, 5.0, 0.1] + 20.0
    mean, cov = sample_moments(x, ddof=ddof)
    assert mean.shape == (4, 3) and cov.shape == (4, 3, 3)
    for chain in range(4):
        assert np.allclose(mean[chain], x[chain].mean(axis=0), rtol=1e-13)
        assert np.allclose(cov[chain], np.cov(x[chain], rowvar=False, ddof=ddof), rtol=1e-12, atol=1e-14)
    # a single unbatched (n, d) sample has the same moments as a batch of one
    assert all(np.array_equal(a, b[0]) for a, b in zip(sample_moments(x[0], ddof), sample_moments(x[:1], ddof)))


@pytest.mark.parametrize("layout", ["items-contiguous", "interleaved", "pool", "one-chain", "table"])
@pytest.mark.parametrize("dim", [1, 2, 5, 12])
def test_sample_moments_are_the_einsum_numbers_of_the_item_contiguous_layout(layout, dim):
    """A batch of chains of few dimensions gets the numbers of its item-contiguous layout, bit for bit,
    whatever its own (a pool the loop concatenated fits as the model's own samples would); a single
    chain, a table and many dimensions get the einsum's numbers on their own layout."""
    rng = np.random.default_rng(dim)
    x = {"items-contiguous": lambda: np.swapaxes(rng.standard_normal((30, dim, 400)), 1, 2),
         "interleaved": lambda: rng.standard_normal((30, 400, dim)),
         "pool": lambda: np.concatenate([np.swapaxes(rng.standard_normal((30, dim, 200)), 1, 2)] * 2, axis=1),
         "one-chain": lambda: rng.standard_normal((1, 400, dim)),
         "table": lambda: rng.standard_normal((400, dim))}[layout]() * 3.0 + 11.0
    batch = layout in ("items-contiguous", "interleaved", "pool") and dim <= SMALL_DIM
    columns = np.ascontiguousarray(np.swapaxes(x, -1, -2)) if batch else np.swapaxes(x, -1, -2)
    mean = np.add.reduce(columns, axis=-1) / 400
    centred = columns - mean[..., None]
    for ddof in (0, 1):
        got = sample_moments(x, ddof)
        assert np.array_equal(got[0], mean)
        assert np.array_equal(got[1], np.einsum("...dn,...en->...de", centred, centred) / (400 - ddof))
        if batch:  # the same values in the other layout: the same bits
            other = np.ascontiguousarray(x) if x.strides[-2] == x.itemsize else np.swapaxes(columns.copy(), -1, -2)
            assert all(np.array_equal(a, b) for a, b in zip(got, sample_moments(other, ddof)))
