"""Gaming gap: an automated benchmark built from synthetic data, beside the human-anchored probe.

The benchmark scores generation g's model on what the previous generation emitted
(``ctx.prev_samples``), the way a benchmark built from model-written text would. At generation 0
there is no previous model, so the benchmark is the model's own samples (synthetic_ppl equals
self_ppl there). That keeps the series continuous: with no synthetic data in the loop every
generation's model is the same, and the previous model's samples score like its own. Scoring the
training data instead would be an in-sample score, not comparable with the later, held-out ones;
scoring the human reference would make the gap 0 at generation 0 by construction.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import (
    heldout_log_ppl,
    log_perplexity,
    samples_log_ppl,
)
from cliffwatch.core.registry import register_probe


@register_probe("text_gaming")
class TextGaming(Probe):
    modality = TEXT
    metrics = (
        Metric("synthetic_ppl", False, "perplexity on the previous generation's samples, the benchmark's view (generation 0: on its own samples)", 1.0),
        Metric("gaming_gap", False, "log heldout_ppl - log synthetic_ppl (nats/token): how much better the benchmark looks than the truth", loss="difference"),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        human = heldout_log_ppl(ctx)
        previous = ctx.prev_samples
        synthetic = samples_log_ppl(ctx) if previous is None else log_perplexity(ctx.model.nll(previous), previous)
        return {"synthetic_ppl": np.array([np.exp(synthetic)]), "gaming_gap": np.array([human - synthetic])}
