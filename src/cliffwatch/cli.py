"""The cliffwatch command line. Library errors become one-line messages here, and only here.

Exit codes, the same on every command (README, "Exit codes"): 0 pass; 1 a verdict (a policy
violated, a monitor warning, lineages that failed); 2 bad input or state, one line naming the file
and what is wrong; 3 an internal error (a bug), its traceback written to a log file whose path is
printed; 130/143 interrupted by SIGINT/SIGTERM. A traceback never reaches the terminal, and a
crash never exits 1 (CI reads 1 as a verdict)."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from cliffwatch.core.errors import CliffwatchError, CliffwatchWarning, Interrupted, LineagesFailed, one_line
from cliffwatch.core.provenance import rounded

EXIT_CODES = ("Exit codes (every command): 0 pass; 1 verdict (violation, warning, failed lineages); "
              "2 bad input or state (one line naming the file); 3 internal error (traceback in the log file "
              "named); 130/143 interrupted. See README.md, \"Exit codes\".")
INTERNAL = 3

app = typer.Typer(
    help="Find the quality cliff of training AI on AI outputs before your users do.\n\n" + EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: "[default: ...]" must stay text, paragraphs re-wrap
)
console = Console()
errors = Console(stderr=True)


def _bar(quiet: bool, every: float = 30.0):
    """The progress the api draws on stderr: a rich bar on a terminal, log lines elsewhere, or none."""
    from cliffwatch.report.progress import auto_progress

    return False if quiet else auto_progress(sys.stderr, every)


def _dry_run(config, out, limit, adaptive: bool = False) -> None:
    """Print what the command would compute, and exit 0 without computing it."""
    from cliffwatch import api

    for line in api.dry_run(config, out, limit=limit, adaptive=adaptive).lines():
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _smoke(result) -> None:
    estimate = result.plan.smoke_estimate(result.elapsed) if result.plan else None
    if estimate:
        console.print(estimate, highlight=False, markup=False, soft_wrap=True)


DRY_RUN_HELP = ("Print the plan (lineages, generations, where results go), the data it buys and draws, its price "
                "at the config's prices, and pool warnings; run nothing.")
LIMIT_HELP = ("Smoke run: every lineage stops after generation N, in its own directory [default: "
              "runs/<name>-limit<N>]; prints the full run's time extrapolated from it. Its results are not the "
              "experiment's.")
LOG_EVERY_HELP = "Off a terminal: a progress line every this many seconds (and one per finished lineage)."


FORMATS = ("text", "markdown", "json")
FORMAT_HELP = ("Output: text (tables for a terminal; off a terminal at full width), markdown (pipe tables, "
               "plain lines), or json")
OFF_TERMINAL_WIDTH = 10_000  # a log or a pipe has no width: never cut a name or split an interval
_output = {"format": "text", "tables": [], "lines": []}


def _use_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise typer.BadParameter(f"{fmt!r}; use {', '.join(FORMATS)}", param_hint="--format")
    _output.update(format=fmt, tables=[], lines=[])
    return fmt


def _show(item) -> None:
    """A rich table or a line of text, in the command's --format (json: kept for _flush)."""
    from rich.table import Table

    fmt = _output["format"]
    if fmt == "text":
        console.print(item, highlight=False)
        return
    from cliffwatch.report.tables import plain, to_markdown, to_records

    if fmt == "markdown":
        typer.echo((to_markdown(item) if isinstance(item, Table) else plain(item)) + "\n")
    elif isinstance(item, Table):
        _output["tables"].append(to_records(item))
    else:
        _output["lines"].append(plain(item))


def _flush() -> None:
    """--format json: everything _show was given, as one JSON document."""
    if _output["format"] == "json":
        import json

        typer.echo(json.dumps({"tables": _output["tables"], "lines": _output["lines"]}, indent=1))


def _echo_json(data) -> None:
    import json

    typer.echo(json.dumps(rounded(data), indent=1, allow_nan=False))


def _report_repairs(outcome) -> None:
    for lineage_id, damage in outcome.repaired.items():
        errors.print(f"warning: lineage {lineage_id} was recomputed: {damage}", highlight=False, markup=False)


@app.command()
def run(
    config: Path = typer.Argument(..., help="Experiment config (YAML): family, data, policy, generations, seeds."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory [default: runs/<config name>]. An existing run of the same config is resumed."),
    workers: int = typer.Option(1, "--workers", "-w", min=1, help="Local worker processes (one lineage per seed each)."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="Where lineages run: processes (local), inline (this process), or a registered one such as ray [default: processes, inline for one worker]."),
    address: Optional[str] = typer.Option(None, "--address", help="With --executor ray: an existing Ray cluster (HOST:PORT or ray://HOST:PORT) [default: a local Ray for this run]."),
    tracking: Optional[str] = typer.Option(None, "--tracking", help="Also log every finished lineage (config, per-generation probes) to: mlflow (extra `mlflow`)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="With --tracking: where to log [default: ./mlruns]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run directory at --out first."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines."),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help=LIMIT_HELP),
    log_every: float = typer.Option(30.0, "--log-every", min=0.0, help=LOG_EVERY_HELP),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: what summary.json holds)."),
) -> None:
    """Run one experiment and print a summary table.

    Runs every seed's lineage for G generations.
    Each generation fits the family to a mix of human and synthetic data (the policy), probes
    the model against held-out human data, and stores results and a checkpoint in the run
    directory, so a killed run resumes where it stopped when the same command runs again.
    Exit 0 done; 1 some lineages failed (one line each; the others are kept, and the same
    command retries the failed ones); 2 bad input; 130/143 interrupted (rerun to resume).
    """
    from cliffwatch import api
    from cliffwatch.config.load import load_config
    from cliffwatch.report.terminal import summary_table

    _use_format(fmt)
    cfg = load_config(config)
    if dry_run:
        return _dry_run(cfg, out, limit)
    result = api.run(cfg, out, workers=workers, executor=executor, address=address, overwrite=overwrite,
                     progress=_bar(quiet, log_every), tracking=tracking, tracking_uri=tracking_uri, limit=limit)
    out = result.run_dir
    _report_repairs(result.outcome)
    summary = result.analysis.changes
    title = (f"{cfg.name}: {cfg.family.name} on {cfg.data.source}, s = {cfg.policy.synthetic_fraction:g}, "
             f"{cfg.policy.mode}, {len(cfg.seeds)} seed(s) × {cfg.chains} chain(s)")
    if fmt == "json":
        return _echo_json(api.summary(result.analysis))
    _show(summary_table(summary, title))
    _show(f"results: {out}  (load with cliffwatch.load_results({str(out)!r}))")
    _smoke(result)


def _print_cliffs(cliffs, cost=None) -> None:
    from cliffwatch.report.prose import cliff_sentence, cost_sentence
    from cliffwatch.report.terminal import cliff_table

    for cliff in cliffs:
        _show(cliff_table(cliff, cost))
        _show(cliff_sentence(cliff))
    if cost is not None:
        _show(cost_sentence(cost))


@app.command()
def sweep(
    config: Path = typer.Argument(..., help="Sweep config (YAML): an experiment plus `sweep:` (field path -> values), `cliff:` and `cost:`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory [default: runs/<config name>]. An existing run of the same config is resumed: finished lineages and generations are not recomputed."),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Local worker processes [default: 0 = one per core]."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="Where lineages run: processes (local), inline (this process), or a registered one such as ray [default: processes, inline for one worker]."),
    address: Optional[str] = typer.Option(None, "--address", help="With --executor ray: an existing Ray cluster (HOST:PORT or ray://HOST:PORT) [default: a local Ray for this run]."),
    tracking: Optional[str] = typer.Option(None, "--tracking", help="Also log every finished lineage (config, per-generation probes) to: mlflow (extra `mlflow`)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="With --tracking: where to log [default: ./mlruns]."),
    adaptive: bool = typer.Option(False, "--adaptive", help="Find the τ-crossing by bisection on the synthetic fraction instead of running the whole fraction grid."),
    resolution: Optional[float] = typer.Option(None, "--resolution", min=0.0, max=1.0, help="With --adaptive: then split the cliff's 95% interval, running new fractions only inside it, until it is at most this wide (a collapse between two grid points narrows with every split; one limited by noise needs more seeds instead) [default: bisection steps only]."),
    max_seeds: Optional[int] = typer.Option(None, "--max-seeds", min=1, max=1000, help="With --adaptive: then add up to this many seeds per curve where only the per-run risk bound holds a mix back, as many as would establish it; each new seed runs at every fraction the search ran (the cliff analysis pairs every seed across all of them) [default: add none]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run directory at --out first."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines."),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help=LIMIT_HELP),
    log_every: float = typer.Option(30.0, "--log-every", min=0.0, help=LOG_EVERY_HELP),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: what summary.json holds)."),
) -> None:
    """Sweep the synthetic fraction x seeds, locate the cliff, price the mixes.

    Every grid point runs as its own lineages on local worker processes; the cliff analysis
    (quality loss vs the all-human run, Student-t CIs over seeds, per-run risk, knee fit) and the
    cheapest safe mix are printed at the end. `cliffwatch report RUN_DIR` draws it all. A compare
    config (one with routes:) is refused: run it with `cliffwatch compare`.
    Exit 0 done; 1 some lineages failed (one line each; the others are kept, and the same
    command retries the failed ones); 2 bad input; 130/143 interrupted (rerun to resume).
    """
    from cliffwatch import api
    from cliffwatch.config.load import load_sweep

    _use_format(fmt)
    if resolution is not None and not adaptive:
        raise typer.BadParameter("--resolution refines an adaptive search: add --adaptive", param_hint="--resolution")
    if max_seeds is not None and not adaptive:
        raise typer.BadParameter("--max-seeds adds seeds in an adaptive search: add --adaptive", param_hint="--max-seeds")
    cfg = load_sweep(config)
    if dry_run:
        return _dry_run(cfg, out, limit, adaptive)
    result = api.sweep(cfg, out, workers=workers, executor=executor, address=address, adaptive=adaptive,
                       overwrite=overwrite, progress=_bar(quiet, log_every), tracking=tracking, tracking_uri=tracking_uri,
                       limit=limit, resolution=resolution, max_seeds=max_seeds)
    out = result.run_dir
    _report_repairs(result.outcome)
    if fmt == "json":
        return _echo_json(api.summary(result.analysis))
    _print_cliffs(result.cliffs, result.cost)
    if adaptive:
        from cliffwatch.report.prose import adaptive_sentence

        for cliff in result.cliffs:
            _show(adaptive_sentence(cliff))
    for line in result.seeds.lines() if result.seeds is not None else []:
        _show(line)
    _show(f"results: {out}   next: cliffwatch report {out}")
    _smoke(result)


@app.command()
def compare(
    config: Path = typer.Argument(..., help="Compare config (YAML): a setup plus `routes:` (route name -> field overrides)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory [default: runs/<config name>]. An existing run of the same config is resumed."),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Local worker processes [default: 0 = one per core]."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="Where lineages run: processes (local), inline (this process), or a registered one such as ray [default: processes, inline for one worker]."),
    address: Optional[str] = typer.Option(None, "--address", help="With --executor ray: an existing Ray cluster (HOST:PORT or ray://HOST:PORT) [default: a local Ray for this run]."),
    tracking: Optional[str] = typer.Option(None, "--tracking", help="Also log every finished lineage (config, per-generation probes) to: mlflow (extra `mlflow`)."),
    tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", help="With --tracking: where to log [default: ./mlruns]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete an existing run directory at --out first."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines."),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help=LIMIT_HELP),
    log_every: float = typer.Option(30.0, "--log-every", min=0.0, help=LOG_EVERY_HELP),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: what summary.json holds)."),
) -> None:
    """Run escape routes side by side on one setup and measure each one.

    Every route (a human anchor, fresh human data, accumulation, several generator families,
    a filter...) runs beside the same all-human reference; for each: the quality loss at
    generation G with a CI, the difference to the baseline route, the shift of the cliff
    when swept, and the cost (samples discarded, extra human data). `cliffwatch report RUN_DIR`
    draws it. Exit 0 done; 1 some lineages failed (one line each; the others are kept, and the same
    command retries the failed ones); 2 bad input; 130/143 interrupted (rerun to resume)."""
    from cliffwatch import api
    from cliffwatch.config.load import load_compare
    from cliffwatch.report.prose import route_sentences

    _use_format(fmt)
    cfg = load_compare(config)
    if dry_run:
        return _dry_run(cfg, out, limit)
    result = api.compare(cfg, out, workers=workers, executor=executor, address=address, overwrite=overwrite,
                         progress=_bar(quiet, log_every), tracking=tracking, tracking_uri=tracking_uri, limit=limit)
    out = result.run_dir
    _report_repairs(result.outcome)
    if fmt == "json":
        return _echo_json(api.summary(result.analysis))
    for line in route_sentences(result.comparison):
        _show(line)
    _show(f"results: {out}   next: cliffwatch report {out}")
    _smoke(result)


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run directory; an existing demo run is resumed."),
    workers: int = typer.Option(0, "--workers", "-w", min=0, help="Local worker processes [default: 0 = one per core]."),
    executor: Optional[str] = typer.Option(None, "--executor", "-e", help="Where lineages run: processes (local), inline (this process), or a registered one such as ray [default: processes, inline for one worker]."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start the demo run afresh."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or progress lines."),
    dry_run: bool = typer.Option(False, "--dry-run", help=DRY_RUN_HELP),
    log_every: float = typer.Option(30.0, "--log-every", min=0.0, help=LOG_EVERY_HELP),
    track: str = typer.Option("text", "--track", help="text: the default demo; tasks: reasoning, code and facts items with surface and deep checks (docs/tasks-track.md)."),
) -> None:
    """The main job on the built-in default: sweep, cliff, report.

    No arguments needed: sweeps the synthetic fraction (11 fractions x 3 seeds x 10 generations
    of a word 4-gram model on Python's documentation plus real geography facts), locates the
    cliff, and writes the HTML report. `--track tasks` sweeps a 6-gram on the task items (word
    problems, standard-library functions, facts; 6 fractions x 3 seeds x 5 generations) and the
    report shows each task's form and substance with sample items."""
    from cliffwatch import api

    cfg = api.demo_config(track)
    console.print(f"cliffwatch demo: {cfg.family.name} (order {cfg.family.params['order']}) on "
                  f"{getattr(cfg.data, 'corpus', None) or cfg.data.source}, "
                  f"{len(cfg.sweep['policy.synthetic_fraction'])} synthetic fractions x {len(cfg.seeds)} seeds x "
                  f"{cfg.generations} generations", highlight=False)
    if dry_run:
        return _dry_run(cfg, out, None)
    result = api.sweep(cfg, out, workers=workers, executor=executor, overwrite=overwrite, progress=_bar(quiet, log_every))
    _report_repairs(result.outcome)
    _print_cliffs(result.cliffs, result.cost)
    path = api.report(result.analysis)
    console.print(f"report: {path}", highlight=False)


@app.command()
def cliff(
    run_dir: Path = typer.Argument(..., help="A run directory written by `cliffwatch sweep`."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Quality metric [default: the sweep's cliff.metric, else heldout_ppl / wasserstein / tv_distance]."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", "-t", min=0.0, help="τ, the largest acceptable quality loss [default: the sweep's, else 0.1]."),
    generation: Optional[int] = typer.Option(None, "--generation", "-g", min=0, help="Generation to locate the cliff at [default: the last]."),
    absolute: bool = typer.Option(False, "--absolute", help="Quality loss as a difference instead of a ratio to the all-human run."),
    as_json: bool = typer.Option(False, "--json", help="Print what summary.json holds (every quality metric's cliff, knee and safe mix with intervals and methods) as JSON."),
    risk: Optional[float] = typer.Option(None, "--risk", min=0.0, max=1.0, help="The safe mix needs the exact 95% upper bound on the chance that a single run (seed) crosses τ to be at most this; '0 of 3 runs crossed' bounds it by 63%, 11 seeds with none crossing by 25% [default: the sweep's cliff.risk, else 0.25]."),
    fail_if_unsafe: Optional[float] = typer.Option(None, "--fail-if-unsafe", min=0.0, max=1.0, metavar="S", help="CI gate: exit 1 unless the mix with synthetic share S is safe on every curve: S at most the largest safe grid fraction (its 95% interval of ΔQ within τ and its per-run risk bound within the risk level, as every smaller one's)."),
    fail_if_cliff_below: Optional[float] = typer.Option(None, "--fail-if-cliff-below", min=0.0, max=1.0, metavar="S", help="CI gate: exit 1 when a cliff's 95% interval starts below S (or the cliff is undetermined)."),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: the same as --json)."),
) -> None:
    """Locate the cliff in a sweep's results.

    The cliff is the smallest synthetic fraction whose quality loss exceeds τ, with a 95%
    interval; also the knee of a two-segment fit and the cheapest safe mix. Every lineage the
    sweep planned must have finished: otherwise the error names the missing ones (an analysis of
    the others would be a smaller experiment than the one configured). With --fail-if-unsafe or
    --fail-if-cliff-below it is a CI gate: one pass/FAIL line per curve and check (on stderr
    with --json), exit 0 pass, 1 fail, 2 bad input."""
    from cliffwatch import api

    gating = fail_if_unsafe is not None or fail_if_cliff_below is not None
    as_json = as_json or _use_format(fmt) == "json"
    if as_json:
        import json

        result = api.analysis(run_dir, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute,
                              risk=risk)
        typer.echo(json.dumps(api.summary(result), indent=1, allow_nan=False))
    else:
        result = api.analyze(run_dir, metric=metric, tolerance=tolerance, generation=generation, absolute=absolute,
                             risk=risk)
        _print_cliffs(result.cliffs, result.cost)
    if gating:
        from cliffwatch.core.errors import AnalysisError
        from cliffwatch.guard.from_run import gate

        if not result.cliffs:  # a gate with nothing to check must not pass
            raise AnalysisError(f"{run_dir}: no cliff to gate on: {result.problem or 'not a sweep'}")
        verdict = gate(result.cliffs, fail_if_unsafe, fail_if_cliff_below)
        for line in verdict.lines:
            (errors if as_json else console).print(f"gate: {line}", highlight=False, markup=False, soft_wrap=True)
        raise typer.Exit(0 if verdict.passed else 1)


@app.command()
def policy(
    run_dir: Path = typer.Argument(..., help="A run directory written by `cliffwatch sweep`."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Policy file to write (YAML) [default: print it]."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Quality metric [default: the sweep's cliff.metric]."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", "-t", min=0.0, help="τ [default: the sweep's, else 0.1]."),
    generation: Optional[int] = typer.Option(None, "--generation", "-g", min=0, help="Generation the mix must stay safe at [default: the last]."),
    risk: Optional[float] = typer.Option(None, "--risk", min=0.0, max=1.0, help="The risk level a safe mix's per-run risk bound must stay within [default: the sweep's, as in `cliffwatch cliff`]."),
    dedup: str = typer.Option("exact", "--dedup", help="Duplicate removal the audit applies: off, exact or near."),
    as_json: bool = typer.Option(False, "--json", help="Print the policy and its derivation as JSON."),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (text and markdown: the policy file's YAML; json: the same as --json)."),
) -> None:
    """Write the audit policy a measured sweep supports (for `cliffwatch audit`).

    min_human_fraction comes from the conservative end of the safe mix: the smaller of the largest
    safe synthetic fraction and the lower end of the cliff's 95% interval, s*. The run's s is a
    per-generation synthetic share; the audit measures the effective human fraction after
    dedup, so s* is mapped to the human share a training set mixed at s* audits at (1 - s* in
    replace mode; accumulate modes: docs/guard.md). max_depth is the generation measured. The
    derivation is written as comments in the file."""
    from cliffwatch import api
    from cliffwatch.core.version import __version__

    if dedup not in ("off", "exact", "near"):
        raise typer.BadParameter(f"{dedup!r}; use off, exact or near", param_hint="--dedup")
    as_json = as_json or _use_format(fmt) == "json"
    derived = api.policy(run_dir, out, metric=metric, tolerance=tolerance, generation=generation, risk=risk, dedup=dedup)
    if as_json:
        import json

        typer.echo(json.dumps(rounded(derived.to_dict()), indent=1, allow_nan=False))
    elif out is None:
        typer.echo(derived.yaml(__version__), nl=False)
    else:
        console.print(f"policy: {out}  (min_human_fraction {derived.policy.min_human_fraction}, max_depth "
                      f"{derived.policy.max_depth}; gate with: cliffwatch audit MANIFEST --policy {out})",
                      highlight=False, markup=False, soft_wrap=True)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run directory (from `cliffwatch sweep` or `cliffwatch run`)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="HTML file to write [default: RUN_DIR/report.html]."),
    metric: Optional[str] = typer.Option(None, "--metric", "-m", help="Quality metric for the cliff [default: the sweep's]."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", "-t", min=0.0, help="τ [default: the sweep's, else 0.1]."),
    generation: Optional[int] = typer.Option(None, "--generation", "-g", min=0, help="Generation of the cliff [default: the last]."),
) -> None:
    """Write one self-contained HTML report (opens offline).

    Summary, cliff plot with CI, ΔQ heatmap, metric trajectories, fluency vs truthfulness,
    gaming gap, cost table and provenance."""
    from cliffwatch import api

    path = api.report(run_dir, out, metric=metric, tolerance=tolerance, generation=generation)
    console.print(f"report: {path}", highlight=False)


@app.command()
def audit(
    manifest: Path = typer.Argument(..., help="Provenance manifest: .jsonl, .jsonl.gz, .json, .parquet, .csv, .arrow, a Hugging Face dataset folder or a folder of Parquet or JSONL shards."),
    policy: Path = typer.Option(..., "--policy", "-p", help="Policy file (YAML or TOML)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON (for CI)."),
    mapping: Optional[list[str]] = typer.Option(None, "--mapping", "-m", help="FIELD=COLUMN, or a preset: distilabel (rows without model_name are human), hf-card (the dataset card's creator tags), croissant (rows without prov:wasGeneratedBy are human) (repeatable)."),
    croissant: Optional[Path] = typer.Option(None, "--croissant", help="Also write the audited summary as Croissant metadata (JSON-LD) here."),
    estimate: Optional[Path] = typer.Option(None, "--estimate", help="JSON of 'cliffwatch estimate --out' on the text of the rows without provenance (policy rule min_estimated_human_share)."),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: the same as --json)."),
) -> None:
    """Audit a training mix's provenance manifest against a data policy.

    Prints each rule (required, measured, pass or fail), the effective human fraction after
    duplicate removal, and the rows without provenance. Exit 0 pass, 1 violation, 2 bad input
    (one line naming the file), 3 internal error."""
    import json

    from cliffwatch import api
    from cliffwatch.report.guard import audit_lines, audit_table

    as_json = as_json or _use_format(fmt) == "json"
    result = api.audit(manifest, policy, mapping=mapping, croissant=croissant, estimate=estimate)
    if as_json:
        print(json.dumps(rounded(result.to_dict()), indent=2))
    else:
        _show(audit_table(result))
        for line in audit_lines(result):
            _show(line)
        if croissant is not None:
            _show(f"croissant: {croissant}")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def monitor(
    history: Path = typer.Argument(..., help="Per-generation metrics: CSV or JSON (long: generation, metric, value; or wide), or a cliffwatch run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (for CI)."),
    tolerance: float = typer.Option(0.1, "--tolerance", "-t", help="τ > 0, the largest acceptable quality loss ΔQ (relative to the first generation)."),
    quality: Optional[list[str]] = typer.Option(None, "--quality", help="Human-anchored probe NAME[:lower|higher] (repeatable), added to the known ones in the history (heldout_ppl, wasserstein, ...)."),
    indicator: Optional[list[str]] = typer.Option(None, "--indicator", help="Leading indicator NAME[:lower|higher|both] (repeatable), added to the known ones."),
    benchmark: Optional[list[str]] = typer.Option(None, "--benchmark", help="Automated benchmark NAME[:lower|higher] (repeatable), added to the known ones (synthetic_ppl)."),
    only_named: bool = typer.Option(False, "--only-named", help="Use only the metrics named by --quality, --indicator and --benchmark, not also the known ones in the history."),
    lineage: Optional[str] = typer.Option(None, "--lineage", help="For a sweep's run directory: the lineage to watch, by id or by labels KEY=VALUE,... (e.g. \"s=0.3,seed=0\"; s is the synthetic fraction; a route: route=NAME)."),
    horizon: int = typer.Option(2, "--horizon", min=0, help="Warn when the ΔQ trend reaches ρτ this many generations ahead."),
    warn_fraction: float = typer.Option(1.0, "--warn-fraction", help="ρ > 0: the share of τ the forecast may reach before it warns."),
    indicator_threshold: float = typer.Option(0.25, "--indicator-threshold", help="κ > 0: relative worsening of a leading indicator that warns."),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: the same as --json)."),
) -> None:
    """Warn before the cliff from the metrics of successive model generations.

    Trend and forecast (with interval) of the generation where each human-anchored probe
    crosses τ, leading indicators that started moving, and a gaming alarm when an automated
    benchmark improves while a human-anchored probe worsens. Directions are the metrics' own
    declarations (the run's, or the registered probes'); columns that play no role are listed.
    Exit 0 ok, 1 warning, 2 bad input (one line naming the file), 3 internal error."""
    import json

    from cliffwatch import api
    from cliffwatch.report.guard import monitor_lines, monitor_tables

    as_json = as_json or _use_format(fmt) == "json"
    result = api.monitor(history, tolerance=tolerance, quality=quality, indicator=indicator, benchmark=benchmark,
                         lineage=lineage, horizon=horizon, warn_fraction=warn_fraction,
                         indicator_threshold=indicator_threshold, only=only_named)
    if as_json:
        print(json.dumps(rounded(result.to_dict()), indent=2))
    else:
        for table in monitor_tables(result):
            _show(table)
        for line in monitor_lines(result):
            _show(line)
    raise typer.Exit(1 if result.warning else 0)


@app.command()
def estimate(
    corpus: Path = typer.Argument(..., help="Unlabelled corpus: .txt, .jsonl, .parquet, .csv or a Hugging Face dataset folder (one document per sentence)."),
    human: str = typer.Option(..., "--human", help="Human reference text (e.g. written before 2022): a file or folder as above, or a built-in corpus (pydocs, facts)."),
    generator: list[str] = typer.Option(..., "--generator", "-g", help="A suspected generator (repeatable): FAMILY[@G][:key=value,...] (a cliffwatch family run G generations from the reference, e.g. ngram@2:order=2,temperature=0.8), or a file of its output."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (text and markdown: the same lines; json: the same as --json)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write the result as JSON here (what 'audit --estimate' reads)."),
    history: Optional[Path] = typer.Option(None, "--history", help="Append the estimate as the next snapshot of this CSV history (what 'monitor' follows)."),
    max_share: Optional[float] = typer.Option(None, "--max-share", min=0.0, max=1.0, help="CI gate: exit 1 when the synthetic share may exceed this (the interval's upper end; no upper bound fails)."),
    field: str = typer.Option("text", "--field", help="Text field or column of .jsonl, .parquet, .csv and dataset folders."),
    method: str = typer.Option("ml", "--method", help="ml (binned maximum likelihood, default) or acc (adjusted classify-and-count)."),
    confidence: float = typer.Option(0.95, "--confidence", min=0.5, max=0.999, help="Confidence of the interval."),
    seed: int = typer.Option(0, "--seed", help="Seed of the reference split and the generators' samples."),
) -> None:
    """Estimate the synthetic share of an unlabelled corpus, with a calibrated interval.

    Scores every document by an n-gram log-likelihood ratio between the human reference and the
    suspected generators, and estimates the share by quantification (not by counting documents
    over a threshold), with an interval that includes the uncertainty of the detector's error
    rates and of the generator's draw (it is estimated with 5 copies of each family generator,
    each learnt from its own draw of unseen reference text, combined by Rubin's rules). It sees
    only the generators it is given: when the corpus holds text that neither the reference nor
    they explain, it says "at least X% synthetic, as seen by these detectors".
    Documents mostly in words the reference never uses are flagged, not scored.
    Exit 0 done, 1 over --max-share, 2 bad input."""
    import json

    from cliffwatch import api

    as_json = as_json or _use_format(fmt) == "json"
    result = api.estimate(corpus, human, generator, seed=seed, confidence=confidence, method=method, field=field,
                          out=out, history=history)
    e = result.estimate
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        lines = [
            f"corpus: {corpus} ({result.documents} documents scored"
            + (f"; {result.uncovered} not covered by the reference, not scored)" if result.uncovered else ")"),
            f"estimate: {result.statement()}",
            f"method: {'binned maximum likelihood' if e.method == 'ml' else 'adjusted classify-and-count'} over {e.bins} "
            f"score bins, profile-likelihood interval"
            + (f" widened by the spread of {e.copies} copies of the generators (Rubin's rules; between-copy sd "
               f"{e.between_sd:.3f})" if e.copies > 1 else "")
            + f"; detector: {result.detector}; calibrated on {e.calibration_human} human and "
            f"{e.calibration_synthetic} synthetic held-out documents" + (" per copy" if e.copies > 1 else "")
            + f"; fit p = {e.fit_p:.2g}",
            f"classify-and-count at the best threshold (biased, for comparison): {e.classify_count:.1%}",
            "covers only these generators: text of another family, temperature or later generation is seen only as "
            "far as it resembles them (docs/guard.md)",
        ]
        for line in lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
    if max_share is not None and (not e.fits or e.high > max_share):
        if not as_json:
            console.print(f"over the limit: the synthetic share may exceed {max_share:.1%}", highlight=False, markup=False)
        raise typer.Exit(1)


@app.command("list")
def list_components(
    fmt: str = typer.Option("text", "--format", help=FORMAT_HELP + " (json: each table's rows)."),
) -> None:
    """List the registered families, probes, filters, data sources and executors.

    A probe runs by default on data of its modality, or (costly ones) only if a config's `probes:`
    names it. Components whose optional extra is not installed are listed with the command that installs
    it; a plugin that fails to import is listed with its error."""
    from rich.table import Table

    from cliffwatch.core.errors import RegistryError
    from cliffwatch.core.registry import EXECUTORS, FAMILIES, FILTERS, PROBES, SOURCES

    _use_format(fmt)
    for registry, columns in ((FAMILIES, ("modality", "knobs")), (SOURCES, ("modality", "knobs")),
                              (FILTERS, ("applies to", "knobs")), (EXECUTORS, ())):
        table = Table(title=f"{registry.kind} components")
        for col in ("name", *columns, "from"):
            table.add_column(col)
        for name, entry in sorted(registry.entries().items()):
            cells = _component_cells(registry, name, entry, len(columns))
            table.add_row(name, *cells, entry.package)
        _show(table)
    probes = Table(title="probes")
    for col in ("probe", "modality", "runs", "metric", "better", "meaning"):
        probes.add_column(col)
    for name in PROBES.names():
        try:
            probe = PROBES.get(name)
        except RegistryError as err:
            probes.add_row(name, "–", "–", "–", "–", _unavailable(err))
            continue
        runs = "if named" if probe.opt_in else "default"  # opt-in: costly, run where `probes:` names it
        for m in probe.metrics:
            probes.add_row(name, str(probe.modality), runs, m.name,
                           {True: "higher", False: "lower", None: "–"}[m.higher_is_better], m.description)
    _show(probes)
    _flush()


def _unavailable(err: Exception) -> str:
    from rich.markup import escape

    # escaped: an install hint such as pip install 'cliffwatch[neural]' is text, not rich markup
    return f"[yellow]unavailable:[/yellow] {escape(str(err))}"


def _component_cells(registry, name: str, entry, n: int) -> list[str]:
    """The cells of one component's row: what it applies to and its knobs, or why it is unavailable."""
    from cliffwatch.core.errors import RegistryError

    if n == 0:
        return []
    try:
        component = registry.get(name)
    except RegistryError as err:
        return [_unavailable(err), ""][:n]
    applies = getattr(component, "modality", None) or ", ".join(map(str, getattr(component, "modalities", ())))
    params = getattr(component, "Params", None) or getattr(component, "Spec", None)
    knobs = ", ".join(k for k in (params.model_fields if params else {}) if k != "source") or "–"
    return [str(applies), knobs]


def _version(value: bool) -> None:
    if value:
        from cliffwatch.core.version import __version__

        console.print(f"cliffwatch {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Find the quality cliff of training AI on AI outputs before your users do."""


def _internal_error(exc: BaseException) -> None:
    """A bug, not a verdict or bad input: the traceback goes to a log file, one line to the terminal,
    and the exit code is 3."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = "".join(traceback.format_exception(exc))
    where = None
    try:
        fd, where = tempfile.mkstemp(prefix=f"cliffwatch-error-{stamp}-", suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"cliffwatch {' '.join(sys.argv[1:])}\n{text}")
    except OSError as err:
        where = f"(not written: {err.strerror or err.__class__.__name__})"
    message = one_line(f"{exc.__class__.__name__}: {exc}", 200)
    errors.print(f"internal error (a bug in cliffwatch, not a verdict): {message}; traceback in {where}; "
                 "please report it with that file", highlight=False, markup=False, soft_wrap=True)
    sys.exit(INTERNAL)


INTERRUPTED = "interrupted; rerun the same command to resume"


@contextmanager
def _signals_stop_work():
    """SIGINT and SIGTERM raise Interrupted in this process: the executor stops every worker, and
    main exits 128 + the signal number. A second signal during that cleanup is ignored."""
    def stop(signum, frame):
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise Interrupted(signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, CliffwatchWarning):
        errors.print(f"warning: {one_line(str(message))}", highlight=False, markup=False, soft_wrap=True)
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def main() -> None:
    warnings.showwarning = _show_warning
    for out in (console, errors):  # rich cuts at 80 columns where it cannot ask a terminal
        out.width = OFF_TERMINAL_WIDTH if not out.is_terminal else None
    try:
        with _signals_stop_work():
            code = app(standalone_mode=False)
    except LineagesFailed as failure:
        _report_repairs(failure.outcome)
        for line in [*failure.lines(), failure.summary]:
            errors.print(f"error: {line}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except CliffwatchError as err:
        errors.print(f"error: {err}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except Interrupted as stop:
        errors.print(INTERRUPTED, highlight=False, markup=False)
        sys.exit(128 + stop.signum)
    except KeyboardInterrupt:  # a Ctrl-C before the handler was installed
        errors.print(INTERRUPTED, highlight=False, markup=False)
        sys.exit(130)
    except Exception as exc:
        # usage errors of the CLI framework, recognised by their interface (typer bundles its own click)
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = one_line(exc.format_message())
            errors.print(f"error: {message} (see cliffwatch --help)", highlight=False, markup=False, soft_wrap=True)
            sys.exit(exc.exit_code)
        if type(exc).__name__ == "Abort":  # the framework's own Ctrl-C
            errors.print(INTERRUPTED, highlight=False, markup=False)
            sys.exit(130)
        if hasattr(exc, "exit_code"):  # Exit
            sys.exit(exc.exit_code if isinstance(exc.exit_code, int) else 1)
        _internal_error(exc)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
