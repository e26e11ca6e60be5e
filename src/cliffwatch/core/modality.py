"""Modalities: one object per kind of data, the only place that knows how its batches work.

A batch is what a family fits on and samples, what a filter masks and what the loop mixes:

- ``vector``: float64 array (C, n, d); C independent replicate chains run in lockstep
- ``tokens``: int64 array (C, n) of states in [0, support)
- ``text``:   :class:`Sentences` (one chain: C == 1)
- ``image``:  float64 array (C, n, H, W) of grey levels in [0, 1]

Each modality knows how to take, join, count, select and checkpoint its batches, what a family
must be told about the data before it sees any (:class:`DataInfo`), and its default cliff metric.
Components declare a modality object (``modality = VECTOR``), never a bare string.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np

from cliffwatch.core.errors import ConfigError, DataError


@dataclass(frozen=True)
class Sentences:
    """A ragged batch of sentences: ids[offsets[i]:offsets[i+1]] is sentence i."""

    ids: np.ndarray  # int32, flat
    offsets: np.ndarray  # int64, len = n + 1, offsets[0] == 0

    @classmethod
    def from_lists(cls, sentences: list[np.ndarray] | list[list[int]]) -> "Sentences":
        lengths = np.fromiter((len(s) for s in sentences), dtype=np.int64, count=len(sentences))
        offsets = np.zeros(len(sentences) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = (
            np.concatenate([np.asarray(s, dtype=np.int32) for s in sentences])
            if len(sentences)
            else np.zeros(0, np.int32)
        )
        return cls(ids.astype(np.int32, copy=False), offsets)

    @classmethod
    def from_lengths(cls, ids: np.ndarray, lengths: np.ndarray) -> "Sentences":
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return cls(np.asarray(ids, dtype=np.int32), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])

    def sentence(self, i: int) -> np.ndarray:
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def take(self, idx: np.ndarray) -> "Sentences":
        """The sentences at positions idx (any order, repeats allowed), vectorised."""
        idx = np.asarray(idx, dtype=np.int64)
        starts = self.offsets[idx]
        lengths = self.offsets[idx + 1] - starts
        new_offsets = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lengths, out=new_offsets[1:])
        gather = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
        return Sentences(self.ids[gather], new_offsets)

    @staticmethod
    def concat(parts: list["Sentences"]) -> "Sentences":
        parts = [p for p in parts if len(p)] or parts[:1]
        ids = np.concatenate([p.ids for p in parts])
        lengths = np.concatenate([p.lengths for p in parts])
        return Sentences.from_lengths(ids, lengths)

    def sentence_index(self) -> np.ndarray:
        """For each token, the index of its sentence."""
        return np.repeat(np.arange(len(self), dtype=np.int64), self.lengths)


class Modality(ABC):
    """How batches of one kind of data behave. Singletons: compare with ``is``."""

    name: str
    default_metric: str  # the cliff's quality metric unless the config names one
    max_chains: int | None = None  # None: any number of replicate chains per lineage

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:  # pickles (to worker processes) as the singleton
        return _NAMES[self.name]

    @abstractmethod
    def size(self, data: Any) -> int:
        """Items per chain."""

    @abstractmethod
    def join(self, parts: list[Any]) -> Any:
        """Items of every part, chain by chain (parts are not None)."""

    @abstractmethod
    def head(self, data: Any, k: int) -> Any:
        """The first k items of every chain."""

    @abstractmethod
    def subsample(self, data: Any, k: int, rng: np.random.Generator) -> Any:
        """k items per chain without replacement, chosen independently per chain."""

    @abstractmethod
    def select(self, data: Any, mask: np.ndarray) -> Any:
        """The accepted items (mask: (n,) or (chains, n)); chains stay in lockstep."""

    @abstractmethod
    def count(self, mask: np.ndarray) -> int:
        """Accepted items per chain, as ``select`` keeps them."""

    @abstractmethod
    def to_arrays(self, prefix: str, data: Any) -> dict[str, np.ndarray]:
        """Flatten a batch for a checkpoint (np.savez)."""

    @abstractmethod
    def from_arrays(self, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
        """The batch ``to_arrays`` stored under ``prefix`` (None if there is none)."""

    def concat(self, parts: list[Any]) -> Any:
        """``join`` that skips None parts (None if nothing is left; a single part as it is)."""
        parts = [p for p in parts if p is not None]
        if len(parts) <= 1:
            return parts[0] if parts else None
        return self.join(parts)


class _ArrayModality(Modality):
    """Batches are arrays (C, n, ...): the chain axis first, items second."""

    def size(self, data: np.ndarray) -> int:
        return data.shape[1]

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts, axis=1)

    def head(self, data: np.ndarray, k: int) -> np.ndarray:
        return data[:, :k]

    def subsample(self, data: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        # argsort of uniform keys: an independent random permutation per chain in one call
        idx = np.argsort(rng.random((data.shape[0], data.shape[1])), axis=1)[:, :k]
        return np.take_along_axis(data, idx.reshape(idx.shape + (1,) * (data.ndim - 2)), axis=1)

    def select(self, data: np.ndarray, mask: np.ndarray) -> np.ndarray:
        # every chain keeps as many accepted items as the chain with the fewest (its first ones)
        keep = self.count(mask)
        order = np.argsort(~mask, axis=1, kind="stable")[:, :keep]
        return np.take_along_axis(data, order.reshape(order.shape + (1,) * (data.ndim - 2)), axis=1)

    def count(self, mask: np.ndarray) -> int:
        return int(mask.sum()) if mask.ndim == 1 else int(mask.sum(axis=1).min())

    def to_arrays(self, prefix: str, data: np.ndarray) -> dict[str, np.ndarray]:
        return {f"{prefix}.array": data}

    def from_arrays(self, prefix: str, arrays: dict[str, np.ndarray]) -> np.ndarray | None:
        return arrays.get(f"{prefix}.array")


class _Vector(_ArrayModality):
    name = "vector"
    default_metric = "wasserstein"

    def join(self, parts: list[np.ndarray]) -> np.ndarray:
        # in the layout a model's samples come in, each chain's items contiguous per dimension: a
        # growing pool refitted every generation then needs no transposing copy (core/moments.py)
        return np.swapaxes(np.concatenate([np.swapaxes(p, 1, 2) for p in parts], axis=2), 1, 2)


class _Tokens(_ArrayModality):
    name = "tokens"
    default_metric = "tv_distance"


class _Image(_ArrayModality):
    """Images keep their (H, W) axes rather than being flattened to (C, n, H*W): a batch's shape
    then says what it is, so an image of the wrong size fails at the first component that sees it
    instead of being silently read as a vector of another length, and a grid of samples needs no
    side information to be drawn. Families and probes that want vectors reshape locally."""

    name = "image"
    # distance in a digit classifier's feature space (the FID of small images): it sees both the
    # loss of detail and the loss of whole classes, which pixel distances blur together
    default_metric = "class_frechet"

    @staticmethod
    def check(data: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
        """``data`` as float images of ``shape`` ((C, n, H, W) or (n, H, W)); a one-line DataError if not."""
        data = np.asarray(data, dtype=float)
        if data.ndim not in (3, 4) or data.shape[-2:] != tuple(shape):
            raise DataError(f"{what}: expected images of shape {tuple(shape)} as (chains, n, H, W) or (n, H, W), "
                            f"got an array of shape {data.shape}")
        return data


class _Text(Modality):
    name = "text"
    default_metric = "heldout_ppl"
    max_chains = 1  # a corpus lineage is one chain: replicate with seeds

    def size(self, data: Sentences) -> int:
        return len(data)

    def join(self, parts: list[Sentences]) -> Sentences:
        return Sentences.concat(parts)

    def head(self, data: Sentences, k: int) -> Sentences:
        return data.take(np.arange(k))

    def subsample(self, data: Sentences, k: int, rng: np.random.Generator) -> Sentences:
        return data.take(np.sort(rng.choice(len(data), k, replace=False)))

    def select(self, data: Sentences, mask: np.ndarray) -> Sentences:
        return data.take(np.flatnonzero(mask))

    def count(self, mask: np.ndarray) -> int:
        return int(mask.sum())

    def to_arrays(self, prefix: str, data: Sentences) -> dict[str, np.ndarray]:
        return {f"{prefix}.ids": data.ids, f"{prefix}.offsets": data.offsets}

    def from_arrays(self, prefix: str, arrays: dict[str, np.ndarray]) -> Sentences | None:
        if f"{prefix}.ids" not in arrays:
            return None
        return Sentences(arrays[f"{prefix}.ids"], arrays[f"{prefix}.offsets"])


VECTOR: Modality = _Vector()
TOKENS: Modality = _Tokens()
TEXT: Modality = _Text()
IMAGE: _Image = _Image()
MODALITIES: dict[str, Modality] = {m.name: m for m in (VECTOR, TOKENS, TEXT, IMAGE)}
_NAMES = {"vector": "VECTOR", "tokens": "TOKENS", "text": "TEXT", "image": "IMAGE"}


def modality(name: "str | Modality") -> Modality:
    """The modality object for a name (a Modality passes through)."""
    if isinstance(name, Modality):
        return name
    try:
        return MODALITIES[name]
    except KeyError:
        raise ConfigError(f"unknown modality {name!r}; known: {', '.join(MODALITIES)}") from None


@dataclass(frozen=True)
class DataInfo:
    """What a family needs to know about the human data before it sees any."""

    modality: Modality
    dim: int | None = None  # vector: dimensions of an item
    support: int | None = None  # tokens: number of states
    vocab: Any = None  # text: cliffwatch.data.text.Vocab
    shape: tuple[int, ...] | None = None  # image: (H, W) of an item

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", modality(self.modality))
