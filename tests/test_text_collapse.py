"""Issue 3's collapse claims on the text track, measured (small version of examples/text-collapse.yaml).

Each claim compares generation G with generation 0 per seed (paired), with a Student-t 95%
interval over seeds. Where the word n-gram model behaves unlike the neural models the claims
come from, the test asserts what the model really does (see docs/text-track.md).
"""

import numpy as np
import pytest

from cliffwatch.analysis.stats import t_interval
from conftest import run_lineage

SEEDS, G = 5, 4


def lineages(fraction):
    return [
        run_lineage(seed, family={"name": "ngram", "order": 6}, data={"source": "corpus", "corpus": "facts"},
                    policy={"synthetic_fraction": fraction, "samples": 8000, "human": "fresh"},
                    generations=G, holdout=1000, probe_samples=1000)
        for seed in range(SEEDS)
    ]


@pytest.fixture(scope="module")
def runs():
    return {1.0: lineages(1.0), 0.0: lineages(0.0)}


def change(runs, fraction, metric):
    """Per seed: value at generation G minus value at generation 0."""
    return np.array([r[G].metrics[metric][0] - r[0].metrics[metric][0] for r in runs[fraction]])


def ci(values):
    _, low, high = t_interval(values)
    return low, high


@pytest.mark.parametrize("metric, worse", [
    ("heldout_ppl", +1),          # fidelity on held-out human text
    ("tail_mass", -1),            # probability the model gives the reference's rare words
    ("tail_train_coverage", -1),  # rare human words still present in the training data
    ("fact_accuracy_tail", -1),   # rare facts
    ("fact_accuracy_head", -1),   # common facts go too, more slowly in relative terms
])
def test_fully_synthetic_loop_degrades_and_all_human_does_not(runs, metric, worse):
    low, high = ci(worse * change(runs, 1.0, metric))
    assert low > 0, f"{metric} at s = 1: change {worse * change(runs, 1.0, metric)}"
    # the all-human loop has no such trend: its change is indistinguishable from zero and much
    # smaller than the fully synthetic one's
    low0, high0 = ci(worse * change(runs, 0.0, metric))
    assert high0 < low or (low0 <= 0 <= high0)
    assert np.abs(change(runs, 0.0, metric)).mean() < 0.5 * np.abs(change(runs, 1.0, metric)).mean()


def test_ngram_grows_flatter_not_more_confident(runs):
    # The neural-model expectation is that self-perplexity falls (over-confidence). A smoothed
    # n-gram trained on its own samples sees many once-only n-grams and spreads its mass: its
    # perplexity on its own samples rises instead. We assert what the model does.
    low, _ = ci(change(runs, 1.0, "self_ppl"))
    assert low > 0


def test_samples_keep_emitting_rare_words_while_the_model_forgets_them(runs):
    # tail coverage of the *samples* does not fall (smoothing re-injects random rare words), which is
    # why the tail probes also measure what the model knows (tail_mass) and trains on.
    sample_change = change(runs, 1.0, "tail_coverage")
    assert ci(sample_change)[0] > -0.05
    assert ci(-change(runs, 1.0, "tail_mass"))[0] > 0
