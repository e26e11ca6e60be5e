"""Every registered probe beside its model's own work, at the sizes of the examples that run it.

Issue 18: no probe may take longer than the model it measures. For each example in examples/
(neural families excepted: their fit is minutes of training, far above any probe) and each probe
that example runs (the ones it names, else every default probe of its modality), one generation
is set up at the example's sizes (chains, samples, probe_samples, holdout) and timed, best of
REPEATS, on one core:

    model   the family's fit on `samples` items per chain, plus its sampling of the next training
            set and of the probes' `probe_samples` (the work the loop does for any probe)
    probe   the probe's call on those samples (its per-run `prepare` excluded: done once per run)

A probe no example runs (an opt-in one) is timed on the first example of its modality.

    python benchmarks/bench_probes.py [--repeats 3] [--only moments,wasserstein]
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

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
NEURAL = {"gpt", "hf", "image_vae"}


def experiment(path: Path) -> ExperimentConfig | None:
    """The example's experiment (a sweep's or comparison's base point), or None for a neural family."""
    raw = yaml.safe_load(path.read_text())
    if raw["family"]["name"] in NEURAL or raw["family"]["name"] not in FAMILIES.available():
        return None
    return ExperimentConfig.model_validate({k: v for k, v in raw.items() if k in ExperimentConfig.model_fields})


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.process_time()
        out = fn()
        times.append(time.process_time() - start)
    return min(times), out


def generation(config: ExperimentConfig, probe_name: str, repeats: int) -> tuple[float, float, float]:
    """(fit, sample, probe) CPU seconds of one generation."""
    config = config.model_copy(update={"probes": [probe_name]})
    runner = LineageRunner(Lineage(config, 0))
    runner.prepare()
    p = config.policy
    train = runner.source.draw(p.samples, np.random.default_rng(1), config.chains)
    fit, model = best(lambda: runner.family.fit(train, np.random.default_rng(2), None), repeats)

    def sampled():
        model.sample(p.samples, np.random.default_rng(3), temperature=p.temperature, top_p=p.top_p)
        return model.sample(config.probe_samples, np.random.default_rng(4), temperature=p.temperature, top_p=p.top_p)

    sample, samples = best(sampled, repeats)
    probe = runner.probes[0]

    def probed():
        ctx = ProbeContext(model=model, generation=1, train=train, draw_samples=lambda: samples,
                           reference=runner.source.reference(), info=runner.info,
                           make_rng=lambda: np.random.default_rng(5), source=runner.source, prev_model=model,
                           draw_prev_samples=lambda: samples, chains=config.chains)
        return probe(ctx)

    probed()  # a first call may fill per-process caches (the reference's features): the loop pays it once
    probe_time, _ = best(probed, repeats)
    return fit, sample, probe_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated probe names")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))

    cases: list[tuple[str, str, ExperimentConfig]] = []
    first_of: dict[str, tuple[str, ExperimentConfig]] = {}
    for path in sorted(EXAMPLES.glob("*.yaml")):
        config = experiment(path)
        if config is None:
            continue
        runner_probes = select_probes(config, LineageRunner(Lineage(config, 0)).source)
        first_of.setdefault(runner_probes[0].modality.name if runner_probes else "", (path.stem, config))
        cases += [(p.name, path.stem, config) for p in runner_probes]
    seen = {name for name, _, _ in cases}
    for name, probe in PROBES.items():
        if name not in seen and probe.modality.name in first_of:  # run by no example: on its modality's first
            stem, config = first_of[probe.modality.name]
            cases.append((name, f"{stem} (not run there: opt-in)" if probe.opt_in else stem, config))

    print(f"{'probe':24} {'example':36} {'fit s':>8} {'sample s':>9} {'model s':>8} {'probe s':>8} {'probe/model':>11}")
    slower = []
    for name, stem, config in sorted(cases, key=lambda c: (c[0], c[1])):
        if only and name not in only:
            continue
        fit, sample, probe = generation(config, name, args.repeats)
        model = fit + sample
        print(f"{name:24} {stem:36} {fit:8.4f} {sample:9.4f} {model:8.4f} {probe:8.4f} {probe / model:11.2f}", flush=True)
        if probe > model:
            slower.append(f"{name} on {stem}")
    print("probes slower than their model:", ", ".join(slower) if slower else "none")


if __name__ == "__main__":
    main()
