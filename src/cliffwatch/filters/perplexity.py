"""``perplexity``: a model of the human data scores the samples (a fixed reference, never retrained)."""

from __future__ import annotations

import numpy as np

from cliffwatch.families.base import Model
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.filters.self_score import ScoreParams, keep_low, nll_per_item
from cliffwatch.core.registry import register_filter

# The reference model's fit draws from its own fixed stream, not from a generation's: a resumed run
# refits it at a later generation than the straight run did and must get the same model.
REFERENCE_FIT_SEED = 0


@register_filter("perplexity")
class Perplexity(Filter):
    """Accepts a sample iff its NLL (text: per token) under the human model is at most the batch's
    ``quantile`` (default 0.9) or at most ``threshold``. The human model is the lineage's family
    fitted once per lineage on generation 0's human training set (ctx.human)."""

    Params = ScoreParams

    def __init__(self, params=None) -> None:
        super().__init__(params)
        self._reference: tuple[object, Model] | None = None  # (ctx.human, the model fitted on it)

    def accept(self, samples, ctx: FilterContext) -> np.ndarray:
        # ctx.human is one object for the whole lineage (held here, so identity is a safe key)
        if self._reference is None or self._reference[0] is not ctx.human:
            self._reference = (ctx.human, ctx.family.fit(ctx.human, np.random.default_rng(REFERENCE_FIT_SEED)))
        return keep_low(nll_per_item(self._reference[1], samples), self.params)
