"""Categorical collapse: concentration, entropy, support and tail mass against the human distribution."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TOKENS
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.core.registry import register_probe

TAIL_SHARE = 0.5  # the tail: the rarest human states holding this share of the support


def _human_probs(ctx: ProbeContext) -> np.ndarray:
    exact = ctx.source.true_probs() if ctx.source is not None else None
    if exact is not None:
        return exact
    counts = np.bincount(ctx.reference, minlength=ctx.info.support)
    return counts / counts.sum()


def _heldout_nll(probs: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Mean NLL of the reference under each chain's model, via the reference's state counts (O(C K))."""
    freq = np.bincount(reference, minlength=probs.shape[1]) / len(reference)
    seen = freq > 0
    with np.errstate(divide="ignore"):
        return -(np.log(probs[:, seen]) * freq[seen]).sum(axis=1)


@register_probe("distribution")
class Distribution(Probe):
    modality = TOKENS
    metrics = (
        Metric("collision", None, "sum of squared state probabilities S (-> 1 as the chain fixes on one state)", 0.0, 1.0),
        Metric("entropy", True, "entropy of the model's distribution in nats", 0.0),
        Metric("support", True, "number of states the model still gives positive probability", 0.0),
        Metric("tail_state_mass", True, "probability the model gives to the human distribution's rarest half of states", 0.0, 1.0),
        Metric("tv_distance", False, "total-variation distance to the human distribution", 0.0, 1.0, loss="ratio_of_means"),
        Metric("heldout_nll", False, "mean NLL (nats) of held-out human data; inf once a seen state is forgotten", 0.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        probs = ctx.model.probs
        human = _human_probs(ctx)
        tail = np.argsort(human, kind="stable")[: max(1, int(TAIL_SHARE * len(human)))]
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.where(probs > 0, probs * np.log(probs), 0.0).sum(axis=1)
        return {
            "collision": (probs**2).sum(axis=1),
            "entropy": entropy,
            "support": (probs > 0).sum(axis=1).astype(float),
            "tail_state_mass": probs[:, tail].sum(axis=1),
            "tv_distance": 0.5 * np.abs(probs - human).sum(axis=1),
            "heldout_nll": _heldout_nll(probs, ctx.reference),
        }
