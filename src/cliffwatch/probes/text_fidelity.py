"""Fidelity: perplexity of each generation's model on the held-out human reference."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import heldout_log_ppl
from cliffwatch.core.registry import register_probe


@register_probe("text_fidelity")
class TextFidelity(Probe):
    modality = TEXT
    metrics = (
        Metric("heldout_ppl", False, "perplexity on held-out human text: exp(total nats / tokens, end of sentence included)", 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return {"heldout_ppl": np.array([np.exp(heldout_log_ppl(ctx))])}
