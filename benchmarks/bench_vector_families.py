"""Vectorised vector families: 1,000 generations x 100 lineages (M = 100) on one core.

Target (issues 2 and 14): under 1 s for the gaussian (d = 1 and 4) and the categorical family.
Two peers, in the same process: the same loop run one lineage at a time (what a straightforward
use of the engine does), and for the Gaussian a plain numpy loop of the same model written for
this benchmark alone (batched refit and sampling, the moments probe; no engine, no bookkeeping):
the floor the engine's overhead is measured against.

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


def plain_gaussian(d: int) -> None:
    """The Gaussian refit loop with nothing but numpy: LINEAGES chains, M samples, GENERATIONS fits."""
    rng = np.random.default_rng(0)
    true_mean, true_cov = np.zeros(d), np.eye(d)
    mean, cov = np.zeros((LINEAGES, d)), np.tile(np.eye(d), (LINEAGES, 1, 1))
    for _ in range(GENERATIONS):
        try:
            root = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:  # a chain has collapsed: a root from its eigenvalues
            values, vectors = np.linalg.eigh(cov)
            root = vectors * np.sqrt(np.clip(values, 0.0, None))[:, None, :]
        x = mean[:, :, None] + root @ rng.standard_normal((LINEAGES, d, M))
        mean = x.mean(axis=2)
        centred = x - mean[:, :, None]
        cov = centred @ np.swapaxes(centred, 1, 2) / (M - 1)
        np.linalg.norm(mean - true_mean, axis=1), np.linalg.norm(cov - true_cov, axis=(1, 2))


def main() -> None:
    print(f"{GENERATIONS} generations x {LINEAGES} lineages, M = {M}, one core, probes included; "
          f"median of {REPEATS} runs (best in brackets), CPU time beside")
    print(f"{'family':<28}{'vectorised wall':>22}{'CPU':>8}{'one at a time':>15}{'speed-up':>10}{'target':>8}"
          f"{'plain numpy':>14}")
    for label, (family, data, probes) in SETUPS.items():
        batched = config(family, data, probes, LINEAGES, GENERATIONS)
        wall, best, cpu = wall_and_cpu(lambda: list(LineageRunner(Lineage(batched, 0)).generations()))
        # the peer: each lineage its own single-chain run; timed on 10 lineages and scaled
        single = config(family, data, probes, 1, GENERATIONS)
        _, one = _bench.timed(lambda: [list(LineageRunner(Lineage(single, seed)).generations()) for seed in range(10)])
        t_one = one[0] * LINEAGES / 10
        ok = "PASS" if wall < 1.0 else "FAIL"
        plain = ""
        if family["name"] == "gaussian":
            plain_wall, plain_best, _ = wall_and_cpu(lambda: plain_gaussian(data["dim"]))
            plain = f"{plain_wall:>8.3f}s ({plain_best:.3f}s)"
        print(f"{label:<28}{wall:>11.3f}s ({best:.3f}s){cpu:>7.3f}s{t_one:>14.2f}s{t_one / wall:>9.0f}x{ok:>8}  {plain}")


if __name__ == "__main__":
    main()
