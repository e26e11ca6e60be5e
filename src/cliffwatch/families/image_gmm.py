"""``image_gmm``: a Gaussian mixture on the leading principal components of the images.

Per chain: PCA of the training images, a mixture fitted to their coordinates, and an isotropic
Gaussian for the discarded directions (probabilistic PCA's residual), so ``nll`` is a density over
pixel space. A sample is a mixture draw mapped back through the components and clipped to the
grey range [0, 1]; the residual noise is not added, because it would only paint every sample with
the same speckle the classifier-based probes would have to see through.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field
from sklearn.mixture import GaussianMixture

from cliffwatch.core.modality import IMAGE
from cliffwatch.core.registry import register_family
from cliffwatch.families.base import Family, Model, Params
from cliffwatch.families.gmm import _full_covariances, _mixture_from

MIN_RESIDUAL_VAR = 1e-6  # keeps the density proper when the kept components explain everything


class ImageGMMParams(Params):
    pca: int = Field(16, ge=1, le=64, description="principal components the mixture models")
    components: int = Field(10, ge=1, description="mixture components")
    max_iter: int = Field(100, ge=1)
    reg_covar: float = Field(1e-4, gt=0)


class ImageGMMModel(Model):
    def __init__(self, family: "ImageGMMFamily", mean: np.ndarray, basis: np.ndarray, residual_var: np.ndarray,
                 mixtures: list[GaussianMixture]) -> None:
        self.family = family
        self.mean, self.basis, self.residual_var = mean, basis, residual_var  # (C, D), (C, k, D), (C,)
        self.mixtures = mixtures

    @property
    def chains(self) -> int:
        return len(self.mixtures)

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        coords = []
        for gm in self.mixtures:
            comp = np.repeat(np.arange(len(gm.weights_)), rng.multinomial(n, gm.weights_))
            # sampling bias: every component's covariance scaled by the temperature
            root = np.linalg.cholesky(_full_covariances(gm)[comp] * temperature)
            z = gm.means_[comp] + np.einsum("nij,nj->ni", root, rng.standard_normal((n, gm.means_.shape[1])))
            coords.append(z[rng.permutation(n)])
        pixels = self.mean[:, None, :] + np.einsum("cnk,ckd->cnd", np.stack(coords), self.basis)
        return np.clip(pixels, 0.0, 1.0).reshape(self.chains, n, *self.family.info.shape)

    def nll(self, data: np.ndarray) -> np.ndarray:
        flat = IMAGE.check(data, self.family.info.shape, "image_gmm").reshape(*np.shape(data)[:-2], -1)
        flat = np.broadcast_to(flat, (self.chains, *flat.shape[-2:]))
        centred = flat - self.mean[:, None, :]
        z = np.einsum("cnd,ckd->cnk", centred, self.basis)
        residual = (centred**2).sum(-1) - (z**2).sum(-1)
        free = flat.shape[-1] - self.basis.shape[1]
        var = self.residual_var[:, None]
        residual_nll = 0.5 * free * np.log(2 * np.pi * var) + np.maximum(residual, 0.0) / (2 * var)
        return np.stack([-gm.score_samples(x) for gm, x in zip(self.mixtures, z)]) + residual_nll

    def state(self) -> dict[str, np.ndarray]:
        return {
            "mean": self.mean, "basis": self.basis, "residual_var": self.residual_var,
            "weights": np.stack([gm.weights_ for gm in self.mixtures]),
            "means": np.stack([gm.means_ for gm in self.mixtures]),
            "covariances": np.stack([_full_covariances(gm) for gm in self.mixtures]),
        }


@register_family("image_gmm")
class ImageGMMFamily(Family):
    modality = IMAGE
    Params = ImageGMMParams
    supports_top_p = False

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> ImageGMMModel:
        p = self.params
        data = IMAGE.check(data, self.info.shape, "image_gmm: training data")
        flat = data.reshape(data.shape[0], data.shape[1], -1)
        chains, n, dim = flat.shape
        k = min(p.pca, n - 1, dim)
        mean = flat.mean(axis=1)
        centred = flat - mean[:, None, :]
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)  # batched over chains
        variances = singular**2 / (n - 1)
        residual_var = np.maximum(variances[:, k:].sum(axis=1) / max(dim - k, 1), MIN_RESIDUAL_VAR)
        basis = vt[:, :k]
        coords = np.einsum("cnd,ckd->cnk", centred, basis)
        seeds = rng.integers(0, 2**31 - 1, size=chains)
        mixtures = []
        for z, seed in zip(coords, seeds):
            gm = GaussianMixture(min(p.components, n), covariance_type="full", max_iter=p.max_iter,
                                 reg_covar=p.reg_covar, random_state=int(seed)).fit(z)
            mixtures.append(_mixture_from(gm.weights_, gm.means_, gm.covariances_, p.reg_covar))
        return ImageGMMModel(self, mean, basis, residual_var, mixtures)

    def from_state(self, state: dict[str, np.ndarray]) -> ImageGMMModel:
        mixtures = [_mixture_from(w, m, c, self.params.reg_covar)
                    for w, m, c in zip(state["weights"], state["means"], state["covariances"])]
        return ImageGMMModel(self, state["mean"], state["basis"], state["residual_var"], mixtures)
