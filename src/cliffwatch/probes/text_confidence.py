"""Confidence and fluency: the model's perplexity on its own samples, and how repetitive they are."""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import (
    NgramTypes,
    padded,
    sample_ngram_types,
    samples_log_ppl,
)
from cliffwatch.core.registry import register_probe

REPEAT_N = 3  # a sentence "repeats itself" when some 3-gram occurs in it twice
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: a polynomial hash of the ids mod 2**64


def repetition_rate(ngrams: NgramTypes, n_sentences: int) -> float:
    """Share of sentences in which some n-gram type occurs more than once."""
    if not n_sentences:
        return float("nan")
    pairs = np.sort(ngrams.sentence * ngrams.types + ngrams.rank)
    repeated = pairs[1:][pairs[1:] == pairs[:-1]]
    return len(np.unique(repeated // max(ngrams.types, 1))) / n_sentences


def duplicate_rate(sentences: Sentences) -> float:
    """Share of sentences that repeat another sentence of the batch exactly (1 - distinct / all).

    A hash shortlists the sentences that may have a twin; only those are compared token by token,
    so the count is exact and the padded matrix stays small.
    """
    if not len(sentences):
        return float("nan")
    position = np.arange(sentences.n_tokens) - np.repeat(sentences.offsets[:-1], sentences.lengths)
    with np.errstate(over="ignore"):  # arithmetic mod 2**64 is the point
        powers = np.cumprod(np.full(int(sentences.lengths.max()) + 1, _HASH_MULTIPLIER))
        terms = (sentences.ids.astype(np.uint64) + np.uint64(1)) * powers[position]
    hashes = np.zeros(len(sentences), dtype=np.uint64)
    nonempty = sentences.lengths > 0
    hashes[nonempty] = np.add.reduceat(terms, sentences.offsets[:-1][nonempty])
    _, group, size = np.unique(np.column_stack([hashes.view(np.int64), sentences.lengths]), axis=0, return_inverse=True, return_counts=True)
    shortlisted = np.flatnonzero(size[group] > 1)
    shortlist = sentences.take(shortlisted)
    rows = np.column_stack([group[shortlisted], padded(shortlist, int(shortlist.lengths.max(initial=0)))])
    distinct = len(sentences) - len(shortlisted) + len(np.unique(rows, axis=0))
    return 1.0 - distinct / len(sentences)


@register_probe("text_confidence")
class TextConfidence(Probe):
    modality = TEXT
    metrics = (
        Metric("self_ppl", None, "perplexity of the model on its own samples: falls as it grows overconfident, rises as it flattens", 1.0),
        Metric("repetition", False, f"share of sampled sentences in which some {REPEAT_N}-gram occurs twice", 0.0, 1.0),
        Metric("duplicate_rate", False, "share of sampled sentences that are exact copies of another sample", 0.0, 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        samples = ctx.samples
        values = {
            "self_ppl": float(np.exp(samples_log_ppl(ctx))),
            "repetition": repetition_rate(sample_ngram_types(ctx, REPEAT_N), len(samples)),
            "duplicate_rate": duplicate_rate(samples),
        }
        return {name: np.array([value]) for name, value in values.items()}
