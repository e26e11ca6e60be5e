"""Provenance of the items the loop trains on: where each came from, kept parallel to the data.

A :class:`Provenance` holds, per chain and item, arrays ``(chains, n)`` in the same order as the
batch they describe; the engine applies the batch's concatenations, heads and subsamples to it
too, so an item keeps its provenance while it stays in an accumulating pool. Each generation's
training set becomes one manifest (``cliffwatch.data.manifest``): its ids name the item's origin,
``g<generation>-h<i>`` (the i-th human item drawn at that generation) or ``g<generation>-s<i>``
(the i-th synthetic item kept at that generation), prefixed with ``c<chain>-`` when a lineage
runs several chains.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from cliffwatch.core.modality import TEXT, Modality, Sentences
from cliffwatch.data.manifest import item_hashes

HUMAN = -1  # the generator index of a human item


@dataclass(frozen=True)
class Provenance:
    born: np.ndarray  # int64: the generation that drew (human) or sampled (synthetic) the item
    index: np.ndarray  # int64: its position among that generation's human or kept synthetic items
    generator: np.ndarray  # int64: index into the lineage's generator labels; HUMAN for human data
    depth: np.ndarray  # int64: recursion depth (0 human; 1 + the depth its generator was fitted on)
    verified: np.ndarray  # bool: passed a verifier filter

    @classmethod
    def human(cls, chains: int, generation: int, n: int) -> "Provenance":
        """The first n human items drawn at ``generation`` (a fixed anchor is generation 0's draw)."""
        return cls._same_for_every_chain(chains, generation, np.full(n, HUMAN), np.zeros(chains, np.int64), False)

    @classmethod
    def synthetic(cls, generation: int, sizes: list[tuple[int, int]], depth: np.ndarray, verified: bool) -> "Provenance":
        """The synthetic items kept at ``generation``: ``sizes`` (generator index, items per chain)
        in the order the batch joins them; ``depth`` (chains,): the depth of each chain's models' data."""
        generator = np.repeat([g for g, _ in sizes], [k for _, k in sizes]).astype(np.int64)
        return cls._same_for_every_chain(len(depth), generation, generator, depth + 1, verified)

    @classmethod
    def _same_for_every_chain(cls, chains: int, generation: int, generator: np.ndarray, depth: np.ndarray,
                              verified: bool) -> "Provenance":
        """Items born together, in the same order in every chain, as read-only views that repeat one
        row or column (nothing writes provenance in place): a generation's bookkeeping allocates
        almost nothing."""
        n = len(generator)
        return cls(_repeated(np.array([generation], np.int64), (chains, n), (0, 0)),
                   _repeated(np.arange(n, dtype=np.int64), (chains, n), (0, 8)),
                   _repeated(np.ascontiguousarray(generator, np.int64), (chains, n), (0, 8)),
                   _repeated(np.ascontiguousarray(depth, np.int64), (chains, n), (8, 0)),
                   _repeated(np.array([verified]), (chains, n), (0, 0)))

    @staticmethod
    def concat(parts: list["Provenance | None"]) -> "Provenance | None":
        parts = [p for p in parts if p is not None and p.born.size] or [p for p in parts if p is not None][:1]
        if len(parts) <= 1:
            return parts[0] if parts else None
        return Provenance(*(np.concatenate([getattr(p, f.name) for p in parts], axis=1) for f in fields(Provenance)))

    def take(self, index: np.ndarray) -> "Provenance":
        """The items at ``index`` (chains, k), chain by chain."""
        return Provenance(*(np.take_along_axis(getattr(self, f.name), index, axis=1) for f in fields(Provenance)))

    def subsample(self, modality: Modality, k: int, rng: np.random.Generator) -> "Provenance":
        """The items ``modality.subsample(batch, k, rng)`` keeps of the batch this describes, given
        a generator in the same state: the modality subsamples the items' positions instead of the
        items (its draws depend only on the batch's size), so both pick the same items."""
        chains, n = self.born.shape
        if modality is TEXT:
            picked = modality.subsample(Sentences.from_lengths(np.arange(n), np.ones(n, np.int64)), k, rng).ids[None, :]
        else:
            picked = modality.subsample(np.broadcast_to(np.arange(n), (chains, n)), k, rng)
        return self.take(picked.astype(np.int64))

    def max_depth(self) -> np.ndarray:
        """Per chain, the recursion depth of this data: its deepest item."""
        return self.depth.max(axis=1)

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.{f.name}": getattr(self, f.name) for f in fields(Provenance)}

    @classmethod
    def from_arrays(cls, prefix: str, arrays: dict[str, np.ndarray]) -> "Provenance | None":
        if f"{prefix}.born" not in arrays:
            return None
        return cls(*(arrays[f"{prefix}.{f.name}"] for f in fields(Provenance)))

    def manifest(self, train: Any, labels: list[str], families: list[str]) -> dict[str, Any]:
        """Columns for ``cliffwatch.data.manifest.write_manifest``: one row per training item of
        ``train`` (the batch this describes), chain by chain. ``labels`` / ``families``: the
        generator label and model family of each generator index."""
        chains, n = self.born.shape
        flat = {f.name: getattr(self, f.name).ravel() for f in fields(Provenance)}
        human = flat["generator"] == HUMAN
        parts = ["g", _strings(flat["born"]), pc.if_else(pa.array(human), "-h", "-s"), _strings(flat["index"])]
        if chains > 1:
            parts = ["c", _strings(np.repeat(np.arange(chains), n)), "-"] + parts
        ids = pc.binary_join_element_wise(*parts, "")
        generator = np.where(human, 0, flat["generator"])
        items = train if isinstance(train, Sentences) else np.asarray(train).reshape((chains * n,) + np.shape(train)[2:])
        hashes = item_hashes(items)
        return {
            "ids": ids,
            "source": pa.array(np.where(human, "human", "synthetic"), pa.string()),
            "generator": pa.array(np.asarray(labels, dtype=object)[generator], pa.string(), mask=human),
            "family": pa.array(np.asarray(families, dtype=object)[generator], pa.string(), mask=human),
            "generation": flat["depth"],
            "verified": flat["verified"],
            "content_hash": hashes,
        }


def _repeated(values: np.ndarray, shape: tuple[int, int], strides: tuple[int, int]) -> np.ndarray:
    """A read-only (chains, n) view of a contiguous 1-D array repeated along the zero strides
    (np.broadcast_to, without its per-call overhead in the loop's hot path)."""
    view = np.ndarray(shape, values.dtype, buffer=values, strides=strides) if values.size else np.zeros(shape, values.dtype)
    view.flags.writeable = False
    return view


def _strings(values: np.ndarray) -> pa.Array:
    return pa.array(values).cast(pa.string())
