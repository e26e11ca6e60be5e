"""Start-up cost: `import cliffwatch` plus loading and validating a Gaussian config, in a fresh
interpreter, beside a bare interpreter and beside importing what 0.1 imported on its first registry
lookup (scikit-learn, scipy.sparse, pandas, datasketch). Also checks that the config load imports
none of scikit-learn, pandas or torch."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

LOAD = (
    "import sys, cliffwatch\n"
    "from cliffwatch.config.load import parse\n"
    "from cliffwatch.config.schema import ExperimentConfig\n"
    "parse(ExperimentConfig, {'family': {'name': 'gaussian'}, 'data': {'source': 'gaussian', 'dim': 4},"
    " 'policy': {'synthetic_fraction': 0.5}}, 'c.yaml')\n"
    "heavy = [m for m in ('sklearn', 'pandas', 'torch') if m in sys.modules]\n"
    "assert not heavy, heavy\n"
)
PEERS = {
    "bare interpreter": "pass",
    "cliffwatch: import + load + validate a Gaussian config": LOAD,
    "0.1's first lookup imports (sklearn, scipy.sparse, pandas, datasketch)": "import sklearn, scipy.sparse, pandas, datasketch",
}


def wall(code: str, repeats: int = 7) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


if __name__ == "__main__":
    for name, code in PEERS.items():
        print(f"{name:75s} {wall(code) * 1000:7.0f} ms (median of 7 fresh interpreters)")
