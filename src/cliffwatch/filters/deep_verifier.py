"""``deep_verifier``: keeps the synthetic task items that are right, in substance and so in form.

An oracle with ground truth: a word problem's steps are right and reach the problem's answer, a
function parses, reads no undefined name and uses its parameters, a fact is true
(cliffwatch.data.task_checks). Unlike ``verifier``, which passes any sentence stating no false fact
(fragments included), an item that is not well formed fails here: substance needs form. Running
text passes.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT
from cliffwatch.core.registry import register_filter
from cliffwatch.core.modality import Sentences
from cliffwatch.filters.base import Filter, FilterContext
from cliffwatch.filters.task_common import needs_tasks, verdicts


@register_filter("deep_verifier")
class DeepVerifier(Filter):
    """Accepts a sentence iff it is running text or a task item whose deep check passes."""

    modalities = (TEXT,)
    verifies = True

    @classmethod
    def check(cls, source) -> str | None:
        return needs_tasks(source)

    def accept(self, samples: Sentences, ctx: FilterContext) -> np.ndarray:
        return np.array([v.deep for v in verdicts(samples, ctx.source, ctx.info.vocab)], dtype=bool)
