"""The local-process executor: one worker process per running lineage, at most ``workers`` at once.

It cannot orphan work: each worker asks the kernel to kill it when its parent dies (Linux
``PR_SET_PDEATHSIG``, checked against a parent that died first), closes its inherited copy of the
run's lock, ignores Ctrl-C (the parent decides), and on SIGTERM exits through ``SystemExit`` so a
half-written temporary file is removed. ``cancel()`` (and the end of ``submit``) stops every worker.

Each worker reports through its own pipe, not a shared queue: a worker killed while sending
cannot leave a lock held that the others would wait on, and its death reads as end-of-file. A
worker that dies without reporting (kill -9, out of memory) is started once more, resuming from
its lineage's last checkpoint; a second death is reported as that lineage's failure in one line.
Forked workers inherit what the parent loaded (a corpus read in preflight is not read again).
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing as mp
import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Iterator

from cliffwatch.core.registry import register_executor
from cliffwatch.execution.events import Event, Failed, Finished
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.store import close_inherited_locks
from cliffwatch.execution.worker import run_lineage

RETRIES = 1  # extra attempts for a lineage whose worker died without reporting
STOP_GRACE_S = 5.0  # how long a worker may take to exit after SIGTERM before it is killed
_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)


def _work(job: Job, conn: Connection, parent_pid: int) -> None:
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    close_inherited_locks()
    try:
        for event in run_lineage(job.lineage, job.path):
            conn.send(event)
    finally:
        conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"


@dataclass
class _Worker:
    job: Job
    process: mp.process.BaseProcess
    conn: Connection
    done: bool = False  # its lineage reported Finished or Failed


@register_executor("processes")
class ProcessExecutor(Executor):
    local = True

    def submit(self, jobs: list[Job]) -> Iterator[Event]:
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        pending = deque(jobs)
        attempts: dict[str, int] = {}
        self._running: list[_Worker] = []
        # what this process holds (modules, the corpus) is left out of the forked workers' garbage
        # collections, which would otherwise visit and so copy every shared page (~0.1 s a worker)
        gc.freeze()
        try:
            while pending or self._running:
                while pending and len(self._running) < self.workers:
                    job = pending.popleft()
                    attempts[job.lineage.id] = attempts.get(job.lineage.id, 0) + 1
                    self._running.append(self._start(ctx, job))
                wait([w.conn for w in self._running if not w.conn.closed] + [w.process.sentinel for w in self._running],
                     timeout=1.0)
                for worker in list(self._running):
                    yield from self._drain(worker)
                    if worker.process.exitcode is None:
                        continue
                    yield from self._drain(worker)  # what it sent before exiting
                    worker.process.join()
                    worker.conn.close()
                    self._running.remove(worker)
                    if worker.done:
                        continue
                    lineage = worker.job.lineage.id
                    if attempts[lineage] <= RETRIES:
                        pending.append(worker.job)
                    else:
                        yield Failed(lineage, f"its worker process died ({_death(worker.process.exitcode)}) "
                                              f"{attempts[lineage]} times; rerun the same command to resume it")
        finally:
            gc.unfreeze()
            self.cancel()

    def _start(self, ctx, job: Job) -> _Worker:
        receiver, sender = ctx.Pipe(duplex=False)
        process = ctx.Process(target=_work, args=(job, sender, os.getpid()), name=f"cliffwatch {job.lineage.id}",
                              daemon=True)
        process.start()
        sender.close()  # the parent's copy: later workers must not inherit it, and EOF must mean death
        return _Worker(job, process, receiver)

    @staticmethod
    def _drain(worker: _Worker) -> Iterator[Event]:
        while not worker.conn.closed:
            try:
                if not worker.conn.poll():
                    return
                event = worker.conn.recv()
            except (EOFError, OSError):  # the worker exited (or died mid-message)
                worker.conn.close()
                return
            if isinstance(event, (Finished, Failed)):
                worker.done = True
            yield event

    def cancel(self) -> None:
        """Stop every running worker: SIGTERM (it removes its temporary file), then SIGKILL."""
        running = getattr(self, "_running", [])
        for worker in running:
            if worker.process.exitcode is None:
                worker.process.terminate()
        for worker in running:
            worker.process.join(STOP_GRACE_S)
            if worker.process.exitcode is None:
                worker.process.kill()
                worker.process.join()
            if not worker.conn.closed:
                worker.conn.close()
        running.clear()
