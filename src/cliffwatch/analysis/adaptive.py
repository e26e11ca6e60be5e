"""Adaptive cliff search: bisection on the synthetic fraction instead of a full grid.

Runs s = 0 (the reference) and s = 1 first; if even s = 1 stays within τ there is no cliff.
Otherwise each step runs the midpoint of the bracket [last safe s, first unsafe s] for every
seed and keeps the half where ΔQ crosses τ. With k steps that is k + 2 fractions instead of a
grid's 11, at a resolution of 2^-k. It assumes ΔQ grows with s (as the grid shows it does
in the settings we know); the final estimate and its CI come from the same analysis as a grid,
on the fractions that were run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from cliffwatch.analysis.cliff import Cliff, analyze
from cliffwatch.config.schema import SweepConfig
from cliffwatch.loop.engine import Lineage
from cliffwatch.execution.store import load_results
from cliffwatch.execution.runner import Outcome, execute, prepare_run


def _lineages(config: SweepConfig, fractions: dict[tuple, list[float]]) -> list[Lineage]:
    """Lineages at the given fractions of each combination of the other swept fields."""
    others = {k: v for k, v in config.sweep.items() if k != "policy.synthetic_fraction"}
    out = []
    for labels, variant in config.model_copy(update={"sweep": others}).variants():
        key = tuple(sorted(labels.items()))
        tags = tuple((k, v) for k, v in labels.items() if f"policy.{k}" not in others)
        for fraction in fractions.get(key, []):
            policy = variant.policy.model_copy(update={"synthetic_fraction": fraction})
            at_fraction = variant.model_copy(update={"policy": policy})
            out.extend(Lineage(at_fraction, seed, tags) for seed in at_fraction.seeds)
    return out


def _combinations(config: SweepConfig) -> list[tuple]:
    others = {k: v for k, v in config.sweep.items() if k != "policy.synthetic_fraction"}
    return [tuple(sorted(labels.items())) for labels, _ in config.model_copy(update={"sweep": others}).variants()]


def _loss_at(cliffs: list[Cliff], combo: tuple, fraction: float) -> float:
    """Mean ΔQ at one fraction on the curve of one combination (its varying labels are the cliff's group)."""
    labels = dict(combo)
    cliff = next(c for c in cliffs if all(labels.get(k) == v for k, v in c.group.items()))
    return float(cliff.loss[list(cliff.fractions).index(fraction)])


def run_adaptive(config: SweepConfig, out: str | Path, workers: int = 1, overwrite: bool = False,
                 progress: Callable[[int], None] | None = None) -> tuple[Outcome, list[Cliff]]:
    """Bisection for the τ-crossing; returns the run's outcome and its cliff analysis."""
    spec = config.cliff
    store = prepare_run(out, {**config.model_dump(mode="json"), "adaptive": True}, "sweep", overwrite)
    combos = _combinations(config)
    bracket = {c: (0.0, 1.0) for c in combos}

    def run_and_analyze(fractions: dict[tuple, list[float]]) -> list[Cliff]:
        execute(store, _lineages(config, fractions), workers, progress)
        return analyze(load_results(out), spec.metric, spec.tolerance, spec.relative, spec.generation)

    cliffs = run_and_analyze({c: [0.0, 1.0] for c in combos})
    active = [c for c in combos if _loss_at(cliffs, c, 1.0) > spec.tolerance]
    for _ in range(spec.adaptive_steps):
        if not active:
            break
        mids = {c: round(sum(bracket[c]) / 2, 6) for c in active}
        cliffs = run_and_analyze({c: [m] for c, m in mids.items()})
        for c in active:
            lo, hi = bracket[c]
            bracket[c] = (lo, mids[c]) if _loss_at(cliffs, c, mids[c]) > spec.tolerance else (mids[c], hi)
    outcome = Outcome(store, finished=[p.path.name for p in store.lineages() if p.finished])
    return outcome, cliffs


def planned_runs(config: SweepConfig) -> int:
    """The most fractions bisection runs per combination (for the progress bar)."""
    return 2 + config.cliff.adaptive_steps
