"""What a workflow will do before it does it: the plan line every run prints first, what a dry run
prints instead of running, and the warning when a finite human pool cannot supply the draws.

Counts come from loop/mixing.py, the same place the loop and the cost plan take them from.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cliffwatch.core.labels import clock
from cliffwatch.config.schema import CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.loop import mixing
from cliffwatch.loop.lineage import Lineage


@dataclass(frozen=True)
class PoolShortfall:
    """A finite human pool that one lineage's draws exceed."""

    data: str  # how the config names the data
    pool: int  # items left for training after the holdout
    holdout: int
    needed: int  # distinct human items the lineage's policy asks for, per chain
    first: int  # of which generation 0 draws
    fraction: float
    human: str
    generations: int

    def message(self) -> str:
        head = (f"{self.data}: the human pool holds {self.pool:,} items after the {self.holdout:,} held out, "
                f"but ")
        if self.first > self.pool:
            return (head + f"generation 0 alone draws {self.first:,} (policy.samples), so items repeat within one "
                    "training set; use more data, a smaller holdout or fewer samples")
        return (head + f"a lineage with human: fresh at s = {self.fraction:g} draws {self.needed:,} over "
                f"{self.generations} generations: `fresh` then redraws items earlier generations used (each draw is "
                "without replacement, but the pool is finite), so later human data is not new; use more data, "
                "fewer samples or generations, or human: fixed")


def human_needed(config: ExperimentConfig) -> tuple[int, int]:
    """(distinct human items a lineage asks of the pool per chain, of which generation 0 draws)."""
    p = config.policy
    return mixing.human_bought(p.synthetic_fraction, p.samples, p.human, config.generations), p.samples


def pool_shortfalls(lineages: list[Lineage], sources: dict[int, Any]) -> list[PoolShortfall]:
    """The largest shortfall per human data set (``sources``: data key -> its source), if any."""
    worst: dict[int, PoolShortfall] = {}
    for lineage in lineages:
        pool = getattr(sources.get(lineage.data_key), "pool_size", None)
        if pool is None:
            continue
        needed, first = human_needed(lineage.config)
        if needed <= pool:
            continue
        cfg = lineage.config
        short = PoolShortfall(data_name(cfg), pool, cfg.holdout, needed, first, cfg.policy.synthetic_fraction,
                              cfg.policy.human, cfg.generations)
        if lineage.data_key not in worst or short.needed > worst[lineage.data_key].needed:
            worst[lineage.data_key] = short
    return list(worst.values())


def data_name(config: ExperimentConfig) -> str:
    spec = config.data
    where = getattr(spec, "corpus", None)
    return f"data.corpus {where}" if where else f"data.source {spec.source}"


@dataclass
class RunPlan:
    """What a run, sweep or compare will compute, and where its results go."""

    kind: str  # run | sweep | compare
    name: str
    out: Path
    lineages: int
    generations: int  # G: generations 0..G per lineage
    steps: int  # generations to compute in all (lineages x (G + 1))
    grid: str  # what the lineages are, e.g. "11 values of policy.synthetic_fraction x 3 seeds"
    finished: int = 0  # lineages an earlier run of the same config already finished
    human_items: int = 0  # human items bought, all lineages and chains
    synthetic_items: int = 0  # synthetic items drawn (before any filter resamples)
    fitted_items: int = 0  # training items the fits see, all lineages, chains and generators
    price: str | None = None  # the data's price at the config's own prices; None when none are set
    shortfalls: list[PoolShortfall] = field(default_factory=list)
    limit: int | None = None  # a smoke run: generations capped at this
    full_steps: int | None = None  # with a limit: the steps of the full run
    adaptive: bool = False

    def line(self) -> str:
        """The plan line printed before any work."""
        resumed = f"; {self.finished} finished already (resumed)" if self.finished else ""
        smoke = (f"smoke run (--limit {self.limit}): generations capped at {self.limit}, results are not the "
                 "experiment's; " if self.limit is not None else "")
        adaptive = "up to " if self.adaptive else ""
        return (f"plan: {smoke}{adaptive}{self.lineages} lineage{'s' * (self.lineages != 1)} ({self.grid}), "
                f"generations 0-{self.generations} each: {adaptive}{self.steps:,} model fits{resumed}; "
                f"results in {self.out}")

    def lines(self) -> list[str]:
        """The dry run: the plan line, what the data costs, and what may go wrong."""
        out = [self.line(),
               f"  data: {self.human_items:,} human items bought, {self.synthetic_items:,} synthetic items drawn, "
               f"{self.fitted_items:,} training items fitted (all lineages and chains)"]
        out.append(f"  price: {self.price}" if self.price else
                   "  price: not estimated (no prices in the config: set `cost: {human_price: ..., "
                   "synthetic_price: ...}` in a sweep config)")
        out.append("  time: not estimated without running; `--limit 1` runs every lineage for generations 0-1 "
                   "and extrapolates the full run's time from it")
        out += [f"  warning: {s.message()}" for s in self.shortfalls]
        return out

    def smoke_estimate(self, elapsed: float) -> str | None:
        """After a smoke run (``limit``) that took ``elapsed`` seconds: the full run's time at the
        same pace, by its number of model fits."""
        if self.limit is None or not self.full_steps or not self.steps:
            return None
        ratio = self.full_steps / self.steps
        return (f"smoke run took {clock(elapsed)} for {self.steps:,} model fits; the full run has {self.full_steps:,} "
                f"({ratio:.1f}x): about {clock(elapsed * ratio)} at this pace (a rough guide: loading the data is "
                "counted in both, and later generations can cost more than early ones)")

    def __str__(self) -> str:
        return "\n".join(self.lines())


def outline(config: ExperimentConfig, lineages: list[Lineage], out: Path, kind: str, *, finished: int = 0,
            sources: dict[int, Any] | None = None, limit: int | None = None, full_steps: int | None = None,
            adaptive: bool = False) -> RunPlan:
    """The plan of ``lineages`` (``config``: the workflow's config, for its grid and prices)."""
    human = synthetic = fitted = 0
    price_total = 0.0
    prices = getattr(config, "cost", None) if "cost" in config.model_fields_set else None
    for lineage in lineages:
        cfg, p = lineage.config, lineage.config.policy
        chains, g = cfg.chains, cfg.generations
        bought = mixing.human_bought(p.synthetic_fraction, p.samples, p.human, g)
        drawn = g * mixing.synthetic_count(p.synthetic_fraction, p.samples)
        human += bought * chains
        synthetic += drawn * chains
        fitted += _fitted(cfg) * chains * (1 + len(p.generators or []))
        if prices is not None:
            price_total += chains * mixing.mix_cost(p.synthetic_fraction, p.samples, g, p.human,
                                                    prices.human_price, prices.synthetic_price)
    generations = max((lin.config.generations for lin in lineages), default=config.generations)
    price = f"{prices.currency}{price_total:,.0f} at the config's prices" if prices is not None else None
    return RunPlan(kind, config.name, out, len(lineages), generations,
                   sum(lin.config.generations + 1 for lin in lineages), grid(config, lineages), finished,
                   human, synthetic, fitted, price, pool_shortfalls(lineages, sources or {}), limit, full_steps,
                   adaptive)


def _fitted(cfg: ExperimentConfig) -> int:
    """Training items one chain's fits see over generations 0..G."""
    p, g = cfg.policy, cfg.generations
    m, h, s = p.samples, mixing.human_count(p.synthetic_fraction, p.samples), mixing.synthetic_count(p.synthetic_fraction, p.samples)
    if p.mode == "accumulate":
        added = s + (h if p.human == "fresh" else 0)
        return sum(m + k * added for k in range(g + 1))
    return m * (g + 1)


def grid(config: ExperimentConfig, lineages: list[Lineage]) -> str:
    """The lineages in words: ``11 values of policy.synthetic_fraction x 3 seeds``."""
    seeds = len({lin.seed for lin in lineages})
    seed_part = f"{seeds} seed{'s' * (seeds != 1)}"
    if isinstance(config, CompareConfig):
        routes = Counter(dict(lin.tags).get("route") for lin in lineages)
        return f"{len(routes)} routes incl. the all-human reference, {seed_part}"
    if isinstance(config, SweepConfig):
        axes = [f"{len(values)} values of {path}" for path, values in config.sweep.items()]
        return " x ".join([*axes, seed_part])
    return seed_part
