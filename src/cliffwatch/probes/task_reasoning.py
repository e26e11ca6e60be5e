"""Task probe: reasoning (word problems), both checks; see task_common.py and cliffwatch.data.task_checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.core.registry import register_probe
from cliffwatch.probes.base import Probe, ProbeContext
from cliffwatch.probes.task_common import applies, scored_items, task_metrics, task_values


@register_probe("task_reasoning")
class TaskReasoning(Probe):
    modality = TEXT
    metrics = task_metrics("reasoning", "word problems")

    @classmethod
    def applies_to(cls, source: Any) -> bool:
        return applies(source, "reasoning")

    def prepare(self, source: Any) -> None:
        scored_items(source.tasks, source.pool, "reasoning")

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        return task_values(ctx, "reasoning")
