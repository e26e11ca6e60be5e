"""Multivariate Gaussian refit: the analytic model of the model-collapse theory papers.

All chains are fitted and sampled at once with batched linear algebra.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy.special import gammaincinv

from cliffwatch.core.modality import VECTOR
from cliffwatch.core.moments import sample_moments
from cliffwatch.families.base import Family, Model, Params
from cliffwatch.core.registry import register_family


class GaussianParams(Params):
    covariance: Literal["unbiased", "mle"] = Field(
        "unbiased", description="unbiased (ddof=1): variance is a martingale; mle (ddof=0): it shrinks by (M-1)/M"
    )


class GaussianModel(Model):
    def __init__(self, family: "GaussianFamily", mean: np.ndarray, cov: np.ndarray) -> None:
        self.family = family
        self.mean = mean  # (C, d)
        self.cov = cov  # (C, d, d)

    @property
    def chains(self) -> int:
        return self.mean.shape[0]

    def _root(self) -> np.ndarray:
        """A square root R (R R^T = cov) of each covariance: Cholesky, or eigen-based once a chain has collapsed."""
        try:
            return np.linalg.cholesky(self.cov)
        except np.linalg.LinAlgError:
            values, vectors = np.linalg.eigh(self.cov)
            return vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        c, d = self.mean.shape
        # drawn and transformed as (C, d, n), where every operation runs along the long, contiguous
        # item axis, and returned as a (C, n, d) view of it (fit works on the same layout)
        z = rng.standard_normal((c, d, n))
        if top_p < 1.0:
            # keep the highest-density region of mass top_p: draw the squared radius from the
            # chi-square law truncated at its top_p quantile, the direction uniformly
            r2 = 2.0 * gammaincinv(d / 2.0, rng.random((c, n)) * top_p)
            z *= np.sqrt(r2 / np.einsum("cdn,cdn->cn", z, z))[:, None, :]
        root = self._root() if d > 1 else np.sqrt(np.clip(self.cov, 0.0, None))
        # sampling bias λ = temperature: draws from N(mean, λ·cov)
        out = root @ z
        if temperature != 1.0:
            out *= np.sqrt(temperature)
        out += self.mean[:, :, None]
        return np.swapaxes(out, 1, 2)

    def nll(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=float)
        if data.ndim == 2:
            data = data[None]
        d = self.mean.shape[1]
        values, vectors = np.linalg.eigh(self.cov)
        projected = np.einsum("cnd,cde->cne", data - self.mean[:, None, :], vectors)
        # a collapsed (singular) covariance gives held-out data zero density: infinite NLL
        collapsed = values.min(axis=1) <= 0.0
        values = np.where(collapsed[:, None], 1.0, values)
        maha = np.einsum("cne,ce->cn", projected**2, 1.0 / values)
        out = 0.5 * (maha + np.log(values).sum(axis=1)[:, None] + d * np.log(2 * np.pi))
        return np.where(collapsed[:, None], np.inf, out)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean, self.cov

    def state(self) -> dict[str, np.ndarray]:
        return {"mean": self.mean, "cov": self.cov}


@register_family("gaussian")
class GaussianFamily(Family):
    modality = VECTOR
    Params = GaussianParams
    random_fit = False  # the fit is the sample moments / frequencies

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> GaussianModel:
        mean, cov = sample_moments(data, ddof=1 if self.params.covariance == "unbiased" else 0)
        return GaussianModel(self, mean, cov)

    def from_state(self, state: dict[str, np.ndarray]) -> GaussianModel:
        return GaussianModel(self, state["mean"], state["cov"])

