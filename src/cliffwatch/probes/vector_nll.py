"""Fidelity: negative log-likelihood of held-out human data under each generation's model."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import VECTOR
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe


@register_probe("heldout_nll")
class HeldoutNLL(Probe):
    modality = VECTOR
    metrics = (Metric("heldout_nll", False, "mean NLL (nats per item) of held-out human data; inf once the model collapses"),)

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return {"heldout_nll": ctx.model.nll(ctx.reference).mean(axis=1)}
