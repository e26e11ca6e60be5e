"""``surface_critic``: keeps the synthetic task items of the right form, whatever their substance.

A critic that reads form only: a word problem's worked steps are well formed, a function parses, a
fact names a subject and an answer of the right types (cliffwatch.data.task_checks). It cannot tell
a wrong sum, an undefined name or a false fact from a right one. Running text passes.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.core.registry import register_filter
from cliffwatch.core.modality import Sentences
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.filters.task_common import needs_tasks, verdicts


@register_filter("surface_critic")
class SurfaceCritic(Filter):
    """Accepts a sentence iff it is running text or a task item whose surface check passes."""

    modalities = (TEXT,)

    @classmethod
    def check(cls, source) -> str | None:
        return needs_tasks(source)

    def accept(self, samples: Sentences, ctx: FilterContext) -> np.ndarray:
        return np.array([v.surface for v in verdicts(samples, ctx.source, ctx.info.vocab)], dtype=bool)
