"""``self_score``: keep the samples the generator itself finds most likely.

Also home of the score rule that ``critic`` and ``perplexity`` share: a per-item NLL under some
model, cut at a quantile of the batch or at a fixed threshold.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from cliffwatch.core.modality import Sentences
from cliffwatch.families.base import Model, Params
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.core.registry import register_filter


class ScoreParams(Params):
    quantile: float = Field(
        0.9, gt=0.0, le=1.0, description="keep the samples scored at or below this quantile of their batch (per chain)"
    )
    threshold: float | None = Field(
        None, description="keep the samples scored at or below this NLL instead (text: nats per token)"
    )

    @model_validator(mode="after")
    def _one_cut(self) -> ScoreParams:
        if self.threshold is not None and "quantile" in self.model_fields_set:
            raise ValueError("give either quantile or threshold, not both")
        return self


def nll_per_item(model: Model, samples) -> np.ndarray:
    """Text: nats per token, end of sentence counted (nll / (tokens + 1)), so long sentences are not
    penalised for their length: (n,). Arrays: nats per item, each chain under its own model: (C, n)."""
    nll = model.nll(samples)
    return nll / (samples.lengths + 1) if isinstance(samples, Sentences) else nll


def keep_low(scores: np.ndarray, params: ScoreParams) -> np.ndarray:
    """scores <= threshold, or scores <= the batch's quantile along the last axis (per chain).

    The quantile is a score that occurs in the batch (inverted CDF: the ceil(q * n)-th lowest), so
    at least ceil(q * n) samples pass, more only on ties, and no interpolation meets an infinity.
    """
    if params.threshold is not None:
        return scores <= params.threshold
    cut = np.quantile(scores, params.quantile, axis=-1, method="inverted_cdf", keepdims=True)
    return scores <= cut


@register_filter("self_score")
class SelfScore(Filter):
    """Accepts a sample iff its NLL under the generator that drew it (text: per token) is at most the
    batch's ``quantile`` (default 0.9: the most likely 90% pass) or at most ``threshold``."""

    Params = ScoreParams

    def accept(self, samples, ctx: FilterContext) -> np.ndarray:
        return keep_low(nll_per_item(ctx.generator, samples), self.params)
