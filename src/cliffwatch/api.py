"""Workflows as Python functions: run, sweep, compare, analyze, report. The CLI only wraps these.

    import cliffwatch.api as cw
    result = cw.sweep("examples/text-cliff.yaml", workers=2)
    for cliff in result.cliffs:
        print(cw.describe(cliff))
    cw.report(result.run_dir)

Every function takes a config (a path to YAML, or a loaded config) and an output directory
(default ``runs/<config name>``); an existing run of the same config is resumed. Progress goes to
stderr by default: first a plan line (lineages, generations, where the results go), then a rich bar
on a terminal, or a plain log line per finished lineage and every 30 s elsewhere (CI, nohup,
notebooks), with done/total and an ETA. Pass ``progress=False`` for none, or any object with
``start(description, total)``, ``advance(n)`` and ``stop()`` (and, if it wants them, ``plan(text,
lineages)``, ``resumed(n)`` and ``lineage_finished(label, stored)``).

``dry_run(config)`` tells what a workflow would run without running it (``cliffwatch ... --dry-run``);
``limit=N`` makes a smoke run that caps every lineage at N generations, in its own directory
(``runs/<name>-limit<N>``): its results are not the experiment's.

When any lineage fails, run, sweep and compare raise ``LineagesFailed`` (``.failed``: lineage id ->
reason, ``.lines()``, ``.outcome``) once the others are done: what finished stays stored, and the
same call again retries only the failed lineages. The analyses (analyze, compare_results, summary,
report) refuse a run directory whose lineages have not all finished (``IncompleteRunError`` names
them), rather than analyse fewer lineages than were configured.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cliffwatch.analysis.adaptive import Bisection, Combination, cliff_of, planned_runs, refinements, seeds_to_add
from cliffwatch.analysis.cliff import Cliff
from cliffwatch.analysis.cliff import analyze as analyze_results
from cliffwatch.analysis.cost import CostPlan
from cliffwatch.analysis.routes import RouteComparison
from cliffwatch.analysis.run import CliffOptions, LineageRecord, RunAnalysis, analyze_run
from cliffwatch.config.grid import compare_in_sweep
from cliffwatch.config.load import checked, load_compare, load_config, load_sweep, parse
from cliffwatch.config.schema import CompareConfig, ExperimentConfig, SweepConfig
from cliffwatch.core.errors import AnalysisError, ConfigError, IncompleteRunError, LineagesFailed
from cliffwatch.execution import plan as planning
from cliffwatch.execution.executors.base import Executor
from cliffwatch.execution.outline import RunPlan, outline
from cliffwatch.execution.runner import Outcome, execute, make_executor, prepare_run, preflight, require_finished
from cliffwatch.execution.store import RunStore, load_results
from cliffwatch.loop.lineage import Lineage
from cliffwatch.report.prose import cliff_sentence


class Progress(Protocol):
    """Told the total work once per phase, then each finished generation. Optional, called when
    present: ``plan(text, lineages)`` (the plan line, before any work), ``resumed(n)`` (n of the
    generations advanced were stored by an earlier run) and ``lineage_finished(label, stored)``."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, n: int) -> None: ...

    def stop(self) -> None: ...


@dataclass
class RunResult:
    run_dir: Path
    outcome: Outcome
    analysis: RunAnalysis  # what every output of the run renders
    plan: RunPlan | None = None  # what ran (plan.limit: a smoke run)
    elapsed: float = 0.0  # seconds the call took


@dataclass
class SweepResult:
    run_dir: Path
    outcome: Outcome
    analysis: RunAnalysis
    plan: RunPlan | None = None
    elapsed: float = 0.0
    seeds: "AddedSeeds | None" = None  # sweep(adaptive=True, max_seeds=...): the seeds it added

    @property
    def cliffs(self) -> list[Cliff]:
        return self.analysis.cliffs

    @property
    def cost(self) -> CostPlan | None:
        return self.analysis.cost


@dataclass
class AddedSeeds:
    """What an adaptive sweep's seed budget bought, per combination of the other swept fields
    (counted from the run directory, so a resumed sweep reports the same)."""

    max_seeds: int  # the budget per combination
    added: dict[Combination, list[int]]  # the seeds beyond the config's, each run at every fraction of its curve
    runs: int  # lineages those seeds ran
    short: dict[Combination, tuple[float, int | None]]  # a mix only the risk bound still holds back: seeds it needs

    def lines(self) -> list[str]:
        """In words, one line per combination that got seeds or still needs them."""
        out = []
        for combo in dict.fromkeys([*self.added, *self.short]):
            where = "".join(f", {k} = {v}" for k, v in combo)
            seeds = self.added.get(combo, [])
            head = f"Added {len(seeds)} seed{'s' * (len(seeds) != 1)}{where} (at most {self.max_seeds})"
            if combo in self.short:
                s, need = self.short[combo]
                more = "no feasible number of seeds" if need is None else f"{need} more"
                out.append(f"{head}; the mix s = {s:g} is still held back by the per-run risk bound: it needs {more}.")
            else:
                out.append(head + ".")
        return out + [f"The added seeds ran {self.runs} lineages (each at every fraction of its curve)."]


@dataclass
class CompareResult:
    run_dir: Path
    outcome: Outcome
    analysis: RunAnalysis
    plan: RunPlan | None = None
    elapsed: float = 0.0

    @property
    def comparison(self) -> RouteComparison | None:
        return self.analysis.comparison


# ---- running ------------------------------------------------------------------------------------


def run(config: str | Path | ExperimentConfig, out: str | Path | None = None, *, workers: int = 1,
        executor: str | None = None, address: str | None = None, overwrite: bool = False,
        progress: bool | Progress = True, tracking: str | None = None, tracking_uri: str | None = None,
        limit: int | None = None) -> RunResult:
    """Run (or resume) every seed's lineage of one experiment. ``tracking="mlflow"`` also logs every
    finished lineage to ``tracking_uri`` (default ./mlruns). ``limit``: a smoke run of generations
    0..limit only, in its own directory."""
    started = time.monotonic()
    cfg = checked(config) if isinstance(config, ExperimentConfig) else load_config(config)
    cfg, out, full = _limited(cfg, out, limit)
    _check_tracking(tracking, tracking_uri)
    outcome, the_plan = _execute(cfg, planning.experiment_lineages(cfg), out, "run",
                                 make_executor(executor, workers, address), overwrite, progress, cfg.name, tracking,
                                 tracking_uri, limit, full)
    return RunResult(out, outcome, _summarised(out, cfg), the_plan, time.monotonic() - started)


def sweep(config: str | Path | SweepConfig, out: str | Path | None = None, *, workers: int = 0,
          executor: str | None = None, address: str | None = None, adaptive: bool = False,
          overwrite: bool = False, progress: bool | Progress = True, tracking: str | None = None,
          tracking_uri: str | None = None, resolution: float | None = None,
          max_seeds: int | None = None, limit: int | None = None) -> SweepResult:
    """Run (or resume) a sweep's grid x seeds, then locate the cliff and price the mixes.
    ``adaptive`` finds the τ-crossing by bisection on the synthetic fraction instead of the grid;
    with ``resolution`` it then splits the cliff's interval until it is at most that wide
    (analysis.adaptive). With ``max_seeds`` it then adds up to that many seeds per curve where only
    the per-run risk bound holds a mix back, as many as would establish it (``SweepResult.seeds``).
    ``limit``: a smoke run of generations 0..limit only, in its own directory.
    A compare config (routes:) is WrongWorkflowError: run it with :func:`compare`."""
    started = time.monotonic()
    cfg = checked(config) if isinstance(config, SweepConfig) else load_sweep(config)
    compare_in_sweep(cfg)  # a CompareConfig is a SweepConfig too: its routes must not run as a grid
    cfg, out, full = _limited(cfg, out, limit)
    _check_tracking(tracking, tracking_uri)
    spec = cfg.cliff
    if max_seeds is not None and (not adaptive or max_seeds < 1):
        raise AnalysisError("max_seeds: at least 1 seed, and only for an adaptive sweep (adaptive=True)")
    if not adaptive:
        outcome, the_plan = _execute(cfg, planning.sweep_lineages(cfg), out, "sweep",
                                     make_executor(executor, workers, address), overwrite, progress, cfg.name,
                                     tracking, tracking_uri, limit, full)
        return SweepResult(out, outcome, _located(_summarised(out, cfg)), the_plan, time.monotonic() - started)

    bisection = Bisection(planning.combinations(cfg), spec.tolerance, resolution)
    steps = refinements(spec.adaptive_steps, resolution)
    per_fraction = len(planning.fraction_lineages(cfg, {c: [0.0] for c in bisection.combinations}))
    runs = per_fraction * planned_runs(steps)
    total = runs * (cfg.generations + 1)
    bar = _Reporter(_progress(progress))
    try:
        lineages = planning.fraction_lineages(cfg, bisection.first())
        sources = preflight(lineages, warn=False)
        store = prepare_run(out, cfg.model_dump(mode="json"), "sweep", planning.run_metrics(lineages), overwrite,
                            adaptive=True)
        the_plan = outline(cfg, lineages, out, "sweep", sources=sources, limit=limit, adaptive=True,
                           full_steps=full and runs * (full + 1))
        the_plan.lineages, the_plan.steps = runs, total
        bar.announce(the_plan)
        bar.start(f"{cfg.name} (adaptive)", total)
        runner = make_executor(executor, workers, address)
        execute(store, lineages, runner, **bar.callbacks())
        cliffs = _search_cliffs(cfg, out)
        for _ in range(steps):
            proposal = bisection.next(cliffs)
            if not proposal:
                break
            execute(store, planning.fraction_lineages(cfg, proposal), runner, **bar.callbacks())
            cliffs = _search_cliffs(cfg, out)
        # seeds added by an earlier call of this sweep, at every fraction the search has now run
        rectangle = _seed_rectangle(cfg, out)
        if rectangle:
            total += len(rectangle) * (cfg.generations + 1)
            bar.start(f"{cfg.name} (adaptive)", total)
            execute(store, rectangle, runner, **bar.callbacks())
        if max_seeds is not None:
            total = _add_seeds(cfg, out, store, runner, bar.progress, max_seeds, total)
    finally:
        bar.stop()
    outcome = Outcome(store, finished=[p.path.name for p in store.lineages() if p.finished])
    _track(outcome, tracking, tracking_uri)
    result = _located(_summarised(out, cfg))
    return SweepResult(out, outcome, result, the_plan, time.monotonic() - started,
                       None if max_seeds is None else _added_seeds(cfg, result, max_seeds))


def compare(config: str | Path | CompareConfig, out: str | Path | None = None, *, workers: int = 0,
            executor: str | None = None, address: str | None = None, overwrite: bool = False,
            progress: bool | Progress = True, tracking: str | None = None,
            tracking_uri: str | None = None, limit: int | None = None) -> CompareResult:
    """Run (or resume) every escape route and the all-human reference, then measure each route.
    ``limit``: a smoke run of generations 0..limit only, in its own directory."""
    started = time.monotonic()
    cfg = checked(config) if isinstance(config, CompareConfig) else load_compare(config)
    cfg, out, full = _limited(cfg, out, limit)
    _check_tracking(tracking, tracking_uri)
    outcome, the_plan = _execute(cfg, planning.compare_lineages(cfg), out, "compare",
                                 make_executor(executor, workers, address), overwrite, progress, cfg.name, tracking,
                                 tracking_uri, limit, full)
    return CompareResult(out, outcome, _summarised(out, cfg), the_plan, time.monotonic() - started)


def dry_run(config: str | Path | ExperimentConfig, out: str | Path | None = None, *, limit: int | None = None,
            adaptive: bool = False) -> RunPlan:
    """What ``run``, ``sweep`` or ``compare`` (by the config's kind: ``routes:`` compare, ``sweep:``
    sweep, else run) would compute, without computing it: lineages, generations, lineages already
    finished in ``out``, the data bought and drawn, its price at the config's own prices, and a
    warning when a finite human pool cannot supply the draws. Reads the data; writes nothing.
    ``str(plan)`` is what ``--dry-run`` prints."""
    cfg = checked(config) if isinstance(config, ExperimentConfig) else load(config)
    kind = "compare" if isinstance(cfg, CompareConfig) else "sweep" if isinstance(cfg, SweepConfig) else "run"
    cfg, out, full = _limited(cfg, out, limit)
    adaptive = adaptive and kind == "sweep"
    if adaptive:
        bisection = Bisection(planning.combinations(cfg), cfg.cliff.tolerance)
        lineages = planning.fraction_lineages(cfg, bisection.first())
    else:
        lineages = planning.planned_lineages(cfg)
    the_plan = outline(cfg, lineages, out, kind, finished=_finished_count(out, cfg, lineages),
                       sources=_sources(lineages), limit=limit, adaptive=adaptive,
                       full_steps=full and len(lineages) * (full + 1))
    if adaptive:
        per_fraction = len(planning.fraction_lineages(cfg, {c: [0.0] for c in bisection.combinations}))
        the_plan.lineages = per_fraction * planned_runs(cfg.cliff.adaptive_steps)
        the_plan.steps = the_plan.lineages * (cfg.generations + 1)
    return the_plan


DEMO_TRACKS = {"text": "demo.yaml", "tasks": "demo-tasks.yaml"}


def demo_config(track: str = "text") -> SweepConfig:
    """The built-in demo: a word 4-gram model on Python's docs plus real geography facts (``text``),
    or a 6-gram on the task items, reasoning, code and facts (``tasks``)."""
    from importlib.resources import files

    import yaml

    if track not in DEMO_TRACKS:
        raise ConfigError(f"unknown demo track {track!r}; known: {', '.join(DEMO_TRACKS)}")
    name = DEMO_TRACKS[track]
    return parse(SweepConfig, yaml.safe_load(files("cliffwatch").joinpath(name).read_text()), name)


# ---- analysing and reporting ----------------------------------------------------------------------


def analysis(run_dir: str | Path, *, metric: str | None = None, tolerance: float | None = None,
             generation: int | None = None, absolute: bool = False, risk: float | None = None) -> RunAnalysis:
    """The one analysis of a finished run directory (any kind) that every output renders: its
    config, results table and lineage records, the change of every metric, the cliffs and cost
    (a sweep) or the route comparison (a compare run). The options override the ``cliff:`` settings.

    The run's lineages must all have finished (else IncompleteRunError names them)."""
    return _analysis(Path(run_dir), None, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute,
                     risk=risk)


def _analysis(run_dir: Path, config: ExperimentConfig | None, *, metric: str | None = None,
              tolerance: float | None = None, generation: int | None = None, absolute: bool = False,
              risk: float | None = None) -> RunAnalysis:
    """``analysis``; ``config``: the one the run directory was just written from (not read again)."""
    store = RunStore.open(run_dir)
    raw = store.config()
    adaptive = store.adaptive or bool(raw.pop("adaptive", False))  # runs of 0.2.0 kept the flag in the config
    if config is None:
        config = parse(_CONFIGS[store.kind], raw, str(run_dir / "config.yaml"))
    require_finished(store, None if adaptive else planning.planned_lineages(config))
    results = load_results(run_dir)
    if adaptive:
        _require_rectangle(run_dir, results)
    options = CliffOptions.of(config, metric, tolerance, generation, absolute, risk)
    return analyze_run(run_dir, store.kind, adaptive, store.meta, raw, config, results,
                       _lineage_records(store), options)


def analyze(run_dir: str | Path, *, metric: str | None = None, tolerance: float | None = None,
            generation: int | None = None, absolute: bool = False, risk: float | None = None) -> RunAnalysis:
    """The cliff analysis of a finished sweep (or run) directory; the options override the sweep's
    ``cliff:`` settings. A run where no cliff can be located is an AnalysisError saying why."""
    run_dir = Path(run_dir)
    if RunStore.open(run_dir).kind == "compare":
        raise AnalysisError(f"{run_dir}: an escape-route comparison; use cliffwatch.api.compare_results "
                            f"or `cliffwatch report {run_dir}`")
    return _located(analysis(run_dir, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute,
                              risk=risk))


def compare_results(run_dir: str | Path) -> RouteComparison:
    """The route comparison of a finished compare run directory."""
    run_dir = Path(run_dir)
    kind = RunStore.open(run_dir).kind
    if kind != "compare":
        raise AnalysisError(f"{run_dir}: not a route comparison (it is a {kind})")
    comparison = analysis(run_dir).comparison
    assert comparison is not None  # analyze_run compares every compare run
    return comparison


def summary(run: str | Path | RunAnalysis, *, metric: str | None = None, tolerance: float | None = None,
            generation: int | None = None, absolute: bool = False, risk: float | None = None) -> dict[str, Any]:
    """What a run found, JSON-ready: what ``summary.json`` holds (see docs/results.md); the options
    override the sweep's ``cliff:`` settings as in :func:`analysis`."""
    from cliffwatch.report.summary_json import run_summary

    return run_summary(_analysis_of(run, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute,
                                    risk=risk))


def report(run: str | Path | RunAnalysis, out: str | Path | None = None, *, metric: str | None = None,
           tolerance: float | None = None, generation: int | None = None) -> Path:
    """Write the self-contained HTML report of a run directory (or of its analysis); returns its path."""
    from cliffwatch.report.html import write_report

    return write_report(_analysis_of(run, metric=metric, tolerance=tolerance, generation=generation),
                        Path(out) if out is not None else None)


def describe(cliff: Cliff) -> str:
    """A cliff in one plain-language paragraph."""
    return cliff_sentence(cliff)


def results(run_dir: str | Path):
    """Every result of a run directory as one pandas DataFrame (see docs/results.md)."""
    return load_results(run_dir)


# ---- guarding real pipelines ----------------------------------------------------------------------


def audit(manifest: str | Path, policy: str | Path, *, mapping: list[str] | None = None,
          croissant: str | Path | None = None, estimate: str | Path | None = None) -> Any:
    """Audit a provenance manifest against a policy file (guard.audit.AuditResult; ``.passed``).
    ``mapping``: FIELD=COLUMN pairs or presets (distilabel, hf-card, croissant); ``croissant``:
    also write the audited summary there as Croissant metadata; ``estimate``: the JSON of
    ``cliffwatch estimate --out`` for the rows without provenance (policy rule
    min_estimated_human_share)."""
    from cliffwatch.data.manifest import Mapping, read_manifest
    from cliffwatch.guard.audit import audit as run_audit
    from cliffwatch.guard.policy import load_policy

    rules = load_policy(policy)
    table = read_manifest(manifest, Mapping.parse(mapping), need_text=rules.dedup == "near")
    estimated = None
    if estimate is not None:
        from cliffwatch.guard.estimate import read_estimate

        estimated = read_estimate(estimate)["human_share_low"]
    result = run_audit(table, rules, str(manifest), estimated_human_share=estimated)
    if croissant is not None:
        from cliffwatch.guard.croissant import write_croissant

        write_croissant(result, table, manifest, croissant)
    return result


def policy(run_dir: str | Path, out: str | Path | None = None, *, metric: str | None = None,
           tolerance: float | None = None, generation: int | None = None, absolute: bool = False,
           risk: float | None = None, dedup: str = "exact") -> Any:
    """The audit policy a finished sweep supports (guard.from_run.RunPolicy: ``.policy``, ``.yaml()``):
    ``min_human_fraction`` from the conservative end of the safe mix, mapped from the per-generation
    synthetic share to the effective human fraction after dedup; ``max_depth`` the generation the
    cliff was measured at. ``out``: also write the policy file there (YAML, with its derivation in
    comments). The options override the sweep's ``cliff:`` settings as in :func:`analyze`."""
    from cliffwatch.core.version import __version__
    from cliffwatch.core.files import replace_atomically
    from cliffwatch.guard.from_run import policy_from_cliffs

    result = analyze(run_dir, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute, risk=risk)
    derived = policy_from_cliffs(result.cliffs, result.config, str(run_dir), dedup)
    if out is not None:
        text = derived.yaml(__version__)
        replace_atomically(Path(out), lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return derived


def monitor(history: str | Path, *, tolerance: float = 0.1, quality: list[str] | None = None,
            indicator: list[str] | None = None, benchmark: list[str] | None = None, lineage: str | None = None,
            horizon: int = 2, warn_fraction: float = 1.0, indicator_threshold: float = 0.25, only: bool = False) -> Any:
    """Early warning from the metrics of successive model generations (guard.monitor.MonitorResult;
    ``.warning``): trends, forecasts of the τ-crossing, leading indicators, the gaming alarm.
    Metrics named in ``quality``, ``indicator`` and ``benchmark`` are added to the known ones in
    the history; ``only=True`` uses just the named ones. ``.ignored`` lists the unused columns."""
    from cliffwatch.guard.monitor import Roles, load_history
    from cliffwatch.guard.monitor import monitor as run_monitor

    frame = load_history(history, lineage)
    roles = Roles.parse(list(frame.columns), quality, indicator, benchmark, declared=frame.attrs.get("metrics"), only=only)
    return run_monitor(frame, roles, tolerance, horizon, indicator_threshold, warn_fraction=warn_fraction)


def estimate(corpus: str | Path, reference: str | Path, generators: list[str], *, seed: int = 0,
             confidence: float = 0.95, method: str = "ml", field: str = "text", out: str | Path | None = None,
             history: str | Path | None = None) -> Any:
    """The synthetic share of an unlabelled corpus with its interval (guard.estimate.EstimateResult;
    ``.statement()``), by quantification with an n-gram likelihood-ratio detector of the human
    ``reference`` against each suspected generator (``FAMILY[@G][:key=value,...]`` or a file of
    its output). ``out``: also write the result as JSON (what ``audit --estimate`` reads);
    ``history``: append it as the next snapshot of a CSV history that ``monitor`` follows. Both
    are written only once the estimate is complete."""
    from cliffwatch.guard.estimate import append_history, estimate as run_estimate, write_json

    result = run_estimate(corpus, reference, generators, seed=seed, confidence=confidence, method=method, field=field)
    if out is not None:
        write_json(result, out)
    if history is not None:
        append_history(result, history)
    return result


# ---- shared steps ---------------------------------------------------------------------------------


def _out(out: str | Path | None, config: ExperimentConfig) -> Path:
    return Path(out) if out is not None else Path("runs") / config.name


def _limited(config: ExperimentConfig, out: str | Path | None, limit: int | None
             ) -> tuple[ExperimentConfig, Path, int | None]:
    """(the config capped at ``limit`` generations, its run directory, the full run's generations):
    a smoke run gets its own default directory, so it never mixes with the real run's."""
    if limit is None:
        return config, _out(out, config), None
    if limit < 1:
        raise ConfigError(f"limit: at least 1 generation after generation 0, got {limit}")
    raw = config.model_dump(mode="json")
    raw["generations"] = min(limit, config.generations)
    if isinstance(raw.get("cliff"), dict) and raw["cliff"].get("generation") is not None:
        raw["cliff"]["generation"] = min(raw["cliff"]["generation"], raw["generations"])
    capped = parse(type(config), raw, f"{config.name} (--limit {limit})")
    where = Path(out) if out is not None else Path("runs") / f"{config.name}-limit{limit}"
    return capped, where, config.generations


def _progress(progress: bool | Progress) -> Progress | None:
    if progress is True:
        from cliffwatch.report.progress import auto_progress

        return auto_progress()
    return progress or None


class _Reporter:
    """Hands the work's events to a Progress, calling the optional methods only where it has them."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress

    def announce(self, the_plan: RunPlan) -> None:
        if self.progress is not None and hasattr(self.progress, "plan"):
            self.progress.plan(the_plan.line(), the_plan.lineages)

    def start(self, description: str, total: int) -> None:
        if self.progress is not None:
            self.progress.start(description, total)

    def callbacks(self) -> dict[str, Any]:
        p = self.progress
        if p is None:
            return {}
        return {"progress": p.advance, "stored": getattr(p, "resumed", None),
                "finished": getattr(p, "lineage_finished", None)}

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def _sources(lineages: list[Lineage]) -> dict[int, Any]:
    """One human source per data set of ``lineages`` (their pools' sizes), loading nothing else."""
    from cliffwatch.loop.engine import make_source

    out: dict[int, Any] = {}
    for lineage in lineages:
        if lineage.data_key not in out:
            out[lineage.data_key] = make_source(lineage)
    return out


def _finished_count(out: Path, config: ExperimentConfig, lineages: list[Lineage]) -> int:
    """Lineages of ``lineages`` an earlier run of the same config finished in ``out``."""
    from cliffwatch.core.errors import RunStoreError

    try:
        store = RunStore.open(out)
        if store.config() != config.model_dump(mode="json"):
            return 0
    except (RunStoreError, OSError):
        return 0
    return sum(store.lineage(lin.id).finished for lin in lineages)


def _execute(config: ExperimentConfig, lineages: list[Lineage], out: Path, kind: str, executor: Executor,
             overwrite: bool, progress: bool | Progress, description: str, tracking: str | None,
             tracking_uri: str | None, limit: int | None = None, full: int | None = None
             ) -> tuple[Outcome, RunPlan]:
    """Check the data, create (or reopen) the run directory, say what will run, run what is
    unfinished, and log what finished to the tracker (also when other lineages failed)."""
    bar = _Reporter(_progress(progress))
    try:
        sources = preflight(lineages)  # bad data fails here, with nothing written
        finished = 0 if overwrite else _finished_count(out, config, lineages)
        store = prepare_run(out, config.model_dump(mode="json"), kind, planning.run_metrics(lineages), overwrite)
        the_plan = outline(config, lineages, out, kind, finished=finished, sources=sources, limit=limit,
                           full_steps=full and len(lineages) * (full + 1))
        bar.announce(the_plan)
        bar.start(description, len(lineages) * (config.generations + 1))
        outcome = execute(store, lineages, executor, **bar.callbacks())
    except LineagesFailed as failure:
        _track(failure.outcome, tracking, tracking_uri)
        raise
    finally:
        bar.stop()
    _track(outcome, tracking, tracking_uri)
    return outcome, the_plan


_CONFIGS = {"run": ExperimentConfig, "sweep": SweepConfig, "compare": CompareConfig}


def _analysis_of(run: str | Path | RunAnalysis, **options: Any) -> RunAnalysis:
    """The analysis handed over, or the one of a run directory (with the cliff overrides)."""
    if isinstance(run, RunAnalysis):
        if any(v not in (None, False) for v in options.values()):
            raise AnalysisError("options override the cliff settings of a run directory's analysis; "
                                "pass them to cliffwatch.api.analysis instead")
        return run
    return analysis(run, **options)


def _lineage_records(store: RunStore) -> list[LineageRecord]:
    """Each lineage's record; the samples of the smallest seed of each grid point (what the page shows)."""
    stored = [(lineage, lineage.meta()) for lineage in store.lineages()]
    first: dict[str, int] = {}
    for i, (_, meta) in enumerate(stored):
        key = json.dumps(meta.get("labels", {}), sort_keys=True, default=str)
        if key not in first or meta["seed"] < stored[first[key]][1]["seed"]:
            first[key] = i
    shown = set(first.values())
    return [LineageRecord(lineage.path.name, meta["seed"], meta.get("labels", {}), meta.get("fingerprint"),
                          meta.get("provenance", {}), lineage.samples() if i in shown else None,
                          _task_items(lineage) if i in shown else None)
            for i, (lineage, meta) in enumerate(stored)]


def _task_items(lineage) -> dict[str, list[list[str]]] | None:
    """The task probes' sample items of the lineage's last generation (None if it kept none)."""
    kept = lineage.artifacts()
    if not kept:
        return None
    arrays = kept[max(kept)]
    items = {key.removeprefix("task_items_"): arrays[key].tolist() for key in arrays if key.startswith("task_items_")}
    return items or None


def _located(result: RunAnalysis) -> RunAnalysis:
    """A sweep's analysis, which must locate the cliff (else AnalysisError says why)."""
    if result.problem:
        raise AnalysisError(f"{result.run_dir}: no cliff can be located: {result.problem}")
    return result


def _summarised(out: Path, config: ExperimentConfig) -> RunAnalysis:
    """The analysis of the run just written from ``config``, with summary.json written from it."""
    from cliffwatch.report.summary_json import write_summary

    result = _analysis(out, config)
    write_summary(result)
    return result


def _check_tracking(tracking: str | None, uri: str | None) -> None:
    if tracking:
        from cliffwatch.execution.tracking import check_tracker

        check_tracker(tracking, uri)


def _track(outcome: Outcome, tracking: str | None, uri: str | None) -> None:
    if tracking:
        from cliffwatch.execution.tracking import track

        track(outcome.store, tracking, uri)


def _search_cliffs(config: SweepConfig, out: Path, extra_seeds: bool = False) -> list[Cliff]:
    """The cliffs of what an adaptive search ran so far: where to bisect next. The bisection sees
    only the config's seeds, so a resumed search splits where the first call did, whatever seeds
    that call added; the seed budget (``extra_seeds``) sees them all."""
    spec = config.cliff
    results = load_results(out)
    if not extra_seeds:
        results = results[results["seed"].isin(config.seeds)]
    return analyze_results(results, spec.metric, spec.tolerance, spec.relative, spec.generation, risk=spec.risk)


def _runs_of(results, combo: Combination):
    """The results rows of one combination of the swept fields other than s."""
    rows = results
    for key, value in combo:
        rows = rows[rows[key] == value]
    return rows


def _seed_rectangle(config: SweepConfig, out: Path) -> list[Lineage]:
    """Every (fraction, seed) lineage of each curve that its seeds and fractions so far call for: a
    seed added by an earlier call needs the fractions the search ran since, so that no seed is
    present at only some fractions (the cliff analysis pairs every seed across all of them)."""
    from cliffwatch.analysis.quality_loss import FRACTION

    results = load_results(out)
    lineages = []
    for combo in planning.combinations(config):
        rows = _runs_of(results, combo)
        extra = sorted(set(rows["seed"].unique()) - set(config.seeds))
        if extra:
            lineages += planning.fraction_lineages(config, {combo: sorted(rows[FRACTION].unique())},
                                                   {combo: [int(s) for s in extra]})
    return lineages


def _add_seeds(config: SweepConfig, out: Path, store: RunStore, runner: Executor, bar: Progress | None,
               max_seeds: int, total: int) -> int:
    """Add seeds, at most ``max_seeds`` per curve, where only the per-run risk bound holds a mix
    back: each round asks every curve for the seeds ``seeds_to_add`` says would establish its mix,
    runs them at every fraction of the curve, and analyses again (new seeds may cross τ too)."""
    from cliffwatch.analysis.quality_loss import FRACTION

    while True:
        cliffs = _search_cliffs(config, out, extra_seeds=True)
        results = load_results(out)
        lineages = []
        for combo in planning.combinations(config):
            cliff = cliff_of(cliffs, combo)
            rows = _runs_of(results, combo)
            seen = set(int(s) for s in rows["seed"].unique())
            budget = max_seeds - len(seen - set(config.seeds))
            ask = seeds_to_add(cliff, budget)
            if ask is None:
                continue
            start = max(seen) + 1
            lineages += planning.fraction_lineages(config, {combo: sorted(rows[FRACTION].unique())},
                                                   {combo: list(range(start, start + ask[1]))})
        if not lineages:
            return total
        total += len(lineages) * (config.generations + 1)
        if bar:
            bar.start(f"{config.name} (adaptive, more seeds)", total)
        execute(store, lineages, runner, bar.advance if bar else None)


def _added_seeds(config: SweepConfig, result: RunAnalysis, max_seeds: int) -> AddedSeeds:
    """The seeds beyond the config's in a finished adaptive sweep, and the mixes still held back."""
    from cliffwatch.analysis.quality_loss import FRACTION

    added, short, runs = {}, {}, 0
    for combo in planning.combinations(config):
        rows = _runs_of(result.results, combo)
        extra = sorted(int(s) for s in set(rows["seed"].unique()) - set(config.seeds))
        if extra:
            added[combo] = extra
            runs += int(rows[rows["seed"].isin(extra)][[FRACTION, "seed"]].drop_duplicates().shape[0])
        cliff = cliff_of(result.cliffs, combo)
        if math.isfinite(cliff.blocking):
            short[combo] = (cliff.blocking, cliff.seeds_to_reach(cliff.blocking))
    return AddedSeeds(max_seeds, added, runs, short)


def _require_rectangle(run_dir: Path, results) -> None:
    """IncompleteRunError when a seed of an adaptive sweep lacks a fraction its curve ran (a sweep
    stopped while adding seeds): the analysis pairs every seed across every fraction."""
    from cliffwatch.analysis.quality_loss import FRACTION, group_columns

    keys = group_columns(results)
    for combo, rows in (results.groupby(keys) if keys else [((), results)]):
        have = rows[[FRACTION, "seed"]].drop_duplicates()
        fractions, seeds = sorted(have[FRACTION].unique()), sorted(have["seed"].unique())
        if len(have) < len(fractions) * len(seeds):
            done = set(map(tuple, have.to_numpy().tolist()))
            s, seed = next((s, seed) for s in fractions for seed in seeds if (s, seed) not in done)
            raise IncompleteRunError(
                f"{run_dir}: seed {seed} has no run at s = {s:g} ({len(fractions) * len(seeds) - len(have)} such gaps): "
                "an adaptive sweep stopped while adding seeds; rerun the command that wrote it to finish them")


def load(path: str | Path) -> ExperimentConfig:
    """A config file as the model its fields ask for: compare (routes:), sweep (sweep:) or experiment."""
    from cliffwatch.config.load import load as load_any

    return load_any(path)
