"""The coverage study behind docs/statistics.md (issues 9 and 19): the cliff interval against the
plain inverted t band on smooth and sharp truths, the route shift, the per-run risk, and the
knee and non-linearity test through the real analyze() (with and without correlated chains).

Truths, noise and the harness: cliffwatch.analysis.calibration (11 fractions, τ = 0.1). Prints
markdown tables; their output is recorded in docs/statistics.md.

    PYTHONPATH=src python benchmarks/coverage_study.py [--sims 400]
"""

import _bench  # noqa: F401  (one BLAS thread, before numpy loads)

import argparse
import math
import os
import time

import numpy as np

from cliffwatch.analysis.calibration import (
    NOISE,
    SHARP,
    SMOOTH,
    cliff_coverage,
    coverage_cell,
    false_safe,
    route_effect_coverage,
    shift_coverage,
)

REPLICATES = (3, 5, 10, 30)
SIGMAS = {"smooth": (0.01, 0.04), "sharp": (0.005, 0.02)}


def pct(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def num(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def cliff_table(sims: int) -> None:
    print("### The cliff interval against the plain inverted t band\n")
    print("| shape | noise | σ | n | coverage | width (median) | coarse cell said | plain coverage | plain width | width ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios, worst = [], {"smooth": 1.0, "sharp": 1.0}
    for family, shapes in (("smooth", SMOOTH), ("sharp", SHARP)):
        for shape in shapes:
            for noise in (("crn", "hetero", "t3") if family == "smooth" and shape in ("linear", "logistic") else ("crn",)):
                for sigma in SIGMAS[family]:
                    for n in REPLICATES:
                        new = cliff_coverage(shape, noise, n, sims, sigma)
                        plain = cliff_coverage(shape, noise, n, sims, sigma, plain=True)
                        ratio = new["width"] / plain["width"]
                        worst[family] = min(worst[family], new["coverage"])
                        if family == "smooth":
                            ratios.append(ratio)
                        print(f"| {shape} | {noise} | {sigma:g} | {n} | {pct(new['coverage'])} | {num(new['width'])} "
                              f"| {pct(new['coarse'])} | {pct(plain['coverage'])} | {num(plain['width'])} | {ratio:.2f} |",
                              flush=True)
    print(f"\nLowest coverage: smooth {pct(worst['smooth'])}, sharp {pct(worst['sharp'])}. Median width ratio to the "
          f"plain band on smooth shapes: {np.median(ratios):.2f} (range {min(ratios):.2f}–{max(ratios):.2f}).\n")


def shift_table(sims: int) -> None:
    print("### The cliff shift between two routes\n")
    print("| route truth | baseline truth | σ | n | coverage | width (median) |")
    print("|---|---|---:|---:|---:|---:|")
    for route, baseline, sigma in [("logistic", "convex", 0.02), ("linear", "linear", 0.02), ("step", "logistic", 0.01),
                                   ("logistic-0.015", "near-step", 0.02)]:
        for n in (3, 5, 10):
            row = shift_coverage(route, baseline, n, sims, sigma)
            print(f"| {route} | {baseline} | {sigma:g} | {n} | {pct(row['coverage'])} | {num(row['width'])} |", flush=True)
    print()


def route_effect_table(sims: int) -> None:
    print("### A route's paired ΔQ interval with 4 chains per seed correlated 0.3\n")
    print("| n seeds | over seed means | every chain a replicate |")
    print("|---:|---:|---:|")
    for n in (3, 5, 10):
        print(f"| {n} | {pct(route_effect_coverage(n, 4, 0.3, sims))} "
              f"| {pct(route_effect_coverage(n, 4, 0.3, sims, per_chain=True))} |", flush=True)
    print()


def risk_table(sims: int) -> None:
    print("### Minority collapse: false \"safe\" (the safe mix reaches a fraction where more than 25% of runs cross τ)\n")
    print("| n | mean-ΔQ interval only | with the exact per-run bound (risk level 25%) |")
    print("|---:|---:|---:|")
    for n in REPLICATES:
        print(f"| {n} | {pct(false_safe(n, sims, use_risk=False))} | {pct(false_safe(n, sims))} |", flush=True)
    print()


def analyze_table(sims: int) -> None:
    print("### Through analyze(): knee, non-linearity test, chains\n")
    print("| shape | noise | n × chains (ρ) | cliff coverage | non-linear called | knee reported | knee coverage "
          "| knee width |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    straight = []
    for shape, noise, n, chains, rho in [("linear", "low", 3, 1, 0.0), ("linear", "high", 5, 1, 0.0),
                                         ("linear", "high", 3, 4, 0.3), ("linear", "low", 10, 4, 0.3),
                                         ("hinge", "low", 3, 1, 0.0), ("hinge", "low", 5, 1, 0.0),
                                         ("hinge", "high", 10, 1, 0.0), ("convex", "high", 5, 1, 0.0)]:
        row = coverage_cell(shape, noise, n, sims, chains=chains, rho=rho)
        if shape == "linear":
            straight.append(row["nonlinear_rate"])
        print(f"| {shape} | {noise} (σ {NOISE[noise]:g}) | {n} × {chains} ({rho:g}) | {pct(row['cliff_coverage'])} "
              f"| {pct(row['nonlinear_rate'])} | {pct(row['knee_located'])} | {pct(row.get('knee_coverage'))} "
              f"| {num(row.get('knee_median_width'))} |", flush=True)
    se = math.sqrt(0.05 * 0.95 / (sims * len(straight)))
    print(f"\nNon-linear called on straight lines, pooled: {pct(float(np.mean(straight)))} (± {100 * se:.1f} points "
          "standard error at the nominal 5%).\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sims", type=int, default=400)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{args.sims} simulations per cell (risk: 5 × as many); nominal 95% intervals, 5% test. Binomial standard "
          f"error of a 95% coverage: {100 * math.sqrt(0.95 * 0.05 / args.sims):.1f} points.\n")
    cliff_table(args.sims)
    shift_table(args.sims)
    route_effect_table(10 * args.sims)
    risk_table(5 * args.sims)
    analyze_table(max(args.sims // 2, 50))
    print(f"{time.perf_counter() - start:.0f} s on {len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
