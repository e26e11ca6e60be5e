"""Tail: the reference's rare words, in the samples, in the training data, and in the model's beliefs.

Rare words: word types that occur 1 to RARE_MAX_POOL_COUNT times in the source's human training
pool and at least once in the held-out reference. They are the words a model learns from a handful
of examples, so they go first under self-consumption; requiring them in the reference makes them
words that real held-out text uses (a word the pool never shows could only be guessed).

Emitting a rare word and knowing it differ: a smoothed model gives every word some probability,
so its samples keep producing random rare words long after it has forgotten where they belong.
``tail_mass`` therefore scores the rare words where they occur in held-out human text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from cliffwatch.core.modality import TEXT, Sentences
from cliffwatch.probes.base import Metric, Probe, ProbeContext
from cliffwatch.probes.text_common import prefixes_of, sample_unigram_counts
from cliffwatch.core.registry import register_probe

RARE_MAX_POOL_COUNT = 5


@dataclass(frozen=True)
class RareWords:
    """The rare words of one source, and their occurrences in its reference as (prefix, word) pairs."""

    words: np.ndarray  # int64 vocabulary ids
    prefixes: Sentences  # the sentence's tokens before each reference occurrence
    occurrences: Sentences  # the rare word at that occurrence (one token each)


def rare_words(pool: Sentences, reference: Sentences, vocab_size: int) -> RareWords:
    pool_counts = np.bincount(pool.ids, minlength=vocab_size)
    in_reference = np.bincount(reference.ids, minlength=vocab_size) > 0
    rare = (pool_counts >= 1) & (pool_counts <= RARE_MAX_POOL_COUNT) & in_reference
    positions = np.flatnonzero(rare[reference.ids])
    occurrences = Sentences(reference.ids[positions], np.arange(len(positions) + 1, dtype=np.int64))
    return RareWords(np.flatnonzero(rare), prefixes_of(reference, positions), occurrences)


def coverage(words: np.ndarray, counts: np.ndarray) -> float:
    """Share of ``words`` with a positive count; NaN when there are none."""
    return float((counts[words] > 0).mean()) if len(words) else float("nan")


@register_probe("text_tail")
class TextTail(Probe):
    modality = TEXT
    metrics = (
        Metric("tail_coverage", True, f"share of the reference's rare words (pool count 1-{RARE_MAX_POOL_COUNT}) that the model's samples contain", 0.0, 1.0),
        Metric("tail_train_coverage", True, "share of those rare words still present in this generation's training data", 0.0, 1.0),
        Metric("tail_mass", True, "mean probability the model gives a rare word at its occurrences in the reference, given the words before it", 0.0, 1.0),
    )

    def __init__(self) -> None:
        self._rare: tuple[Any, RareWords] | None = None  # (source, its rare words): fixed per source

    @classmethod
    def applies_to(cls, source: Any) -> bool:
        return getattr(source, "pool", None) is not None

    def rare_words(self, ctx: ProbeContext) -> RareWords:
        if self._rare is None or self._rare[0] is not ctx.source:
            self._rare = (ctx.source, rare_words(ctx.source.pool, ctx.reference, len(ctx.info.vocab)))
        return self._rare[1]

    def __call__(self, ctx: ProbeContext) -> dict[str, np.ndarray]:
        rare = self.rare_words(ctx)
        train_counts = np.bincount(ctx.train.ids, minlength=len(ctx.info.vocab))
        probability = np.exp(-ctx.model.continuation_nll(rare.prefixes, rare.occurrences))
        values = {
            "tail_coverage": coverage(rare.words, sample_unigram_counts(ctx)),
            "tail_train_coverage": coverage(rare.words, train_counts),
            "tail_mass": float(probability.mean()) if len(probability) else float("nan"),
        }
        return {name: np.array([value]) for name, value in values.items()}
