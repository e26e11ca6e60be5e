"""What an executor reports while lineages run."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Advanced:
    """``generations`` more generations of a lineage are finished (and stored)."""

    lineage: str
    generations: int
    stored: bool = False  # found in the lineage's checkpoint (an earlier run computed them)


@dataclass(frozen=True)
class Finished:
    lineage: str


@dataclass(frozen=True)
class Failed:
    lineage: str
    reason: str  # one line
    fatal: bool = False  # the run directory cannot be written (disk full, read-only): stop every lineage


Event = Advanced | Finished | Failed
