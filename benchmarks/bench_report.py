"""The HTML report of a demo-size run: time to write it and the page's size (issue 14, item 4).

Target: under 2 s and under 500 kB. Peer: the previous release (0.1) on the same demo run,
6.3 s and 1.24 MB (measured in issue 14 on a quiet 2-core machine).

    python benchmarks/bench_report.py [RUN_DIR]

RUN_DIR: a finished demo run (`cliffwatch demo --out RUN_DIR -q`); it is copied first, so it is
only read. Without it the demo runs once into a temporary directory (1-2 minutes).
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S, TARGET_KB = 2.0, 500
PREVIOUS = ("0.1 release", 6.3, 1240)  # seconds, kB, from issue 14


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "demo"
        if len(sys.argv) > 1:
            shutil.copytree(sys.argv[1], run)
        else:
            subprocess.run([sys.executable, "-m", "cliffwatch", "demo", "--out", str(run), "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        from cliffwatch.report.html import write_report  # the import is part of a user's first report

        imported = time.perf_counter() - start
        times = []
        for i in range(3):
            out = run / f"report-{i}.html"
            cpu, wall = time.process_time(), time.perf_counter()
            write_report(run, out)
            times.append((time.perf_counter() - wall, time.process_time() - cpu))
        size_kb = out.stat().st_size / 1e3
    wall, cpu = min(times)
    load = os.getloadavg()[0]
    cores = len(os.sched_getaffinity(0))
    verdict = "PASS" if wall < TARGET_S and size_kb < TARGET_KB else "FAIL"
    print(f"report of a demo run on {cores} cores, load {load:.1f}: best of 3 {wall:.2f} s wall ({cpu:.2f} s CPU), "
          f"first import {imported:.2f} s; page {size_kb:.0f} kB (target < {TARGET_S:g} s, < {TARGET_KB} kB) {verdict}")
    name, s, kb = PREVIOUS
    print(f"  peer: {name} on the same demo run: {s} s, {kb} kB -> {s / wall:.1f}x faster, {kb / size_kb:.1f}x smaller")


if __name__ == "__main__":
    main()
