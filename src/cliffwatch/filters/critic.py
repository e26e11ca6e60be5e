"""``critic``: a model of another family, fitted to what the generator was fitted on, scores the samples."""

from __future__ import annotations

import numpy as np

from cliffwatch.config.schema import FamilySpec
from cliffwatch.core.errors import ConfigError
from cliffwatch.families.base import Family, Model
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.filters.self_score import ScoreParams, keep_low, nll_per_item
from cliffwatch.core.registry import FAMILIES, register_filter


class CriticParams(ScoreParams):
    family: FamilySpec  # {name: ..., knobs}: validated like the lineage's own family spec


@register_filter("critic")
class Critic(Filter):
    """Accepts a sample iff its NLL (text: per token) under the critic is at most the batch's
    ``quantile`` (default 0.9) or at most ``threshold``. The critic is ``family`` fitted on the
    generator's own training set (ctx.train) once per generation; it must model the data's
    modality and differ from the generator's family or knobs (else it would be ``self_score``)."""

    Params = CriticParams

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._family: Family | None = None
        self._fitted: tuple[object, Model] | None = None  # (the training set it was fitted on, critic)

    @classmethod
    def validate(cls, params: CriticParams, modality, generators) -> str | None:
        family_cls = params.family.component()
        if family_cls.modality is not modality:
            return f"critic: family {params.family.name!r} models {family_cls.modality} data, not {modality}"
        knobs = family_cls.Params(**params.family.params)
        for generator in generators:
            if generator.name == params.family.name and family_cls.Params(**generator.params) == knobs:
                return (f"critic: family {params.family.name!r} with these knobs is the generator itself; "
                        "pick another family or change a knob (or use self_score)")
        return None

    def accept(self, samples, ctx: FilterContext) -> np.ndarray:
        return keep_low(nll_per_item(self._critic(ctx), samples), self.params)

    def _critic(self, ctx: FilterContext) -> Model:
        family = self._family or self._build(ctx)
        generator = ctx.generator.family
        if family.name == generator.name and family.params == generator.params:
            raise ConfigError(f"critic: family {family.name!r} with these knobs is the generator itself; "
                              "pick another family or change a knob (or use self_score)")
        # one fit per generation: every resample round and generator of a generation shares ctx.train
        # (held here, so identity is a safe key); a resumed run refits from the same random stream
        if self._fitted is None or self._fitted[0] is not ctx.train:
            self._fitted = (ctx.train, family.fit(ctx.train, ctx.rng))
        return self._fitted[1]

    def _build(self, ctx: FilterContext) -> Family:
        spec = self.params.family
        family_cls = FAMILIES.get(spec.name)
        if family_cls.modality is not ctx.info.modality:
            raise ConfigError(f"critic: family {spec.name!r} models {family_cls.modality} data, not {ctx.info.modality}")
        self._family = family_cls(ctx.info, spec.params)
        return self._family
