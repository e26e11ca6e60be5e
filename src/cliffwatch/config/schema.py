"""Strict configs. Every model forbids unknown fields, so a typo names the field and what is allowed.

Components (families, filters, data sources) are looked up by name in the registries, so their own
knobs are checked by their own strict models and a plugin's component is configured like a
built-in one. The models here check each field on its own; the cross-field and cross-component
checks and the grid expansion sit above them (schema -> grid -> validate -> load), and
``config.load.parse`` runs them all, so a config that loads does not fail for a config reason
once work starts.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError, field_validator,
                      model_validator)

from cliffwatch.config.limits import (MAX_CHAINS, MAX_GENERATIONS, MAX_GRID_VALUES, MAX_ITEMS, MAX_NAME, MAX_SAMPLES,
                                      MAX_SEED, MAX_SEEDS, WHY, at_most)

from cliffwatch.config.messages import describe_error
from cliffwatch.core.errors import RegistryError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


_NAME = re.compile(r"\w[\w.+=,@ -]*")


def _safe_name(value: str) -> str:
    """A name that is one folder under runs/: no path separators, no `..`, no control characters."""
    if len(value) > MAX_NAME:
        raise ValueError(f"at most {MAX_NAME} characters: it names the run's folder")
    if not _NAME.fullmatch(value):
        raise ValueError("letters, digits and . _ - + = , @ or spaces, starting with a letter or digit: "
                         "it names the run's folder under runs/")
    return value


Name = Annotated[str, AfterValidator(_safe_name)]
Samples = Annotated[int, at_most(MAX_SAMPLES, WHY["samples"])]
Items = at_most(MAX_ITEMS, WHY["items"])


class ComponentSpec(BaseModel):
    """``{name: ..., knob: value}``: a registered component whose knobs its own strict Params check."""

    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, strict=True)
    name: str = Field(max_length=MAX_NAME)
    registry: ClassVar[str]

    @model_validator(mode="after")
    def _check_params(self) -> "ComponentSpec":
        from cliffwatch.core import registry

        try:
            component = getattr(registry, self.registry).get(self.name)
        except RegistryError as err:
            raise ValueError(f"@name: {err}") from None
        try:
            component.Params(**self.params)
        except ValidationError as err:
            raise ValueError("@" + describe_error(err, prefix="", model=component.Params)) from None
        return self

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def component(self) -> Any:
        from cliffwatch.core import registry

        return getattr(registry, self.registry).get(self.name)


class FamilySpec(ComponentSpec):
    """``{name: gaussian, covariance: mle}``: a registered family and its own strict knobs."""

    registry = "FAMILIES"


class FilterSpec(ComponentSpec):
    """``{name: self_score, mode: resample, quantile: 0.8}``: a registered filter, its mode and its own knobs."""

    registry = "FILTERS"
    mode: Literal["discard", "resample"] = Field("discard", description="discard: train on what passes; resample: draw more until the synthetic share is full")


class GeneratorSpec(Strict):
    """One source of synthetic data: a model family trained in its own lineage, and its share."""

    family: FamilySpec
    weight: float = Field(1.0, ge=0, description="relative share of the synthetic data")


def source_spec(raw: Any) -> Any:
    """Validate a ``data:`` mapping against its registered source's own spec."""
    from cliffwatch.core.registry import SOURCES

    if isinstance(raw, BaseModel):
        return raw
    if not isinstance(raw, dict) or "source" not in raw:
        raise ValueError(f"@source: name a data source; allowed: {', '.join(SOURCES.names())}")
    try:
        source = SOURCES.get(str(raw["source"]))
    except RegistryError:
        raise ValueError(f"@source: unknown source {raw['source']!r}; allowed: {', '.join(SOURCES.names())}") from None
    try:
        return source.Spec.model_validate(raw)
    except ValidationError as err:
        raise ValueError("@" + describe_error(err, prefix="", model=source.Spec)) from None


# ---- mixing policy -------------------------------------------------------------------------


class Policy(Strict):
    """How one generation's training set is assembled."""

    synthetic_fraction: float = Field(1.0, ge=0.0, le=1.0, description="share of each generation's new data that is synthetic")
    human: Literal["fixed", "fresh"] = Field("fixed", description="fixed: the same human anchor every generation; fresh: new human draws")
    mode: Literal["replace", "accumulate", "accumulate-subsample"] = "replace"
    samples: Samples = Field(100, ge=1, description="training-set size per generation (M)")
    temperature: float = Field(1.0, gt=0.0, description="sampling bias: <1 sharpens (for gaussian: covariance scale λ)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus truncation of sampling")
    generators: Annotated[list[GeneratorSpec] | None, Items] = Field(
        None, description="synthetic data from several families (each its own model chain); default: the lineage's family"
    )
    filters: Annotated[list[FilterSpec], Items] = Field(default_factory=list, description="checks synthetic samples must pass before training")

    @field_validator("generators")
    @classmethod
    def _positive_weights(cls, value: list[GeneratorSpec] | None) -> list[GeneratorSpec] | None:
        if value is not None and (not value or sum(g.weight for g in value) <= 0):
            raise ValueError("generator weights must sum to a positive number")
        return value


class ExperimentConfig(Strict):
    """One experiment: a family, a human data source, a policy, a number of generations, seeds."""

    name: Name = "experiment"
    family: FamilySpec
    data: SerializeAsAny[BaseModel] = Field(description="the human data: {source: NAME, ...its knobs}")
    policy: Policy = Policy()
    generations: Annotated[int, at_most(MAX_GENERATIONS, WHY["generations"])] = Field(10, ge=0, description="generations after generation 0 (fits on human data only)")
    seeds: Annotated[list[Annotated[int, Field(ge=0), at_most(MAX_SEED, WHY["seed"])]],
                     at_most(MAX_SEEDS, WHY["seeds"])] = Field(default_factory=lambda: [0], min_length=1)
    chains: Annotated[int, at_most(MAX_CHAINS, WHY["chains"])] = Field(1, ge=1, description="replicate chains per lineage, run in lockstep (vector families)")
    holdout: Samples = Field(1000, ge=1, description="size of the held-out human reference")
    probe_samples: Samples = Field(1000, ge=1, description="samples drawn from each generation's model for the probes")
    probes: Annotated[list[str] | None, Items] = Field(None, description="probe names; default: every probe for the data's modality")
    manifests: bool = Field(False, description="also write each trained generation's training-data manifest "
                            "(lineages/<id>/manifest-<g>.parquet, for `cliffwatch audit`: about 9 bytes per item)")

    @field_validator("data", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return source_spec(value)

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("seeds must be a positive count or a list of seeds")
            if value > MAX_SEEDS:
                raise ValueError(f"at most {MAX_SEEDS:,}: {WHY['seeds']}")
            return list(range(value))
        return value

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, value: list[int]) -> list[int]:
        # two lineages of one seed would write one directory
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise ValueError(f"seed {repeated[0]} appears more than once; each seed is one lineage")
        return value

    def lineage_params(self) -> dict[str, Any]:
        """What determines a lineage's random streams (everything but the name, seeds, probe list and
        what is written beside the results)."""
        return self.model_dump(mode="json", exclude={"name", "seeds", "probes", "manifests"})

    def data_params(self) -> dict[str, Any]:
        """What determines the human data of a seed (lineages that share it are paired)."""
        return {"data": self.data.model_dump(mode="json"), "holdout": self.holdout}


# ---- sweeps, cliff analysis, cost ---------------------------------------------------------------


class CliffSpec(Strict):
    """How the cliff is located."""

    metric: str | None = Field(None, min_length=1, max_length=MAX_NAME, description="primary probe metric; default: the modality's (heldout_ppl for text, wasserstein for vectors, tv_distance for tokens)")
    tolerance: float = Field(0.1, gt=0, description="tau: the largest acceptable quality loss (relative to s = 0 by default)")
    relative: bool = Field(True, description="quality loss as a ratio to the all-human run (else a difference)")
    generation: int | None = Field(None, ge=0, description="generation at which the cliff is located; default: the last")
    adaptive_steps: int = Field(4, ge=1, le=10, description="bisection steps of the adaptive search")
    risk: float = Field(0.25, gt=0, le=1, description="the safe mix needs the exact 95% upper bound on the chance that a single run crosses tau to be at most this (0.25 takes 11 seeds, none crossing; analysis.stats.RISK_LEVEL)")


class CostSpec(Strict):
    """Prices per training sample. Defaults follow the economics the field quotes for a 10,000-sample
    iteration: about $20,000 of human labelling vs about $300 of generation."""

    human_price: float = Field(2.0, ge=0, description="price of one new human sample")
    synthetic_price: float = Field(0.03, ge=0, description="price of one synthetic sample")
    currency: str = Field("$", max_length=8)


DEFAULT_FRACTIONS = [round(0.1 * i, 1) for i in range(11)]
FRACTION_PATH = "policy.synthetic_fraction"


class SweepConfig(ExperimentConfig):
    """An experiment swept over a grid of policy (or any other) fields, x seeds."""

    kind: ClassVar[str] = "sweep"
    sweep: Annotated[dict[str, Annotated[list[Any], at_most(MAX_GRID_VALUES, WHY["lineages"])]], Items] = Field(
        default_factory=lambda: {FRACTION_PATH: list(DEFAULT_FRACTIONS)},
        description="dotted field path -> values; the grid is their product",
    )
    cliff: CliffSpec = CliffSpec()
    cost: CostSpec = CostSpec()

    def base(self) -> ExperimentConfig:
        return ExperimentConfig.model_validate(self.model_dump(exclude=_SWEEP_ONLY))


class CompareConfig(SweepConfig):
    """A sweep config plus ``routes``: the escape routes to run side by side on its setup.

    A route is the base setup with overrides of ``family.*`` and ``policy.*`` fields (dotted paths,
    as in a sweep grid), run at the base policy's synthetic fraction unless it sets its own; when
    ``sweep`` gives a grid of fractions, every route that does not fix s also runs over the grid.
    An all-human reference (the base setup at s = 0) always runs."""

    kind: ClassVar[str] = "compare"
    sweep: Annotated[dict[str, Annotated[list[Any], at_most(MAX_GRID_VALUES, WHY["lineages"])]], Items] = Field(
        default_factory=dict,
        description="optional {policy.synthetic_fraction: [...]}: routes that do not fix s also run over these fractions",
    )
    routes: Annotated[dict[Annotated[str, Field(max_length=MAX_NAME)], dict[str, Any]], Items] = Field(
        min_length=1,
        description="route name -> {dotted family.* / policy.* path: value}; `baseline` (or the first) is the no-route baseline",
    )
    metrics: Annotated[list[str], Items] = Field(default_factory=list, description="further metrics reported per route beside cliff.metric")

    @field_validator("routes", mode="before")
    @classmethod
    def _empty_routes(cls, value: Any) -> Any:
        # `baseline:` with nothing after it (YAML null) is the base setup unchanged
        return {k: ({} if v is None else v) for k, v in value.items()} if isinstance(value, dict) else value

    @property
    def baseline(self) -> str:
        return "baseline" if "baseline" in self.routes else next(iter(self.routes))

    def base(self) -> ExperimentConfig:
        return ExperimentConfig.model_validate(self.model_dump(exclude=_SWEEP_ONLY | {"routes", "metrics"}))

    def operating_fraction(self, route: str) -> float:
        """The fraction a route's headline effect is measured at: its own, else the base policy's."""
        override = self.routes[route].get(FRACTION_PATH)
        return float(self.policy.synthetic_fraction if override is None else override)


_SWEEP_ONLY = {"sweep", "cliff", "cost"}


def config_class(snapshot: dict[str, object]) -> type[ExperimentConfig]:
    """The config model a run's snapshot was written from (by its keys)."""
    if "routes" in snapshot:
        return CompareConfig
    return SweepConfig if "sweep" in snapshot else ExperimentConfig
