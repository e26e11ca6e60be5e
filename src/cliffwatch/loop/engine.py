"""The generation loop: fit -> sample -> mix -> refit, for G generations, probing each one.

Random streams: human data draws are keyed by the data spec (so lineages that differ only in
policy see the same human data for the same seed: common random numbers, which makes the
quality loss between fractions a paired comparison); model draws are keyed by the lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from cliffwatch.config import ExperimentConfig
from cliffwatch.data.sources import HumanSource, make_source
from cliffwatch.errors import ConfigError
from cliffwatch.families.base import Family, Model
from cliffwatch.loop import batch
from cliffwatch.probes.base import Probe, ProbeContext
from cliffwatch.registry import FAMILIES, PROBES
from cliffwatch.seeding import rng, stable_hash
from cliffwatch.store import RESULT_SCHEMA, LineageStore


@dataclass(frozen=True)
class Lineage:
    """One lineage = (config, seed)."""

    config: ExperimentConfig
    seed: int
    tags: tuple[tuple[str, Any], ...] = ()  # swept values that are not policy fields (results columns)

    @property
    def key(self) -> int:
        return stable_hash(self.config.lineage_params())

    @property
    def data_key(self) -> int:
        return stable_hash({"data": self.config.data.model_dump(mode="json"), "holdout": self.config.holdout})

    @property
    def id(self) -> str:
        return f"{self.key:016x}-s{self.seed}"

    def labels(self) -> dict[str, Any]:
        """Columns that describe this lineage in the results table."""
        p = self.config.policy
        return {"family": self.config.family.name, **p.model_dump(mode="json"), **dict(self.tags)}

    def rng(self, generation: int, purpose: str) -> np.random.Generator:
        return rng(self.seed, self.key, generation, purpose)

    def data_rng(self, generation: int, purpose: str) -> np.random.Generator:
        return rng(self.seed, self.data_key, generation, purpose)


def select_probes(config: ExperimentConfig, source: HumanSource, modality: str) -> list[Probe]:
    if config.probes is not None:
        chosen = [PROBES.get(name) for name in config.probes]
        for probe in chosen:
            if not probe.applies_to(source):
                raise ConfigError(f"probes: {probe.name!r} cannot run on this data ({config.data.source})")
        return [p() for p in chosen]
    return [p() for _, p in PROBES.items() if p.modality == modality and p.applies_to(source)]


@dataclass
class GenerationResult:
    generation: int
    model: Model
    metrics: dict[str, np.ndarray]  # metric -> (chains,)
    probes: dict[str, str]  # metric -> probe name


class LineageRunner:
    """Runs one lineage generation by generation; resumable from its store's checkpoint."""

    def __init__(self, lineage: Lineage, store: LineageStore | None = None) -> None:
        self.lineage = lineage
        self.config = lineage.config
        self.store = store
        self.source = make_source(self.config.data, self.config.holdout, lineage.data_rng(0, "reference"))
        family_cls = FAMILIES.get(self.config.family.name)
        self.family: Family = family_cls(self.source.info, self.config.family.params)
        self.probes = select_probes(self.config, self.source, family_cls.modality)

    # -- one generation's training set ----------------------------------------------------------
    def _human(self, generation: int, n: int, anchor: Any) -> Any:
        if n == 0:
            return None
        if self.config.policy.human == "fixed":
            return batch.head(anchor, n)
        return self.source.draw(n, self.lineage.data_rng(generation, "human"), self.config.chains)

    def _synthetic(self, generation: int, n: int, model: Model) -> Any:
        if n == 0:
            return None
        p = self.config.policy
        return model.sample(n, self.lineage.rng(generation, "sample"), temperature=p.temperature, top_p=p.top_p)

    def _training_set(self, generation: int, model: Model | None, anchor: Any, pool: Any) -> tuple[Any, Any]:
        """(training set, accumulated pool) for this generation."""
        p = self.config.policy
        if generation == 0:
            return anchor, anchor
        n_synthetic = round(p.synthetic_fraction * p.samples)
        fresh = batch.concat([self._human(generation, p.samples - n_synthetic, anchor), self._synthetic(generation, n_synthetic, model)])
        if p.mode == "replace":
            return fresh, None
        pool = batch.concat([pool, fresh])
        if p.mode == "accumulate":
            return pool, pool
        return batch.subsample(pool, p.samples, self.lineage.rng(generation, "subsample")), pool

    # -- the loop -------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> list[GenerationResult]:
        """Run (or resume) to the last generation; returns the results of the generations run now."""
        cfg, lineage = self.config, self.lineage
        anchor = self.source.draw(cfg.policy.samples, lineage.data_rng(0, "human"), cfg.chains)
        start, model, pool = 0, None, None
        done = self.store.checkpoint_generation() if self.store else None
        if done is not None:
            state = self.store.load_checkpoint()
            model = self.family.from_state({k[6:]: v for k, v in state.items() if k.startswith("model.")})
            pool = batch.from_arrays("pool", state)
            start = done + 1
            if progress:
                progress(start)
        out = []
        for generation in range(start, cfg.generations + 1):
            train, pool = self._training_set(generation, model, anchor, pool)
            prev_model, model = model, self.family.fit(train, lineage.rng(generation, "fit"), init=model)
            result = self._probe(generation, model, prev_model, train)
            out.append(result)
            if self.store:
                checkpoint = {f"model.{k}": v for k, v in model.state().items()}
                if pool is not None and cfg.policy.mode != "replace":
                    checkpoint.update(batch.to_arrays("pool", pool))
                self.store.write_generation(generation, _to_table(result), checkpoint)
            if progress:
                progress(1)
        if self.store:
            self.store.finish(cfg.generations)
        return out

    def _probe_samples(self, model: Model, generation: int) -> Any:
        p = self.config.policy
        return model.sample(self.config.probe_samples, self.lineage.rng(generation, "probe"),
                            temperature=p.temperature, top_p=p.top_p)

    def _probe(self, generation: int, model: Model, prev_model: Model | None, train: Any) -> GenerationResult:
        ctx = ProbeContext(
            model=model,
            generation=generation,
            train=train,
            draw_samples=lambda: self._probe_samples(model, generation),
            reference=self.source.reference(),
            info=self.source.info,
            rng=self.lineage.rng(generation, "probe-rng"),
            source=self.source,
            prev_model=prev_model,
            draw_prev_samples=(lambda: self._probe_samples(prev_model, generation - 1)) if prev_model else None,
            chains=self.config.chains,
        )
        metrics: dict[str, np.ndarray] = {}
        owners: dict[str, str] = {}
        for probe in self.probes:
            for name, values in probe(ctx).items():
                metrics[name] = np.broadcast_to(np.asarray(values, dtype=float), (self.config.chains,))
                owners[name] = probe.name
        return GenerationResult(generation, model, metrics, owners)


def _to_table(result: GenerationResult) -> pa.Table:
    names = list(result.metrics)
    chains = len(next(iter(result.metrics.values()))) if names else 0
    return pa.table(
        {
            "generation": np.full(len(names) * chains, result.generation, dtype=np.int32),
            "chain": np.tile(np.arange(chains, dtype=np.int32), len(names)),
            "probe": np.repeat([result.probes[n] for n in names], chains),
            "metric": np.repeat(names, chains),
            "value": np.concatenate([result.metrics[n] for n in names]) if names else np.zeros(0),
        },
        schema=RESULT_SCHEMA,
    )
