"""REPRODUCTIONS.md items 1-5: exact results of the analytic theory, on the real loop engine.

Each check compares a Monte-Carlo mean over independent chains with its theoretical value,
with a tolerance of Z standard errors of that mean (computed from the same chains). With a
fixed seed the outcome is deterministic; Z = 4 keeps a correct implementation far from the edge.
"""

import numpy as np
import pytest
from scipy.special import digamma

from conftest import metric, run_lineage

Z = 4.0


def assert_mean_close(values: np.ndarray, expected: float, what: str) -> None:
    mean = values.mean()
    se = values.std(ddof=1) / np.sqrt(len(values))
    assert abs(mean - expected) <= Z * se, f"{what}: mean {mean:.5f} vs theory {expected:.5f} (SE {se:.5f})"


def gaussian_chains(covariance="unbiased", mode="replace", temperature=1.0, dim=1, samples=20, generations=30, chains=4000):
    return run_lineage(
        family={"name": "gaussian", "covariance": covariance},
        data={"source": "gaussian", "dim": dim},
        policy={"synthetic_fraction": 1.0, "mode": mode, "samples": samples, "temperature": temperature},
        generations=generations, chains=chains, probes=["moments"],
    )


# -- 1. unbiased refit: a martingale that still collapses ----------------------------------------

@pytest.fixture(scope="module")
def unbiased():
    return gaussian_chains()


@pytest.mark.parametrize("g", [0, 1, 5, 10, 20])
def test_unbiased_variance_is_a_martingale(unbiased, g):
    # generation g's model is the (g+1)-th fit; its variance has expectation sigma0^2 = 1 throughout
    assert_mean_close(metric(unbiased, "variance_ratio")[g], 1.0, f"E[sigma^2] at generation {g}")


def test_unbiased_variance_median_falls_towards_zero(unbiased):
    medians = np.median(metric(unbiased, "variance_ratio"), axis=1)
    assert np.all(np.diff(medians[::5]) < 0), medians[::5]
    # log sigma^2 drifts by E[log(chi2_{M-1}/(M-1))] per fit: the median after 31 fits
    drift = digamma(19 / 2) + np.log(2 / 19)
    assert medians[30] < np.exp(0.5 * 31 * drift) < 1.0


@pytest.mark.parametrize("g", [0, 4, 9, 19])
def test_sample_variance_grows_as_one_plus_t_over_m(unbiased, g):
    # one draw per chain from generation g's model (g + 1 fits): Var = sigma0^2 (1 + (g+1)/M)
    rng = np.random.default_rng(1)
    x = unbiased[g].model.sample(1, rng)[:, 0, 0]
    sq = (x - 0.0) ** 2  # the true mean is 0 and E[x] = 0 (the mean is a martingale too)
    assert_mean_close(sq, 1 + (g + 1) / 20, f"Var of a sample at generation {g}")


# -- 2. MLE refit: geometric shrinkage ---------------------------------------------------------

@pytest.fixture(scope="module")
def mle():
    return gaussian_chains(covariance="mle")


@pytest.mark.parametrize("g", [0, 5, 15, 30])
def test_mle_variance_shrinks_geometrically(mle, g):
    assert_mean_close(metric(mle, "variance_ratio")[g], (19 / 20) ** (g + 1), f"E[sigma^2] at generation {g}")


def test_mle_log_variance_drift(mle):
    log_var = np.log(metric(mle, "variance_ratio"))
    steps = np.diff(log_var, axis=0).mean(axis=0)  # per chain: average step, independent across chains
    expected = digamma(19 / 2) + np.log(2 / 20)
    assert_mean_close(steps, expected, "E[delta log sigma^2] per generation")
    assert expected == pytest.approx(-2 / 20, rel=0.1)


# -- 3. sampling bias lambda --------------------------------------------------------------------

def test_sampling_bias_shrinks_covariance_by_lambda_per_generation():
    lam = 0.8
    results = gaussian_chains(temperature=lam, dim=2, generations=10)
    for g in (0, 3, 10):
        assert_mean_close(metric(results, "variance_ratio")[g], lam**g, f"E[tr Sigma] ratio at generation {g}")
        # the mean stays a martingale: each coordinate's expectation is the human mean, 0
        means = np.stack([r.model.mean for r in results])[g]
        for dim in range(2):
            assert_mean_close(means[:, dim], 0.0, f"E[mean] at generation {g}")


# -- 4. categorical refit -----------------------------------------------------------------------

def test_categorical_collision_follows_theory():
    probs = [0.4, 0.25, 0.15, 0.1, 0.05, 0.05]
    s0 = float(np.sum(np.square(probs)))
    n = 30
    results = run_lineage(family={"name": "categorical"}, data={"source": "categorical", "probs": probs},
                          policy={"samples": n}, generations=40, chains=20000, probes=["distribution"])
    collision = metric(results, "collision")
    for m in (1, 5, 20, 41):  # m fits = generation m - 1
        assert_mean_close(1 - collision[m - 1], (1 - 1 / n) ** m * (1 - s0), f"1 - E[S] after {m} fits")


def test_categorical_chain_fixes_on_state_i_with_probability_p_i():
    probs = np.array([0.4, 0.3, 0.2, 0.1])
    results = run_lineage(family={"name": "categorical"}, data={"source": "categorical", "probs": probs.tolist()},
                          policy={"samples": 10}, generations=400, chains=20000, probes=["distribution"])
    final = results[-1].model.probs
    fixed = final.max(axis=1) == 1.0
    assert fixed.mean() > 0.999
    winner = final[fixed].argmax(axis=1)
    for state, p in enumerate(probs):
        assert_mean_close((winner == state).astype(float), p, f"P(fix on state {state})")


def test_forgetting_time_grows_with_original_count():
    results = run_lineage(family={"name": "categorical"}, data={"source": "zipf", "support": 40, "exponent": 1.0},
                          policy={"samples": 200}, generations=300, chains=2000, probes=["distribution"])
    probs = np.stack([r.model.probs for r in results])  # (G, C, K)
    alive = probs > 0
    # generation at which each state is first gone for good (censored at the horizon)
    forget = np.where(alive.any(axis=0), len(probs) - np.argmax(alive[::-1], axis=0), 0).astype(float)
    expected_count = 200 * np.asarray(results[0].model.probs.mean(axis=0))
    mean_forget = forget.mean(axis=0)
    rare = expected_count < 20  # states forgotten well within the horizon
    slope, intercept = np.polyfit(expected_count[rare], mean_forget[rare], 1)
    fitted = slope * expected_count[rare] + intercept
    r2 = 1 - ((mean_forget[rare] - fitted) ** 2).sum() / ((mean_forget[rare] - mean_forget[rare].mean()) ** 2).sum()
    assert slope > 0 and r2 > 0.9, (slope, r2)


# -- 5. accumulate vs replace --------------------------------------------------------------------

@pytest.fixture(scope="module")
def replace_and_accumulate():
    return gaussian_chains(generations=50), gaussian_chains(mode="accumulate", generations=50)


def test_replace_mean_error_grows_linearly(replace_and_accumulate):
    replace, _ = replace_and_accumulate
    err2 = metric(replace, "mean_error") ** 2
    for g in (0, 10, 50):
        assert_mean_close(err2[g], (g + 1) / 20, f"E[(mu_g - mu)^2] under replace at generation {g}")


def test_replace_variance_error_diverges(replace_and_accumulate):
    replace, _ = replace_and_accumulate
    err2 = metric(replace, "cov_error") ** 2  # (sigma^2_g - 1)^2 in one dimension
    for g in (0, 5, 10):
        assert_mean_close(err2[g], (1 + 2 / 19) ** (g + 1) - 1, f"E[(sigma^2_g - 1)^2] at generation {g}")


def test_accumulate_error_stays_bounded(replace_and_accumulate):
    replace, accumulate = replace_and_accumulate
    acc_err2 = metric(accumulate, "mean_error") ** 2
    # e_t = sum_k noise_k / (k + 1): bounded by (pi^2 / 6) sigma^2 / M, up to the small
    # extra spread the pooled data carries; replace's error is (G + 1) sigma^2 / M
    bound = np.pi**2 / 6 / 20
    se = acc_err2[50].std(ddof=1) / np.sqrt(acc_err2.shape[1])
    assert acc_err2[50].mean() < 1.2 * bound + Z * se
    assert metric(replace, "mean_error")[50].mean() > 4 * metric(accumulate, "mean_error")[50].mean()
    acc_cov = metric(accumulate, "cov_error")
    rep_cov = metric(replace, "cov_error")
    assert acc_cov[50].mean() < 0.5 * rep_cov[50].mean()
    late_growth = acc_cov[50] - acc_cov[25]
    assert late_growth.mean() < Z * late_growth.std(ddof=1) / np.sqrt(len(late_growth)) + 0.01
