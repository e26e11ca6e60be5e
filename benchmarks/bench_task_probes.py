"""Task probes' share of one generation: fit, sampling, the three task probes, the other text probes.

Target: the task probes (reasoning, code, facts) cost at most 10% of a generation. One generation
here is what examples/tasks-cliff.yaml runs (a 6-gram on 400 items per task, 4,000 training
sentences, 300 probe samples) and, with --gpt, what examples/tasks-gpt-cpu.yaml runs at its size.
Every part is timed once on one core (best of --repeats), in the same run, so the split compares
like with like. A task probe's time includes the model's greedy answers to its items (inference
the probe asks for, printed apart: with a free checker the probes could cost no less). The probes
remember the checks' verdicts per process (task_common.remembered_check): the split is timed with
none remembered (the first generation); a second line times the task probes of a later generation
(a model fit on this one's samples) with this generation's verdicts remembered, as the loop runs it.

    python benchmarks/bench_task_probes.py [--gpt] [--repeats 3]
"""

from _bench import best_of  # first: it pins BLAS/OpenMP to one thread before numpy loads

import argparse
import time

import numpy as np

from cliffwatch.core.registry import FAMILIES, PROBES
from cliffwatch.data.sources.tasks import TasksData, TasksSource
from cliffwatch.probes.base import ProbeContext
from cliffwatch.probes.task_common import remembered_check

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
    times["sample for the probes"] = best_of(args.repeats, lambda: model.sample(probe_samples, np.random.default_rng(4)))
    probe_draw = model.sample(probe_samples, np.random.default_rng(4))
    answering = []  # seconds inside model.answer: the model's greedy answers the task probes ask for
    plain_answer = model.answer

    def timed_answer(*args):
        start = time.perf_counter()
        out = plain_answer(*args)
        answering[-1] += time.perf_counter() - start
        return out

    model.answer = timed_answer

    def context(model=model, generation=1) -> ProbeContext:
        return ProbeContext(model=model, generation=generation, train=train, draw_samples=lambda: probe_draw,
                            reference=source.reference(), info=source.info, make_rng=lambda: np.random.default_rng(5),
                            source=source, prev_model=model, draw_prev_samples=lambda: probe_draw)

    probes = {name: cls() for name, cls in PROBES.items()
              if cls.modality is source.modality and not cls.opt_in and cls.applies_to(source)}
    for probe in probes.values():
        probe.prepare(source)

    def cold(probe):
        remembered_check.cache_clear()  # every repeat checks every answer
        answering.append(0.0)
        probe(context())

    answers = 0.0
    for name, probe in probes.items():
        answering.clear()
        times[f"probe {name}"] = best_of(args.repeats, lambda: cold(probe))
        answers += min(answering)
    total = sum(times.values())
    task = sum(times[f"probe {n}"] for n in TASK_PROBES)
    print(f"one generation of {family} on the tasks source ({len(train)} training sentences):")
    for part, seconds in times.items():
        print(f"  {part:<32} {seconds:8.3f} s  {seconds / total:6.1%}")
    verdict = "meets" if task <= TARGET_SHARE * total else "misses"
    print(f"task probes together: {task:.3f} s of {total:.3f} s = {task / total:.1%} "
          f"({verdict} the {TARGET_SHARE:.0%} target)")
    print(f"  of which the model's greedy answers to the items: {answers:.3f} s ({answers / total:.1%}); "
          f"checking them and the rest: {task - answers:.3f} s ({(task - answers) / total:.1%})")
    later = fam.fit(model.sample(samples, np.random.default_rng(6)), np.random.default_rng(7))
    warm = {}
    for name in TASK_PROBES:
        def second(probe=probes[name]):
            remembered_check.cache_clear()
            probe(context())  # the first generation's verdicts, then the later generation timed alone
            return best_of(1, lambda: probe(context(later, 2)))

        warm[name] = min(second() for _ in range(args.repeats))
    parts = ", ".join(f"{n.removeprefix('task_')} {s:.3f} s" for n, s in warm.items())
    print(f"a later generation, the first one's verdicts remembered: task probes {sum(warm.values()):.2f} s ({parts})")
    largest = max(times[f"probe {n}"] for n in probes)
    model_work = times["fit"] + times["sample training set"] + times["sample for the probes"]
    print(f"slowest probe {largest:.3f} s, the model's own work (fit + both samplings) {model_work:.3f} s")


if __name__ == "__main__":
    main()
