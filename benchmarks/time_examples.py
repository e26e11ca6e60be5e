"""Time examples/*.yaml as their headers say to run them: wall clock, CPU (this process's children)
and the load average, one example after another in a scratch folder, with 2 workers.

Each example's header names its command (`#   cliffwatch compare examples/NAME.yaml ...`; else
the config's kind decides: routes -> compare, sweep -> sweep, else run); that command is run with `--workers 2` (and OMP_NUM_THREADS=1, as the neural headers ask). Examples
too long for one sitting can be timed with `--limit 1`: the command then runs generations 0-1 of
every lineage and prints its own extrapolation of the full run, which this script passes on.

    python benchmarks/time_examples.py [NAME ...] [--limit-for NAME ...] [--keep DIR]

Prints one line per example; docs/benchmarks.md and each example's header record the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COMMAND = re.compile(r"^#\s+(?:OMP_NUM_THREADS=1\s+)?cliffwatch (run|sweep|compare) examples/([\w.-]+\.yaml)", re.MULTILINE)


def command_of(path: Path) -> str:
    """The workflow the example's header runs it with, else the one its config's kind takes."""
    text = path.read_text()
    found = [m.group(1) for m in COMMAND.finditer(text) if m.group(2) == path.name]
    if found:
        return found[0]
    keys = set(yaml.safe_load(text))
    return "compare" if "routes" in keys else "sweep" if "sweep" in keys else "run"


def time_one(path: Path, workdir: Path, limit: bool) -> str:
    verb = command_of(path)
    cmd = [sys.executable, "-m", "cliffwatch", verb, str(path), "--workers", "2", "--quiet"]
    if limit:
        cmd += ["--limit", "1"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:120]}"
    extra = ""
    if limit:
        guess = re.search(r"about ([\dhms ]+) at this pace", proc.stdout + proc.stderr)
        extra = f"; --limit 1, full run extrapolated by cliffwatch: {guess.group(1) if guess else '?'}"
    return (f"{path.stem:<28} {verb:<8} {_clock(wall)} wall {_clock(cpu)} CPU  "
            f"load {load:4.1f} -> {os.getloadavg()[0]:4.1f}  {status}{extra}")


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60):3d} min {seconds % 60:4.1f} s" if seconds >= 60 else f"        {seconds:4.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="example names (default: every example)")
    parser.add_argument("--limit-for", nargs="*", default=[], help="examples to time with --limit 1")
    parser.add_argument("--keep", default=None, help="run in this folder and keep the runs (default: a temporary one)")
    args = parser.parse_args()
    paths = [EXAMPLES / f"{n.removesuffix('.yaml')}.yaml" for n in args.names] or sorted(EXAMPLES.glob("*.yaml"))
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="cw-examples-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} {os.cpu_count()} cores; runs in {workdir}", flush=True)
    try:
        for path in paths:
            print(time_one(path, workdir, path.stem in args.limit_for), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
