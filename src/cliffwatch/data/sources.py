"""Human data sources: where each generation's human share and the held-out reference come from.

Infinite sources (gaussian, zipf, categorical) draw fresh samples from the true distribution.
Finite sources (digits, text corpora) split once, per seed, into a held-out reference and a
training pool; human draws come from the pool.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from cliffwatch.config.schema import CategoricalData, CorpusData, DigitsData, GaussianData, ZipfData, data_modality
from cliffwatch.core.errors import DataError
from cliffwatch.families.base import DataInfo


class HumanSource(ABC):
    """Base: ``reference`` is the held-out human data; ``draw`` gives (chains, n, ...) human items."""

    modality: str
    fingerprint: str = ""
    provenance: dict = {}
    facts: Any = None

    @property
    @abstractmethod
    def info(self) -> DataInfo:
        """What a family needs to know about this data."""

    @abstractmethod
    def reference(self) -> Any:
        """The held-out human reference every probe compares against."""

    @abstractmethod
    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Any:
        """n human items per chain."""

    def true_moments(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Exact (mean, covariance) when the source knows them (vector sources)."""
        return None

    def true_probs(self) -> np.ndarray | None:
        """Exact state probabilities when the source knows them (tokens sources)."""
        return None


class GaussianSource(HumanSource):
    modality = "vector"

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
        return DataInfo("vector", dim=len(self.mean))

    def reference(self) -> np.ndarray:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> np.ndarray:
        z = rng.standard_normal((chains, n, len(self.mean)))
        return self.mean + z @ self._chol.T

    def true_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return self.mean, self.cov


class CategoricalSource(HumanSource):
    modality = "tokens"

    def __init__(self, probs: np.ndarray, holdout: int, rng: np.random.Generator, name: str) -> None:
        self.probs = probs / probs.sum()
        self._cdf = np.cumsum(self.probs)
        self._reference = self.draw(holdout, rng, 1)[0]
        self.fingerprint = name

    @property
    def info(self) -> DataInfo:
        return DataInfo("tokens", support=len(self.probs))

    def reference(self) -> np.ndarray:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> np.ndarray:
        u = rng.random((chains, n))
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), len(self.probs) - 1).astype(np.int64)

    def true_probs(self) -> np.ndarray:
        return self.probs


class PoolSource(HumanSource):
    """A finite human data set: a per-seed held-out reference and a training pool to draw from."""

    def __init__(self, items: Any, holdout: int, rng: np.random.Generator, take, size: int, name: str) -> None:
        if holdout >= size:
            raise DataError(f"{name}: {size} items (sentences), but the holdout alone needs {holdout} and training "
                            "needs more; lower `holdout` or use a larger corpus")
        order = rng.permutation(size)
        self._take = take
        self._reference = take(items, order[:holdout])
        self.pool = take(items, order[holdout:])
        self.pool_size = size - holdout

    def reference(self) -> Any:
        return self._reference

    def draw(self, n: int, rng: np.random.Generator, chains: int) -> Any:
        # without replacement while the pool lasts, so a human draw never repeats an item
        replace = n > self.pool_size
        if self.modality == "text":
            return self._take(self.pool, rng.choice(self.pool_size, n, replace=replace))
        idx = np.stack([rng.choice(self.pool_size, n, replace=replace) for _ in range(chains)])
        return self.pool[idx]


class DigitsSource(PoolSource):
    modality = "vector"

    def __init__(self, spec: DigitsData, holdout: int, rng: np.random.Generator) -> None:
        from sklearn.datasets import load_digits
        from sklearn.decomposition import PCA

        pixels = load_digits().data
        # standardised PCA features: the digits' real variation in a few dimensions
        features = PCA(spec.components, random_state=0).fit_transform(pixels)
        features /= features.std(axis=0)
        self.fingerprint = f"sklearn-digits:pca{spec.components}"
        self.dim = spec.components
        super().__init__(features, holdout, rng, lambda a, i: a[i], len(features), "sklearn digits")

    @property
    def info(self) -> DataInfo:
        return DataInfo("vector", dim=self.dim)


class TextSource(PoolSource):
    modality = "text"

    def __init__(self, spec: CorpusData, holdout: int, rng: np.random.Generator) -> None:
        from cliffwatch.data.corpora import load_corpus

        corpus = load_corpus(spec.corpus, field=spec.field, max_sentences=spec.max_sentences)
        self.corpus = corpus
        self.fingerprint = corpus.fingerprint
        self.provenance = corpus.provenance
        self.facts = corpus.facts
        super().__init__(corpus.sentences, holdout, rng, lambda s, i: s.take(i), len(corpus.sentences), spec.corpus)

    @property
    def info(self) -> DataInfo:
        return DataInfo("text", vocab=self.corpus.vocab)


def make_source(spec: Any, holdout: int, rng: np.random.Generator) -> HumanSource:
    """The human source for a data spec; ``rng`` draws the reference or the split (per seed)."""
    if isinstance(spec, GaussianData):
        return GaussianSource(spec, holdout, rng)
    if isinstance(spec, ZipfData):
        ranks = np.arange(1, spec.support + 1, dtype=float)
        return CategoricalSource(ranks**-spec.exponent, holdout, rng, f"zipf:{spec.support}:{spec.exponent}")
    if isinstance(spec, CategoricalData):
        probs = np.asarray(spec.probs, dtype=float)
        if probs.sum() <= 0:
            raise DataError("data.probs: probabilities must sum to a positive number")
        return CategoricalSource(probs, holdout, rng, f"categorical:{len(probs)}")
    if isinstance(spec, DigitsData):
        return DigitsSource(spec, holdout, rng)
    if isinstance(spec, CorpusData):
        return TextSource(spec, holdout, rng)
    raise DataError(f"unknown data source {data_modality(spec)!r}")
