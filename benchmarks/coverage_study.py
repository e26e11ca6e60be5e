"""Coverage of the cliff and knee intervals and the level of the non-linearity test (issue 9).

Simulated sweeps with a known truth (cliffwatch.analysis.calibration: 11 fractions, τ = 0.1,
curve shape × noise × replicates) go through the real analyze(). Prints a markdown table; its
output is recorded in docs/statistics.md.

    PYTHONPATH=src python benchmarks/coverage_study.py [--sims 300]
"""

import _bench  # noqa: F401  (one BLAS thread, before numpy loads)

import argparse
import math
import os
import time

from cliffwatch.analysis.calibration import NOISE, SHAPES, coverage_cell

REPLICATES = (3, 5, 10, 30)


def pct(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.0f}%"


def num(x: float) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=300)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{args.sims} simulations per cell; nominal: 95% intervals, 5% non-linearity test; "
          f"noise σ = {', '.join(f'{k} {v:g}' for k, v in NOISE.items())}\n")
    print("| shape | noise | n | cliff coverage | undetermined | cliff width (median) | non-linear called "
          "| knee reported | knee coverage | knee width (median) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    straight = []
    for shape in SHAPES:
        for noise in NOISE:
            for n in REPLICATES:
                row = coverage_cell(shape, noise, n, args.sims)
                if shape == "linear":
                    straight.append(row["nonlinear_rate"])
                print(f"| {shape} | {noise} | {n} | {pct(row['cliff_coverage'])} | {pct(row['cliff_undetermined'])} "
                      f"| {num(row['cliff_median_width'])} | {pct(row['nonlinear_rate'])} "
                      f"| {pct(row.get('knee_located'))} | {pct(row.get('knee_coverage'))} "
                      f"| {num(row.get('knee_median_width'))} |", flush=True)
    pooled = sum(straight) / len(straight)
    se = math.sqrt(0.05 * 0.95 / (args.sims * len(straight)))
    print(f"\nNon-linear called on straight lines, pooled over {len(straight)} cells: {pct(pooled)} "
          f"({100 * pooled:.2f}% ± {100 * se:.2f}% standard error at the nominal 5%).")
    load = os.getloadavg()[0]
    print(f"{time.perf_counter() - start:.0f} s on {len(os.sched_getaffinity(0))} cores, load {load:.1f}. "
          f"Binomial standard error of a 95% coverage over {args.sims} simulations: "
          f"{100 * math.sqrt(0.95 * 0.05 / args.sims):.1f} points.")


if __name__ == "__main__":
    main()
