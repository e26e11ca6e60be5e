"""The Executor interface: submit lineages, receive their events as generations finish, cancel.

An executor only decides where work runs. Each job is one lineage and the directory it writes
to; the worker (execution/worker.py) does the same thing wherever it runs, so results are
bit-identical across executors.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Iterator

from cliffwatch.execution.events import Event
from cliffwatch.loop.lineage import Lineage


@dataclass(frozen=True)
class Job:
    lineage: Lineage
    path: str  # the lineage's directory in the run store


class Executor(ABC):
    """Registered with ``@register_executor(name)``; ``cliffwatch sweep --executor NAME`` picks one."""

    name: ClassVar[str]
    local: ClassVar[bool] = True  # its workers share this machine's cores (execute caps them there)

    def __init__(self, workers: int = 1) -> None:
        self.requested = max(0, workers)  # 0: as many as useful (execute bounds it)
        self.workers = max(1, workers)

    @abstractmethod
    def submit(self, jobs: list[Job]) -> Iterator[Event]:
        """Run the jobs; yield every event as it happens, until each job has finished or failed."""

    def cancel(self) -> None:
        """Stop all work started by ``submit`` (finished generations stay stored)."""
