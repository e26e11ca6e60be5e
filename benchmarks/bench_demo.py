"""`cliffwatch demo` end to end (sweep 11 fractions x 3 seeds x 10 generations, cliff, report).

Target (issue 4): under 2 minutes wall on a 2-core machine. Run from a fresh process so corpus
loading and imports count, as they do for a user.

    python benchmarks/bench_demo.py
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 120.0


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cliffwatch", "demo", "--out", str(out), "--workers", "2", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        report = (out / "report.html").stat().st_size
    cores = len(os.sched_getaffinity(0))
    verdict = "PASS" if wall < TARGET_S else "FAIL"
    print(f"cliffwatch demo, 2 workers on {cores} cores: {wall:.1f} s wall (target < {TARGET_S:.0f} s) {verdict}; report {report / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
