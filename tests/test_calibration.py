"""The t band, the cliff and knee intervals, the route shift and the per-run risk keep their
coverage, the non-linearity test its level; coarse grids; the quality loss for near-zero metrics,
Cliff.to_dict and the terminal verdict words.

Coverage is measured on simulated sweeps with a known truth (analysis.calibration): batched ΔQ
matrices through the interval code analyze() calls, and whole results tables through analyze().
Seeds are fixed. Bounds are the target minus two binomial standard errors (three, two-sided, for
the exact t band), so a method at its level passes, one that undercovers fails, and a band made
25% too narrow or given n instead of n − 1 degrees of freedom fails.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cliffwatch.analysis.calibration import (
    GRID,
    SHAPES,
    SHARP,
    cliff_coverage,
    coverage_cell,
    false_safe,
    route_effect_coverage,
    shift_coverage,
    simulate,
    simulate_results,
)
from cliffwatch.analysis.cliff import analyze, crossing
from cliffwatch.analysis.intervals import band, cliff_interval, knee_analysis
from cliffwatch.analysis.quality_loss import loss_table
from cliffwatch.analysis.stats import risk_bound, seeds_needed, t_interval
from cliffwatch.core.errors import AnalysisError
from cliffwatch.probes.base import metric_index
from cliffwatch.report.prose import cliff_sentence
from cliffwatch.analysis.change import summarize
from cliffwatch.report.terminal import verdict

SIMS = 200
LEVEL = 0.95


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("n", [2, 3, 10])
def test_the_t_band_covers_at_its_level_not_above_nor_below(n):
    """Exact for normal replicates, so its coverage must sit within 3 standard errors of 95% on both
    sides: a band 25% too narrow (87-93%) or with n instead of n − 1 degrees of freedom (86-94%)
    fails, and so does one too wide."""
    sims = 6000
    gen = np.random.default_rng(n)
    r = 0.3 + 0.05 * gen.standard_normal((sims, n, 1))
    _, low, high = band(r)
    covered = np.mean((low[:, 0] <= 0.3) & (0.3 <= high[:, 0]))
    assert abs(covered - LEVEL) <= 3 * binomial_se(LEVEL, sims)
    assert np.allclose(t_interval(r[0], axis=0)[1], low[0])  # the one home of the t interval


SMOOTH_CELLS = [("linear", 0.04, 3), ("convex", 0.01, 30), ("concave", 0.01, 10), ("hinge", 0.01, 5),
                ("logistic", 0.01, 10), ("logistic-on-grid", 0.04, 30)]
SHARP_CELLS = [("step", 0.005, 10), ("near-step", 0.02, 3), ("logistic-0.015", 0.02, 30), ("logistic-0.03", 0.005, 5)]


@pytest.mark.parametrize("shape, sigma, n", SMOOTH_CELLS + SHARP_CELLS)
def test_cliff_interval_covers_on_smooth_and_sharp_cliffs(shape, sigma, n):
    """Smooth shapes, and cliffs that rise inside one grid cell (where the old interval covered
    0-75%); the plain inverted band misses the sharp ones and the curved ones at many seeds."""
    sims = 600
    row = cliff_coverage(shape, "crn", n, sims, sigma, seed=1)
    assert row["coverage"] >= 0.93 - 2 * binomial_se(0.93, sims)
    if shape in SHARP:
        assert row["coarse"] >= 0.8 and row["width"] <= 0.1 + 1e-9  # the cell, and said so


def test_smooth_cliff_intervals_are_no_wider_than_the_plain_band():
    ratios = [cliff_coverage(s, "crn", n, 300, sigma, seed=2)["width"]
              / cliff_coverage(s, "crn", n, 300, sigma, seed=2, plain=True)["width"] for s, sigma, n in SMOOTH_CELLS]
    assert np.median(ratios) <= 1.1


@pytest.mark.parametrize("n", [3, 5, 10])
def test_route_effects_over_seeds_cover_with_correlated_chains(n):
    """Four chains per seed correlated 0.3: chains counted as replicates covered 83-85%."""
    sims = 4000
    assert route_effect_coverage(n, 4, 0.3, sims) >= LEVEL - 3 * binomial_se(LEVEL, sims)
    assert route_effect_coverage(n, 4, 0.3, sims, per_chain=True) < 0.9


def test_the_shift_between_two_cliffs_covers():
    for route, baseline, sigma, n in [("logistic", "convex", 0.02, 3), ("step", "logistic", 0.01, 5),
                                      ("linear", "linear", 0.02, 10)]:
        assert shift_coverage(route, baseline, n, 400, sigma, seed=3)["coverage"] >= 0.93 - 2 * binomial_se(0.93, 400)


@pytest.mark.parametrize("n", [3, 5, 10])
def test_a_minority_of_collapsing_seeds_does_not_pass_as_safe(n):
    """θ ~ N(0.8, 0.15²): each seed jumps by +0.5 past its own θ. The mean-ΔQ interval alone calls
    a mix safe where more than a quarter of runs cross τ in 41/23/6% of sweeps; with the exact
    per-run bound it stays within 5%."""
    sims = 2000
    assert false_safe(n, sims) <= 0.05
    if n < 10:
        assert false_safe(n, sims, use_risk=False) > 0.1


def test_exact_risk_bound_and_seeds_needed():
    assert risk_bound(0, 3) == pytest.approx(1 - 0.05 ** (1 / 3))  # "0 of 3 runs crossed: risk ≤ 63%"
    assert seeds_needed(0, 3, 0.25) == 8 and risk_bound(0, 11) <= 0.25 < risk_bound(0, 10)
    assert seeds_needed(1, 10, 0.25) > 0 and risk_bound(1, 10 + seeds_needed(1, 10, 0.25)) <= 0.25
    assert seeds_needed(0, 30, 0.25) == 0 and seeds_needed(0, 3, 0.0) is None


def test_the_student_t_and_binomial_formulas_are_scipy_stats_own():
    """analysis/ computes them from scipy.special (scipy.stats' own functions, without its import):
    the t quantiles and the exact risk bound to the bit, the sign test to rounding."""
    from scipy import stats

    from cliffwatch.analysis.change import sign_test
    from cliffwatch.analysis.stats import t_quantile

    n = np.arange(0, 60)
    assert np.array_equal(t_quantile(0.95, n), np.where(n >= 2, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan),
                          equal_nan=True)
    k, m = np.meshgrid(np.arange(12), np.arange(1, 40))
    assert np.array_equal(risk_bound(k, m), np.where(k < m, stats.beta.ppf(0.95, k + 1, np.maximum(m - k, 1e-300)), 1.0))
    for up in range(25):
        for down in range(25):
            expected = stats.binomtest(up, up + down).pvalue if up + down else 1.0
            assert sign_test(up, down) == pytest.approx(expected, rel=1e-11)


def test_chains_of_one_seed_are_one_replicate():
    """Four chains per seed correlated 0.3: counted as independent replicates the curvature test
    fired on 15-17% of straight lines; averaged per seed it keeps its 5% level."""
    line = coverage_cell("linear", "high", 3, SIMS, seed=7, chains=4, rho=0.3)
    assert line["nonlinear_rate"] <= 0.05 + 2 * binomial_se(0.05, SIMS)
    assert line["cliff_coverage"] >= 0.93 - 2 * binomial_se(0.93, SIMS)
    (cliff,) = analyze(simulate_results("linear", "low", 3, 1, chains=4, rho=0.3), "heldout_ppl", 0.1)
    assert cliff.replicates == 3 and cliff.replicate_ids == [(0, 4), (1, 4), (2, 4)]


def test_a_two_point_grid_gives_no_cliff_and_says_where_to_add_fractions():
    df = simulate_results("linear", "low", 3, 1)
    (cliff,) = analyze(df[df["synthetic_fraction"].isin([0.0, 1.0])], "heldout_ppl", 0.1)
    assert math.isnan(cliff.cliff) and cliff.cliff_interval.status == "undetermined"
    assert "grid too coarse to locate a cliff: add fractions between 0 and 1" in cliff_sentence(cliff)
    assert "holds up to" not in cliff_sentence(cliff) and "only 3 replicates" not in cliff_sentence(cliff).lower()


def test_a_cliff_inside_one_cell_is_placed_in_that_cell_and_said_so():
    r, truth = simulate("step", "crn", 5, 1, 0.01, seed=4)
    where = cliff_interval(GRID, r[0], 0.1, float(crossing(GRID, r[0].mean(axis=0), 0.1)))
    assert where.coarse_cell == (0.6, 0.7) and where.low == 0.6 and where.high == pytest.approx(0.7)
    assert where.low <= truth[0] <= where.high


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
    (cliff,) = analyze(simulate_results("linear", "low", 10, 1, seed=5), "heldout_ppl", 0.1)
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
    # 0 of 5 seeds crossed: risk ≤ 45%, over the default risk level 25%; up to s = 0.8 the mean-ΔQ interval
    # is within τ, and 6 more seeds there (none crossing) would establish the risk bound
    assert out["safe_mix"]["fraction"] == 0.0 and out["safe_mix"]["risk_level"] == 0.25  # only the all-human mix
    assert out["safe_mix"]["blocked_at"] == 0.8 and out["safe_mix"]["seeds_needed"] == 6
    assert out["curve"]["crossed"][1] == 0 and out["curve"]["risk_high"][1] == pytest.approx(1 - 0.05 ** 0.2)
    (lenient,) = analyze(simulate_results("hinge", "low", 5, 1, seed=6), "heldout_ppl", 0.1, risk=0.5)
    assert 0 < lenient.safe_fraction < lenient.cliff


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


def test_prose_never_dates_a_collapse_at_an_unsure_fraction():
    (cliff,) = analyze(simulate_results("hinge", "low", 5, 1, seed=6), "heldout_ppl", 0.1)
    assert cliff.found and "crosses τ within" in cliff_sentence(cliff)
    cliff.loss_low = np.minimum(cliff.loss_low, 0.0)  # every fraction's interval now straddles τ or sits below
    assert "over" not in cliff.verdicts and "crosses τ within" not in cliff_sentence(cliff)
