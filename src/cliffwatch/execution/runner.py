"""Executing planned lineages into a run store: skip finished ones, resume unfinished ones, hand
the rest to an executor, and collect what finished and what failed."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cliffwatch.core.errors import CliffwatchError, LineageError, RunStoreError
from cliffwatch.core.metrics import Metric
from cliffwatch.core.registry import EXECUTORS
from cliffwatch.execution.events import Advanced, Failed, Finished
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.store import RunStore
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage


@dataclass
class Outcome:
    store: RunStore
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # lineage id -> one-line reason


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_executor(name: str | None, workers: int) -> Executor:
    """The named executor, or processes for several workers and inline for one."""
    name = name or ("processes" if workers > 1 else "inline")
    return EXECUTORS.get(name)(workers)


def execute(store: RunStore, lineages: list[Lineage], executor: Executor,
            progress: Callable[[int], None] | None = None) -> Outcome:
    """Run every unfinished lineage. ``progress(n)`` is called as generations finish."""
    outcome = Outcome(store)
    with store.lock():
        jobs = []
        for lineage in lineages:
            if store.lineage(lineage.id).finished:
                outcome.finished.append(lineage.id)
                if progress:
                    progress(lineage.config.generations + 1)
            else:
                jobs.append(Job(lineage, str(store.lineage(lineage.id).path)))
        if jobs:
            events = executor.submit(jobs)
            try:
                for event in events:
                    if isinstance(event, Advanced):
                        if progress:
                            progress(event.generations)
                    elif isinstance(event, Finished):
                        outcome.finished.append(event.lineage)
                    elif isinstance(event, Failed):
                        outcome.failed[event.lineage] = event.reason
            except BaseException:
                executor.cancel()
                raise
    if lineages and not outcome.finished:
        first = next(iter(outcome.failed.values()))
        raise LineageError(f"all {len(outcome.failed)} lineages failed; first: {first}")
    return outcome


def preflight(lineages: list[Lineage]) -> None:
    """Build one runner per distinct variant before anything is written: bad data (a missing or too
    small corpus) or an inapplicable filter fails here, with nothing on disk. It also loads the
    corpus into this process, so forked workers inherit it instead of each reading it again."""
    seen = set()
    for lineage in lineages:
        if lineage.key not in seen:
            seen.add(lineage.key)
            try:
                LineageRunner(lineage)
            except CliffwatchError as err:
                where = ", ".join(f"{k} {v}" for k, v in lineage.tags)
                raise type(err)(f"{where}: {err}" if where else str(err)) from None


def prepare_run(out: str | Path, snapshot: dict, kind: str, metrics: list[Metric], overwrite: bool = False) -> RunStore:
    """A run directory for ``snapshot``: new, or the existing one if it holds the same config (resume)."""
    out = Path(out)
    if out.exists() and overwrite:
        RunStore.open(out)  # refuse to delete anything that is not a cliffwatch run
        shutil.rmtree(out)
    if out.exists():
        store = RunStore.open(out)
        if store.config() != snapshot:
            raise RunStoreError(f"{out}: holds a run of a different config; use another --out, or --overwrite")
        return store
    return RunStore.create(out, snapshot, kind, metrics)
