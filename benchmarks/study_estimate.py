"""Calibration study of ``cliffwatch estimate``: coverage of the 95% interval and median absolute
error per cell (true share x corpus size x generation), then the honest limits (generators the
estimator was not given).

    python benchmarks/study_estimate.py [--replicates 100] [--quick] [--figure docs/img/estimate-calibration.png]

Data: Python's docs (pydocs), split by a seeded permutation into
- T: with H, what the *true* generators were trained on (the corpus's machine text comes from a
  chain fitted to a draw of T's size from T and H, run g generations: fit, sample, refit, as the
  loop does with synthetic fraction 1; T is as large as each of the estimator's own generator
  copies' training draws),
- R: the human reference the estimator is given (it fits its detector, its own copies of the
  suspected generators and its calibration sets from R alone, as ``fit_detector`` does),
- H: held-out human text the corpora are made of.
So the estimator never sees the corpus's documents, nor the data its true generators learnt from.

Replicates work at the level of scores (the detector is fitted once per setting). A chain past
generation 1 is random, so neither the true generator nor the estimator's copies of it are one
fixed thing: the setting makes TRUE_DRAWS draws of the true chain (each fitted to its own draw of
T's size from T and H, own seeds: text the estimator never sees; that the true generator may have
learnt from documents of the corpus's human part does not matter at the level of scores) and
OWN_DRAWS copies of the estimator's (each fitted to its own draw of R's unseen text, as
``fit_detector`` makes its calibration copies, own seeds). Each replicate picks one true draw and
COPIES of the estimator's copies at random, draws a fresh human calibration set from the human
population (R's held-out part and H pooled), a fresh synthetic calibration set from each chosen
copy's pool, and a corpus of N documents, round(share N) of them from the true draw's pool and the
rest from the human population, all with replacement; the estimate combines the copies as
``estimate_with`` does. Redrawing the calibration sets and the generator draws is what makes the
interval's claim (it includes the detector's error-rate uncertainty and the generator-draw spread)
testable.
"""

import _bench  # noqa: F401  (pins BLAS threads first)

import argparse
import os
import time

import numpy as np

from cliffwatch.analysis.quantify import combine, quantify
from cliffwatch.core.modality import TEXT, DataInfo
from cliffwatch.data.corpora import load_corpus
from cliffwatch.guard.estimate import COPIES, GeneratorSpec, _chain, _remap, fit_detector

SHARES = (0.0, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9)
SIZES = (1_000, 10_000, 100_000)
GENERATIONS = (1, 2, 3)
POOL = 20_000  # samples per draw of the true generator
TRUE_DRAWS = 8  # draws of the true generator (each learnt from its own draw of T's size from T and H)
OWN_DRAWS = 2 * COPIES  # copies of the estimator's chain, COPIES of them picked per replicate
OWN_POOL = 20_000  # samples per copy (twice the synthetic calibration set)
LIMITS = {  # what the estimator is given: ngram@1; what the corpus's machine text really is
    "given (ngram@1)": "ngram@1",
    "later generation (ngram@3)": "ngram@3",
    "lower temperature (ngram@1, T=0.7)": "ngram@1:temperature=0.7",
    "another model (bigram, ngram@1:order=2)": "ngram@1:order=2",
    "another model class (unigram, ngram@1:order=1)": "ngram@1:order=1",
    "learnt from 1/4 as much text (ngram@1)": "ngram@1 small",
}
LIMIT_SHARES = (0.1, 0.3, 0.5)
LIMIT_SIZE = 10_000


def _reference_corpus(corpus, idx):
    """A TextCorpus of the documents idx (the estimator's reference)."""
    from cliffwatch.data.corpora import TextCorpus

    words = corpus.vocab.words
    tokens = [[words[i] for i in corpus.sentences.sentence(j)] for j in idx]
    return TextCorpus.from_tokens("reference", tokens, {"source": "study"})


def setting(corpus, parts, given: str, truths: list[str], seed: int):
    """Score pools for one estimator setting: the human population, the estimator's OWN_DRAWS
    copies of its generator, and TRUE_DRAWS draws of each true generator."""
    t_idx, r_idx, h_idx = parts
    reference = _reference_corpus(corpus, r_idx)
    detector = fit_detector(reference, [GeneratorSpec.parse(given)], seed=seed)
    info = DataInfo(TEXT, vocab=detector.vocab)
    ids = _remap(corpus, detector.vocab)
    human_pool = np.concatenate([detector.calibration_human, detector.score(ids.take(h_idx))])
    # the estimator's copies, made as fit_detector makes them (own training draws and seeds, larger pools)
    unseen, own_pools = detector.copy_training, []
    for j in range(OWN_DRAWS):
        draw = np.sort(np.random.default_rng([seed, 1, j]).choice(len(unseen), detector.copy_size, replace=False))
        own_pools.append(detector.score(_chain(GeneratorSpec.parse(given), info, unseen.take(draw), OWN_POOL,
                                               seed + 100 + j)))
    true_pools = {}
    for truth in truths:
        spec, _, size = truth.partition(" ")
        learnt = len(t_idx) // 4 if size == "small" else len(t_idx)
        true_pools[truth] = []
        for m in range(TRUE_DRAWS):
            train = np.sort(np.random.default_rng([seed, 2, m]).choice(np.concatenate([t_idx, h_idx]), learnt, replace=False))
            true_pools[truth].append(detector.score(_chain(GeneratorSpec.parse(spec), info, ids.take(train), POOL,
                                                           seed + 2 + m)))
    return detector, human_pool, own_pools, true_pools


def replicate(rng, detector, human_pool, own_pools, true_draws, share, size):
    """One corpus from a random true draw, estimated with COPIES random copies of the estimator's
    generator (combined as estimate_with does)."""
    n_h, n_s = len(detector.calibration_human), len(detector.calibration_copies[0])
    k = int(round(share * size))
    true_pool = true_draws[rng.integers(len(true_draws))]
    corpus = np.concatenate([rng.choice(true_pool, k), rng.choice(human_pool, size - k)])
    human = rng.choice(human_pool, n_h)
    copies = [quantify(human, rng.choice(own_pools[c], n_s), corpus)
              for c in rng.choice(len(own_pools), COPIES, replace=False)]
    return combine(copies, detector.copy_overlap), k / size, copies


def _plugin_bootstrap(human, synthetic, corpus, rng, replicates: int = 400):
    """The alternative the estimator does not use: class distributions estimated from the
    calibration sets alone (0.5 added per bin), the share maximising the mixture likelihood of the
    corpus given them, and a percentile bootstrap redrawing all three samples."""
    from cliffwatch.analysis.quantify import bin_edges, histogram

    edges = bin_edges(human, synthetic)
    counts = [histogram(x, edges) for x in (human, synthetic, corpus)]

    def share(h, s, c):  # bisection on the derivative of the concave mixture log-likelihood
        h = (h + 0.5) / (h + 0.5).sum(axis=-1, keepdims=True)
        s = (s + 0.5) / (s + 0.5).sum(axis=-1, keepdims=True)
        lo, hi = np.zeros(len(c)), np.ones(len(c))
        def slope(pi):
            return (c * (s - h) / (h + pi[:, None] * (s - h))).sum(axis=1)

        for _ in range(40):
            mid = (lo + hi) / 2
            rising = slope(mid) > 0
            lo, hi = np.where(rising, mid, lo), np.where(rising, hi, mid)
        return np.where(slope(np.zeros(len(c))) <= 0, 0.0, np.where(slope(np.ones(len(c))) >= 0, 1.0, (lo + hi) / 2))

    point = share(counts[0][None], counts[1][None], counts[2][None])[0]
    draws = [rng.multinomial(x.sum(), x / x.sum(), size=replicates) for x in counts]
    low, high = np.quantile(share(*draws), [0.025, 0.975])
    return point, min(low, point), max(high, point)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicates", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="fewer cells and replicates (a smoke run)")
    parser.add_argument("--figure", default=None, help="write the coverage / error figure here (PNG)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generations", type=int, nargs="+", default=GENERATIONS, help="calibration cells: generations")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="calibration cells: corpus sizes")
    parser.add_argument("--shares", type=float, nargs="+", default=SHARES, help="calibration cells: true shares")
    parser.add_argument("--calibration-only", action="store_true", help="skip the limits and the methods tables")
    parser.add_argument("--limits-only", action="store_true", help="skip the calibration table")
    args = parser.parse_args()
    shares, sizes, gens, reps = args.shares, args.sizes, args.generations, args.replicates
    if args.quick:
        shares, sizes, gens, reps = (0.0, 0.5), (1_000, 10_000), (1,), 20
    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2-core Xeon KVM VM, shared)")
    corpus = load_corpus("pydocs")
    order = np.random.default_rng(args.seed).permutation(len(corpus.sentences))
    n = len(order)
    # T as large as the part of R that fit_detector gives each copy of a generator (R / 5)
    held = n // 5
    t_size = (n - held) // 6
    parts = (order[:t_size], order[t_size : n - held], order[n - held :])
    print(f"pydocs: {n} documents; T (true generators) {len(parts[0])}, R (reference) {len(parts[1])}, "
          f"H (held-out human) {len(parts[2])}")

    rng = np.random.default_rng(args.seed + 10)
    cells = []
    print("\ncalibration: the estimator is given the generator at the corpus's generation")
    print(f"{'gen':>3} {'size':>7} {'share':>5}  {'coverage':>8} {'(se)':>6}  {'median |err|':>12}  {'mean width':>10}  "
          f"{'width/rmse':>9}  {'fit rejects':>11}  {'at least <= truth':>17}  {'claim holds':>11}  "
          f"{'classify-count |err|':>20}  {'one copy: cov, width':>15}  {'Rubin plain rule: cov, width':>15}")
    print("(width/rmse: mean width over 2 x 1.96 x the root mean squared error; 1 for a right-sized normal interval)")
    for g in gens if not args.limits_only else ():
        detector, human_pool, own_pools, true_pools = setting(corpus, parts, f"ngram@{g}", [f"ngram@{g}"], args.seed)
        for size in sizes:
            for share in shares:
                covered, errors, widths, rejects, naive, bound, claims = [], [], [], [], [], [], []
                one, plain = [], []  # ablations: one copy's profile interval; the copies combined by Rubin's plain rule (independent copies)
                for _ in range(reps):
                    e, truth, copies = replicate(rng, detector, human_pool, own_pools, true_pools[f"ngram@{g}"], share, size)
                    covered.append(e.low <= truth <= e.high)
                    u = combine(copies)
                    one.append((copies[0].low <= truth <= copies[0].high, copies[0].high - copies[0].low))
                    plain.append((u.low <= truth <= u.high, u.high - u.low))
                    errors.append(abs(e.share - truth))
                    widths.append(e.high - e.low)
                    rejects.append(not e.fits)
                    naive.append(abs(e.classify_count - truth))
                    bound.append(e.at_least <= truth)
                    # what the output claims: the interval when the fit holds, else "at least"
                    claims.append(e.low <= truth <= e.high if e.fits else e.at_least <= truth)
                cov = float(np.mean(covered))
                one_cov, one_width = np.mean(one, axis=0)
                plain_cov, plain_width = np.mean(plain, axis=0)
                rmse = float(np.sqrt(np.mean(np.square(errors))))
                cells.append((g, size, share, cov, float(np.median(errors)), float(np.mean(widths)), float(np.mean(claims))))
                print(f"{g:>3} {size:>7} {share:>5.2f}  {cov:>8.1%} {np.sqrt(cov * (1 - cov) / reps):>6.1%}  "
                      f"{np.median(errors):>12.4f}  {np.mean(widths):>10.4f}  {np.mean(widths) / (2 * 1.96 * rmse):>9.2f}  "
                      f"{np.mean(rejects):>11.1%}  {np.mean(bound):>17.1%}  {np.mean(claims):>11.1%}  "
                      f"{np.median(naive):>20.4f}  {one_cov:>8.1%} {one_width:>6.3f}  {plain_cov:>8.1%} {plain_width:>6.3f}",
                      flush=True)
    coverage = np.array([c[3] for c in cells])
    claimed = np.array([c[6] for c in cells])
    if cells:
        print(f"\ncoverage over all {len(cells)} cells x {reps} replicates: {coverage.mean():.1%} "
              f"(lowest cell {coverage.min():.1%}; {np.sum(coverage >= 0.93)} cells at 93% or more); nominal 95%")
        print(f"the output's claim (interval when the fit holds, else 'at least') held in {claimed.mean():.1%} "
              f"(lowest cell {claimed.min():.1%}; {np.sum(claimed >= 0.93)} cells at 93% or more)")

    if args.calibration_only:
        print(f"\nelapsed {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
        if args.figure:
            _figure(cells, [], args.figure)
        return
    print(f"\nlimits: the estimator is given ngram@1 only; corpus of {LIMIT_SIZE} documents")
    print(f"{'true generator':<48} {'share':>5}  {'mean estimate':>13}  {'bias':>7}  {'coverage':>8}  "
          f"{'low <= truth':>12}  {'fit rejects':>11}  {'at least':>8}  {'at least <= truth':>17}")
    limit_reps = max(reps // 2, 10)
    detector, human_pool, own_pools, true_pools = setting(corpus, parts, "ngram@1", list(LIMITS.values()), args.seed)
    limits = []
    for name, truth_spec in LIMITS.items():
        for share in LIMIT_SHARES if not args.quick else (0.3,):
            est, cov, lower, rej, least, least_ok = [], [], [], [], [], []
            for _ in range(limit_reps):
                e, truth, copies = replicate(rng, detector, human_pool, own_pools, true_pools[truth_spec], share, LIMIT_SIZE)
                est.append(e.share)
                cov.append(e.low <= truth <= e.high)
                lower.append(e.low <= truth)
                rej.append(not e.fits)
                least.append(e.at_least)
                least_ok.append(e.at_least <= truth)
            limits.append((name, share, float(np.mean(est))))
            print(f"{name:<48} {share:>5.2f}  {np.mean(est):>13.3f}  {np.mean(est) - share:>+7.3f}  {np.mean(cov):>8.0%}  "
                  f"{np.mean(lower):>12.0%}  {np.mean(rej):>11.0%}  {np.mean(least):>8.3f}  {np.mean(least_ok):>17.0%}",
                  flush=True)
    print("\nmethods (generation 1, one copy, one true draw: the quantifiers alone, no combination): the joint-"
          "likelihood profile interval (ml: binned, acc: two bins at the best threshold) against plug-in class "
          "distributions with a percentile bootstrap of all three samples")
    print(f"{'method':<22} {'size':>7} {'share':>5}  {'coverage':>8}  {'mean width':>10}  {'median |err|':>12}")
    detector, human_pool, own_pools, true_pools = setting(corpus, parts, "ngram@1", ["ngram@1"], args.seed)
    for size in (1_000, 100_000):
        for share in (0.0, 0.5, 0.9):
            for method in ("ml", "acc", "plug-in bootstrap"):
                cov, width, err = [], [], []
                for _ in range(reps):
                    n_h, n_s = len(detector.calibration_human), len(detector.calibration_copies[0])
                    k = int(round(share * size))
                    corpus_scores = np.concatenate([rng.choice(true_pools["ngram@1"][0], k), rng.choice(human_pool, size - k)])
                    h, s_ = rng.choice(human_pool, n_h), rng.choice(own_pools[0], n_s)
                    if method == "plug-in bootstrap":
                        est, low, high = _plugin_bootstrap(h, s_, corpus_scores, rng)
                    else:
                        e = quantify(h, s_, corpus_scores, method=method)
                        est, low, high = e.share, e.low, e.high
                    cov.append(low <= k / size <= high)
                    width.append(high - low)
                    err.append(abs(est - k / size))
                print(f"{method:<22} {size:>7} {share:>5.2f}  {np.mean(cov):>8.1%}  {np.mean(width):>10.4f}  "
                      f"{np.median(err):>12.4f}", flush=True)
    print(f"\nelapsed {time.perf_counter() - started:.0f} s; load average now {os.getloadavg()[0]:.2f}")
    if args.figure:
        _figure(cells, limits, args.figure)


def _figure(cells, limits, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    sizes = sorted({c[1] for c in cells})
    gens = sorted({c[0] for c in cells})
    for g in gens:
        for size in sizes:
            row = [c for c in cells if c[0] == g and c[1] == size]
            label = f"gen {g}, N={size:,}"
            axes[0].plot([c[2] for c in row], [c[3] for c in row], marker="o", label=label)
            axes[1].plot([c[2] for c in row], [c[4] for c in row], marker="o", label=label)
    axes[0].axhline(0.95, color="k", lw=0.8)
    axes[0].axhline(0.93, color="r", lw=0.8, ls="--")
    axes[0].set(xlabel="true synthetic share", ylabel="coverage of the 95% interval", ylim=(0.7, 1.0))
    axes[1].set(xlabel="true synthetic share", ylabel="median |estimate - truth|", yscale="log")
    axes[0].legend(fontsize=6, ncol=2)
    names = list(dict.fromkeys(name for name, _, _ in limits))
    for name in names:
        row = [x for x in limits if x[0] == name]
        axes[2].plot([x[1] for x in row], [x[2] for x in row], marker="o", label=name)
    axes[2].plot([0, 0.6], [0, 0.6], color="k", lw=0.8)
    axes[2].set(xlabel="true synthetic share", ylabel="mean estimate (given ngram@1 only)")
    axes[2].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
