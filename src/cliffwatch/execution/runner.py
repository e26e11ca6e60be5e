"""Executes lineages into a run store, in this process or on local worker processes.

The loop knows nothing about where it runs; this module only decides which lineages still
need work (finished ones are skipped, unfinished ones resume from their checkpoint) and
where to run them.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from cliffwatch.config.schema import ExperimentConfig, SweepConfig
from cliffwatch.core.errors import CliffwatchError, LineageError, RunStoreError
from cliffwatch.loop.engine import Lineage, LineageRunner
from cliffwatch.execution.store import LineageStore, RunStore


@dataclass
class Outcome:
    store: RunStore
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # lineage id -> one-line reason


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _run_one(lineage: Lineage, path: str, queue=None) -> tuple[str, str | None]:
    """Run one lineage into its store; returns (id, failure reason or None)."""
    store = LineageStore(Path(path))
    advance = (lambda n: queue.put(n)) if queue is not None else None
    try:
        runner = LineageRunner(lineage, store)
        meta = {"seed": lineage.seed, "key": f"{lineage.key:016x}", "labels": lineage.labels(),
                "fingerprint": runner.source.fingerprint, "provenance": runner.source.provenance}
        store.write_meta(meta)
        runner.run(progress=advance)
        return lineage.id, None
    except CliffwatchError as err:
        return lineage.id, str(err)
    except Exception as err:  # a bug in a component: keep the other lineages going, report it
        last = traceback.extract_tb(err.__traceback__)[-1]
        return lineage.id, f"{err.__class__.__name__}: {err} ({Path(last.filename).name}:{last.lineno})"


def execute(store: RunStore, lineages: list[Lineage], workers: int = 1,
            progress: Callable[[int], None] | None = None) -> Outcome:
    """Run every unfinished lineage. ``progress(n)`` is called as generations finish."""
    outcome = Outcome(store)
    with store.lock():
        pending = []
        for lineage in lineages:
            if store.lineage(lineage.id).finished:
                outcome.finished.append(lineage.id)
                if progress:
                    progress(lineage.config.generations + 1)
            else:
                pending.append(lineage)
        if workers <= 1 or len(pending) <= 1:
            for lineage in pending:
                _collect(outcome, *_run_one(lineage, str(store.lineage(lineage.id).path), _Inline(progress)))
        else:
            ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
            with ctx.Manager() as manager:
                queue = manager.Queue()
                with ProcessPoolExecutor(min(workers, len(pending)), mp_context=ctx) as pool:
                    remaining = {pool.submit(_run_one, l, str(store.lineage(l.id).path), queue) for l in pending}
                    while remaining:
                        done, remaining = wait(remaining, timeout=0.1, return_when=FIRST_COMPLETED)
                        _drain(queue, progress)
                        for future in done:
                            _collect(outcome, *future.result())
                    _drain(queue, progress)
    if lineages and not outcome.finished:
        first = next(iter(outcome.failed.values()))
        raise LineageError(f"all {len(outcome.failed)} lineages failed; first: {first}")
    return outcome


class _Inline:
    """A queue stand-in for in-process runs: forwards progress at once."""

    def __init__(self, progress: Callable[[int], None] | None) -> None:
        self.progress = progress

    def put(self, n: int) -> None:
        if self.progress:
            self.progress(n)


def _drain(queue, progress) -> None:
    while not queue.empty():
        n = queue.get_nowait()
        if progress:
            progress(n)


def _collect(outcome: Outcome, lineage_id: str, failure: str | None) -> None:
    if failure is None:
        outcome.finished.append(lineage_id)
    else:
        outcome.failed[lineage_id] = failure


def preflight(lineages: list[Lineage]) -> None:
    """Build one runner per distinct variant before anything is written: bad data (a missing or too
    small corpus) or an inapplicable filter fails here, with nothing on disk. It also loads the
    corpus into this process, so forked workers inherit it instead of each reading it again."""
    seen = set()
    for lineage in lineages:
        if lineage.key not in seen:
            seen.add(lineage.key)
            LineageRunner(lineage)


def prepare_run(out: str | Path, snapshot: dict, kind: str, overwrite: bool = False) -> RunStore:
    """A run directory for ``snapshot``: new, or the existing one if it holds the same config (resume)."""
    import shutil

    out = Path(out)
    if out.exists() and overwrite:
        RunStore.open(out)  # refuse to delete anything that is not a cliffwatch run
        shutil.rmtree(out)
    if out.exists():
        store = RunStore.open(out)
        if store.config() != snapshot:
            raise RunStoreError(f"{out}: holds a run of a different config; use another --out, or --overwrite")
        return store
    return RunStore.create(out, snapshot, kind)


def run_experiment(config: ExperimentConfig, out: str | Path, workers: int = 1, overwrite: bool = False,
                   progress: Callable[[int], None] | None = None) -> Outcome:
    """Run (or resume) every seed of one experiment into ``out``."""
    lineages = [Lineage(config, seed) for seed in config.seeds]
    preflight(lineages)
    store = prepare_run(out, config.model_dump(mode="json"), "run", overwrite)
    return execute(store, lineages, workers, progress)


def sweep_lineages(config: SweepConfig) -> list[Lineage]:
    """Every (grid point, seed) lineage of a sweep."""
    out = []
    for labels, variant in config.variants():
        tags = tuple((k, v) for k, v in labels.items() if f"policy.{k}" not in config.sweep)
        out.extend(Lineage(variant, seed, tags) for seed in variant.seeds)
    return out


def run_sweep(config: SweepConfig, out: str | Path, workers: int = 1, overwrite: bool = False,
              progress: Callable[[int], None] | None = None) -> Outcome:
    """Run (or resume) the whole grid x seeds into ``out``."""
    lineages = sweep_lineages(config)
    preflight(lineages)
    store = prepare_run(out, config.model_dump(mode="json"), "sweep", overwrite)
    return execute(store, lineages, workers, progress)
