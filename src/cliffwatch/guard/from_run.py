"""From a measured cliff to the gate: an audit policy written from a sweep's results, and the CI
checks of a cliff (``cliffwatch cliff --fail-if-...``).

The run measures a *per-generation synthetic share* s: each generation's training set holds
round(s·M) synthetic items and M − round(s·M) human ones (loop/mixing.py). The audit measures an
*effective human fraction* after duplicate removal: distinct items holding a human row / distinct
items (guard/audit.py). :func:`effective_human_fraction` maps the first to the second for the
training set the run's last measured generation trained on, when no synthetic item repeats
another item. That is the lowest share a mix at s can audit at: a synthetic item that copies
another (or a filter that discards some) leaves fewer distinct synthetic items and so a higher
share. ``tests/test_policy_from_run.py`` checks the mapping against the audit of the loop's own
manifests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cliffwatch.analysis.cliff import Cliff
from cliffwatch.core.errors import AnalysisError
from cliffwatch.guard.policy import Policy
from cliffwatch.loop import mixing


def effective_human_fraction(s: float, samples: int, mode: str, human: str, generation: int) -> float:
    """Distinct human items / distinct items of the training set of ``generation`` when the
    per-generation synthetic share is ``s`` and no synthetic item repeats another item.

    - replace: (M − S) / M, every generation (S = round(s·M) synthetic items).
    - accumulate, fresh anchor: every generation adds M new items, M − S of them human:
      (M + g(M − S)) / (M(g + 1)).
    - accumulate, fixed anchor: the pool holds generation 0's M human items once (re-adding the
      anchor would only duplicate it) and g·S synthetic ones: M / (M + g·S).
    - accumulate-subsample: a uniform subsample of M items of that pool; in expectation the pool's
      share, which is what this returns for it.
    Generation 0 is all human."""
    if generation <= 0:
        return 1.0
    synthetic = mixing.synthetic_count(s, samples)
    human_new = samples - synthetic
    if mode == "replace":
        return human_new / samples
    if human == "fresh":
        return (samples + generation * human_new) / (samples * (generation + 1))
    return samples / (samples + generation * synthetic)


@dataclass
class SafeMix:
    """One curve's conservative synthetic share and what it requires of a training mix."""

    group: dict[str, Any]
    safe_fraction: float  # largest grid s the analysis calls safe (Cliff.safe: ΔQ interval and per-run risk bound)
    cliff_low: float  # lower end of the cliff's 95% interval (nan: undetermined)
    fraction: float  # s*: the smaller of the two
    mode: str
    human: str
    samples: int
    generation: int
    required: float  # effective human fraction of a mix at s*, after dedup

    def describe(self) -> str:
        where = ", ".join(f"{k} = {v}" for k, v in self.group.items())
        low = f"{self.cliff_low:.3g}" if math.isfinite(self.cliff_low) else "undetermined"
        return (f"{where + ': ' if where else ''}largest safe s = {self.safe_fraction:g}, cliff interval from {low}: "
                f"s* = {self.fraction:.3g}; {self.mode}, human {self.human}, {self.samples:,} items per generation, "
                f"generation {self.generation} -> effective human fraction {self.required:.4g}")


@dataclass
class RunPolicy:
    """An audit policy derived from a run, and how it was derived."""

    run_dir: str
    metric: str
    tolerance: float
    loss: str
    generation: int
    replicates: int
    mixes: list[SafeMix]
    dedup: str
    policy: Policy = field(init=False)

    def __post_init__(self) -> None:
        self.policy = Policy(min_human_fraction=_round_up(self.binding.required), max_depth=self.generation, dedup=self.dedup)

    @property
    def binding(self) -> SafeMix:
        """The curve that requires the most human data (the policy must hold for all)."""
        return max(self.mixes, key=lambda m: m.required)

    def yaml(self, version: str = "") -> str:
        """The policy file: its rules, each explained in comments."""
        b = self.binding
        share = 1 - b.fraction
        lines = [
            f"# Audit policy written by `cliffwatch policy {self.run_dir}`"
            f"{f' (cliffwatch {version})' if version else ''}, {datetime.now(timezone.utc).date().isoformat()}.",
            f"# Measured: {self.metric}, quality loss ({self.loss}) within tau = {self.tolerance:g} at generation "
            f"{self.generation}, {self.replicates} replicates.",
            *(f"#   {m.describe()}" for m in self.mixes),
            "# s*, the conservative end of the safe mix: the smaller of the largest safe grid fraction (its whole",
            "# 95% interval of the quality loss within tau, the exact 95% bound on the risk that one run crosses tau",
            "# within the risk level, and so every smaller fraction's) and the lower end of the cliff's 95% interval.",
            f"# min_human_fraction: the run's s is a per-generation synthetic share by count; the audit counts distinct",
            f"# items after dedup. A {b.mode} training set mixed at s* = {b.fraction:.3g} "
            + (f"holds a human share of {share:.3g} by count,"
               if b.mode == "replace" else f"at generation {b.generation} ({b.human} anchor)"),
            f"# i.e. an effective human fraction of {b.required:.4g} when no synthetic item repeats another item;",
            "# repeats and filtered-out items only raise the measured share (they are not more data).",
            *(["# s* = 0: no synthetic share was shown to stay within tau at this generation, so the policy",
               "# allows no synthetic data (a looser tau, more seeds or a finer grid near 0 may show a safe share)."]
              if b.fraction == 0 else []),
            f"# max_depth: the run measured recursion up to generation {self.generation}; deeper is not measured.",
            f"min_human_fraction: {_round_up(b.required)}",
            f"max_depth: {self.generation}",
            f"dedup: {self.dedup}",
        ]
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy.model_dump(mode="json", exclude_none=True),
            "metric": self.metric, "tolerance": self.tolerance, "loss": self.loss, "generation": self.generation,
            "mixes": [{"group": m.group, "safe_fraction": m.safe_fraction,
                       "cliff_low": m.cliff_low if math.isfinite(m.cliff_low) else None, "fraction": m.fraction,
                       "mode": m.mode, "human": m.human, "samples": m.samples,
                       "effective_human_fraction": m.required} for m in self.mixes],
        }


def _round_up(x: float, digits: int = 4) -> float:
    """Rounded up at ``digits`` decimals: a rounded threshold must not be laxer than the derived one."""
    scale = 10 ** digits
    return math.ceil(x * scale - 1e-9) / scale


def policy_from_cliffs(cliffs: list[Cliff], config: Any, run_dir: str, dedup: str = "exact") -> RunPolicy:
    """The audit policy a sweep's cliffs support (``config``: the sweep's config, for its policy)."""
    if not cliffs:
        raise AnalysisError(f"{run_dir}: no cliff to derive a policy from")
    mixes = []
    for cliff in cliffs:
        safe = cliff.safe_fraction
        where = ", ".join(f"{k} = {v}" for k, v in cliff.group.items())
        if not math.isfinite(safe):
            raise AnalysisError(f"{run_dir}{' (' + where + ')' if where else ''}: no synthetic fraction is safe "
                                f"(not even s = 0 stays within tau = {cliff.tolerance:g}), so no policy follows from it")
        low = cliff.cliff_low
        fraction = min(safe, low) if math.isfinite(low) else safe
        p = config.policy
        mode = str(cliff.group.get("mode", p.mode))
        human = str(cliff.group.get("human", p.human))
        samples = int(cliff.group.get("samples", p.samples))
        required = effective_human_fraction(fraction, samples, mode, human, cliff.generation)
        mixes.append(SafeMix(dict(cliff.group), safe, low, fraction, mode, human, samples, cliff.generation, required))
    first = cliffs[0]
    return RunPolicy(run_dir, first.metric, first.tolerance, first.loss_kind, first.generation, first.replicates,
                     mixes, dedup)


@dataclass
class Gate:
    """The verdict of ``cliffwatch cliff --fail-if-...``: passed, and one line per check."""

    passed: bool
    lines: list[str]


def gate(cliffs: list[Cliff], unsafe: float | None = None, cliff_below: float | None = None) -> Gate:
    """Fail when the mix s = ``unsafe`` is not safe on some curve (it exceeds the largest safe grid
    fraction), or when some curve's cliff interval starts below ``cliff_below`` (or is undetermined)."""
    passed, lines = True, []
    for cliff in cliffs:
        where = ", ".join(f"{k} = {v}" for k, v in cliff.group.items())
        head = f"{cliff.metric}{' (' + where + ')' if where else ''}"
        if unsafe is not None:
            safe = cliff.safe_fraction
            ok = math.isfinite(safe) and unsafe <= safe + 1e-12
            passed &= ok
            lines.append(f"{'pass' if ok else 'FAIL'}: s = {unsafe:g} {'is' if ok else 'is not'} a safe mix for {head} "
                         f"(largest safe s = {safe:g}, tau = {cliff.tolerance:g}, generation {cliff.generation})"
                         if math.isfinite(safe) else
                         f"FAIL: no mix is safe for {head} (tau = {cliff.tolerance:g}, generation {cliff.generation})")
        if cliff_below is not None:
            low = cliff.cliff_low
            ok = math.isfinite(low) and low >= cliff_below
            passed &= ok
            lines.append(f"{'pass' if ok else 'FAIL'}: the cliff of {head} "
                         + (f"starts at s = {low:.3g} (lower end of its 95% interval), "
                            f"{'not below' if ok else 'below'} {cliff_below:g}" if math.isfinite(low)
                            else "is undetermined, so it cannot be shown to lie above "
                                 f"{cliff_below:g}"))
    return Gate(passed, lines)
