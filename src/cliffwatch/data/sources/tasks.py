"""Task items with checkable answers (reasoning, code, facts), alone or mixed with running text."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Literal

import numpy as np
from pydantic import Field

from cliffwatch.core.errors import DataError
from cliffwatch.core.registry import register_source
from cliffwatch.data.sources.base import SourceSpec
from cliffwatch.data.sources.corpus import SentencePool

TaskName = Literal["reasoning", "code", "facts"]


class TasksData(SourceSpec):
    """Built-in task items (see cliffwatch.data.tasks), a file of one's own, and running text."""

    source: Literal["tasks"]
    tasks: list[TaskName] = Field(["reasoning", "code", "facts"], description="built-in tasks to include")
    items: int | None = Field(None, ge=1, description="most items per built-in task (a fixed random subset; default all)")
    file: str | None = Field(None, min_length=1, max_length=4096, pattern=r"^[^\x00]*$",
                             description="JSON-lines task items added to the built-in ones")
    text: Literal["pydocs"] | None = Field(None, description="running text mixed with the task items (default: task data alone)")
    text_sentences: int | None = Field(None, ge=1, description="most running-text sentences (default all)")


def task_corpus(spec: TasksData):
    """(corpus, task set) of a spec, built once per process: every lineage of a seed shares it."""
    return _task_corpus(spec.model_dump_json())


@functools.lru_cache(maxsize=4)
def _task_corpus(key: str):
    from pathlib import Path

    from cliffwatch.data.corpora import TextCorpus, combine, load_corpus
    from cliffwatch.data.tasks import build_task_set, read_task_file, task_corpus_items

    spec = TasksData.model_validate_json(key)
    file_items = read_task_file(Path(spec.file)) if spec.file else []
    if not spec.tasks and not file_items:
        raise DataError("no task items: name at least one task or a file")
    items, sentences = task_corpus_items(tuple(spec.tasks), spec.items, file_items)
    provenance = {"source": "tasks", "tasks": list(spec.tasks), "items": spec.items, "file": spec.file}
    corpus = TextCorpus.from_tokens("tasks", sentences, provenance)
    if spec.text is not None:
        corpus = replace(combine([corpus, load_corpus(spec.text, max_sentences=spec.text_sentences)]), name=f"tasks+{spec.text}")
    return corpus, build_task_set(items, corpus.vocab)


@register_source("tasks")
class TasksSource(SentencePool):
    Spec = TasksData

    def __init__(self, spec: TasksData, holdout: int, rng: np.random.Generator) -> None:
        try:
            self.corpus, self.tasks = task_corpus(spec)
        except DataError as err:
            raise DataError(f"data: {err}") from None
        self.fingerprint = self.corpus.fingerprint
        self.provenance = self.corpus.provenance
        self._split(self.corpus.sentences, holdout, rng, len(self.corpus.sentences), "tasks")
