"""Vectorised vector families: 1,000 generations x 100 lineages (M = 100) on one core.

Target (issue 2): under 1 s for the gaussian and the categorical family. The peer is the
same loop run one lineage at a time (what a straightforward implementation does), in the
same process, so the speed-up is measured side by side.

    python benchmarks/bench_vector_families.py
"""

import _bench  # first: it pins BLAS/OpenMP to one thread before numpy loads

import time  # noqa: E402

import numpy as np  # noqa: E402

from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage

GENERATIONS, LINEAGES, M = 1000, 100, 100
REPEATS = 5  # the machine is shared: the median of several runs, and the CPU time beside the wall time

SETUPS = {
    "gaussian (d=1)": ({"name": "gaussian"}, {"source": "gaussian", "dim": 1}, ["moments"]),
    "gaussian (d=4)": ({"name": "gaussian"}, {"source": "gaussian", "dim": 4}, ["moments"]),
    "categorical (Zipf, K=100)": ({"name": "categorical"}, {"source": "zipf", "support": 100}, ["distribution"]),
}


def config(family, data, probes, chains, generations):
    return ExperimentConfig.model_validate({
        "family": family, "data": data, "probes": probes, "chains": chains,
        "generations": generations - 1, "policy": {"synthetic_fraction": 1.0, "samples": M}, "holdout": 1000,
    })



def wall_and_cpu(fn) -> tuple[float, float, float]:
    """(median wall, best wall, median CPU seconds) of REPEATS calls after one warm-up call."""
    fn()
    wall, cpu = [], []
    for _ in range(REPEATS):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), min(wall), float(np.median(cpu))


def main() -> None:
    print(f"{GENERATIONS} generations x {LINEAGES} lineages, M = {M}, one core, probes included; "
          f"median of {REPEATS} runs (best in brackets), CPU time beside")
    print(f"{'family':<28}{'vectorised wall':>22}{'CPU':>8}{'one at a time':>15}{'speed-up':>10}{'target':>8}")
    for label, (family, data, probes) in SETUPS.items():
        batched = config(family, data, probes, LINEAGES, GENERATIONS)
        wall, best, cpu = wall_and_cpu(lambda: list(LineageRunner(Lineage(batched, 0)).generations()))
        # the peer: each lineage its own single-chain run; timed on 10 lineages and scaled
        single = config(family, data, probes, 1, GENERATIONS)
        _, one = _bench.timed(lambda: [list(LineageRunner(Lineage(single, seed)).generations()) for seed in range(10)])
        t_one = one[0] * LINEAGES / 10
        ok = "PASS" if wall < 1.0 else "FAIL"
        print(f"{label:<28}{wall:>11.3f}s ({best:.3f}s){cpu:>7.3f}s{t_one:>14.2f}s{t_one / wall:>9.0f}x{ok:>8}")


if __name__ == "__main__":
    main()
