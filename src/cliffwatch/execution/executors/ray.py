"""The Ray executor: lineages as Ray tasks, on an existing cluster (``--address``) or on a local Ray
started for the run (dashboard off, its temporary folder inside the run directory).

A task runs the same worker as every executor and writes into the same run store, so results are
bit-identical to the local executors; on a cluster the run directory must be on a file system every
node mounts at the same path, and cliffwatch must be installed on the nodes. A task whose worker
dies (a killed process, a lost node) is retried by Ray and resumes from its lineage's checkpoint.
Progress comes back through a Ray queue (an actor); the task's return value is its lineage's
Finished or Failed event.
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from cliffwatch.core.errors import ExecutorError
from cliffwatch.core.registry import register_executor
from cliffwatch.execution.events import Event, Failed, Finished
from cliffwatch.execution.executors.base import Executor, Job
from cliffwatch.execution.worker import run_lineage

RETRIES = 2  # Ray re-runs a task whose worker process or node died this many times
CONNECT_TIMEOUT_S = 5.0
SHORT_PATH = 40  # Ray adds about 60 bytes of session and socket names to its temporary folder


def _reachable(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at ``address`` (host:port or ray://host:port)."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: expected HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise ExecutorError(f"--address {address}: no Ray cluster reachable ({err.strerror or err})") from None


def _task(job: Job, progress: Any) -> Event:
    terminal = None
    for event in run_lineage(job.lineage, job.path):
        if isinstance(event, (Finished, Failed)):
            terminal = event
        else:
            progress.put(event)
    return terminal


@register_executor("ray")
class RayExecutor(Executor):
    accepts_address = True

    def __init__(self, workers: int = 1, address: str | None = None) -> None:
        super().__init__(workers)
        self.address = address
        self.local = address is None  # a cluster has its own cores: then only the lineages cap the workers
        self._refs: dict[Any, Job] = {}
        self._started_here = False
        self._temp_dir: Path | None = None
        self._link: Path | None = None

    def _connect(self, run_dir: Path) -> None:
        import ray

        if ray.is_initialized():
            return
        options = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                       configure_logging=True)
        if self.address:
            _reachable(self.address)
            ray.init(address=self.address, **options)
        else:
            self._temp_dir = run_dir.resolve() / ".ray"
            self._temp_dir.mkdir(exist_ok=True)
            ray.init(num_cpus=self.workers, _temp_dir=self._short_path(self._temp_dir), **options)
            self._started_here = True

    def _short_path(self, folder: Path) -> str:
        """``folder``, or a short link to it: Ray puts Unix sockets under its temporary folder, and
        a socket's path may not exceed 107 bytes."""
        if len(str(folder)) <= SHORT_PATH:
            return str(folder)
        link = Path(tempfile.mkdtemp(prefix="cw-ray-")) / "t"
        link.symlink_to(folder, target_is_directory=True)
        self._link = link
        return str(link)

    def submit(self, jobs: list[Job]) -> Iterator[Event]:
        import ray
        from ray.util.queue import Empty, Queue

        self._connect(Path(jobs[0].path).parents[1])
        remote = ray.remote(num_cpus=1, max_retries=RETRIES, retry_exceptions=False)(_task)
        progress = Queue()
        pending = list(jobs)
        try:
            while pending or self._refs:
                while pending and len(self._refs) < self.workers:
                    job = pending.pop(0)
                    self._refs[remote.remote(job, progress)] = job
                done, _ = ray.wait(list(self._refs), num_returns=1, timeout=0.2)
                yield from self._drain(progress, Empty)
                for ref in done:
                    job = self._refs.pop(ref)
                    try:
                        yield ray.get(ref)
                    except Exception as err:  # the task died more often than Ray retries it
                        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                        yield Failed(job.lineage.id, f"its Ray task failed {RETRIES + 1} times "
                                                     f"({err.__class__.__name__}: {first[:150]}); rerun to resume it")
            yield from self._drain(progress, Empty)
        finally:
            self.cancel()
            try:
                ray.kill(progress.actor)
            except Exception:
                pass
            self._shutdown()

    @staticmethod
    def _drain(progress, empty) -> Iterator[Event]:
        while True:
            try:
                batch = progress.get_nowait_batch(progress.qsize())
            except empty:
                return
            if not batch:
                return
            yield from batch

    def cancel(self) -> None:
        import ray

        for ref in list(self._refs):
            try:
                ray.cancel(ref, force=True)
            except Exception:
                pass
        self._refs.clear()

    def _shutdown(self) -> None:
        import ray

        if self._started_here:
            ray.shutdown()
            self._started_here = False
            time.sleep(0.1)
            if self._temp_dir is not None:
                shutil.rmtree(self._temp_dir, ignore_errors=True)
            if self._link is not None:
                shutil.rmtree(self._link.parent, ignore_errors=True)
                self._link = None
