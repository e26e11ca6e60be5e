"""Typed errors. The library raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


MAX_MESSAGE = 400  # characters; a hostile input (a YAML bomb, a huge value) cannot flood the terminal


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line, at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class CliffwatchError(Exception):
    """Base class: a problem the user can fix (bad input, bad state). Exit code 2 in the CLI.
    The message is always one line of bounded length, whatever went into it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(message))


class ConfigError(CliffwatchError):
    """A config file is unreadable or violates the schema."""


class DataError(CliffwatchError):
    """A corpus or data file is missing, unreadable, empty or too small."""


class RunStoreError(CliffwatchError):
    """A run directory is not a cliffwatch run, is corrupt, or is locked."""


class StoreWriteError(RunStoreError):
    """Writing the run directory failed (disk full, read-only): the whole run stops, nothing half-written."""


class RunLockedError(RunStoreError):
    """Another process holds the run's lock."""


class ExecutorError(CliffwatchError):
    """An executor cannot start (e.g. no Ray cluster at the given address)."""


class RegistryError(CliffwatchError):
    """An unknown family, probe or filter name."""


class LineageError(CliffwatchError):
    """A lineage cannot continue (e.g. a filter rejected every sample)."""


class AnalysisError(CliffwatchError):
    """The requested analysis is impossible on these results (e.g. a single fraction)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: all work was stopped; finished generations stay stored.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it; not a
    KeyboardInterrupt, so that the CLI framework does not turn it into an exit status of its own."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class CliffwatchWarning(UserWarning):
    """Something the user asked for was adjusted (e.g. more workers than cores); the CLI prints one line."""
