"""An infinite Gaussian human source N(mean, cov): the analytic track."""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from cliffwatch.config.limits import MAX_DIM, WHY, at_most
from cliffwatch.core.modality import VECTOR, DataInfo
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import HumanSource, SourceSpec


class GaussianData(SourceSpec):
    """An infinite human source N(mean, cov): the analytic track."""

    source: Literal["gaussian"]
    dim: Annotated[int, at_most(MAX_DIM, WHY["dim"])] = Field(1, ge=1)
    mean: float | list[float] = 0.0
    variance: float | list[float] = Field(1.0, description="a number (isotropic) or per-dimension variances")
    correlation: float = Field(0.0, ge=-0.99, le=0.99, description="equal correlation between every pair of dimensions")


@register_source("gaussian")
class GaussianSource(HumanSource):
    Spec = GaussianData
    modality = VECTOR

    @classmethod
    def check(cls, spec: GaussianData) -> str | None:
        for name in ("mean", "variance"):
            value = getattr(spec, name)
            if isinstance(value, list) and len(value) != spec.dim:
                return f"{name}: {len(value)} values for dim {spec.dim}; give one number or {spec.dim}"
        if any(v <= 0 for v in np.atleast_1d(spec.variance)):
            return "variance: must be positive"
        if spec.dim > 1 and spec.correlation <= -1 / (spec.dim - 1):  # else the covariance is not positive definite
            return f"correlation: must exceed {-1 / (spec.dim - 1):.4g} in {spec.dim} dimensions (positive definite)"
        return None

    def __init__(self, spec: GaussianData, holdout: int, rng: np.random.Generator) -> None:
        d = spec.dim
        self.mean = np.broadcast_to(np.asarray(spec.mean, dtype=float), (d,)).copy()
        sd = np.sqrt(np.broadcast_to(np.asarray(spec.variance, dtype=float), (d,)))
        corr = np.full((d, d), spec.correlation) + (1 - spec.correlation) * np.eye(d)
        self.cov = corr * np.outer(sd, sd)
        self._chol = np.linalg.cholesky(self.cov)
        self._reference = self.draw(holdout, rng, 1)[0]
        self.fingerprint = f"gaussian:{d}"

    @property
    def info(self) -> DataInfo:
        return DataInfo(VECTOR, dim=len(self.mean))

    def reference(self) -> np.ndarray:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> np.ndarray:
        z = rng.standard_normal((chains, n, len(self.mean)))
        return self.mean + z @ self._chol.T

    def true_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean, self.cov
