"""Every registered probe beside its model's own work, at the sizes of the examples that run it.

Issue 18: no probe may take longer than the model it measures. For each example in examples/
(neural families excepted: their fit is minutes of training, far above any probe; examples of
the same sizes, differing only in their mixing policy, timed once) and each probe that example runs (the ones it names, else every default probe of its modality), one generation
is set up at the example's sizes (chains, samples, probe_samples, holdout) and timed, best of
REPEATS, on one core:

    model   the family's fit on `samples` items per chain, plus its sampling of the next training
            set and of the probes' `probe_samples` (the work the loop does for any probe)
    probe   the probe's call on those samples (its per-run `prepare` excluded: done once per run)

A probe no example runs is timed on the first example of its modality; an opt-in probe (costly by
declaration, run only where a config names it: the embedding probe's neural encoder, exact k-NN
precision and recall) is timed where an example names it, else only with --opt-in. The verdict
line keeps the default probes (what a config without `probes:` runs) apart from the opt-in ones.

    python benchmarks/bench_probes.py [--repeats 3] [--only moments,wasserstein] [--opt-in]
"""

import _bench  # first: it pins BLAS/OpenMP to one thread before numpy loads

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

from cliffwatch.config.schema import ExperimentConfig  # noqa: E402
from cliffwatch.core.registry import FAMILIES, PROBES  # noqa: E402
from cliffwatch.loop.engine import LineageRunner, select_probes  # noqa: E402
from cliffwatch.loop.lineage import Lineage  # noqa: E402
from cliffwatch.probes.base import ProbeContext  # noqa: E402
from cliffwatch.probes.task_common import remembered_check  # noqa: E402

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEURAL = {"gpt", "hf", "image_vae"}


def experiment(path: Path) -> ExperimentConfig | None:
    """The example's experiment (a sweep's or comparison's base point), or None for a neural family."""
    raw = yaml.safe_load(path.read_text())
    if raw["family"]["name"] in NEURAL or raw["family"]["name"] not in FAMILIES.available():
        return None
    return ExperimentConfig.model_validate({k: v for k, v in raw.items() if k in ExperimentConfig.model_fields})


def sizes(config: ExperimentConfig) -> str:
    """What one generation's work depends on: examples that differ only in their policy's mixing
    (mode, human data, fraction) or their number of generations time the same."""
    p = config.policy
    return repr((config.family, config.data, config.chains, config.holdout, config.probe_samples, config.probes,
                 p.samples, p.temperature, p.top_p))


def generation(config: ExperimentConfig, probe_name: str, repeats: int) -> tuple[float, float, float]:
    """(fit, sample, probe) CPU seconds of one generation, each the best of ``repeats``. Every
    repetition draws, fits and samples afresh (a cache keyed on a batch must not serve a later
    repetition); one untimed repetition first fills what the loop builds once per run."""
    config = config.model_copy(update={"probes": [probe_name]})
    runner = LineageRunner(Lineage(config, 0))
    runner.prepare()
    p = config.policy
    probe = runner.probes[0]
    best = [np.inf, np.inf, np.inf]
    for repetition in range(repeats + 1):
        remembered_check.cache_clear()  # the task probes check every answer, as in a first generation
        train = runner.source.draw(p.samples, np.random.default_rng(1), config.chains)
        start = time.process_time()
        model = runner.family.fit(train, np.random.default_rng(2), None)
        fitted = time.process_time()
        model.sample(p.samples, np.random.default_rng(3), temperature=p.temperature, top_p=p.top_p)
        samples = model.sample(config.probe_samples, np.random.default_rng(4), temperature=p.temperature, top_p=p.top_p)
        sampled = time.process_time()
        ctx = ProbeContext(model=model, generation=1, train=train, draw_samples=lambda: samples,
                           reference=runner.source.reference(), info=runner.info,
                           make_rng=lambda: np.random.default_rng(5), source=runner.source, prev_model=model,
                           draw_prev_samples=lambda: samples, chains=config.chains)
        probe(ctx)
        probed = time.process_time()
        if repetition:
            for i, seconds in enumerate((fitted - start, sampled - fitted, probed - sampled)):
                best[i] = min(best[i], seconds)
    return best[0], best[1], best[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated probe names")
    parser.add_argument("--opt-in", action="store_true", help="also time the opt-in probes (minutes each)")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))

    cases: list[tuple[str, str, ExperimentConfig]] = []
    first_of: dict[str, tuple[str, ExperimentConfig]] = {}
    sizes_seen: set[str] = set()
    for path in sorted(EXAMPLES.glob("*.yaml")):
        config = experiment(path)
        if config is None or sizes(config) in sizes_seen:  # one generation of it is timed already
            continue
        sizes_seen.add(sizes(config))
        runner_probes = select_probes(config, LineageRunner(Lineage(config, 0)).source)
        first_of.setdefault(runner_probes[0].modality.name if runner_probes else "", (path.stem, config))
        cases += [(p.name, path.stem, config) for p in runner_probes]
    seen = {name for name, _, _ in cases}
    for name, probe in PROBES.items():
        if name not in seen and probe.modality.name in first_of and (args.opt_in or not probe.opt_in):
            stem, config = first_of[probe.modality.name]  # run by no example: on its modality's first
            cases.append((name, f"{stem} (not run there)", config))

    print(f"{'probe':24} {'example':36} {'fit s':>8} {'sample s':>9} {'model s':>8} {'probe s':>8} {'probe/model':>11}")
    slower = []
    for name, stem, config in sorted(cases, key=lambda c: (c[0], c[1])):
        if only and name not in only:
            continue
        fit, sample, probe = generation(config, name, args.repeats)
        model = fit + sample
        print(f"{name:24} {stem:36} {fit:8.4f} {sample:9.4f} {model:8.4f} {probe:8.4f} {probe / model:11.2f}", flush=True)
        if probe > model:
            slower.append((PROBES.get(name).opt_in, f"{name} on {stem}"))
    for opt_in, kind in ((False, "default probes"), (True, "opt-in probes (run where a config names them)")):
        found = [case for flag, case in slower if flag is opt_in]
        print(f"{kind} slower than their model:", ", ".join(found) if found else "none")


if __name__ == "__main__":
    main()
