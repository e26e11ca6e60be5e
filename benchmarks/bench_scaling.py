"""Sweep wall time against worker count: the demo sweep with enough seeds that every worker runs
several lineages (at least 4 per worker at the most workers: 11 fractions x 6 seeds = 66 lineages for
16 workers; the demo's own 33 would cap 16 workers at 33 / (16 x 3) = 69%), local processes and,
when the ray extra is installed, Ray.

Target (issue 13): parallel efficiency T(1) / (n x T(n)) of at least 75% at 16 workers on a machine
with 16 or more cores. The peer of every figure is the 1-worker run of the same executor, measured in
the same invocation. Each run is a fresh `cliffwatch sweep` process, so imports and corpus loading
count, as they do for a user.

    python benchmarks/bench_scaling.py                      # 1, 2, 4, 8, 16 workers (up to the cores)
    python benchmarks/bench_scaling.py --workers 1 2 --generations 3
"""

import _bench  # noqa: F401  (one BLAS thread per worker)

import argparse
import importlib.util
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

TARGET_EFFICIENCY = 0.75


def sweep_seconds(config: Path, out: Path, workers: int, executor: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cliffwatch", "sweep", str(config), "--out", str(out), "--workers",
                    str(workers), "--executor", executor, "--quiet"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    from cliffwatch import api

    cores = len(os.sched_getaffinity(0))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+",
                        default=[n for n in (1, 2, 4, 8, 16) if n <= cores] or [1])
    parser.add_argument("--generations", type=int, default=None, help="shorter lineages [default: the demo's]")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per fraction [default: enough for 4 lineages per worker at the most workers, at least 3]")
    parser.add_argument("--executors", nargs="+",
                        default=["processes"] + (["ray"] if importlib.util.find_spec("ray") else []))
    args = parser.parse_args()

    demo = api.demo_config().model_dump(mode="json")
    if args.generations is not None:
        demo["generations"] = args.generations
    fractions = len(demo["sweep"]["policy.synthetic_fraction"])
    demo["seeds"] = args.seeds or max(3, math.ceil(4 * max(args.workers) / fractions))
    lineages = fractions * demo["seeds"]
    load = os.getloadavg()[0]
    print(f"demo sweep: {lineages} lineages x {demo['generations']} generations; {cores} cores, "
          f"load average {load:.1f} before the first run")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "demo.yaml"
        config.write_text(yaml.safe_dump(demo, sort_keys=False))
        for executor in args.executors:
            base, fewest = None, min(args.workers)
            for n in sorted(set(args.workers)):
                wall = sweep_seconds(config, Path(tmp) / f"{executor}-{n}", n, executor)
                base = base or wall * n  # the serial time the fewest workers imply
                efficiency = base / (n * wall)
                verdict = ""
                if n >= 16:
                    verdict = " PASS" if efficiency >= TARGET_EFFICIENCY else " FAIL"
                print(f"{executor:>9}  {n:>2} workers: {wall:7.1f} s wall, speed-up {base / wall:4.2f}x, "
                      f"parallel efficiency {efficiency:5.0%} (vs {fewest} worker(s)){verdict}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
