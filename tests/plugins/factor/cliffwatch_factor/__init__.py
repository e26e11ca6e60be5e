"""A third-party cliffwatch family: a factor-analysis model (scikit-learn's FactorAnalysis) of vector data.

Declared by the entry point ``factor = "cliffwatch_factor:FactorFamily"`` in the group
``cliffwatch.families``; the decorator binds the class to that declaration.
"""

import numpy as np
from pydantic import Field
from sklearn.decomposition import FactorAnalysis

from cliffwatch.core.modality import VECTOR
from cliffwatch.core.registry import register_family
from cliffwatch.families.base import Family, Model, Params


class FactorParams(Params):
    factors: int = Field(1, ge=1, description="latent factors")


class FactorModel(Model):
    def __init__(self, family, mean, loadings, noise):
        self.family, self.mean, self.loadings, self.noise = family, mean, loadings, noise  # (C, d), (C, k, d), (C, d)

    @property
    def chains(self):
        return self.mean.shape[0]

    def cov(self):
        return np.swapaxes(self.loadings, 1, 2) @ self.loadings + np.einsum("cd,de->cde", self.noise, np.eye(self.mean.shape[1]))

    def sample(self, n, rng, *, temperature=1.0, top_p=1.0):
        c, d = self.mean.shape
        z = rng.standard_normal((c, n, self.loadings.shape[1]))
        eps = rng.standard_normal((c, n, d)) * np.sqrt(self.noise)[:, None, :]
        return self.mean[:, None, :] + np.sqrt(temperature) * (z @ self.loadings + eps)

    def nll(self, data):
        data = np.asarray(data, dtype=float)
        data = data[None] if data.ndim == 2 else data
        cov = self.cov()
        sign, logdet = np.linalg.slogdet(cov)
        centred = data - self.mean[:, None, :]
        maha = np.einsum("cnd,cnd->cn", centred, np.linalg.solve(cov, np.swapaxes(centred, 1, 2)).swapaxes(1, 2))
        return 0.5 * (maha + logdet[:, None] + self.mean.shape[1] * np.log(2 * np.pi))

    def state(self):
        return {"mean": self.mean, "loadings": self.loadings, "noise": self.noise}


@register_family("factor")
class FactorFamily(Family):
    modality = VECTOR
    Params = FactorParams
    supports_top_p = False

    def fit(self, data, rng, init=None):  # fitted from scratch: init (the previous model) is ignored
        fits = [FactorAnalysis(self.params.factors, random_state=int(rng.integers(2**31))).fit(x) for x in data]
        return FactorModel(self, np.stack([f.mean_ for f in fits]), np.stack([f.components_ for f in fits]),
                           np.stack([f.noise_variance_ for f in fits]))

    def from_state(self, state):
        return FactorModel(self, state["mean"], state["loadings"], state["noise"])
