"""Gaussian mixture (scikit-learn), one per chain: multi-modal collapse and mode dropping."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from sklearn.mixture import GaussianMixture

from cliffwatch.core.modality import VECTOR
from cliffwatch.families.base import Family, Model, Params
from cliffwatch.core.registry import register_family


class GMMParams(Params):
    components: int = Field(4, ge=1, le=1000)
    covariance_type: Literal["full", "diag", "spherical", "tied"] = "full"
    max_iter: int = Field(100, ge=1, le=100_000)
    reg_covar: float = Field(1e-6, gt=0)


class GMMModel(Model):
    def __init__(self, family: "GMMFamily", mixtures: list[GaussianMixture]) -> None:
        self.family = family
        self.mixtures = mixtures

    @property
    def chains(self) -> int:
        return len(self.mixtures)

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        out = []
        for gm in self.mixtures:
            counts = rng.multinomial(n, gm.weights_)
            comp = np.repeat(np.arange(len(counts)), counts)
            covs = _full_covariances(gm)[comp]
            z = rng.standard_normal((n, gm.means_.shape[1]))
            # sampling bias: each component's covariance scaled by the temperature
            root = np.linalg.cholesky(covs * temperature)
            draws = gm.means_[comp] + np.einsum("nij,nj->ni", root, z)
            out.append(draws[rng.permutation(n)])
        return np.stack(out)

    def nll(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=float)
        if data.ndim == 2:
            data = np.broadcast_to(data, (self.chains, *data.shape))
        return np.stack([-gm.score_samples(x) for gm, x in zip(self.mixtures, data)])

    def state(self) -> dict[str, np.ndarray]:
        return {
            "weights": np.stack([gm.weights_ for gm in self.mixtures]),
            "means": np.stack([gm.means_ for gm in self.mixtures]),
            "covariances": np.stack([_full_covariances(gm) for gm in self.mixtures]),
        }


def _full_covariances(gm: GaussianMixture) -> np.ndarray:
    """Component covariances as (k, d, d) whatever the covariance type."""
    k, d = gm.means_.shape
    cov = gm.covariances_
    if gm.covariance_type == "full":
        return cov
    if gm.covariance_type == "tied":
        return np.broadcast_to(cov, (k, d, d)).copy()
    if gm.covariance_type == "diag":
        return cov[:, :, None] * np.eye(d)
    return cov[:, None, None] * np.eye(d)


def _mixture_from(weights: np.ndarray, means: np.ndarray, covs: np.ndarray, reg: float) -> GaussianMixture:
    gm = GaussianMixture(len(weights), covariance_type="full", reg_covar=reg)
    gm.weights_, gm.means_, gm.covariances_ = weights, means, covs
    gm.precisions_cholesky_ = np.linalg.cholesky(np.linalg.inv(covs))
    gm.converged_, gm.n_iter_ = True, 0
    return gm


@register_family("gmm")
class GMMFamily(Family):
    modality = VECTOR
    Params = GMMParams
    supports_top_p = False

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> GMMModel:
        p = self.params
        seeds = rng.integers(0, 2**31 - 1, size=data.shape[0])
        mixtures = []
        for x, seed in zip(data, seeds):
            k = min(p.components, len(x))
            gm = GaussianMixture(k, covariance_type=p.covariance_type, max_iter=p.max_iter,
                                 reg_covar=p.reg_covar, random_state=int(seed))
            gm.fit(x)
            full = _full_covariances(gm)
            mixtures.append(_mixture_from(gm.weights_, gm.means_, full, p.reg_covar))
        return GMMModel(self, mixtures)

    def from_state(self, state: dict[str, np.ndarray]) -> GMMModel:
        mixtures = [
            _mixture_from(w, m, c, self.params.reg_covar)
            for w, m, c in zip(state["weights"], state["means"], state["covariances"])
        ]
        return GMMModel(self, mixtures)
