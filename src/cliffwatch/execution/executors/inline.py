"""The in-process executor: one lineage after another, in this process."""

from __future__ import annotations

from typing import Iterator

from cliffwatch.core.registry import register_executor
from cliffwatch.execution.events import Event
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.worker import run_lineage


@register_executor("inline")
class InlineExecutor(Executor):
    def submit(self, jobs: list[Job]) -> Iterator[Event]:
        self._cancelled = False
        for job in jobs:
            if self._cancelled:
                return
            yield from run_lineage(job.lineage, job.path)

    def cancel(self) -> None:
        self._cancelled = True
