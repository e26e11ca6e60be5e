"""Executing planned lineages into a run store: skip finished ones, resume unfinished ones, hand
the rest to an executor, and collect what finished and what failed."""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cliffwatch.core.errors import (CliffwatchError, CliffwatchWarning, ExecutorError, IncompleteRunError, LineagesFailed,
                                    RunStoreError)
from cliffwatch.core.metrics import Metric
from cliffwatch.core.registry import EXECUTORS
from cliffwatch.execution.events import Advanced, Failed, Finished
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.outline import pool_shortfalls
from cliffwatch.execution.plan import describe, expected_work
from cliffwatch.execution.store import RunStore
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage


@dataclass
class Outcome:
    store: RunStore
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # lineage id -> one-line reason
    repaired: dict[str, str] = field(default_factory=dict)  # lineage id -> the damage found; recomputed


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def make_executor(name: str | None, workers: int, address: str | None = None) -> Executor:
    """The named executor, or processes unless exactly one worker is asked for (0 = one per core).
    ``address``: the cluster of an executor that runs on one (ray)."""
    name = name or ("inline" if workers == 1 else "processes")
    cls = EXECUTORS.get(name)
    if address is None:
        return cls(workers)
    if not getattr(cls, "accepts_address", False):
        raise ExecutorError(f"--address: executor {name!r} runs on this machine; use --executor ray")
    return cls(workers, address=address)


def bound_workers(requested: int, jobs: int, local: bool) -> int:
    """Workers for ``jobs`` lineages: never more than the lineages, nor (local executors) the cores.
    ``requested`` 0 means as many as useful; an explicit request above the bound is warned about."""
    cores = default_workers()
    limit, why = (jobs, f"{jobs} unfinished lineage(s)")
    if local and cores < limit:
        limit, why = cores, f"{cores} core(s)"
    limit = max(1, limit)
    if requested and requested > limit:
        warnings.warn(f"--workers {requested} capped at {limit}: there are {why}", CliffwatchWarning, stacklevel=2)
    return min(requested, limit) if requested else limit


def execute(store: RunStore, lineages: list[Lineage], executor: Executor,
            progress: Callable[[int], None] | None = None, *, stored: Callable[[int], None] | None = None,
            finished: Callable[[str, bool], None] | None = None) -> Outcome:
    """Run every unfinished lineage. ``progress(n)`` is called as generations finish, ``stored(n)``
    too for the ones an earlier run had stored, and ``finished(label, was_stored)`` per finished
    lineage (its label tells it apart: ``synthetic_fraction 0.5, seed 1``). If any lineage fails,
    LineagesFailed (with this Outcome) once the others are done: what finished is stored.

    Under the run's lock, every stored lineage is verified first: one whose results are missing or
    damaged (or whose checkpoint is unreadable) is recomputed from generation 0, and the damage is
    reported in ``Outcome.repaired``; lineages are deterministic, so the results are the same."""
    outcome = Outcome(store)
    labels = describe(_labels(lineages)) if finished else {}
    with store.lock():
        jobs = []
        for lineage in lineages:
            kept = store.lineage(lineage.id)
            damage = kept.problems() if kept.path.exists() else []
            if damage:
                outcome.repaired[lineage.id] = "; ".join(damage)
                kept.reset()
            if kept.finished:
                outcome.finished.append(lineage.id)
                if progress:
                    progress(lineage.config.generations + 1)
                if stored:
                    stored(lineage.config.generations + 1)
                if finished:
                    finished(labels[lineage.id], True)
            else:
                jobs.append(Job(lineage, str(kept.path)))
        if jobs:
            jobs.sort(key=lambda job: -expected_work(job.lineage))  # stable: ties keep the plan's order
            executor.workers = bound_workers(getattr(executor, "requested", executor.workers), len(jobs),
                                             executor.local)
            events = executor.submit(jobs)
            try:
                for event in events:
                    if isinstance(event, Advanced):
                        if progress:
                            progress(event.generations)
                        if stored and event.stored:
                            stored(event.generations)
                    elif isinstance(event, Finished):
                        outcome.finished.append(event.lineage)
                        if finished:
                            finished(labels[event.lineage], False)
                    elif isinstance(event, Failed):
                        if event.fatal:  # the run directory cannot be written: no lineage can go on
                            raise RunStoreError(event.reason)
                        outcome.failed[event.lineage] = event.reason
            except BaseException:
                executor.cancel()
                raise
    if outcome.failed:
        outcome.failed = {lin.id: outcome.failed[lin.id] for lin in lineages if lin.id in outcome.failed}  # plan order
        raise LineagesFailed(outcome, len(lineages), describe(_labels(lineages)))
    return outcome


def _labels(lineages: list[Lineage]) -> dict[str, dict]:
    return {lineage.id: {**lineage.labels(), "seed": lineage.seed} for lineage in lineages}


def require_finished(store: RunStore, lineages: list[Lineage] | None) -> None:
    """IncompleteRunError naming the first of ``lineages`` (None: those stored, for an adaptive sweep
    whose plan grows as it runs) that is missing or unfinished, and how many more: an analysis of
    the others would silently be a smaller experiment than the one configured."""
    if lineages is None:
        stored = {lin.path.name: lin for lin in store.lineages()}
        metas = {i: lin.meta() for i, lin in stored.items()}
        labels = {i: {**meta.get("labels", {}), "seed": meta.get("seed")} for i, meta in metas.items()}
    else:
        stored = {lin.id: store.lineage(lin.id) for lin in lineages}
        labels = _labels(lineages)
    gaps = [(i, lin) for i, lin in stored.items() if not lin.finished]
    if not gaps:
        return
    for _, lineage in gaps:  # damage first: it has its own message
        lineage.verify()
    first, lineage = gaps[0]
    if not (lineage.path / "lineage.json").exists():
        state = "never ran"
    else:
        done = lineage.checkpoint_generation()
        state = "no generation stored" if done is None else f"stopped after generation {done}"
    more = f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else ""
    raise IncompleteRunError(
        f"{store.path}: {len(gaps)} of {len(stored)} lineages have not finished, so an analysis would leave "
        f"them out: lineages/{first} ({describe(labels)[first]}): {state}{more}; rerun the command that wrote "
        "it (same config and --out) to finish them")


def preflight(lineages: list[Lineage], *, warn: bool = True) -> dict[int, object]:
    """Build one runner per distinct variant before anything is written: bad data (a missing or too
    small corpus) or an inapplicable filter fails here, with nothing on disk. It also loads the
    corpus, and what the probes derive from each seed's human data, into this process, so forked
    workers inherit them instead of each computing them again. Warns (CliffwatchWarning) when a
    finite human pool cannot supply what a policy draws from it. Returns data key -> source."""
    variants, human_data, sources = set(), set(), {}
    for lineage in lineages:
        if lineage.key in variants and (lineage.data_key, lineage.seed) in human_data:
            continue
        try:
            runner = LineageRunner(lineage)
        except CliffwatchError as err:
            where = ", ".join(f"{k} {v}" for k, v in lineage.tags)
            raise type(err)(f"{where}: {err}" if where else str(err)) from None
        variants.add(lineage.key)
        sources.setdefault(lineage.data_key, runner.source)
        if (lineage.data_key, lineage.seed) not in human_data:
            human_data.add((lineage.data_key, lineage.seed))
            runner.prepare()
    if warn:
        for shortfall in pool_shortfalls(lineages, sources):
            warnings.warn(shortfall.message(), CliffwatchWarning, stacklevel=2)
    return sources


def prepare_run(out: str | Path, snapshot: dict, kind: str, metrics: list[Metric], overwrite: bool = False,
                adaptive: bool = False) -> RunStore:
    """A run directory for ``snapshot``: new, or the existing one if it holds the same config, run
    the same way (resume)."""
    out = Path(out)
    if out.exists() and overwrite:
        old = RunStore.open(out)  # refuse to delete anything that is not a cliffwatch run
        with old.lock():  # nor a run another process is writing
            try:
                shutil.rmtree(out)
            except OSError as err:
                raise RunStoreError(f"{out}: cannot delete for --overwrite ({os.strerror(err.errno)})") from None
    if out.exists():
        store = RunStore.open(out)
        if store.config() != snapshot:
            raise RunStoreError(f"{out}: holds a run of a different config; use another --out, or --overwrite")
        if store.adaptive != adaptive:
            held, asked = ("an adaptive", "the whole grid") if store.adaptive else ("a whole-grid", "an adaptive search")
            raise RunStoreError(f"{out}: holds {held} sweep of this config, not {asked}; use another --out, or --overwrite")
        return store
    return RunStore.create(out, snapshot, kind, metrics, adaptive)
