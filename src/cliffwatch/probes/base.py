"""The Probe interface: collapse-sensitive metrics measured each generation against held-out human data."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

from cliffwatch.core.metrics import Metric
from cliffwatch.core.modality import DataInfo, Modality
from cliffwatch.families.base import Model


@dataclass
class ProbeContext:
    """Everything a probe may look at for one generation of one lineage (all chains)."""

    model: Model
    generation: int
    train: Any  # this generation's training data
    draw_samples: Callable[[], Any]  # the model's own samples (policy's sampling settings), drawn on first use
    reference: Any  # held-out human data: vector (m, d), tokens (m,), text Sentences
    info: DataInfo
    make_rng: Callable[[], np.random.Generator]  # the probes' random stream, made on first use (few probes draw)
    source: Any = None  # the human data source (a text corpus may carry a fact base)
    prev_model: Model | None = None
    draw_prev_samples: Callable[[], Any] | None = None  # the previous generation's samples, on first use
    chains: int = 1
    cache: dict = field(default_factory=dict)  # shared between probes within one generation
    # arrays a probe keeps beside its metrics (e.g. a few sample images); the run stores them per generation
    artifacts: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def rng(self) -> np.random.Generator:
        """The probes' random stream of this generation (shared: probes draw from it in turn)."""
        if "rng" not in self.cache:
            self.cache["rng"] = self.make_rng()
        return self.cache["rng"]

    @property
    def samples(self) -> Any:
        """The model's samples; drawn once, and only if some probe asks."""
        if "samples" not in self.cache:
            self.cache["samples"] = self.draw_samples()
        return self.cache["samples"]

    @property
    def prev_samples(self) -> Any:
        """What the previous generation's model emitted (the data a synthetic benchmark is built from)."""
        if self.draw_prev_samples is None:
            return None
        if "prev_samples" not in self.cache:
            self.cache["prev_samples"] = self.draw_prev_samples()
        return self.cache["prev_samples"]


class Probe(ABC):
    """Registered with ``@register_probe(name)``; reports each metric as an array of shape (chains,)."""

    name: ClassVar[str]
    modality: ClassVar[Modality]
    metrics: ClassVar[tuple[Metric, ...]]
    opt_in: ClassVar[bool] = False  # costly probes (a neural encoder, exact k-NN) run only when a config names them

    @classmethod
    def applies_to(cls, source: Any) -> bool:
        """Whether this probe can run on data from ``source`` (e.g. fact probes need a fact base)."""
        return True

    def prepare(self, source: Any) -> None:
        """Work that depends only on the human data (e.g. which facts its pool states): a run does it
        once per source before its workers fork, so that they inherit it instead of each redoing it."""

    @abstractmethod
    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        """Metric name -> per-chain values, shape (chains,)."""


def metric_index() -> dict[str, tuple[str, Metric]]:
    """Every registered metric by name: (probe name, Metric)."""
    from cliffwatch.core.registry import PROBES

    return {m.name: (name, m) for name, probe in PROBES.items() for m in probe.metrics}
