"""Adaptive cliff search: bisection on the synthetic fraction instead of a full grid, then (with a
resolution) refinement inside the cliff's interval until it is as narrow as asked.

Runs s = 0 (the reference) and s = 1 first; if even s = 1 stays within τ there is no cliff.
Otherwise each step runs the midpoint of the bracket [last safe s, first unsafe s] for every
seed and keeps the half where ΔQ crosses τ. With k steps that is k + 2 fractions instead of a
grid's 11, at a resolution of 2^-k. It assumes ΔQ grows with s (as the grid shows it does
in the settings we know); the final estimate and its CI come from the same analysis as a grid,
on the fractions that were run.

With ``resolution``, once three fractions are in, each step instead splits the cliff's own 95%
interval: a collapse between two grid points leaves the interval spanning that cell, and every
split halves it, so runs are spent only there. It stops when the interval is at most
``resolution`` wide, or after ``refinements(resolution)`` steps (an interval limited by noise
rather than by the grid does not narrow with more fractions: it needs more seeds).

With a seed budget (``sweep --adaptive --max-seeds``), the search then adds seeds where only the
per-run risk bound holds a mix back: ``seeds_to_add`` asks for as many new seeds as
``Cliff.seeds_to_reach`` says would establish the largest such mix within the budget. Each new
seed runs at every fraction of its curve, so the seeds × fractions matrix the cliff interval, the
knee and the paired ΔQ are computed from stays complete.

This module only proposes fractions and seeds from the cliffs analysed so far; the workflow
(api.sweep) runs them and analyses again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cliffwatch.analysis.cliff import Cliff

Combination = tuple[tuple[str, Any], ...]  # the values of the swept fields other than s


def planned_runs(steps: int) -> int:
    """The most fractions bisection runs per combination (for the progress bar)."""
    return 2 + steps


def refinements(steps: int, resolution: float | None) -> int:
    """The most steps after the ends: ``steps`` bisections, or with a resolution as many halvings as
    take a unit interval to it, plus two."""
    return steps if resolution is None else max(steps, math.ceil(math.log2(1 / resolution)) + 2)


def grid_fractions(width: float) -> int:
    """Fractions of a uniform grid on [0, 1] whose cells are at most ``width`` wide: what a full
    grid needs to place a cliff inside one cell that narrowly."""
    return math.ceil(1 / width - 1e-9) + 1


def cliff_of(cliffs: list[Cliff], combo: Combination) -> Cliff:
    labels = dict(combo)
    return next(c for c in cliffs if all(labels.get(k) == v for k, v in c.group.items()))


def _loss_at(cliffs: list[Cliff], combo: Combination, fraction: float) -> float:
    """Mean ΔQ at one fraction on the curve of one combination (its varying labels are the cliff's group)."""
    cliff = cliff_of(cliffs, combo)
    return float(cliff.loss[list(cliff.fractions).index(fraction)])


def _split(cliff: Cliff, resolution: float) -> float | None:
    """The fraction that best narrows the cliff's interval (the middle of its widest grid cell
    inside the interval), or None when the interval is narrow enough or not located."""
    where = cliff.cliff_interval
    if where is None or where.status != "located":
        return None
    low, high = where.low, min(where.high, float(cliff.fractions[-1]))
    if high - low <= resolution:
        return None
    inside = cliff.fractions[(cliff.fractions > low) & (cliff.fractions < high)]
    edges = np.concatenate([[low], inside, [high]])
    widest = int(np.argmax(np.diff(edges)))
    mid = round(float(edges[widest] + edges[widest + 1]) / 2, 6)
    return None if mid in set(cliff.fractions.tolist()) else mid


@dataclass
class Bisection:
    """The brackets of the τ-crossing per combination, narrowed step by step."""

    combinations: list[Combination]
    tolerance: float
    resolution: float | None = None
    brackets: dict[Combination, tuple[float, float]] = field(default_factory=dict)
    active: list[Combination] = field(default_factory=list)
    _mids: dict[Combination, float] = field(default_factory=dict)

    def first(self) -> dict[Combination, list[float]]:
        """The fractions to run first: the ends of the range."""
        self.brackets = {c: (0.0, 1.0) for c in self.combinations}
        return {c: [0.0, 1.0] for c in self.combinations}

    def next(self, cliffs: list[Cliff]) -> dict[Combination, list[float]]:
        """Narrow the brackets with the latest analysis; the fractions to run next ({} when done)."""
        if not self._mids:  # after the ends: only curves that cross τ by s = 1 have a cliff to find
            self.active = [c for c in self.combinations if _loss_at(cliffs, c, 1.0) > self.tolerance]
        for c, mid in self._mids.items():
            lo, hi = self.brackets[c]
            if lo < mid < hi:
                self.brackets[c] = (lo, mid) if _loss_at(cliffs, c, mid) > self.tolerance else (mid, hi)
        if self.resolution is not None and self._mids:
            splits = {c: _split(cliff_of(cliffs, c), self.resolution) for c in self.active}
            self._mids = {c: s for c, s in splits.items() if s is not None}
        else:
            self._mids = {c: round(sum(self.brackets[c]) / 2, 6) for c in self.active}
        return {c: [m] for c, m in self._mids.items()}


def seeds_to_add(cliff: Cliff, budget: int) -> tuple[float, int] | None:
    """(fraction, seeds): the largest fraction past the safe mix that only the per-run risk bound
    holds back and whose ``Cliff.seeds_to_reach`` fits within ``budget`` more seeds, with that
    number; None when no such fraction is (none is held back, or each needs more than the budget)."""
    mean_ok = np.cumprod(cliff.loss_high <= cliff.tolerance).astype(bool)
    for s in cliff.fractions[mean_ok & ~cliff.safe][::-1]:
        need = cliff.seeds_to_reach(float(s))
        if need is not None and 0 < need <= budget:
            return float(s), need
    return None
