"""What a metric means: its direction, range and description, stored with every run.

A run directory records the metrics its lineages report (run.json), so analysing or reporting a
run needs neither the probe that measured a metric nor its current name in the registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

LossKind = Literal["relative", "difference", "log_ratio"]
MetricKind = Literal["probe", "acceptance", "share", "synthetic_drawn", "synthetic_kept"]


@dataclass(frozen=True)
class Metric:
    """One number a probe (or the loop) reports. ``higher_is_better=None`` marks a diagnostic with
    no good direction; ``kind`` says what the loop's own statistics are (a filter's acceptance
    rate, a generator's share, synthetic items drawn and kept) and ``subject`` which filter or
    generator they are about."""

    name: str
    higher_is_better: bool | None
    description: str
    low: float = -math.inf
    high: float = math.inf
    kind: MetricKind = "probe"
    subject: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["low"], out["high"] = _bound(self.low), _bound(self.high)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Metric":
        return cls(**{**raw, "low": float(raw["low"]), "high": float(raw["high"])})


def _bound(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
