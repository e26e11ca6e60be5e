"""Categorical refit over a finite support (e.g. Zipf): tail loss with exact formulas.

Fit = (optionally smoothed) empirical frequencies per chain; sampling is one searchsorted
over the chains' stacked cumulative distributions.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from cliffwatch.core.modality import TOKENS
from cliffwatch.families.base import Family, Model, Params
from cliffwatch.core.registry import register_family


class CategoricalParams(Params):
    smoothing: float = Field(0.0, ge=0.0, description="additive (Laplace) pseudo-count per state; 0 = MLE")


def biased(probs: np.ndarray, temperature: float, top_p: float) -> np.ndarray:
    """Rows of probs tempered (p^(1/T)) and nucleus-truncated to the smallest top set of mass >= top_p."""
    if temperature != 1.0:
        with np.errstate(divide="ignore"):
            logits = np.log(probs) / temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-probs, axis=1, kind="stable")
        sorted_p = np.take_along_axis(probs, order, axis=1)
        mass_before = np.cumsum(sorted_p, axis=1) - sorted_p
        keep_sorted = mass_before < top_p
        keep = np.empty_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs


def sample_rows(probs: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws from each row of probs (C, K), vectorised over rows: (C, n) int64."""
    c, k = probs.shape
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    # shift each row's CDF by its row index so one searchsorted serves every chain
    flat = (cdf + np.arange(c)[:, None]).ravel()
    u = rng.random((c, n)) + np.arange(c)[:, None]
    idx = np.searchsorted(flat, u.ravel(), side="right").reshape(c, n) - np.arange(c)[:, None] * k
    return np.clip(idx, 0, k - 1)


class CategoricalModel(Model):
    def __init__(self, family: "CategoricalFamily", probs: np.ndarray) -> None:
        self.family = family
        self.probs = probs  # (C, K)

    @property
    def chains(self) -> int:
        return self.probs.shape[0]

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
        return sample_rows(biased(self.probs, temperature, top_p), n, rng)

    def nll(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data)
        if data.ndim == 1:
            data = np.broadcast_to(data, (self.chains, len(data)))
        with np.errstate(divide="ignore"):
            return -np.log(np.take_along_axis(self.probs, data, axis=1))

    def state(self) -> dict[str, np.ndarray]:
        return {"probs": self.probs}


@register_family("categorical")
class CategoricalFamily(Family):
    modality = TOKENS
    Params = CategoricalParams
    random_fit = False  # the fit is the sample moments / frequencies

    def fit(self, data: np.ndarray, rng: np.random.Generator, init: Model | None = None) -> CategoricalModel:
        c, n = data.shape
        k = self.info.support
        counts = np.bincount((data + np.arange(c)[:, None] * k).ravel(), minlength=c * k).reshape(c, k)
        alpha = self.params.smoothing
        return CategoricalModel(self, (counts + alpha) / (n + alpha * k))

    def from_state(self, state: dict[str, np.ndarray]) -> CategoricalModel:
        return CategoricalModel(self, state["probs"])
