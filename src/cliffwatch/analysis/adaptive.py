"""Adaptive cliff search: bisection on the synthetic fraction instead of a full grid.

Runs s = 0 (the reference) and s = 1 first; if even s = 1 stays within τ there is no cliff.
Otherwise each step runs the midpoint of the bracket [last safe s, first unsafe s] for every
seed and keeps the half where ΔQ crosses τ. With k steps that is k + 2 fractions instead of a
grid's 11, at a resolution of 2^-k. It assumes ΔQ grows with s (as the grid shows it does
in the settings we know); the final estimate and its CI come from the same analysis as a grid,
on the fractions that were run.

This module only proposes fractions from the cliffs analysed so far; the workflow (api.sweep)
runs them and analyses again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cliffwatch.analysis.cliff import Cliff

Combination = tuple[tuple[str, Any], ...]  # the values of the swept fields other than s


def planned_runs(steps: int) -> int:
    """The most fractions bisection runs per combination (for the progress bar)."""
    return 2 + steps


def _loss_at(cliffs: list[Cliff], combo: Combination, fraction: float) -> float:
    """Mean ΔQ at one fraction on the curve of one combination (its varying labels are the cliff's group)."""
    labels = dict(combo)
    cliff = next(c for c in cliffs if all(labels.get(k) == v for k, v in c.group.items()))
    return float(cliff.loss[list(cliff.fractions).index(fraction)])


@dataclass
class Bisection:
    """The brackets of the τ-crossing per combination, narrowed step by step."""

    combinations: list[Combination]
    tolerance: float
    brackets: dict[Combination, tuple[float, float]] = field(default_factory=dict)
    active: list[Combination] = field(default_factory=list)
    _mids: dict[Combination, float] = field(default_factory=dict)

    def first(self) -> dict[Combination, list[float]]:
        """The fractions to run first: the ends of the range."""
        self.brackets = {c: (0.0, 1.0) for c in self.combinations}
        return {c: [0.0, 1.0] for c in self.combinations}

    def next(self, cliffs: list[Cliff]) -> dict[Combination, list[float]]:
        """Narrow the brackets with the latest analysis; the midpoints to run next ({} when done)."""
        if not self._mids:  # after the ends: only curves that cross τ by s = 1 have a cliff to find
            self.active = [c for c in self.combinations if _loss_at(cliffs, c, 1.0) > self.tolerance]
        for c, mid in self._mids.items():
            lo, hi = self.brackets[c]
            self.brackets[c] = (lo, mid) if _loss_at(cliffs, c, mid) > self.tolerance else (mid, hi)
        self._mids = {c: round(sum(self.brackets[c]) / 2, 6) for c in self.active}
        return {c: [m] for c, m in self._mids.items()}
