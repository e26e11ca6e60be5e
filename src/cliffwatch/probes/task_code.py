"""Task probe: code (function bodies), both checks; see task_common.py and cliffwatch.data.task_checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Probe, ProbeContext
from cliffwatch.probes.task_common import applies, scored_items, task_metrics, task_values


@register_probe("task_code")
class TaskCode(Probe):
    modality = TEXT
    metrics = task_metrics("code", "function bodies")

    @classmethod
    def applies_to(cls, source: Any) -> bool:
        return applies(source, "code")

    def prepare(self, source: Any) -> None:
        scored_items(source.tasks, source.pool, "code")

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return task_values(ctx, "code")
