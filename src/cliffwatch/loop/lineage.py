"""A lineage: one (experiment config, seed), and the random streams every draw in it comes from."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.core.seeding import rng, stable_hash


@dataclass(frozen=True)
class Lineage:
    """One lineage = (config, seed). Human data draws are keyed by the data spec (so lineages that
    differ only in policy see the same human data for the same seed: common random numbers, which
    makes the quality loss between fractions a paired comparison); model draws by the lineage.
    A source that reads a user's file keys it by its content (``HumanSource.key_params``), so the
    same data under another path or format gives the same lineage."""

    config: ExperimentConfig
    seed: int
    tags: tuple[tuple[str, Any], ...] = ()  # swept values that are not policy fields (results columns)

    @cached_property  # hashed once: every random draw derives its stream from it
    def key(self) -> int:
        return stable_hash(self._by_content(self.config.lineage_params()))

    @cached_property
    def data_key(self) -> int:
        return stable_hash(self._by_content(self.config.data_params()))

    def _by_content(self, params: dict[str, Any]) -> dict[str, Any]:
        """``params`` with the data spec as its source keys it (a file: by its content, not its path)."""
        from cliffwatch.core.registry import SOURCES

        return {**params, "data": SOURCES.get(self.config.data.source).key_params(self.config.data)}

    @property
    def id(self) -> str:
        return f"{self.key:016x}-s{self.seed}"

    def labels(self) -> dict[str, Any]:
        """Columns that describe this lineage in the results table."""
        p = self.config.policy
        labels = p.model_dump(mode="json", exclude={"generators", "filters"})
        # lists become one readable string each, so every label is a plain table column
        labels["generators"] = "+".join(generator_labels(p.generators)) if p.generators else "self"
        labels["filters"] = "+".join(f"{f.name}:{f.mode}" for f in p.filters) or "none"
        return {"family": self.config.family.name, **labels, **dict(self.tags)}

    def rng(self, generation: int, purpose: str) -> np.random.Generator:
        return rng(self.seed, self.key, generation, purpose)

    def data_rng(self, generation: int, purpose: str) -> np.random.Generator:
        return rng(self.seed, self.data_key, generation, purpose)


def generator_labels(generators: list | None) -> list[str]:
    """A readable, unique name per generator (its family, with its knobs if two share a family)."""
    generators = generators or []
    names = [g.family.name for g in generators]
    out = []
    for i, name in enumerate(names):
        if names.count(name) == 1:
            out.append(name)
            continue
        knobs = ",".join(f"{k}={v}" for k, v in sorted(generators[i].family.params.items()))
        out.append(f"{name}({knobs})" if knobs else f"{name}#{i}")
    return out


def filter_labels(filters: list) -> list[str]:
    """A unique name per filter of a policy (its name, numbered if it appears twice)."""
    names = [spec.name for spec in filters]
    return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]
