"""Progress on long work, for the CLI and for Python users: a rich bar on a terminal, plain log
lines anywhere else (CI, nohup, a notebook's captured stderr), so no long run is silent.

Both take the calls of cliffwatch.api's ``Progress``: ``plan(text, lineages)`` once (what will run and
where its results go), ``start(description, total)`` per phase, ``advance(n)`` per finished
generation, ``resumed(n)`` for generations already stored by an earlier run,
``lineage_finished(label, stored)`` per finished lineage (``stored``: an earlier run finished it)
and ``stop()``.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from cliffwatch.core.labels import clock

LOG_EVERY = 30.0  # seconds between log lines while no lineage finishes


def auto_progress(stream: TextIO | None = None, every: float = LOG_EVERY) -> "ProgressBar | LogProgress":
    """A bar when ``stream`` (default stderr) is a terminal, else log lines every ``every`` seconds."""
    stream = stream if stream is not None else sys.stderr
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return ProgressBar(Console(file=stream))
    return LogProgress(stream, every)


class ProgressBar:
    """A rich bar on stderr, drawn from the start of the work (0 of N) to its end."""

    def __init__(self, console: Console | None = None, unit: str = "generations") -> None:
        self.console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
            console=self.console,
        )
        self._task = None

    def plan(self, text: str, lineages: int = 0) -> None:
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)

    def start(self, description: str, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task(description, total=total)
        else:  # a later phase of the same work (adaptive search) gets its own total
            self._progress.update(self._task, description=description, total=total)
        if not self._progress.live.is_started:
            self._progress.start()

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def resumed(self, n: int) -> None:
        """``n`` of the generations advanced were stored before (rich's ETA uses recent speed only)."""

    def lineage_finished(self, label: str, stored: bool = False) -> None:
        """The bar shows generations; a finished lineage needs no line of its own on a terminal."""

    def stop(self) -> None:
        if self._progress.live.is_started:
            self._progress.stop()


class LogProgress:
    """One plain line per finished lineage, and one every ``every`` seconds while none finishes:
    lineages and generations done of the total, elapsed time and an ETA from the pace of the
    generations computed in this process (not those a resumed run found stored)."""

    def __init__(self, stream: TextIO | None = None, every: float = LOG_EVERY, prefix: str = "cliffwatch") -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.prefix = prefix
        self.description = ""
        self.total = 0
        self.done = 0
        self.stored = 0  # generations found finished by an earlier run: they took no time here
        self.lineages = 0
        self.lineages_total = 0
        self._started = 0.0
        self._last_line = 0.0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def plan(self, text: str, lineages: int = 0) -> None:
        self.lineages_total = lineages
        self._write(text)

    def start(self, description: str, total: int) -> None:
        with self._lock:
            self.description, self.total = description, total
            if not self._started:
                self._started = self._last_line = time.monotonic()
        if self._heartbeat is None and self.every > 0:
            self._stopped.clear()
            self._heartbeat = threading.Thread(target=self._beat, name="cliffwatch-progress", daemon=True)
            self._heartbeat.start()

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n

    def resumed(self, n: int) -> None:
        with self._lock:
            self.stored += n

    def lineage_finished(self, label: str, stored: bool = False) -> None:
        with self._lock:
            self.lineages += 1
            line = None if stored else self._status(f"finished {label}")
        if line:
            self._write(line)

    def stop(self) -> None:
        self._stopped.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        with self._lock:
            if self._started:
                line = self._status("done" if self.total and self.done >= self.total else "stopped")
            else:
                line = None
        if line:
            self._write(line)

    # -- lines --------------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self._stopped.wait(min(self.every, 1.0)):
            with self._lock:
                due = time.monotonic() - self._last_line >= self.every
                line = self._status("running") if due else None
            if line:
                self._write(line)

    def _status(self, event: str) -> str:
        """The status line (called with the lock held)."""
        now = time.monotonic()
        self._last_line = now
        elapsed = now - self._started
        parts = []
        if self.lineages_total:
            parts.append(f"{self.lineages}/{self.lineages_total} lineages")
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        parts.append(f"{self.done}/{self.total} generations{share}")
        parts.append(f"{clock(elapsed)} elapsed")
        computed, left = self.done - self.stored, self.total - self.done
        if left <= 0:
            pass
        elif computed > 0 and elapsed > 0:
            parts.append(f"ETA {clock(left * elapsed / computed)}")
        else:
            parts.append("ETA after the first generation")
        head = f"{self.description}: " if self.description else ""
        return f"{head}{', '.join(parts)}; {event}"

    def _write(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        for line in text.splitlines():
            print(f"[{self.prefix} {stamp}] {line}", file=self.stream, flush=True)
