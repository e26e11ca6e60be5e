"""Upper bounds on what a config may ask for, each with the reason a user reads when it is exceeded.

They keep a typo (``generations: 1e12``, ``seeds: 1000000000000``) from turning into a hang or an
out-of-memory crash long after the config loaded; each is far above any useful study on one
machine or a small cluster.
"""

from __future__ import annotations

from typing import Any

from pydantic import AfterValidator

MAX_GENERATIONS = 1_000
MAX_SEEDS = 1_000
MAX_SEED = 2**32 - 1
MAX_LINEAGES = 10_000
MAX_GRID_VALUES = 1_000
MAX_SAMPLES = 10_000_000
MAX_CHAINS = 1_000_000
MAX_DIM = 4_096
MAX_SUPPORT = 10_000_000
MAX_ITEMS = 100  # routes, probes, filters, generators
MAX_NAME = 100
MAX_MAGNITUDE = 1e12  # any real-valued knob of the data, a family or a generator weight
TEMPERATURE = (0.01, 100.0)

WHY = {
    "generations": "every generation is a fit, a probe and a stored file",
    "seeds": "every seed is a lineage of its own",
    "seed": "seeds are 32-bit, as numpy's seeding takes them",
    "lineages": "every grid point x seed is a lineage with its own directory and process",
    "samples": "a generation's data is held in memory",
    "chains": "every chain is held in memory at once",
    "dim": "a d x d covariance is fitted every generation",
    "support": "a probability per category is held in memory",
    "items": "more than this is a typo, not an experiment",
    "magnitude": "float64 keeps 16 digits, so a larger scale leaves a sample no digits of its own and "
                 "overflows the squares and sums the fits and probes take",
    "temperature": "outside it every family samples one mode or uniformly, and the powers and "
                   "scales it enters overflow",
}


def at_most(limit: int, why: str) -> AfterValidator:
    """A pydantic validator: ``value <= limit`` (or None), else "at most LIMIT: WHY"."""
    def check(value: Any) -> Any:
        if value is not None and not isinstance(value, (list, dict, str)) and value > limit:
            raise ValueError(f"at most {limit:,}: {why}")
        if isinstance(value, (list, dict, str)) and len(value) > limit:
            raise ValueError(f"at most {limit:,} entries: {why}")
        return value

    return AfterValidator(check)
