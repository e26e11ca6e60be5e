"""Vectorised vector families: 1,000 generations x 100 lineages (M = 100) on one core.

Target (issue 2): under 1 s for the gaussian and the categorical family. The peer is the
same loop run one lineage at a time (what a straightforward implementation does), in the
same process, so the speed-up is measured side by side.

    python benchmarks/bench_vector_families.py
"""

from _bench import best_of  # first: it pins BLAS/OpenMP to one thread before numpy loads
from cliffwatch.config.schema import ExperimentConfig
from cliffwatch.loop.engine import LineageRunner
from cliffwatch.loop.lineage import Lineage

GENERATIONS, LINEAGES, M = 1000, 100, 100

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



def main() -> None:
    print(f"{GENERATIONS} generations x {LINEAGES} lineages, M = {M}, one core, probes included")
    print(f"{'family':<28}{'vectorised':>12}{'one at a time':>16}{'speed-up':>10}{'target':>9}")
    for label, (family, data, probes) in SETUPS.items():
        batched = config(family, data, probes, LINEAGES, GENERATIONS)
        t_vec = best_of(3, lambda: list(LineageRunner(Lineage(batched, 0)).generations()))
        # the peer: each lineage its own single-chain run; timed on 10 lineages and scaled
        single = config(family, data, probes, 1, GENERATIONS)
        t_one = best_of(1, lambda: [list(LineageRunner(Lineage(single, seed)).generations()) for seed in range(10)]) * LINEAGES / 10
        ok = "PASS" if t_vec < 1.0 else "FAIL"
        print(f"{label:<28}{t_vec:>11.3f}s{t_one:>15.2f}s{t_one / t_vec:>9.0f}x{ok:>9}")


if __name__ == "__main__":
    main()
