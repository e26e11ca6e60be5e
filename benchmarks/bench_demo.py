"""`cliffwatch demo` end to end (sweep 11 fractions x 3 seeds x 10 generations, cliff, report).

Target (issue 14): 30 s wall on 2 quiet cores. Run from a fresh process so corpus loading and
imports count, as they do for a user: once with an empty corpus cache (a user's first demo), once
with the corpora it kept. The peer is the previous release (0.1): 54.1 s wall with 2 workers on
the quiet 2-core machine of issue 14, or, with --previous PYTHON (an interpreter that has 0.1
installed), measured in this run between the two, so that the ratio holds on a machine whose speed
drifts.

    python benchmarks/bench_demo.py [--previous /path/to/0.1/venv/bin/python]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 30.0
PREVIOUS_S = 54.1  # 0.1, 2 workers, quiet 2-core machine (issue 14)


def demo_wall(python: str, out: Path, env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-m", "cliffwatch", "demo", "--out", str(out), "--workers", "2", "--quiet"],
                   check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", help="a Python with the previous release installed: time its demo in this run too")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        cache = {**os.environ, "CLIFFWATCH_CACHE": str(Path(tmp) / "cache")}
        # a user's first demo builds the built-in corpora (a few seconds) and keeps them; later runs read them
        runs = [("first run (corpora built)", sys.executable, "demo-cold", cache)]
        if args.previous:
            previous_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            runs.append(("previous release", args.previous, "demo-previous", previous_env))
        runs.append(("later runs (corpora kept)", sys.executable, "demo-warm", cache))
        walls = {}
        for label, python, out, env in runs:
            load = os.getloadavg()[0]
            walls[label] = wall = demo_wall(python, Path(tmp) / out, env)
            report = (Path(tmp) / out / "report.html").stat().st_size
            if label == "previous release":
                print(f"previous release's demo, 2 workers on {cores} cores (load {load:.1f}): {wall:.1f} s wall")
                continue
            verdict = "PASS" if wall <= TARGET_S else "FAIL"
            previous = walls.get("previous release")
            peer = f"{wall / previous:.2f}x the previous release in this run" if previous else f"vs 0.1's {PREVIOUS_S} s"
            print(f"cliffwatch demo, {label}, 2 workers on {cores} cores (load {load:.1f}): {wall:.1f} s wall, {peer} "
                  f"(target <= {TARGET_S:.0f} s) {verdict}; report {report / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
