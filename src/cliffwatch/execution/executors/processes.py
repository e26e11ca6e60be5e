"""The local-process executor: lineages on a pool of worker processes of this machine.

Workers report finished generations through one queue; the parent yields them as they arrive.
Forked workers inherit what the parent loaded (a corpus read in preflight is not read again).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_module
from concurrent.futures import ProcessPoolExecutor
from typing import Iterator

from cliffwatch.core.registry import register_executor
from cliffwatch.execution.events import Event, Failed, Finished
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.worker import run_lineage

_events = None  # the worker's end of the parent's queue, set by the pool initialiser


def _init(events) -> None:
    global _events
    _events = events


def _work(job: Job) -> None:
    for event in run_lineage(job.lineage, job.path):
        _events.put(event)


@register_executor("processes")
class ProcessExecutor(Executor):
    def submit(self, jobs: list[Job]) -> Iterator[Event]:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        events = ctx.Queue()
        self._pool = ProcessPoolExecutor(min(self.workers, len(jobs)) or 1, mp_context=ctx,
                                         initializer=_init, initargs=(events,))
        try:
            futures = {job.lineage.id: self._pool.submit(_work, job) for job in jobs}
            open_ = set(futures)  # lineages without a Finished or Failed event yet
            while open_:
                try:
                    event = events.get(timeout=0.1)
                except queue_module.Empty:
                    # a worker that died cannot report: its future carries the error
                    for lineage in [i for i in open_ if futures[i].done() and futures[i].exception()]:
                        error = futures[lineage].exception()
                        open_.discard(lineage)
                        yield Failed(lineage, f"worker process failed: {error.__class__.__name__}: {error}")
                    continue
                if isinstance(event, (Finished, Failed)):
                    open_.discard(event.lineage)
                yield event
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def cancel(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
