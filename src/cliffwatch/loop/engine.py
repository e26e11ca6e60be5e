"""The generation loop: fit -> sample -> mix -> refit, for G generations, probing each one.

Random streams: human data draws are keyed by the data spec (so lineages that differ only in
policy see the same human data for the same seed: common random numbers, which makes the
quality loss between fractions a paired comparison); model draws are keyed by the lineage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.data.sources import HumanSource, make_source
from cliffwatch.core.errors import ConfigError, LineageError
from cliffwatch.families.base import Family, Model
from cliffwatch.loop import batch
from cliffwatch.probes.base import Probe, ProbeContext
from cliffwatch.filters.base import FilterContext
from cliffwatch.core.registry import FAMILIES, FILTERS, PROBES
from cliffwatch.core.seeding import rng, stable_hash
from cliffwatch.execution.store import RESULT_SCHEMA, LineageStore


@dataclass(frozen=True)
class Lineage:
    """One lineage = (config, seed)."""

    config: ExperimentConfig
    seed: int
    tags: tuple[tuple[str, Any], ...] = ()  # swept values that are not policy fields (results columns)

    @cached_property  # hashed once: every random draw derives its stream from it
    def key(self) -> int:
        return stable_hash(self.config.lineage_params())

    @cached_property
    def data_key(self) -> int:
        return stable_hash({"data": self.config.data.model_dump(mode="json"), "holdout": self.config.holdout})

    @property
    def id(self) -> str:
        return f"{self.key:016x}-s{self.seed}"

    def labels(self) -> dict[str, Any]:
        """Columns that describe this lineage in the results table."""
        p = self.config.policy
        labels = p.model_dump(mode="json", exclude={"generators", "filters"})
        # lists become one readable string each, so every label is a plain table column
        labels["generators"] = "+".join(_generator_label(p.generators, i) for i in range(len(p.generators))) if p.generators else "self"
        labels["filters"] = "+".join(f"{f.name}:{f.mode}" for f in p.filters) or "none"
        return {"family": self.config.family.name, **labels, **dict(self.tags)}

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


MAX_RESAMPLE_ROUNDS = 20  # a filter that accepts almost nothing must not loop forever


@dataclass
class Models:
    """The lineage's models after one generation, and what they were fitted on."""

    main: Model | None = None
    generators: list[Model] = field(default_factory=list)
    train: Any = None


def _generator_label(generators: list, i: int) -> str:
    """A readable, unique name for generator i (its family, with its knobs if two share a family)."""
    names = [g.family.name for g in generators]
    if names.count(names[i]) == 1:
        return names[i]
    knobs = ",".join(f"{k}={v}" for k, v in sorted(generators[i].family.params.items()))
    return f"{names[i]}({knobs})" if knobs else f"{names[i]}#{i}"


def _split(n: int, weights: list[float]) -> list[int]:
    """n items split by weight, largest remainder first (deterministic)."""
    w = np.asarray(weights, dtype=float) / sum(weights)
    base = np.floor(n * w).astype(int)
    order = np.argsort(-(n * w - base), kind="stable")
    base[order[: n - base.sum()]] += 1
    return base.tolist()


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
        policy = self.config.policy
        # extra generator families, each with its own chain of models (none: the lineage's own model)
        self.generators = [
            (_generator_label(policy.generators, i), FAMILIES.get(g.family.name)(self.source.info, g.family.params), g.weight)
            for i, g in enumerate(policy.generators or [])
        ]
        self.filters = []
        for i, spec in enumerate(policy.filters):
            filter_cls = FILTERS.get(spec.name)
            reason = filter_cls.check(self.source)
            if reason:
                raise ConfigError(f"policy.filters.{i}: {spec.name} cannot run here: {reason}")
            self.filters.append((spec, filter_cls(spec.params)))

    # -- one generation's training set ----------------------------------------------------------
    def _human(self, generation: int, n: int, anchor: Any) -> Any:
        if n == 0:
            return None
        if self.config.policy.human == "fixed":
            return batch.head(anchor, n)
        return self.source.draw(n, self.lineage.data_rng(generation, "human"), self.config.chains)

    def _synthetic(self, generation: int, n: int, models: "Models", anchor: Any) -> tuple[Any, dict[str, float]]:
        """n synthetic items per chain from the generator models (split by weight), through the filters."""
        if n == 0:
            return None, {}
        if not self.generators:
            sources = [("", models.main, 1.0)]
        else:
            sources = [(label, m, w) for (label, _, w), m in zip(self.generators, models.generators)]
        parts, stats = [], {}
        for (label, model, _), k in zip(sources, _split(n, [w for *_, w in sources])):
            if k:
                part, part_stats = self._filtered(generation, label, model, k, models.train, anchor)
                parts.append(part)
                for key, value in part_stats.items():
                    stats[key] = stats.get(key, 0.0) + value
                if label:
                    stats[f"share:{label}"] = batch.size(part)
        kept = sum(batch.size(p) for p in parts)
        metrics = {f"acceptance:{name}": stats[f"passed:{name}"] / stats[f"seen:{name}"] for name in self._filter_names()}
        metrics.update({k: v / kept for k, v in stats.items() if k.startswith("share:")})
        if self.filters:
            metrics["synthetic_drawn"] = stats["drawn"]
            metrics["synthetic_kept"] = float(kept)
        return batch.concat(parts), metrics

    def _filter_names(self) -> list[str]:
        names = [spec.name for spec, _ in self.filters]
        return [f"{n}#{i}" if names.count(n) > 1 else n for i, n in enumerate(names)]

    def _filtered(self, generation: int, label: str, model: Model, k: int, train: Any, anchor: Any) -> tuple[Any, dict]:
        """k draws from one generator model, passed through the filters. Items rejected by a
        ``resample`` filter are replaced by new draws (up to MAX_RESAMPLE_ROUNDS); items rejected by
        a ``discard`` filter are dropped."""
        p = self.config.policy
        stats: dict[str, float] = {"drawn": 0.0}
        kept, need = [], k
        for round_ in range(MAX_RESAMPLE_ROUNDS if self.filters else 1):
            purpose = "sample" if not label and round_ == 0 else f"sample:{label}:{round_}"
            draw = model.sample(need, self.lineage.rng(generation, purpose), temperature=p.temperature, top_p=p.top_p)
            stats["drawn"] += need
            need = 0
            ctx = FilterContext(generation, model, self.family, train, anchor, self.source.info, self.source,
                                self.lineage.rng(generation, f"filter:{label}:{round_}"))
            for name, (spec, filt) in zip(self._filter_names(), self.filters):
                mask = np.asarray(filt.accept(draw, ctx), dtype=bool)
                seen, passed = batch.size(draw), batch.count(mask)
                stats[f"seen:{name}"] = stats.get(f"seen:{name}", 0.0) + seen
                stats[f"passed:{name}"] = stats.get(f"passed:{name}", 0.0) + passed
                if spec.mode == "resample":
                    need += seen - passed
                draw = batch.select(draw, mask)
                if passed == 0 and round_ == 0:
                    raise LineageError(
                        f"filter {name!r} rejected all {seen} synthetic samples at generation {generation}; "
                        "the lineage stops (loosen the filter or lower synthetic_fraction)"
                    )
            kept.append(draw)
            if need == 0:
                break
        return batch.concat(kept), stats

    def _training_set(self, generation: int, models: "Models", anchor: Any, pool: Any) -> tuple[Any, Any, dict]:
        """(training set, accumulated pool, loop metrics) for this generation."""
        p = self.config.policy
        if generation == 0:
            return anchor, anchor, {}
        n_synthetic = round(p.synthetic_fraction * p.samples)
        synthetic, metrics = self._synthetic(generation, n_synthetic, models, anchor)
        # an accumulating pool already holds the fixed anchor (from generation 0): adding it again
        # would only duplicate it, so only fresh human data joins the pool
        n_human = 0 if p.mode != "replace" and p.human == "fixed" else p.samples - n_synthetic
        fresh = batch.concat([self._human(generation, n_human, anchor), synthetic])
        if p.mode == "replace":
            return fresh, None, metrics
        pool = batch.concat([pool, fresh])
        if p.mode == "accumulate":
            return pool, pool, metrics
        return batch.subsample(pool, p.samples, self.lineage.rng(generation, "subsample")), pool, metrics

    # -- the loop -------------------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> list[GenerationResult]:
        """Run (or resume) to the last generation; returns the results of the generations run now."""
        cfg, lineage = self.config, self.lineage
        anchor = self.source.draw(cfg.policy.samples, lineage.data_rng(0, "human"), cfg.chains)
        start, models, pool = 0, Models(), None
        done = self.store.checkpoint_generation() if self.store else None
        if done is not None:
            models, pool = self._restore(self.store.load_checkpoint())
            start = done + 1
            if progress:
                progress(start)
        out = []
        for generation in range(start, cfg.generations + 1):
            train, pool, loop_metrics = self._training_set(generation, models, anchor, pool)
            prev_model = models.main
            models = Models(
                self.family.fit(train, lineage.rng(generation, "fit"), init=prev_model),
                [fam.fit(train, lineage.rng(generation, f"fit:{label}"), init=m)
                 for (label, fam, _), m in zip(self.generators, models.generators or [None] * len(self.generators))],
                train,
            )
            result = self._probe(generation, models.main, prev_model, train)
            for name, value in loop_metrics.items():
                result.metrics[name] = np.full(cfg.chains, value)
                result.probes[name] = "loop"
            out.append(result)
            if self.store:
                self.store.write_generation(generation, _to_table(result), self._checkpoint(models, pool))
            if progress:
                progress(1)
        if self.store:
            self.store.finish(cfg.generations)
        return out

    def _checkpoint(self, models: "Models", pool: Any) -> dict[str, np.ndarray]:
        state = {f"model.{k}": v for k, v in models.main.state().items()}
        for i, m in enumerate(models.generators):
            state.update({f"gen{i}.{k}": v for k, v in m.state().items()})
        if pool is not None and self.config.policy.mode != "replace":
            state.update(batch.to_arrays("pool", pool))
        if self.filters:  # filters may look at what the generators were fitted on
            state.update(batch.to_arrays("train", models.train))
        return state

    def _restore(self, state: dict[str, np.ndarray]) -> tuple["Models", Any]:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

        main = self.family.from_state(part("model."))
        generators = [fam.from_state(part(f"gen{i}.")) for i, (_, fam, _) in enumerate(self.generators)]
        return Models(main, generators, batch.from_arrays("train", state)), batch.from_arrays("pool", state)

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
