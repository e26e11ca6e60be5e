"""Gaussian kernel density estimate per chain: a model that memorises its training data."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field
from scipy.special import logsumexp

from cliffwatch.core.modality import VECTOR
from cliffwatch.families.base import Family, Model, Params
from cliffwatch.core.registry import register_family


class KDEParams(Params):
    bandwidth: Literal["scott", "silverman"] | Annotated[float, Field(gt=0)] = Field(
        "scott", description="kernel width: a rule of thumb per chain, or a fixed number"
    )


class KDEModel(Model):
    def __init__(self, family: "KDEFamily", points: np.ndarray, bandwidth: np.ndarray) -> None:
        self.family = family
        self.points = points  # (C, n, d)
        self.bandwidth = bandwidth  # (C,)

    @property
    def chains(self) -> int:
        return self.points.shape[0]

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        c, m, d = self.points.shape
        picks = rng.integers(0, m, size=(c, n))
        centres = np.take_along_axis(self.points, picks[..., None], axis=1)
        # sampling bias: the kernel's variance is scaled by the temperature
        noise = rng.standard_normal((c, n, d)) * (self.bandwidth * np.sqrt(temperature))[:, None, None]
        return centres + noise

    def nll(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=float)
        if data.ndim == 2:
            data = np.broadcast_to(data, (self.chains, *data.shape))
        c, m, d = self.points.shape
        h = self.bandwidth[:, None, None]
        out = np.empty(data.shape[:2])
        for start in range(0, data.shape[1], 512):  # bounded memory: (C, 512, m) at a time
            x = data[:, start : start + 512]
            sq = (np.einsum("cnd,cnd->cn", x, x)[:, :, None] + np.einsum("cmd,cmd->cm", self.points, self.points)[:, None, :]
                  - 2 * np.einsum("cnd,cmd->cnm", x, self.points))
            log_k = -0.5 * np.clip(sq, 0, None) / h**2
            out[:, start : start + 512] = -(logsumexp(log_k, axis=2) - np.log(m)
                                            - d * np.log(self.bandwidth)[:, None] - 0.5 * d * np.log(2 * np.pi))
        return out

    def state(self) -> dict[str, np.ndarray]:
        return {"points": self.points, "bandwidth": self.bandwidth}


@register_family("kde")
class KDEFamily(Family):
    modality = VECTOR
    Params = KDEParams
    supports_top_p = False

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> KDEModel:
        c, n, d = data.shape
        bw = self.params.bandwidth
        if isinstance(bw, str):
            factor = n ** (-1.0 / (d + 4)) if bw == "scott" else (n * (d + 2) / 4.0) ** (-1.0 / (d + 4))
            # an isotropic kernel scaled to the data's average per-dimension spread
            bandwidth = factor * data.std(axis=1, ddof=1).mean(axis=1)
            bandwidth = np.maximum(bandwidth, 1e-12)
        else:
            bandwidth = np.full(c, float(bw))
        return KDEModel(self, data.copy(), bandwidth)

    def from_state(self, state: dict[str, np.ndarray]) -> KDEModel:
        return KDEModel(self, state["points"], state["bandwidth"])
