"""What a metric means: its direction, range and description, stored with every run.

A run directory records the metrics its lineages report (run.json), so analysing or reporting a
run needs neither the probe that measured a metric nor its current name in the registry.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

LossKind = Literal["relative", "ratio_of_means", "log_ratio", "difference"]
LOSSES: tuple[str, ...] = get_args(LossKind)
MetricKind = Literal["probe", "acceptance", "share", "synthetic_drawn", "synthetic_kept"]


@dataclass(frozen=True)
class Metric:
    """One number a probe (or the loop) reports. ``higher_is_better=None`` marks a diagnostic with
    no good direction; ``kind`` says what the loop's own statistics are (a filter's acceptance
    rate, a generator's share, synthetic items drawn and kept) and ``subject`` which filter or
    generator they are about.

    ``loss``: how the cliff measures its quality loss against the all-human run: "relative" per
    replicate by default; "ratio_of_means" for distances whose all-human value is noise near zero
    (a per-replicate ratio would let one tiny baseline decide the cliff); "log_ratio"; "difference"
    for metrics that may be zero or negative (docs/statistics.md)."""

    name: str
    higher_is_better: bool | None
    description: str
    low: float = -math.inf
    high: float = math.inf
    kind: MetricKind = "probe"
    subject: str = ""
    loss: LossKind = "relative"

    def __deepcopy__(self, memo: dict) -> "Metric":
        # immutable: pandas deep-copies DataFrame.attrs (where load_results keeps the run's metrics)
        # on nearly every operation, which made the report spend seconds copying these
        return self

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["low"], out["high"] = _bound(self.low), _bound(self.high)
        return out

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> "Metric":
        return cls(**{**raw, "low": float(raw["low"]), "high": float(raw["high"])})


def _bound(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
