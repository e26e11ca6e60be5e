"""Diversity of the model's samples: distinct-n, unigram entropy, type-token ratio and self-BLEU.

All are computed on ``ctx.samples`` (``probe_samples`` sentences each generation), so they compare
across generations and lineages with the same ``probe_samples``; none is comparable across
different sample sizes except the type-token ratio, which is taken on a fixed number of tokens.
"""

from __future__ import annotations

import numpy as np

from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import (
    ngram_keys,
    sample_ngram_types,
    sample_unigram_counts,
)
from cliffwatch.core.registry import register_probe

TTR_TOKENS = 2_000  # type-token ratio on the samples' first 2,000 tokens (NaN if they have fewer)
SELF_BLEU_HYPOTHESES = 200  # self-BLEU: this many sampled sentences are scored ...
SELF_BLEU_REFERENCES = 1_000  # ... against up to this many other sampled sentences
BLEU_ORDER = 4


def distinct_n(types: int, total: int) -> float:
    """Unique n-grams / all n-grams (Li et al., 2016); NaN when there is no n-gram."""
    return types / total if total else float("nan")


def unigram_entropy(counts: np.ndarray) -> float:
    """Plug-in entropy (nats) of the empirical word distribution."""
    counts = counts[counts > 0]
    if not len(counts):
        return float("nan")
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def type_token_ratio(ids: np.ndarray, window: int = TTR_TOKENS) -> float:
    """Distinct words among the first ``window`` tokens / window. Samples are independent draws, so
    the prefix is a random stretch of text of fixed size; NaN if there are fewer tokens."""
    if len(ids) < window:
        return float("nan")
    return len(np.unique(ids[:window])) / window


def corpus_bleu(hypotheses: Sentences, references: Sentences, base: int, order: int = BLEU_ORDER) -> float:
    """Corpus-level BLEU (Papineni et al., 2002) of every hypothesis against the shared reference set.

    p_n = sum over hypotheses of clipped n-gram matches / sum of hypothesis n-grams, where a
    hypothesis n-gram's count is clipped at its largest count in any one reference sentence;
    BLEU = BP * exp(mean_n log p_n) for n = 1..order, with the brevity penalty BP = min(1, exp(1 - r/c)),
    c the hypotheses' total length and r the sum of each hypothesis's closest reference length (the
    shorter on ties). Pooling the counts before the ratio needs no smoothing; NaN when some order has
    no hypothesis n-gram (all hypotheses shorter than ``order``) or there are no references.
    """
    if not len(hypotheses) or not len(references):
        return float("nan")
    log_precision = 0.0
    for n in range(1, order + 1):
        hyp_keys, hyp_starts = ngram_keys(hypotheses, n, base)
        ref_keys, ref_starts = ngram_keys(references, n, base)
        if not len(hyp_keys):
            return float("nan")
        # ranks over both sets, so (type, sentence) pairs fit one int64 key whatever the vocabulary
        _, rank = np.unique(np.concatenate([hyp_keys, ref_keys]), return_inverse=True)
        types = int(rank.max()) + 1
        hyp_rank, ref_rank = rank[: len(hyp_keys)], rank[len(hyp_keys) :]
        ref_sentence = np.searchsorted(references.offsets, ref_starts, side="right") - 1
        ref_pairs, ref_counts = np.unique(ref_sentence * types + ref_rank, return_counts=True)
        max_ref_count = np.zeros(types, dtype=np.int64)
        np.maximum.at(max_ref_count, ref_pairs % types, ref_counts)
        hyp_sentence = np.searchsorted(hypotheses.offsets, hyp_starts, side="right") - 1
        hyp_pairs, hyp_counts = np.unique(hyp_sentence * types + hyp_rank, return_counts=True)
        matches = np.minimum(hyp_counts, max_ref_count[hyp_pairs % types]).sum()
        if matches == 0:
            return 0.0
        log_precision += np.log(matches / len(hyp_keys)) / order
    hyp_lengths, ref_lengths = hypotheses.lengths, np.unique(references.lengths)
    above = np.minimum(np.searchsorted(ref_lengths, hyp_lengths), len(ref_lengths) - 1)
    below = np.maximum(above - 1, 0)
    closer_below = np.abs(ref_lengths[below] - hyp_lengths) <= np.abs(ref_lengths[above] - hyp_lengths)
    closest = np.where(closer_below, ref_lengths[below], ref_lengths[above])
    brevity = min(1.0, np.exp(1 - closest.sum() / hyp_lengths.sum()))  # some hypothesis has a word here
    return float(brevity * np.exp(log_precision))


def self_bleu(samples: Sentences, base: int, rng: np.random.Generator) -> float:
    """Corpus BLEU-4 of SELF_BLEU_HYPOTHESES random samples against up to SELF_BLEU_REFERENCES
    other random samples (from fewer than 1,000 samples, a fifth are hypotheses). Self-BLEU as in
    Texygen (Zhu et al., 2018), pooled over hypotheses: high when the samples repeat each other."""
    order = rng.permutation(len(samples))
    n_hyp = min(SELF_BLEU_HYPOTHESES, len(samples) // 5)
    n_ref = min(SELF_BLEU_REFERENCES, len(samples) - n_hyp)
    return corpus_bleu(samples.take(order[:n_hyp]), samples.take(order[n_hyp : n_hyp + n_ref]), base)


@register_probe("text_diversity")
class TextDiversity(Probe):
    modality = TEXT
    metrics = (
        Metric("distinct_1", True, "unique words / all words in the model's samples", 0.0, 1.0),
        Metric("distinct_2", True, "unique bigrams / all bigrams in the model's samples", 0.0, 1.0),
        Metric("distinct_3", True, "unique trigrams / all trigrams in the model's samples", 0.0, 1.0),
        Metric("unigram_entropy", True, "entropy (nats) of the word distribution of the model's samples", 0.0),
        Metric("type_token_ratio", True, f"distinct words among the samples' first {TTR_TOKENS} tokens / {TTR_TOKENS}", 0.0, 1.0),
        Metric("self_bleu", False, f"corpus BLEU-4 of {SELF_BLEU_HYPOTHESES} samples against up to {SELF_BLEU_REFERENCES} others: how alike the samples are", 0.0, 1.0),
    )

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        samples = ctx.samples
        unigrams = sample_unigram_counts(ctx)
        bigrams, trigrams = sample_ngram_types(ctx, 2), sample_ngram_types(ctx, 3)
        values = {
            "distinct_1": distinct_n(int(np.count_nonzero(unigrams)), samples.n_tokens),
            "distinct_2": distinct_n(bigrams.types, len(bigrams.rank)),
            "distinct_3": distinct_n(trigrams.types, len(trigrams.rank)),
            "unigram_entropy": unigram_entropy(unigrams),
            "type_token_ratio": type_token_ratio(samples.ids),
            "self_bleu": self_bleu(samples, len(ctx.info.vocab), ctx.rng),
        }
        return {name: np.array([value]) for name, value in values.items()}
