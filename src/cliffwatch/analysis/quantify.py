"""The share of one class in an unlabelled sample, from a per-item score (quantification).

Inputs: scores of labelled calibration items of each class (human, synthetic) and of the unlabelled
corpus. The scores are binned at quantiles of the pooled calibration scores (``MIN_PER_BIN`` items
of the smaller class per bin, at most ``MAX_BINS``); c, a, b are the bin counts of the corpus, the
human and the synthetic calibration set. The model: the calibration sets are multinomial draws
from the class distributions h and s, the corpus one from the mixture (1 - π) h + π s. Its joint
log-likelihood

    l(π, h, s) = sum_b c_b log((1 - π) h_b + π s_b) + a_b log h_b + b_b log s_b

is maximised over all three (h and s by EM, for each π), so the unlabelled corpus also informs
the class distributions. The point estimate maximises the profile likelihood l(π) = max_{h,s} l;
the interval is every π whose profile lies within chi2_1(confidence) / 2 of the maximum (the
likelihood-ratio interval, one-sided-conservative at the ends 0 and 1). Because h and s are
estimated, the interval carries the uncertainty of the detector's error rates, not only the
corpus's sampling noise. With two bins split at the best threshold (``method="acc"``), this is
adjusted classify-and-count with the same interval. The calibration study (benchmarks/
study_estimate.py, docs/guard.md) measures the coverage.

Why not plug-in estimates of h and s with a bootstrap: E[1 / h_b] > 1 / h_b biases the plug-in
share upwards by O(bins / calibration items), which at 100,000 corpus items is as large as the
interval and broke coverage at shares 0 and 0.9 in the study; the joint likelihood does not.

Several draws of the generator (:func:`combine`): the synthetic calibration set comes from a copy
of the suspected generator, and when that copy is itself random (a chain past generation 1, its
own training text) it is one draw of what the true generator could be. With a large corpus the
interval above is narrower than the difference between two such draws (the calibration study
measured 76% coverage at generation 2, share 0.9, 100,000 documents). So the share is estimated
once per copy, K copies, and combined by Rubin's rules for multiple imputation (Rubin 1987): the
mean of the K shares; a total variance W + (1 + 1/K) B per side, W the mean squared half-width of
the copies' intervals over z (1.96 at 95%; each side on its own: the profile interval is asymmetric) and B the
variance between the copies' shares; and Student's t with Rubin's (K - 1)(1 + W / ((1 + 1/K) B))^2
degrees of freedom, so that with copies that agree (B ~ 0) it is the profile interval, and with few
disagreeing copies it widens by the t quantile. When the copies' training texts are drawn from one
pool (the reference's unseen part), each pair shares a fraction r of its text: their spread B is
then (1 - r) sigma^2 of a draw's variance sigma^2, and their mean keeps the pool's shared part
r sigma^2, which averaging cannot remove. The mean misses a fresh draw (the true generator) by
sigma^2 (1 + r + (1 - r) / K) in variance, which replaces (1 + 1/K) B (Rubin's rule is r = 0).

Fit check: if the corpus holds items that neither class explains (text from a generator the
detector was not given, another language), its histogram is not such a mixture. The deviance of
the fitted model against the saturated one (each sample its own distribution) is compared with
chi2 on bins - 2 degrees of freedom; a small p-value says the two-sided share is not supported.
The share is then biased (text of a later generation or a lower temperature than the one given
scores beyond the synthetic class and inflates it, docs/guard.md), so its interval's low end is
no bound either; what is reported instead is ``at_least``, a bound that assumes nothing about the
non-human part (:func:`lower_bound`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from cliffwatch.core.errors import AnalysisError

MAX_BINS = 20
MIN_PER_BIN = 100  # calibration items of each class per bin, at least (fewer bins otherwise)
EM_STEPS = 2000  # at most, per profile point
EM_TOLERANCE = 1e-9  # largest change of a class's bin probability that still counts as moving
COARSE_GRID = 101  # profile points over [0, 1] (steps of 0.01) ...
FINE_GRID = 41  # ... then this many over two coarse steps at the maximum and at each end (0.0005)
FINE_MARGIN = 0.5  # log-likelihood slack when bracketing the ends on the coarse grid
FIT_ALPHA = 0.01  # a fit p-value below this reports only the "at least" bound
METHODS = ("ml", "acc")


@dataclass(frozen=True)
class ShareEstimate:
    """The estimated share of the second (synthetic) class, its interval and how it was made."""

    share: float
    low: float
    high: float
    confidence: float
    method: str  # "ml" (binned maximum likelihood) or "acc" (adjusted classify-and-count)
    bins: int
    fit_p: float  # p-value of the mixture's fit to the corpus's score histogram
    at_least: float  # lower confidence bound that holds whatever the non-human part is (see lower_bound)
    classify_count: float  # the unadjusted share over the best threshold (the naive baseline)
    documents: int
    calibration_human: int
    calibration_synthetic: int  # per copy
    copies: int = 1  # draws of the generator combined (see combine)
    between_sd: float = 0.0  # standard deviation of the copies' shares

    @property
    def fits(self) -> bool:
        """Whether the corpus's scores look like a mixture of the two calibrated classes."""
        return self.fit_p >= FIT_ALPHA

    def to_dict(self) -> dict:
        return asdict(self) | {"fits": self.fits}


def bin_edges(human: np.ndarray, synthetic: np.ndarray, method: str = "ml") -> np.ndarray:
    """Interior bin edges: quantiles of the pooled calibration scores (ml), or the one threshold
    that best separates the classes, max TPR - FPR (acc)."""
    if method == "acc":
        pooled = np.unique(np.concatenate([human, synthetic]))
        cut = (pooled[1:] + pooled[:-1]) / 2 if len(pooled) > 1 else pooled
        tpr = 1 - np.searchsorted(np.sort(synthetic), cut, side="right") / len(synthetic)
        fpr = 1 - np.searchsorted(np.sort(human), cut, side="right") / len(human)
        return cut[[int(np.argmax(tpr - fpr))]]
    bins = int(np.clip(min(len(human), len(synthetic)) // MIN_PER_BIN, 2, MAX_BINS))
    pooled = np.concatenate([human, synthetic])
    return np.unique(np.quantile(pooled, np.linspace(0, 1, bins + 1)[1:-1]))


def histogram(scores: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin (len(edges) + 1 bins; a score on an edge goes to the bin above it)."""
    return np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(edges) + 1)


def lower_bound(human: np.ndarray, corpus: np.ndarray, edges: np.ndarray, confidence: float) -> float:
    """A lower confidence bound on the non-human share that needs no model of the non-human part.

    If the corpus is (1 - π) human + π anything, then for every set A of scores the corpus holds
    C(A) >= (1 - π) H(A), so π >= 1 - C(A) / H(A). Over the tail sets {score <= e} and
    {score > e} of the bin edges, with exact (Clopper-Pearson) bounds on C and H, Bonferroni-
    corrected over the 2 x edges sets, the largest such bound holds with the given confidence for
    any mix of generators, given or not, as long as the corpus's human text scores like the
    reference's held-out text. What looks human to the detector is not counted: it is a bound "as
    seen by these detectors"."""
    if not len(edges):
        return 0.0
    n_h, n_c = len(human), len(corpus)
    below_h = np.searchsorted(np.sort(human), edges, side="right")
    below_c = np.searchsorted(np.sort(corpus), edges, side="right")
    k_h = np.concatenate([below_h, n_h - below_h]).astype(np.float64)
    k_c = np.concatenate([below_c, n_c - below_c]).astype(np.float64)
    tail = (1 - confidence) / (2 * len(k_h))  # each set's two bounds
    c_up = np.where(k_c < n_c, stats.beta.ppf(1 - tail, k_c + 1, np.maximum(n_c - k_c, 1)), 1.0)
    h_low = np.where(k_h > 0, stats.beta.ppf(tail, np.maximum(k_h, 1), n_h - k_h + 1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bounds = np.where(h_low > 0, 1 - c_up / h_low, 0.0)
    return float(np.clip(bounds.max(), 0.0, 1.0))


def _profile(counts: np.ndarray, h_counts: np.ndarray, s_counts: np.ndarray, pis: np.ndarray) -> np.ndarray:
    """The profile log-likelihood of each π in ``pis``: the joint likelihood of the corpus and both
    calibration sets maximised over the class distributions h, s by EM (the corpus's items are
    split between the classes by their responsibilities; the calibration items are labelled),
    accelerated by SQUAREM (Varadhan and Roland 2008): with many more corpus than calibration
    items, plain EM moves slowly."""
    pis = pis[:, None]
    bins = len(counts)

    def step(theta: np.ndarray) -> np.ndarray:  # one EM step; theta = [h | s] per row
        h, s = theta[:, :bins], theta[:, bins:]
        synthetic = pis * s
        mixture = (1 - pis) * h + synthetic
        responsibility = np.divide(synthetic, mixture, out=np.zeros_like(mixture), where=mixture > 0)
        h_new = h_counts + counts * (1 - responsibility)
        s_new = s_counts + counts * responsibility
        return np.hstack([h_new / h_new.sum(axis=1, keepdims=True), s_new / s_new.sum(axis=1, keepdims=True)])

    start = np.concatenate([(h_counts + counts) / (h_counts.sum() + counts.sum()),
                            (s_counts + counts) / (s_counts.sum() + counts.sum())])
    theta = np.broadcast_to(start, (len(pis), 2 * bins)).copy()
    for _ in range(EM_STEPS):
        first = step(theta)
        second = step(first)
        r, v = first - theta, second - 2 * first + theta
        alpha = -np.sqrt((r * r).sum(axis=1, keepdims=True) / np.maximum((v * v).sum(axis=1, keepdims=True), 1e-300))
        alpha = np.minimum(alpha, -1.0)
        jump = theta - 2 * alpha * r + alpha * alpha * v
        # an extrapolation that leaves the simplex falls back to the plain double step
        jump = np.where((jump > 0).all(axis=1, keepdims=True), jump, second)
        new = step(jump)
        moved = np.abs(new - theta).max()
        theta = new
        if moved < EM_TOLERANCE:
            break
    h, s = theta[:, :bins], theta[:, bins:]
    mixture = (1 - pis) * h + pis * s
    return _loglik(counts, mixture) + _loglik(h_counts, h) + _loglik(s_counts, s)


def _loglik(counts: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """sum_b counts_b log probs_b per row (a bin without counts adds nothing, even at probability 0)."""
    with np.errstate(divide="ignore"):
        return np.where(counts > 0, counts * np.log(np.where(counts > 0, probs, 1.0)), 0.0).sum(axis=-1)


def _crossings(pis: np.ndarray, below: np.ndarray) -> tuple[float, float]:
    """The interval of π where ``below`` holds (the profile is unimodal, so it is one run),
    widened by one grid step on each side that is not a boundary."""
    inside = np.flatnonzero(below)
    lo, hi = inside[0], inside[-1]
    return float(pis[max(lo - 1, 0)]), float(pis[min(hi + 1, len(pis) - 1)])


def quantify(human: np.ndarray, synthetic: np.ndarray, corpus: np.ndarray, *,
             method: str = "ml", confidence: float = 0.95) -> ShareEstimate:
    """The synthetic share of ``corpus`` from calibration scores of each class (see the module
    docstring). Higher scores should mean "more synthetic", though nothing here relies on it."""
    if method not in METHODS:
        raise AnalysisError(f"unknown quantification method {method!r} (choose {', '.join(METHODS)})")
    if not 0 < confidence < 1:
        raise AnalysisError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    human, synthetic, corpus = (np.asarray(a, dtype=np.float64) for a in (human, synthetic, corpus))
    for name, scores in (("human calibration", human), ("synthetic calibration", synthetic), ("corpus", corpus)):
        if not len(scores):
            raise AnalysisError(f"no {name} scores")
        if not np.isfinite(scores).all():
            raise AnalysisError(f"{name} scores must be finite")
    edges = bin_edges(human, synthetic, method)
    h_counts, s_counts, c_counts = (histogram(x, edges).astype(np.float64) for x in (human, synthetic, corpus))
    cut = bin_edges(human, synthetic, "acc")
    naive = float(np.mean(corpus > cut[0]))

    # profile likelihood on a coarse grid, then a fine grid around the maximum and each end
    critical = stats.chi2.ppf(confidence, 1) / 2
    coarse = np.linspace(0.0, 1.0, COARSE_GRID)
    profile = _profile(c_counts, h_counts, s_counts, coarse)
    best = int(np.argmax(profile))
    step = coarse[1]
    lo_bracket, hi_bracket = _crossings(coarse, profile >= profile[best] - critical - FINE_MARGIN)
    fine = np.unique(np.concatenate([
        np.linspace(lo_bracket, min(lo_bracket + 2 * step, 1.0), FINE_GRID),
        np.linspace(max(coarse[best] - step, 0.0), min(coarse[best] + step, 1.0), FINE_GRID),
        np.linspace(max(hi_bracket - 2 * step, 0.0), hi_bracket, FINE_GRID),
    ]))
    pis, first = np.unique(np.concatenate([coarse, fine]), return_index=True)
    profile = np.concatenate([profile, _profile(c_counts, h_counts, s_counts, fine)])[first]
    best = int(np.argmax(profile))
    share = float(pis[best])
    low, high = _crossings(pis, profile >= profile[best] - critical)

    # fit check: the fitted model against the saturated one (each sample its own distribution)
    saturated = sum(float(_loglik(x, x / x.sum())) for x in (c_counts, h_counts, s_counts))
    dof = len(edges) - 1  # 3 (B - 1) free cells, 2 (B - 1) + 1 parameters
    fit_p = float(stats.chi2.sf(2 * (saturated - profile[best]), dof)) if dof > 0 else 1.0
    robust = lower_bound(human, corpus, bin_edges(human, synthetic, "ml"), confidence)
    return ShareEstimate(share, low, high, confidence, method, len(edges) + 1, fit_p, robust, naive,
                         len(corpus), len(human), len(synthetic))


def combine(estimates: list[ShareEstimate], overlap: float = 0.0) -> ShareEstimate:
    """One estimate from estimates of the same corpus made with K calibration sets from K draws of
    the generator, by Rubin's rules (see the module docstring). ``overlap``: the share of its
    training text a copy has in common with another, on average (copies drawn from one pool of
    unseen text); their spread then understates that of independent draws by the factor 1 - overlap
    (the finite-population correction), so the between-copy variance is divided by it. The fit
    check passes when the corpus fits the mixture under at least one copy (the largest p-value:
    with 100,000 documents the test tells two draws of one generator apart, and a draw unlike each
    copy is what the interval already allows for); "at least" is the smallest of the copies'
    bounds (each holds on its own)."""
    if not 0 <= overlap < 1:
        raise AnalysisError(f"overlap must lie in [0, 1), got {overlap}")
    if not estimates:
        raise AnalysisError("no estimates to combine")
    if len(estimates) == 1:
        return estimates[0]
    first, k = estimates[0], len(estimates)
    shares = np.array([e.share for e in estimates])
    z = stats.norm.ppf((1 + first.confidence) / 2)
    within_low = np.mean([((e.share - e.low) / z) ** 2 for e in estimates])
    within_high = np.mean([((e.high - e.share) / z) ** 2 for e in estimates])
    spread = float(np.var(shares, ddof=1)) / (1 - overlap)  # one draw's variance, sigma^2
    # the mean of k copies misses a fresh draw by (the pool's shared part, overlap sigma^2, which
    # averaging keeps) + (the copies' own parts, (1 - overlap) sigma^2 / k) + (the draw's, sigma^2)
    between = spread * (1 + overlap + (1 - overlap) / k)
    share = float(shares.mean())
    bounds = []
    for within in (within_low, within_high):
        dof = (k - 1) * (1 + within / between) ** 2 if between > 0 else np.inf
        bounds.append(stats.t.ppf((1 + first.confidence) / 2, dof) * np.sqrt(within + between))
    return ShareEstimate(
        share, float(max(share - bounds[0], 0.0)), float(min(share + bounds[1], 1.0)), first.confidence, first.method,
        first.bins, max(e.fit_p for e in estimates), min(e.at_least for e in estimates),
        float(np.mean([e.classify_count for e in estimates])), first.documents, first.calibration_human,
        first.calibration_synthetic, k, float(np.sqrt(spread)))
