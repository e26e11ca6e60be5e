"""What a mixing policy buys and draws, once: every count the loop, the cost plan and the route
comparison use comes from here.

Per lineage: generation 0 buys ``samples`` human items (the anchor). Every later generation draws
its synthetic share, and buys its human share only when the anchor is ``fresh`` (a ``fixed``
anchor re-uses generation 0's human data).
"""

from __future__ import annotations

import numpy as np


def synthetic_count(fraction: float, samples: int) -> int:
    """Synthetic items in one generation's new data."""
    return round(fraction * samples)


def human_count(fraction: float, samples: int) -> int:
    """Human items in one generation's new data (from the anchor or fresh draws)."""
    return samples - synthetic_count(fraction, samples)


def new_human(fraction: float, samples: int, human: str) -> int:
    """Human items bought per generation after generation 0."""
    return human_count(fraction, samples) if human == "fresh" else 0


def human_bought(fraction: float, samples: int, human: str, generations: int) -> int:
    """Human items bought by one lineage up to generation ``generations``."""
    return samples + generations * new_human(fraction, samples, human)


def mix_cost(fraction: float, samples: int, generations: int, human: str, human_price: float,
             synthetic_price: float) -> float:
    """What one lineage's data costs up to generation ``generations`` at the planned mix."""
    synthetic = generations * synthetic_count(fraction, samples)
    return human_bought(fraction, samples, human, generations) * human_price + synthetic * synthetic_price


def split(n: int, weights: list[float]) -> list[int]:
    """n items split by weight, largest remainder first (deterministic)."""
    if len(weights) == 1:
        return [n]
    w = np.asarray(weights, dtype=float) / sum(weights)
    base = np.floor(n * w).astype(int)
    order = np.argsort(-(n * w - base), kind="stable")
    base[order[: n - base.sum()]] += 1
    return base.tolist()
