"""Held-out perplexity per model token: what a neural LM's own training loss reports.

``heldout_ppl`` is per corpus word (end of sentence counted), so every text family compares on it.
A subword model's perplexity per its own token is what its papers quote (the issue's SmolLM2 figure,
Shumailov et al.'s OPT numbers); a model that says how many tokens it reads a sentence as
(``token_counts``) is reported in those units, any other in words (then equal to ``heldout_ppl``).
The same nats are divided by a different count, so nothing is scored twice.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import heldout_log_ppl


@register_probe("text_token_fidelity")
class TextTokenFidelity(Probe):
    modality = TEXT
    metrics = (
        Metric("heldout_token_ppl", False, "perplexity on held-out human text per model token (subword models: their own tokens; else words)", 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        reference = ctx.reference
        words = reference.n_tokens + len(reference)
        counts = getattr(ctx.model, "token_counts", None)
        tokens = int(counts(reference).sum()) if counts is not None else words
        return {"heldout_token_ppl": np.array([np.exp(heldout_log_ppl(ctx) * words / tokens)])}
