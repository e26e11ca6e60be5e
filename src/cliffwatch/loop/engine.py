"""The generation loop: fit -> sample -> filter -> mix -> refit, for G generations, probing each one.

The engine knows nothing about where it runs or where results go: ``LineageRunner.generations``
yields one :class:`GenerationOutput` per generation (its metrics, the loop's own statistics, and
the state to resume from), and the execution layer stores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import pyarrow as pa

from cliffwatch.core.errors import ConfigError, LineageError
from cliffwatch.core.metrics import Metric
from cliffwatch.core.modality import Sentences
from cliffwatch.core.registry import FAMILIES, FILTERS, PROBES, SOURCES
from cliffwatch.data.sources.base import HumanSource
from cliffwatch.families.base import Family, Model
from cliffwatch.filters.base import FilterContext
from cliffwatch.loop import mixing
from cliffwatch.loop.lineage import Lineage, filter_labels, generator_labels
from cliffwatch.loop.provenance import Provenance
from cliffwatch.probes.base import Probe, ProbeContext

MAX_RESAMPLE_ROUNDS = 20  # a filter that accepts almost nothing must not loop forever

RESULT_SCHEMA = pa.schema(
    [
        ("generation", pa.int32()),
        ("chain", pa.int32()),
        ("probe", pa.string()),
        ("metric", pa.string()),
        ("value", pa.float64()),
    ]
)
LOOP = "loop"  # the probe column of the loop's own statistics
PREVIEW_ITEMS = 5  # synthetic items per generation kept for people to read (the report's samples)


@dataclass(frozen=True)
class LoopStats:
    """What one generation's synthetic share cost and kept (None where the policy has no filters
    or a single generator)."""

    acceptance: dict[str, float]  # filter label -> share of the samples it saw that it passed
    shares: dict[str, float]  # generator label -> share of the kept synthetic data
    drawn: float | None = None  # synthetic items drawn (filters only)
    kept: float | None = None  # synthetic items kept (filters only)

    def metrics(self) -> dict[str, float]:
        """The statistics as results-table metrics, named as ``loop_metrics`` declares them."""
        out = {f"acceptance:{k}": v for k, v in self.acceptance.items()}
        out.update({f"share:{k}": v for k, v in self.shares.items()})
        if self.drawn is not None:
            out["synthetic_drawn"], out["synthetic_kept"] = self.drawn, self.kept
        return out


def loop_metrics(config: Any) -> list[Metric]:
    """The loop statistics a config's lineages report, declared before they run."""
    p = config.policy
    out = [Metric(f"acceptance:{f}", None, f"share of synthetic samples filter {f} accepted", 0.0, 1.0,
                  "acceptance", f) for f in filter_labels(p.filters)]
    if p.generators:
        out += [Metric(f"share:{g}", None, f"share of the kept synthetic data generator {g} made", 0.0, 1.0,
                       "share", g) for g in generator_labels(p.generators)]
    if p.filters:
        out += [Metric("synthetic_drawn", None, "synthetic samples drawn (and paid for) per generation", 0.0,
                       kind="synthetic_drawn"),
                Metric("synthetic_kept", None, "synthetic samples that passed every filter per generation", 0.0,
                       kind="synthetic_kept")]
    return out


@dataclass
class GenerationOutput:
    """One finished generation: per-chain metrics, the probe behind each, and the loop's statistics."""

    generation: int
    model: Model  # the lineage's model fitted at this generation (for in-memory use)
    metrics: dict[str, np.ndarray]  # metric -> (chains,)
    probes: dict[str, str]  # metric -> probe name
    loop: LoopStats | None
    state: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # to resume after this generation
    pool_part: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # what it added to a growing pool
    samples_preview: list[Any] = field(default_factory=list)  # a few of this model's samples, JSON-ready
    artifacts: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # arrays probes kept (sample images)
    train: Any = field(repr=False, default=None)  # the training set the model was fitted on
    provenance: Provenance | None = field(repr=False, default=None)  # of each item of ``train`` (manifests: true)
    sources: tuple[list[str], list[str]] = field(repr=False, default=([], []))  # generator labels, families

    def manifest(self) -> dict[str, Any]:
        """The training set's provenance manifest as columns for ``data.manifest.write_manifest``."""
        return self.provenance.manifest(self.train, *self.sources)

    def values(self) -> dict[str, np.ndarray]:
        """Every metric per chain: the probes', then the loop statistics'."""
        metrics = dict(self.metrics)
        chains = len(next(iter(metrics.values()))) if metrics else 1
        for name, value in (self.loop.metrics() if self.loop else {}).items():
            metrics[name] = np.full(chains, value)
        return metrics

    def table(self) -> pa.Table:
        metrics = self.values()
        owners = {name: self.probes.get(name, LOOP) for name in metrics}
        chains = len(next(iter(metrics.values()))) if metrics else 1
        names = list(metrics)
        return pa.table(
            {
                "generation": np.full(len(names) * chains, self.generation, dtype=np.int32),
                "chain": np.tile(np.arange(chains, dtype=np.int32), len(names)),
                "probe": np.repeat([owners[n] for n in names], chains),
                "metric": np.repeat(names, chains),
                "value": np.concatenate([metrics[n] for n in names]) if names else np.zeros(0),
            },
            schema=RESULT_SCHEMA,
        )


def preview(samples: Any, info: Any, k: int = PREVIEW_ITEMS) -> list[Any]:
    """The first k items of chain 0 of a probe sample, readable: text decoded to words, a vector or
    token row as numbers (4 significant digits). Empty when no probe drew samples."""
    if samples is None:
        return []
    if isinstance(samples, Sentences):
        return [" ".join(info.vocab.decode(samples.sentence(i))) for i in range(min(k, len(samples)))]
    rows = np.asarray(samples)[0, :k]  # (chains, n, ...) -> chain 0
    if not np.issubdtype(rows.dtype, np.floating):
        return rows.tolist()
    return np.vectorize(lambda v: float(f"{v:.4g}"), otypes=[float])(rows).tolist() if rows.size else []


def make_source(lineage: Lineage) -> HumanSource:
    """The lineage's human source; its reference or split is drawn per seed."""
    config = lineage.config
    return SOURCES.get(config.data.source)(config.data, config.holdout, lineage.data_rng(0, "reference"))


def select_probes(config: Any, source: HumanSource) -> list[Probe]:
    if config.probes is not None:
        chosen = [PROBES.get(name) for name in config.probes]
        for probe in chosen:
            if not probe.applies_to(source):
                raise ConfigError(f"probes: {probe.name!r} cannot run on this data ({config.data.source})")
        return [p() for p in chosen]
    return [p() for _, p in PROBES.items() if p.modality is source.modality and not p.opt_in and p.applies_to(source)]


@dataclass
class Models:
    """The lineage's models after one generation, and what they were fitted on."""

    main: Model | None = None
    generators: list[Model] = field(default_factory=list)
    train: Any = None


class LineageRunner:
    """Runs one lineage generation by generation; resumable from the state of its last output."""

    def __init__(self, lineage: Lineage, source: HumanSource | None = None) -> None:
        self.lineage = lineage
        self.config = lineage.config
        self.source = source or make_source(lineage)
        self.modality = self.source.modality
        self.info = self.source.info  # built once: sources make it on every access
        self.family: Family = FAMILIES.get(self.config.family.name)(self.info, self.config.family.params)
        self.probes = select_probes(self.config, self.source)
        policy = self.config.policy
        # extra generator families, each with its own chain of models (none: the lineage's own model)
        self.generators = [
            (label, FAMILIES.get(g.family.name)(self.info, g.family.params), g.weight)
            for label, g in zip(generator_labels(policy.generators), policy.generators or [])
        ]
        self.filters = []
        for i, spec in enumerate(policy.filters):
            filter_cls = FILTERS.get(spec.name)
            reason = filter_cls.check(self.source)
            if reason:
                raise ConfigError(f"policy.filters.{i}: {spec.name} cannot run here: {reason}")
            self.filters.append((spec, filter_cls(spec.params)))
        self.filter_labels = filter_labels(policy.filters)
        # the manifest's generator and family of each generator index (none: the lineage's own model)
        self.sources = ((generator_labels(policy.generators), [g.family.name for g in policy.generators])
                        if policy.generators else ([self.config.family.name], [self.config.family.name]))
        self.verifies = any(f.verifies for _, f in self.filters)

    def prepare(self) -> None:
        """The probes' work that depends only on this lineage's human data (see ``Probe.prepare``)."""
        for probe in self.probes:
            probe.prepare(self.source)

    # -- one generation's training set ----------------------------------------------------------
    def _human(self, generation: int, n: int, anchor: Any) -> Any:
        if n == 0:
            return None
        if self.config.policy.human == "fixed":
            return self.modality.head(anchor, n)
        return self.source.draw(n, self.lineage.data_rng(generation, "human"), self.config.chains)

    def _synthetic(self, generation: int, n: int, models: Models, anchor: Any
                   ) -> tuple[Any, LoopStats | None, list[tuple[int, int]]]:
        """n synthetic items per chain from the generator models (split by weight), through the
        filters; and (generator index, items kept per chain) of each part, in the batch's order."""
        if n == 0:
            return None, None, []
        if not self.generators:
            sources = [("", models.main, 1.0)]
        else:
            sources = [(label, m, w) for (label, _, w), m in zip(self.generators, models.generators)]
        parts, sizes, seen, passed, shares, drawn = [], [], {}, {}, {}, 0.0
        for index, ((label, model, _), k) in enumerate(zip(sources, mixing.split(n, [w for *_, w in sources]))):
            if k:
                part, part_drawn = self._filtered(generation, label, model, k, models.train, anchor, seen, passed)
                parts.append(part)
                sizes.append((index, self.modality.size(part)))
                drawn += part_drawn
                if label:
                    shares[label] = self.modality.size(part)
        kept = sum(self.modality.size(p) for p in parts)
        stats = LoopStats(
            acceptance={name: passed[name] / seen[name] for name in self.filter_labels},
            shares={label: v / kept for label, v in shares.items()},
            drawn=drawn if self.filters else None,
            kept=float(kept) if self.filters else None,
        )
        return self.modality.concat(parts), stats, sizes

    def _filtered(self, generation: int, label: str, model: Model, k: int, train: Any, anchor: Any,
                  seen: dict[str, float], passed: dict[str, float]) -> tuple[Any, float]:
        """k draws from one generator model through the filters, and how many were drawn. Items
        rejected by a ``resample`` filter are replaced by new draws (up to MAX_RESAMPLE_ROUNDS);
        items rejected by a ``discard`` filter are dropped. ``seen``/``passed`` count per filter."""
        p = self.config.policy
        drawn = 0.0
        kept, need = [], k
        for round_ in range(MAX_RESAMPLE_ROUNDS if self.filters else 1):
            purpose = "sample" if not label and round_ == 0 else f"sample:{label}:{round_}"
            draw = model.sample(need, self.lineage.rng(generation, purpose), temperature=p.temperature, top_p=p.top_p)
            drawn += need
            need = 0
            if not self.filters:
                return draw, drawn
            ctx = FilterContext(generation, model, self.family, train, anchor, self.info, self.source,
                                self.lineage.rng(generation, f"filter:{label}:{round_}"))
            for name, (spec, filt) in zip(self.filter_labels, self.filters):
                if self.modality.size(draw) == 0:
                    break  # a resample round's few draws all failed an earlier filter: no batch to filter
                mask = np.asarray(filt.accept(draw, ctx), dtype=bool)
                n_seen, n_passed = self.modality.size(draw), self.modality.count(mask)
                seen[name] = seen.get(name, 0.0) + n_seen
                passed[name] = passed.get(name, 0.0) + n_passed
                if spec.mode == "resample":
                    need += n_seen - n_passed
                draw = filt.transform(self.modality.select(draw, mask), ctx)
                if n_passed == 0 and round_ == 0:
                    raise LineageError(
                        f"filter {name!r} rejected all {n_seen} synthetic samples at generation {generation}; "
                        "the lineage stops (loosen the filter or lower synthetic_fraction)"
                    )
            kept.append(draw)
            if need == 0:
                break
        return self.modality.concat(kept), drawn

    def _training_set(self, generation: int, models: Models, anchor: Any, pool: Any, pool_prov: Provenance | None,
                      depth: np.ndarray) -> tuple[Any, Provenance, Any, Provenance | None, LoopStats | None, Any, Provenance | None]:
        """(training set, its provenance, accumulated pool, its provenance, loop statistics, the batch
        this generation added to the pool and its provenance) for this generation. ``depth``
        (chains,): the recursion depth of the data the models were fitted on."""
        p, track = self.config.policy, self.config.manifests  # provenance only feeds the manifests
        if generation == 0:
            prov = Provenance.human(self.config.chains, 0, p.samples) if track else None
            return anchor, prov, anchor, prov, None, None, None
        synthetic, stats, sizes = self._synthetic(generation, mixing.synthetic_count(p.synthetic_fraction, p.samples), models, anchor)
        # an accumulating pool already holds the fixed anchor (from generation 0): adding it again
        # would only duplicate it, so only fresh human data joins the pool
        n_human = 0 if p.mode != "replace" and p.human == "fixed" else mixing.human_count(p.synthetic_fraction, p.samples)
        fresh = self.modality.concat([self._human(generation, n_human, anchor), synthetic])
        fresh_prov = Provenance.concat([
            Provenance.human(self.config.chains, 0 if p.human == "fixed" else generation, n_human) if n_human else None,
            Provenance.synthetic(generation, sizes, depth, self.verifies) if synthetic is not None else None,
        ]) if track else None
        if p.mode == "replace":
            return fresh, fresh_prov, None, None, stats, None, None
        pool, pool_prov = self.modality.concat([pool, fresh]), Provenance.concat([pool_prov, fresh_prov])
        if p.mode == "accumulate":
            return pool, pool_prov, pool, pool_prov, stats, fresh, fresh_prov
        # the provenance replays the pool's subsample from a second generator of the same stream
        train = self.modality.subsample(pool, p.samples, self.lineage.rng(generation, "subsample"))
        train_prov = pool_prov.subsample(self.modality, p.samples, self.lineage.rng(generation, "subsample")) if track else None
        return train, train_prov, pool, pool_prov, stats, fresh, fresh_prov

    # -- the loop -------------------------------------------------------------------------------
    def generations(self, resume: tuple[int, dict[str, np.ndarray]] | None = None) -> Iterator[GenerationOutput]:
        """Yield every generation after ``resume`` (the last finished generation and its state)
        up to the last one. A generation's ``state`` is only filled when more follow."""
        cfg, lineage = self.config, self.lineage
        anchor = self.source.draw(cfg.policy.samples, lineage.data_rng(0, "human"), cfg.chains)
        start, models, pool, pool_prov, depth = 0, Models(), None, None, np.zeros(cfg.chains, np.int64)
        if resume is not None:
            done, state = resume
            models, pool, pool_prov, depth = self._restore(state, anchor, done)
            start = done + 1
        prev_samples = None  # the previous generation's probe samples, if a probe drew them
        for generation in range(start, cfg.generations + 1):
            train, train_prov, pool, pool_prov, stats, added, added_prov = self._training_set(
                generation, models, anchor, pool, pool_prov, depth)
            if train_prov is not None:
                depth = train_prov.max_depth()  # every model of this generation is fitted on train
            prev_model = models.main
            models = Models(
                self._fit(self.family, generation, "fit", train, prev_model),
                [self._fit(fam, generation, f"fit:{label}", train, m)
                 for (label, fam, _), m in zip(self.generators, models.generators or [None] * len(self.generators))],
                train,
            )
            metrics, owners, samples, artifacts = self._probe(generation, models.main, prev_model, train, prev_samples)
            prev_samples = samples
            last = generation == cfg.generations
            state = {} if last else self._checkpoint(models, depth)
            pool_part = {} if last else self._pool_part(generation, added, added_prov)
            yield GenerationOutput(generation, models.main, metrics, owners, stats, state, pool_part,
                                   samples_preview=preview(samples, self.info), artifacts=artifacts,
                                   train=train, provenance=train_prov, sources=self.sources)

    def _fit(self, family: Family, generation: int, purpose: str, train: Any, previous: Model | None) -> Model:
        rng = self.lineage.rng(generation, purpose) if family.random_fit else None
        return family.fit(train, rng, init=previous)

    def _checkpoint(self, models: Models, depth: np.ndarray) -> dict[str, np.ndarray]:
        """The state to resume after this generation, but the pool (see :meth:`_pool_part`)."""
        state = {f"model.{k}": v for k, v in models.main.state().items()}
        state["provenance.depth"] = depth
        for i, m in enumerate(models.generators):
            state.update({f"gen{i}.{k}": v for k, v in m.state().items()})
        # filters may look at what the generators were fitted on; an accumulating pool is that set
        if self.filters and self.config.policy.mode != "accumulate":
            state.update(self.modality.to_arrays("train", models.train))
        return state

    def _pool_part(self, generation: int, added: Any, added_prov: Provenance | None) -> dict[str, np.ndarray]:
        """What this generation added to an accumulating pool, under keys naming the generation:
        the pool is generation 0's anchor (drawn again on resume) and these parts in order."""
        if added is None:
            return {}
        part = self.modality.to_arrays(f"pool.{generation:06d}", added)
        if added_prov is not None:
            part.update(added_prov.to_arrays(f"provenance.pool.{generation:06d}"))
        return part

    def _restore(self, state: dict[str, np.ndarray], anchor: Any,
                 done: int) -> tuple[Models, Any, Provenance | None, np.ndarray]:
        def part(prefix: str) -> dict[str, np.ndarray]:
            return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

        main = self.family.from_state(part("model."))
        generators = [fam.from_state(part(f"gen{i}.")) for i, (_, fam, _) in enumerate(self.generators)]
        if "provenance.depth" not in state:
            raise LineageError("the checkpoint predates provenance manifests; start the run afresh (--overwrite)")
        pool = pool_prov = None
        if self.config.policy.mode != "replace":
            added = [self.modality.from_arrays(f"pool.{g:06d}", state) for g in range(1, done + 1)]
            if any(a is None for a in added):
                raise LineageError("the checkpoint lacks part of its pool (written by an older cliffwatch?); "
                                   "start the run afresh (--overwrite)")
            pool = self.modality.concat([anchor, *added])
            if self.config.manifests:
                pool_prov = Provenance.concat([Provenance.human(self.config.chains, 0, self.config.policy.samples),
                                               *(Provenance.from_arrays(f"provenance.pool.{g:06d}", state)
                                                 for g in range(1, done + 1))])
        train = pool if self.filters and self.config.policy.mode == "accumulate" else self.modality.from_arrays("train", state)
        return Models(main, generators, train), pool, pool_prov, state["provenance.depth"]

    def _probe_samples(self, model: Model, generation: int) -> Any:
        p = self.config.policy
        return model.sample(self.config.probe_samples, self.lineage.rng(generation, "probe"),
                            temperature=p.temperature, top_p=p.top_p)

    def _probe(self, generation: int, model: Model, prev_model: Model | None, train: Any,
               prev_samples: Any) -> tuple[dict[str, np.ndarray], dict[str, str], Any, dict[str, np.ndarray]]:
        """(metric -> per-chain values, metric -> probe, this generation's probe samples or None,
        arrays the probes kept)."""
        ctx = ProbeContext(
            model=model,
            generation=generation,
            train=train,
            draw_samples=lambda: self._probe_samples(model, generation),
            reference=self.source.reference(),
            info=self.info,
            make_rng=lambda: self.lineage.rng(generation, "probe-rng"),
            source=self.source,
            prev_model=prev_model,
            # the previous generation's samples come from the same stream: reuse them when drawn
            draw_prev_samples=(lambda: prev_samples if prev_samples is not None
                               else self._probe_samples(prev_model, generation - 1)) if prev_model else None,
            chains=self.config.chains,
        )
        metrics: dict[str, np.ndarray] = {}
        owners: dict[str, str] = {}
        for probe in self.probes:
            for name, values in probe(ctx).items():
                values = np.asarray(values, dtype=float)
                metrics[name] = values if values.shape == (self.config.chains,) else np.broadcast_to(values, (self.config.chains,))
                owners[name] = probe.name
        return metrics, owners, ctx.cache.get("samples"), ctx.artifacts
