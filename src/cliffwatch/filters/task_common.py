"""Shared by the task filters: both checks of each synthetic sentence (cliffwatch.data.task_checks)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cliffwatch.data.task_checks import Verdict, check_sentence
from cliffwatch.core.modality import Sentences


def needs_tasks(source: Any) -> str | None:
    if getattr(source, "tasks", None) is None:
        return "it checks task items: use data: {source: tasks}"
    return None


def verdicts(samples: Sentences, source: Any, vocab: Any) -> list[Verdict]:
    """Both checks of every sentence; running text (no task mark) passes both."""
    words = np.array(vocab.words, dtype=object)
    facts = source.tasks.facts
    return [check_sentence(words[samples.sentence(i)].tolist(), facts) for i in range(len(samples))]
