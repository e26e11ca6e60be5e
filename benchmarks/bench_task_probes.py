"""Task probes' share of one generation: fit, sampling, the three task probes, the other text probes.

Target: the task probes (reasoning, code, facts) cost at most 10% of a generation. One generation
here is what examples/tasks-cliff.yaml runs (a 6-gram on 400 items per task, 4,000 training
sentences, 300 probe samples) and, with --gpt, what examples/tasks-gpt-cpu.yaml runs at its size.
Every part is timed once on one core (best of --repeats), in the same run, so the split compares
like with like.

    python benchmarks/bench_task_probes.py [--gpt] [--repeats 3]
"""

from _bench import best_of  # first: it pins BLAS/OpenMP to one thread before numpy loads

import argparse

import numpy as np

from cliffwatch.core.registry import FAMILIES, PROBES
from cliffwatch.data.sources.tasks import TasksData, TasksSource
from cliffwatch.probes.base import ProbeContext

TARGET_SHARE = 0.10
TASK_PROBES = ("task_reasoning", "task_code", "task_facts")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpt", action="store_true", help="time the CPU gpt instead of the 6-gram")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if args.gpt:
        import torch

        torch.set_num_threads(1)
        family, knobs, samples, probe_samples = "gpt", {"layers": 2, "width": 128, "heads": 4, "context": 96,
                                                         "vocab_size": 1024, "epochs": 1, "device": "cpu"}, 4000, 300
    else:
        family, knobs, samples, probe_samples = "ngram", {"order": 6}, 4000, 300
    source = TasksSource(TasksData(source="tasks", items=400), 300, np.random.default_rng(0))
    train = source.draw(samples, np.random.default_rng(1), 1)
    fam = FAMILIES.get(family)(source.info, knobs)
    model = None

    def fit():
        nonlocal model
        model = fam.fit(train, np.random.default_rng(2))

    times = {"fit": best_of(args.repeats, fit)}
    times["sample training set"] = best_of(args.repeats, lambda: model.sample(samples, np.random.default_rng(3)))
    probe_draw = model.sample(probe_samples, np.random.default_rng(4))

    def context() -> ProbeContext:
        return ProbeContext(model=model, generation=1, train=train, draw_samples=lambda: probe_draw,
                            reference=source.reference(), info=source.info, make_rng=lambda: np.random.default_rng(5),
                            source=source, prev_model=model, draw_prev_samples=lambda: probe_draw)

    probes = {name: cls() for name, cls in PROBES.items()
              if cls.modality is source.modality and not cls.opt_in and cls.applies_to(source)}
    for probe in probes.values():
        probe.prepare(source)
    for name, probe in probes.items():
        times[f"probe {name}"] = best_of(args.repeats, lambda: probe(context()))
    total = sum(times.values())
    task = sum(times[f"probe {n}"] for n in TASK_PROBES)
    print(f"one generation of {family} on the tasks source ({len(train)} training sentences):")
    for part, seconds in times.items():
        print(f"  {part:<32} {seconds:8.2f} s  {seconds / total:6.1%}")
    verdict = "meets" if task <= TARGET_SHARE * total else "misses"
    print(f"task probes together: {task:.2f} s of {total:.2f} s = {task / total:.1%} "
          f"({verdict} the {TARGET_SHARE:.0%} target)")


if __name__ == "__main__":
    main()
