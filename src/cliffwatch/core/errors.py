"""Typed errors. The library raises these; only the CLI turns them into messages and exit codes."""

from __future__ import annotations


class CliffwatchError(Exception):
    """Base class: a problem the user can fix (bad input, bad state). Exit code 2 in the CLI."""


class ConfigError(CliffwatchError):
    """A config file is unreadable or violates the schema."""


class DataError(CliffwatchError):
    """A corpus or data file is missing, unreadable, empty or too small."""


class RunStoreError(CliffwatchError):
    """A run directory is not a cliffwatch run, is corrupt, or is locked."""


class RunLockedError(RunStoreError):
    """Another process holds the run's lock."""


class RegistryError(CliffwatchError):
    """An unknown family, probe or filter name."""


class LineageError(CliffwatchError):
    """A lineage cannot continue (e.g. a filter rejected every sample)."""


class AnalysisError(CliffwatchError):
    """The requested analysis is impossible on these results (e.g. a single fraction)."""
