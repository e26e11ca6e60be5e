"""The HTML report of a demo-size run: time to write it and the page's size (issues 14 and 18).

Target: under 2 s and under 500 kB. Timed: ``cliffwatch.api.report(RUN_DIR, OUT)``, the whole of
``cliffwatch report`` after the imports (reading the run, its analysis, the page), best of 3 in
one fresh process. Peer: the same call with the code at ``--previous REV`` (a git revision of this
repository, checked out into a temporary worktree and put first on PYTHONPATH), on the same run
directory in the same run of this script, so that the ratio holds on a machine whose speed drifts.

    python benchmarks/bench_report.py [RUN_DIR] [--previous REV | --previous-python PYTHON] [--previous-run DIR]

RUN_DIR: a finished demo run (`cliffwatch demo --out RUN_DIR -q`); it is copied first, so it is
only read. Without it the demo runs once into a temporary directory (1-2 minutes).
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_S, TARGET_KB = 2.0, 500
ROOT = Path(__file__).resolve().parent.parent
# run in a fresh process: the first import, then api.report three times (best of 3)
TIMED = """
import json, sys, time
start = time.perf_counter()
from cliffwatch import api
imported = time.perf_counter() - start
times = []
for i in range(3):
    out = sys.argv[2] + f"-{i}.html"
    cpu, wall = time.process_time(), time.perf_counter()
    api.report(sys.argv[1], out)
    times.append((time.perf_counter() - wall, time.process_time() - cpu))
import os
print(json.dumps({"wall": min(times)[0], "cpu": min(times)[1], "import": imported, "bytes": os.path.getsize(out),
                  "module": api.__file__}))
"""


def timed(run: Path, out: Path, src: Path | None, python: str = sys.executable) -> dict:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([python, "-c", TIMED, str(run), str(out)], check=True, env=env,
                          capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if src is not None and not result["module"].startswith(str(src)):
        raise SystemExit(f"the previous revision's run imported {result['module']}, not the tree at {src}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", help="a finished demo run (copied first)")
    parser.add_argument("--previous", metavar="REV", help="a git revision (e.g. main, a commit): time its report too")
    parser.add_argument("--previous-python", metavar="PYTHON",
                        help="instead of --previous: the Python of an environment where the previous release is "
                             "installed (its own entry points), reporting on --previous-run")
    parser.add_argument("--previous-run", metavar="DIR",
                        help="the demo run the previous release reports on: a run written by it (run directories "
                             "of another release may not be readable by it; default: RUN_DIR)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "demo"
        if args.run_dir:
            shutil.copytree(args.run_dir, run)
        else:
            subprocess.run([sys.executable, "-m", "cliffwatch", "demo", "--out", str(run), "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
        peers = [("this tree", None)]
        if args.previous:
            tree = Path(tmp) / "previous"
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), args.previous],
                           check=True)
            peers.insert(0, (f"previous ({args.previous})", tree / "src"))
        if args.previous_python:
            peers.insert(0, (f"previous ({args.previous_python})", None))
        try:
            results = {}
            for label, src in peers:
                load = os.getloadavg()[0]
                previous = label.startswith("previous")
                own = Path(args.previous_run) if previous and args.previous_run else run
                python = args.previous_python if previous and args.previous_python else sys.executable
                results[label] = r = timed(own, Path(tmp) / label.split()[0], src, python)
                print(f"{label}: report of a demo run on {cores} cores, load {load:.1f}: best of 3 {r['wall']:.2f} s "
                      f"wall ({r['cpu']:.2f} s CPU), first import {r['import']:.2f} s; page {r['bytes'] / 1e3:.0f} kB")
        finally:
            if args.previous:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True)
    mine = results["this tree"]
    verdict = "PASS" if mine["wall"] < TARGET_S and mine["bytes"] / 1e3 < TARGET_KB else "FAIL"
    line = f"this tree: {mine['wall']:.2f} s, {mine['bytes'] / 1e3:.0f} kB (target < {TARGET_S:g} s, < {TARGET_KB} kB) {verdict}"
    for label, previous in results.items():
        if label.startswith("previous"):
            line += f"; {previous['wall'] / mine['wall']:.2f}x the speed of {label} in this run"
    print(line)


if __name__ == "__main__":
    main()
