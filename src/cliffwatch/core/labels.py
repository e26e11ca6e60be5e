"""Words for things that are otherwise opaque: a lineage's labels, a duration."""

from __future__ import annotations

from typing import Any


def describe(labels: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Lineage id -> the labels that tell it apart from the others given (the swept values, the
    route; those all share are left out) and its seed, e.g. ``synthetic_fraction 0.5, seed 1``.
    ``labels``: lineage id -> its labels with its ``seed``."""
    keys = dict.fromkeys(k for row in labels.values() for k in row if k != "seed")
    varying = [k for k in keys if len({repr(row.get(k)) for row in labels.values()}) > 1]
    return {i: ", ".join([*(f"{k} {row.get(k)}" for k in varying), f"seed {row['seed']}"]) for i, row in labels.items()}


def clock(seconds: float) -> str:
    """``1h02m``, ``3m05s``, ``42s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
