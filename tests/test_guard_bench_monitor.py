"""The monitor benchmark's scoring (lead time, false-positive rate, calibration) on hand-made
cases, and a small seeded run of it on real simulated Gaussian lineages."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="module")
def bench():
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_monitor", BENCH / "bench_monitor.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCH))


def scored(bench, crossing, baseline):
    g = len(baseline)
    return bench.Scored("x", crossing, {h: np.zeros(g) for h in bench.HORIZONS}, np.zeros(g), np.asarray(baseline, float))


def test_lead_time_and_false_positive_rate(bench):
    lineages = [
        scored(bench, 5, [0, 0.05, 0.12, 0.2, 0.3, 0.4]),  # alarm at 2 (10% step), crossing 5: lead 3
        scored(bench, 3, [0, 0, 0, 0, 0.5, 0.5]),  # alarm at 4, after the crossing: a miss, lead 0
        scored(bench, None, [0, 0.02, 0.03, 0.2, 0, 0]),  # stable but alarmed: a false positive
        scored(bench, None, [0, 0.01, 0.02, 0.03, 0, 0]),  # stable, quiet
    ]
    result = bench.evaluate(lineages, lambda s: bench.baseline_alarm(s, 0.1))
    assert result == {"fpr": 0.5, "stable": 2, "collapsing": 2, "lead": 1.5, "detected": 0.5}
    # calibration picks the step with the longest lead among those with FPR <= 5%: 25% (20% alarms the stable one)
    (step,), chosen = bench.calibrate(lineages, [(x,) for x in bench.BASELINE_STEPS], lambda x: lambda s: bench.baseline_alarm(s, x))
    assert step == 0.25 and chosen["fpr"] == 0 and chosen["lead"] == 0.5  # alarm at 4 (0.3), crossing 5; the other missed


def test_small_seeded_run_warns_ahead_of_the_cliff(bench):
    table = bench.run(seeds=2, quick=True)["gaussian"]
    monitor, published = table["monitor"], table["baseline (published, 10%)"]
    assert monitor["calibration"]["fpr"] <= bench.FPR_TARGET and monitor["stable"] > 0 and monitor["collapsing"] > 0
    # on these seeds the calibrated monitor warns ahead of most collapses with few false alarms
    assert monitor["lead"] > 1 and monitor["fpr"] <= 0.2
    assert published["stable"] == monitor["stable"]
