"""Progress on long work: a rich bar that knows its total (for the CLI and for Python users)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class ProgressBar:
    """The ``Progress`` of cliffwatch.api drawn as a rich bar on stderr. The bar appears with the
    first finished generation, so an error found before any work prints its message alone."""

    def __init__(self, console: Console | None = None, unit: str = "generations") -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn(unit), TimeElapsedColumn(), TimeRemainingColumn(),
            console=console or Console(stderr=True),
        )
        self._task = None

    def start(self, description: str, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task(description, total=total)
        else:  # a later phase of the same work (adaptive search) gets its own total
            self._progress.update(self._task, description=description, total=total)

    def advance(self, n: int) -> None:
        if not self._progress.live.is_started:
            self._progress.start()
        self._progress.advance(self._task, n)

    def stop(self) -> None:
        if self._progress.live.is_started:
            self._progress.stop()
