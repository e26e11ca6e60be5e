"""The cliff and knee intervals keep their coverage, the non-linearity test its level; the quality
loss for near-zero metrics, Cliff.to_dict and the terminal verdict words.

Coverage is measured on simulated sweeps with a known truth (analysis.calibration) passed through
the real analyze(); seeds are fixed. Each bound is the nominal level minus two binomial standard
errors of the simulated share, so a method at its nominal level passes and one that undercovers
(the percentile bootstrap covered 70-87%) fails.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cliffwatch.analysis.calibration import SHAPES, coverage_cell, simulate_results
from cliffwatch.analysis.cliff import analyze, crossing
from cliffwatch.analysis.quality_loss import loss_table
from cliffwatch.analysis.intervals import cliff_interval, knee_analysis
from cliffwatch.core.errors import AnalysisError
from cliffwatch.probes.base import metric_index
from cliffwatch.report.prose import cliff_sentence
from cliffwatch.analysis.change import summarize
from cliffwatch.report.terminal import verdict

SIMS = 200
LEVEL = 0.95


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("shape, noise, replicates, max_width", [
    ("convex", "low", 30, 0.1),  # linear interpolation between grid points undercovered here (71%)
    ("hinge", "high", 3, 0.8),  # three replicates: the bootstrap interval was the range of three numbers
    ("linear", "low", 5, 0.2),
])
def test_cliff_interval_keeps_its_coverage(shape, noise, replicates, max_width):
    row = coverage_cell(shape, noise, replicates, SIMS)
    reported = round(SIMS * (1 - row["cliff_undetermined"]))
    assert row["cliff_undetermined"] <= 0.1
    assert row["cliff_coverage"] >= LEVEL - 2 * binomial_se(LEVEL, reported)
    assert row["cliff_median_width"] < max_width  # informative, not [0, beyond the grid]


def test_knee_interval_covers_and_the_curvature_test_keeps_its_level():
    hinge = coverage_cell("hinge", "low", 5, SIMS)
    assert hinge["knee_located"] >= 0.9
    assert hinge["knee_coverage"] >= LEVEL - 2 * binomial_se(LEVEL, round(SIMS * hinge["knee_located"]))
    assert hinge["knee_median_width"] < 0.15
    line = coverage_cell("linear", "high", 3, SIMS)
    assert line["nonlinear_rate"] <= 0.05 + 2 * binomial_se(0.05, SIMS)


def _matrix(shape: str, noise: str, replicates: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    (cliff,) = analyze(simulate_results(shape, noise, replicates, 1, seed), "heldout_ppl", 0.1)
    return cliff.fractions, cliff.replicate_loss


def test_knee_is_continuous_not_a_grid_point():
    s, r = _matrix("hinge", "low", 30)
    knee = knee_analysis(s, r)
    assert knee.nonlinear and knee.interval.status == "located"
    assert abs(knee.interval.estimate - SHAPES["hinge"].knee) < 0.02 and knee.interval.estimate not in s
    assert knee.interval.low <= SHAPES["hinge"].knee <= knee.interval.high < knee.interval.low + 0.1
    assert knee.slope_right > 5 * knee.slope_left


def test_a_straight_line_has_no_knee():
    (cliff,) = analyze(simulate_results("linear", "low", 10, 1, seed=4), "heldout_ppl", 0.1)
    assert not cliff.nonlinear and math.isnan(cliff.knee)
    assert cliff.knee_interval.status == "none" and "no knee identified" in cliff_sentence(cliff)


def test_too_few_replicates_say_undetermined_instead_of_an_interval():
    s, r = _matrix("linear", "high", 3)
    one = cliff_interval(s, r[:1], 0.1, estimate=0.45)
    assert one.status == "undetermined" and math.isnan(one.low) and "one replicate" in one.reason
    noisy = r[:2] * np.array([1.0, -1.0])[:, None] * 5  # two replicates that disagree wildly
    two = cliff_interval(s, noisy, 0.1, estimate=float("nan"))
    assert two.status == "undetermined" and "straddles τ" in two.reason
    assert knee_analysis(s, r[:1]).interval.status == "undetermined"


def test_cliff_interval_contains_the_estimate_and_the_truth():
    (cliff,) = analyze(simulate_results("convex", "low", 10, 1, seed=5), "heldout_ppl", 0.1)
    assert cliff.cliff_interval.status == "located"
    assert cliff.cliff_low <= cliff.cliff <= cliff.cliff_high
    assert cliff.cliff_low <= SHAPES["convex"].cliff <= cliff.cliff_high


def _near_zero_run(tiny: float) -> pd.DataFrame:
    """Wasserstein near zero at s = 0; replicate 0's all-human value is ``tiny``, and every replicate's
    distance grows by the same amount with s."""
    fractions = np.linspace(0, 1, 6)
    base = np.array([tiny, 0.05, 0.05, 0.05, 0.05])
    rows = [{"lineage": f"s{s:g}", "seed": i, "chain": 0, "generation": 1, "probe": metric_index()["wasserstein"][0],
             "metric": "wasserstein", "value": b + 0.02 * s + 0.001 * ((i * 7 + j) % 3), "synthetic_fraction": s,
             "family": "gaussian"}
            for j, s in enumerate(fractions) for i, b in enumerate(base)]
    return pd.DataFrame(rows)


def test_near_zero_metrics_use_a_loss_that_no_single_replicate_decides():
    assert metric_index()["wasserstein"][1].loss == "ratio_of_means"
    assert metric_index()["mmd"][1].loss == "difference"  # unbiased MMD² can be negative
    df = _near_zero_run(tiny=0.002)
    relative = loss_table(df, "wasserstein", loss="relative")
    pooled = loss_table(df, "wasserstein")  # the metric's default
    at_one = lambda t: t[t["synthetic_fraction"] == 1.0].sort_values("seed")["loss"].to_numpy()
    # per-replicate ratios: the tiny baseline's replicate carries most of the mean
    assert at_one(relative)[0] > 0.5 * at_one(relative).sum()
    assert at_one(pooled)[0] < 0.5 * at_one(pooled).sum()
    # the mean is the relative change of the replicate means, and it hardly moves with the tiny baseline
    means = df.groupby("synthetic_fraction")["value"].mean()
    assert at_one(pooled).mean() == pytest.approx(means[1.0] / means[0.0] - 1)
    assert at_one(pooled).mean() == pytest.approx(at_one(loss_table(_near_zero_run(0.02), "wasserstein")).mean(), rel=0.1)
    assert np.allclose(pooled.loc[pooled["synthetic_fraction"] == 0, "loss"], 0.0)
    (cliff,) = analyze(df, "wasserstein", tolerance=0.3)
    assert cliff.loss_kind == "ratio_of_means" and cliff.to_dict()["loss"] == "ratio_of_means"
    (forced,) = analyze(df, "wasserstein", tolerance=0.3, loss="log_ratio")
    assert forced.loss_kind == "log_ratio"
    with pytest.raises(AnalysisError, match="unknown quality loss"):
        analyze(df, "wasserstein", loss="ratio")


def test_to_dict_is_json_with_intervals_and_methods():
    (cliff,) = analyze(simulate_results("hinge", "low", 5, 1, seed=6), "heldout_ppl", 0.1)
    out = json.loads(json.dumps(cliff.to_dict(), allow_nan=False))
    for part in ("cliff", "knee", "safe_mix"):
        assert out[part]["method"] and out[part]["status"] in {"located", "beyond_grid", "none", "undetermined"}
    assert out["cliff"]["low"] <= out["cliff"]["estimate"] <= out["cliff"]["high"]
    assert out["knee"]["low"] <= SHAPES["hinge"].knee <= out["knee"]["high"]
    assert len(out["curve"]["replicates"]) == 5 and len(out["curve"]["replicates"][0]["loss"]) == 11
    assert out["safe_mix"]["fraction"] < out["cliff"]["estimate"]


def _summary_row(first, last, metric="heldout_ppl") -> pd.Series:
    n = len(first)
    df = pd.DataFrame({"lineage": "a", "seed": np.tile(np.arange(n), 2), "chain": 0, "generation": np.repeat([0, 5], n),
                       "probe": "x", "metric": metric, "value": np.concatenate([first, last])})
    return summarize(df).iloc[0]


def test_verdict_words_match_the_numbers():
    # 1.39 -> 2.6e8 on every replicate: a heavy-tailed rise is not "no clear change"
    blown = _summary_row([1.38, 1.39, 1.40], [2.0e8, 2.6e8, 3.4e8])
    assert "worse" in verdict(blown)
    # an infinite value has no t interval; all three rose, too few for the sign test, and it says so
    assert verdict(_summary_row([1.38, 1.39, 1.40], [2.6e8, np.inf, 3.0])) == "[red]worse[/red] in all 3 replicates (too few to test)"
    assert verdict(_summary_row([1.0, 1.0, 1.0, 1.0], [1.2, 0.9, 1.1, 0.95])).startswith("no clear change (2 of 4 worse)")
    assert "better" in verdict(_summary_row([20.0] * 8, [18.0 + 0.1 * i for i in range(8)]))


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.floats(0.001, 0.2), st.floats(-0.5, 3.0), st.integers(0, 2**31 - 1))
def test_the_interval_always_holds_the_estimate(n, noise, bend, seed):
    s = np.linspace(0, 1, 11)
    gen = np.random.default_rng(seed)
    r = 0.3 * s + bend * np.maximum(0, s - 0.5) + noise * gen.standard_normal((n, 11)) * (s > 0)
    estimate = float(crossing(s, r.mean(axis=0), 0.1))
    where = cliff_interval(s, r, 0.1, estimate)
    if where.status == "located":
        assert where.low <= estimate <= where.high
    elif where.status == "beyond_grid":
        assert math.isinf(where.high) and math.isnan(estimate)
    knee = knee_analysis(s, r)
    if knee.interval.status == "located":
        assert knee.interval.low <= knee.interval.estimate <= knee.interval.high
