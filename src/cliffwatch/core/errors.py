"""Typed errors. The library raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


MAX_MESSAGE = 400  # characters; a hostile input (a YAML bomb, a huge value) cannot flood the terminal


def one_line(message: str, limit: int = MAX_MESSAGE) -> str:
    """``message`` on one line, at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _first_line(error: Exception, typed: bool = False) -> str:
    """The first line of ``error``'s message (its type's name if it has none), to quote inside a
    one-line message; ``typed`` prefixes the type (for third-party errors whose text alone is vague)."""
    lines = str(error).strip().splitlines()
    if not lines:
        return type(error).__name__
    return f"{type(error).__name__}: {lines[0]}" if typed else lines[0]


class CliffwatchError(Exception):
    """Base class: a problem the user can fix (bad input, bad state). Exit code 2 in the CLI.
    The message is always one line of bounded length, whatever went into it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(one_line(message))


class ConfigError(CliffwatchError):
    """A config file is unreadable or violates the schema."""


class WrongWorkflowError(ConfigError):
    """A config handed to a workflow it is not written for (a compare config to a sweep, ...); the
    message names the command that runs it."""


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


class LineagesFailed(LineageError):
    """Some lineages of a run failed (the CLI: one line each and exit 1). What finished stays stored,
    and rerunning the same command retries only the failed ones. There is no analysis: fewer lineages
    than planned would be a different experiment, with its gaps where the failures were.

    ``failed``: lineage id -> one-line reason; ``where``: lineage id -> the labels that tell it apart
    ("synthetic_fraction 0.5, seed 1"); ``total``: the lineages this run had to finish; ``outcome``:
    the runner's Outcome (store, finished, failed, repaired)."""

    def __init__(self, outcome, total: int, where: dict[str, str]) -> None:
        self.outcome, self.total, self.where = outcome, total, where
        super().__init__(f"{self.summary}; first: {self.lines()[0]}")

    @property
    def failed(self) -> dict[str, str]:
        return self.outcome.failed

    @property
    def summary(self) -> str:
        return f"{len(self.failed)} of {self.total} lineages failed; rerun the same command to retry them"

    def lines(self) -> list[str]:
        """One line per failed lineage: its id, what tells it apart, and why it failed."""
        return [one_line(f"lineage {i} ({self.where.get(i, '?')}) failed: {reason}") for i, reason in self.failed.items()]


class AnalysisError(CliffwatchError):
    """The requested analysis is impossible on these results (e.g. a single fraction)."""


class IncompleteRunError(AnalysisError):
    """A run directory's lineages have not all finished (failed, stopped, or never ran): analysing
    the ones that did would silently be a smaller experiment; the message names what is missing."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: all work was stopped; finished generations stay stored.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it; not a
    KeyboardInterrupt, so that the CLI framework does not turn it into an exit status of its own."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


class CliffwatchWarning(UserWarning):
    """Something the user asked for was adjusted (e.g. more workers than cores); the CLI prints one line."""
