"""Strict configs. Every model forbids unknown fields, so a typo names the field and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cliffwatch.core.errors import ConfigError, RegistryError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ComponentSpec(BaseModel):
    """``{name: ..., knob: value}``: a registered component whose knobs its own strict Params check."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str
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


# ---- human data sources -------------------------------------------------------------------


class GaussianData(Strict):
    """An infinite human source N(mean, cov): the analytic track."""

    source: Literal["gaussian"]
    dim: int = Field(1, ge=1)
    mean: float | list[float] = 0.0
    variance: float | list[float] = Field(1.0, description="a number (isotropic) or per-dimension variances")
    correlation: float = Field(0.0, ge=-0.99, le=0.99, description="equal correlation between every pair of dimensions")


class ZipfData(Strict):
    """An infinite categorical source with Zipf(exponent) probabilities over `support` states."""

    source: Literal["zipf"]
    support: int = Field(100, ge=2)
    exponent: float = Field(1.1, gt=0)


class CategoricalData(Strict):
    """An infinite categorical source with explicit probabilities (normalised)."""

    source: Literal["categorical"]
    probs: list[Annotated[float, Field(ge=0)]] = Field(min_length=2)


class DigitsData(Strict):
    """scikit-learn's bundled handwritten digits (real images), as PCA features."""

    source: Literal["digits"]
    components: int = Field(8, ge=1, le=64)


class CorpusData(Strict):
    """A text corpus: built-in `pydocs` / `facts`, or a path to user text (txt, jsonl, parquet, csv, HF dataset dir)."""

    source: Literal["corpus"]
    corpus: str = "pydocs"
    field: str = "text"
    max_sentences: int | None = Field(None, ge=1)


DataSpec = Annotated[
    Union[GaussianData, ZipfData, CategoricalData, DigitsData, CorpusData], Field(discriminator="source")
]


# ---- mixing policy -------------------------------------------------------------------------


class Policy(Strict):
    """How one generation's training set is assembled."""

    synthetic_fraction: float = Field(1.0, ge=0.0, le=1.0, description="share of each generation's new data that is synthetic")
    human: Literal["fixed", "fresh"] = Field("fixed", description="fixed: the same human anchor every generation; fresh: new human draws")
    mode: Literal["replace", "accumulate", "accumulate-subsample"] = "replace"
    samples: int = Field(100, ge=1, description="training-set size per generation (M)")
    temperature: float = Field(1.0, gt=0.0, description="sampling bias: <1 sharpens (for gaussian: covariance scale λ)")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="nucleus truncation of sampling")
    generators: list[GeneratorSpec] | None = Field(
        None, description="synthetic data from several families (each its own model chain); default: the lineage's family"
    )
    filters: list[FilterSpec] = Field(default_factory=list, description="checks synthetic samples must pass before training")

    @field_validator("generators")
    @classmethod
    def _positive_weights(cls, value: list[GeneratorSpec] | None) -> list[GeneratorSpec] | None:
        if value is not None and (not value or sum(g.weight for g in value) <= 0):
            raise ValueError("generator weights must sum to a positive number")
        return value


class ExperimentConfig(Strict):
    """One experiment: a family, a human data source, a policy, a number of generations, seeds."""

    name: str = "experiment"
    family: FamilySpec
    data: DataSpec
    policy: Policy = Policy()
    generations: int = Field(10, ge=0, description="generations after generation 0 (fits on human data only)")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    chains: int = Field(1, ge=1, description="replicate chains per lineage, run in lockstep (vector families)")
    holdout: int = Field(1000, ge=1, description="size of the held-out human reference")
    probe_samples: int = Field(1000, ge=1, description="samples drawn from each generation's model for the probes")
    probes: list[str] | None = Field(None, description="probe names; default: every probe for the data's modality")

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("seeds must be a positive count or a list of seeds")
            return list(range(value))
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "ExperimentConfig":
        from cliffwatch.core.registry import FAMILIES, PROBES

        family = FAMILIES.get(self.family.name)
        modality = data_modality(self.data)
        if family.modality != modality:
            raise ValueError(f"family {self.family.name!r} models {family.modality} data; source {self.data.source!r} gives {modality} data")
        if self.policy.top_p < 1 and not family.supports_top_p:
            raise ValueError(f"family {self.family.name!r} does not support top_p < 1")
        for i, generator in enumerate(self.policy.generators or []):
            gen_modality = FAMILIES.get(generator.family.name).modality
            if gen_modality != modality:
                raise ValueError(f"@policy.generators.{i}.family: {generator.family.name!r} models {gen_modality} data, not {modality}")
        for i, spec in enumerate(self.policy.filters):
            from cliffwatch.core.registry import FILTERS

            filter_cls = FILTERS.get(spec.name)
            if modality not in filter_cls.modalities:
                raise ValueError(f"@policy.filters.{i}: filter {spec.name!r} does not apply to {modality} data")
        if modality == "text" and self.chains != 1:
            raise ValueError("text lineages run one chain each: set chains: 1 and use more seeds")
        for name in self.probes or []:
            try:
                probe = PROBES.get(name)
            except RegistryError as err:
                raise ValueError(f"@probes: {err}") from None
            if probe.modality != modality:
                raise ValueError(f"probe {name!r} measures {probe.modality} data, not {modality}")
        return self

    def lineage_params(self) -> dict[str, Any]:
        """What determines a lineage's random streams (everything but the name, seeds and probe list)."""
        return self.model_dump(mode="json", exclude={"name", "seeds", "probes"})


def data_modality(data: Any) -> str:
    return {"gaussian": "vector", "digits": "vector", "zipf": "tokens", "categorical": "tokens", "corpus": "text"}[data.source]


# ---- loading and error messages ---------------------------------------------------------------


_SOURCES = {"gaussian": GaussianData, "zipf": ZipfData, "categorical": CategoricalData, "digits": DigitsData, "corpus": CorpusData}


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed where an unknown field ``loc`` was found."""
    current: Any = model
    for part in loc[:-1]:
        if part in _SOURCES:  # a discriminated union's tag in the location
            current = _SOURCES[part]
            continue
        fields = getattr(current, "model_fields", {})
        annotation = fields[part].annotation if part in fields else None
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return sorted(getattr(current, "model_fields", {}))


def describe_error(err: ValidationError, prefix: str, model: type[BaseModel] | None = None) -> str:
    """The first error of a ValidationError as one line: ``field.path: problem``."""
    first = err.errors()[0]
    loc = tuple(first["loc"])
    path = ".".join(str(p) for p in loc if p not in _SOURCES)
    msg = first["msg"].removeprefix("Value error, ")
    if msg.startswith("@"):  # a nested component's own error, already ``field: problem``
        inner_path, _, msg = msg[1:].partition(": ")
        path = f"{path}.{inner_path}" if path else inner_path
    elif first["type"] == "extra_forbidden":
        allowed = _allowed_fields(model, loc) if model else []
        msg = "unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif first["type"] == "union_tag_invalid":
        path += ".source"
        msg = f"unknown source {first['ctx']['tag']!r}; allowed: {', '.join(_SOURCES)}"
    elif first["type"] not in ("value_error", "missing") and "input" in first:
        msg += f" (got {first['input']!r})"
    location = f"{prefix}{path}"
    return f"{location}: {msg}" if location else msg


def parse(model: type[BaseModel], raw: Any, source: str = "config") -> Any:
    """Validate ``raw`` against ``model``; on failure raise ConfigError naming the source and field."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(f"{source}: {describe_error(err, prefix='', model=model)}") from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path}: unreadable ({err.__class__.__name__}: {err})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML ({problem})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields at the top level")
    return raw


def load_config(path: str | Path) -> ExperimentConfig:
    return parse(ExperimentConfig, read_yaml(path), str(path))


# ---- sweeps, cliff analysis, cost ---------------------------------------------------------------


class CliffSpec(Strict):
    """How the cliff is located."""

    metric: str | None = Field(None, description="primary probe metric; default: heldout_ppl (text), wasserstein (vector), tv_distance (tokens)")
    tolerance: float = Field(0.1, gt=0, description="tau: the largest acceptable quality loss (relative to s = 0 by default)")
    relative: bool = Field(True, description="quality loss as a ratio to the all-human run (else a difference)")
    generation: int | None = Field(None, ge=0, description="generation at which the cliff is located; default: the last")
    adaptive_steps: int = Field(4, ge=1, le=10, description="bisection steps of the adaptive search")


class CostSpec(Strict):
    """Prices per training sample. Defaults follow the economics the field quotes for a 10,000-sample
    iteration: about $20,000 of human labelling vs about $300 of generation."""

    human_price: float = Field(2.0, ge=0, description="price of one new human sample")
    synthetic_price: float = Field(0.03, ge=0, description="price of one synthetic sample")
    currency: str = "$"


DEFAULT_FRACTIONS = [round(0.1 * i, 1) for i in range(11)]


class SweepConfig(ExperimentConfig):
    """An experiment swept over a grid of policy (or any other) fields, x seeds."""

    sweep: dict[str, list[Any]] = Field(
        default_factory=lambda: {"policy.synthetic_fraction": list(DEFAULT_FRACTIONS)},
        description="dotted field path -> values; the grid is their product",
    )
    cliff: CliffSpec = CliffSpec()
    cost: CostSpec = CostSpec()

    @model_validator(mode="after")
    def _valid_grid(self) -> "SweepConfig":
        for path, values in self.sweep.items():
            if path in ("name", "seeds", "probes", "sweep", "cliff", "cost"):
                raise ValueError(f"@sweep.{path}: cannot be swept")
            if not isinstance(values, list) or not values:
                raise ValueError(f"@sweep.{path}: give a non-empty list of values")
        self.variants()  # every grid point must be a valid experiment
        return self

    def base(self) -> ExperimentConfig:
        return ExperimentConfig.model_validate(self.model_dump(exclude={"sweep", "cliff", "cost"}))

    def variants(self) -> list[tuple[dict[str, Any], ExperimentConfig]]:
        """(labels, experiment) for every grid point; labels name the swept values."""
        import copy
        import itertools

        base = self.model_dump(mode="json", exclude={"sweep", "cliff", "cost"})
        paths = list(self.sweep)
        out = []
        for values in itertools.product(*(self.sweep[p] for p in paths)):
            raw = copy.deepcopy(base)
            for path, value in zip(paths, values):
                _assign(raw, path, value)
            try:
                variant = ExperimentConfig.model_validate(raw)
            except ValidationError as err:
                where = ", ".join(f"{p}={v!r}" for p, v in zip(paths, values))
                raise ValueError(f"@sweep: grid point {where}: {describe_error(err, prefix='')}") from None
            out.append(({label_name(p): v for p, v in zip(paths, values)}, variant))
        return out


def label_name(path: str) -> str:
    """The results column of a swept field: policy fields by their own name, others by their path."""
    return path.removeprefix("policy.")


def _assign(raw: dict, path: str, value: Any) -> None:
    """Set a dotted field path; it must exist already (a family's knobs may be new), so a typo is an error."""
    node: Any = raw
    *parents, leaf = path.split(".")
    for part in parents:
        if not isinstance(node, dict) or part not in node:
            raise ValueError(f"@sweep.{path}: no such field")
        node = node[part]
    if not isinstance(node, dict) or (leaf not in node and parents != ["family"]):
        raise ValueError(f"@sweep.{path}: no such field")
    node[leaf] = value


def load_sweep(path: str | Path) -> SweepConfig:
    return parse(SweepConfig, read_yaml(path), str(path))
