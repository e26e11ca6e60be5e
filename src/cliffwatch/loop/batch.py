"""Modality-neutral operations on training data: arrays (C, n, ...) or Sentences (one chain)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cliffwatch.data.text import Sentences


def size(data: Any) -> int:
    """Items per chain."""
    return len(data) if isinstance(data, Sentences) else data.shape[1]


def concat(parts: list[Any]) -> Any:
    """Items of every part, chain by chain; None parts are skipped (None if nothing is left)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    if isinstance(parts[0], Sentences):
        return Sentences.concat(parts)
    return np.concatenate(parts, axis=1)


def head(data: Any, k: int) -> Any:
    """The first k items of every chain."""
    return data.take(np.arange(k)) if isinstance(data, Sentences) else data[:, :k]


def subsample(data: Any, k: int, rng: np.random.Generator) -> Any:
    """k items per chain, without replacement, chosen independently per chain."""
    n = size(data)
    if isinstance(data, Sentences):
        return data.take(np.sort(rng.choice(n, k, replace=False)))
    # argsort of uniform keys: an independent random permutation per chain in one call
    idx = np.argsort(rng.random((data.shape[0], n)), axis=1)[:, :k]
    return np.take_along_axis(data, idx.reshape(idx.shape + (1,) * (data.ndim - 2)), axis=1)


def to_arrays(prefix: str, data: Any) -> dict[str, np.ndarray]:
    """Flatten data for a checkpoint (np.savez)."""
    if isinstance(data, Sentences):
        return {f"{prefix}.ids": data.ids, f"{prefix}.offsets": data.offsets}
    return {f"{prefix}.array": data}


def from_arrays(prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    if f"{prefix}.ids" in arrays:
        return Sentences(arrays[f"{prefix}.ids"], arrays[f"{prefix}.offsets"])
    return arrays.get(f"{prefix}.array")


def select(data: Any, mask: np.ndarray) -> Any:
    """The items where mask is True. Arrays stay rectangular: every chain keeps as many accepted
    items as the chain with the fewest (its first ones), so chains stay in lockstep."""
    if isinstance(data, Sentences):
        return data.take(np.flatnonzero(mask))
    keep = int(mask.sum(axis=1).min())
    order = np.argsort(~mask, axis=1, kind="stable")[:, :keep]
    return np.take_along_axis(data, order.reshape(order.shape + (1,) * (data.ndim - 2)), axis=1)


def count(mask: np.ndarray) -> int:
    """Accepted items per chain, as ``select`` keeps them."""
    return int(mask.sum()) if mask.ndim == 1 else int(mask.sum(axis=1).min())
