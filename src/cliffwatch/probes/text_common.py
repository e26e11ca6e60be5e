"""Shared by the text probes: n-gram keys, exact sequence matching, and per-generation caches.

Everything works on the flat ids of :class:`Sentences` with numpy; no per-token Python loops.
Intermediate results that several probes need (the samples' n-gram types, the NLL of the reference
and of the samples) live in ``ctx.cache``, which is shared by every probe of one generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cliffwatch.core.modality import Sentences
from cliffwatch.probes.base import ProbeContext

_INT64_MAX = np.iinfo(np.int64).max


def ngram_starts(sentences: Sentences, n: int) -> np.ndarray:
    """Flat positions where an n-gram starts and fits inside its sentence (n-grams never span two)."""
    sentence_end = np.repeat(sentences.offsets[1:], sentences.lengths)
    return np.flatnonzero(sentence_end - np.arange(sentences.n_tokens) >= n)


def ngram_keys(sentences: Sentences, n: int, base: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 key, flat start) of every n-gram; token ids must lie in [0, base).

    Equal keys mean equal n-grams. A key is the base-``base`` number of the n-gram's ids; when the
    next digit would overflow int64 (a vocabulary above ~55k words at n = 4) the keys so far are
    replaced by their ranks first, so keys are comparable only within one call.
    """
    starts = ngram_starts(sentences, n)
    keys = sentences.ids[starts].astype(np.int64)
    for k in range(1, n):
        if len(keys) and int(keys.max()) > (_INT64_MAX - base) // base:
            keys = np.unique(keys, return_inverse=True)[1].astype(np.int64)
        keys = keys * base + sentences.ids[starts + k]
    return keys, starts


def occurs_in(haystack: Sentences, needles: Sentences) -> np.ndarray:
    """For each needle, whether its tokens occur contiguously inside one haystack sentence (bool (n,)).

    Exact, by walking a trie of the needles one token at a time: at depth L every haystack window
    that still equals some needle's first L tokens is kept, as the rank of that L-token prefix among
    the needles' prefixes, so keys never exceed (number of needles) * base.
    """
    found = np.zeros(len(needles), dtype=bool)
    found[needles.lengths == 0] = True  # the empty sequence occurs everywhere
    base = int(max(haystack.ids.max(initial=-1), needles.ids.max(initial=-1))) + 1
    hay_end = np.repeat(haystack.offsets[1:], haystack.lengths)
    windows = np.arange(haystack.n_tokens)  # start of every haystack window still alive
    window_rank = np.zeros(haystack.n_tokens, dtype=np.int64)  # rank of its prefix so far
    needle_rank = np.zeros(len(needles), dtype=np.int64)
    for depth in range(int(needles.lengths.max(initial=0))):
        growing = np.flatnonzero(needles.lengths > depth)
        needle_keys = needle_rank[growing] * base + needles.ids[needles.offsets[growing] + depth]
        prefixes, needle_rank[growing] = np.unique(needle_keys, return_inverse=True)
        room = hay_end[windows] - windows > depth
        windows, window_rank = windows[room], window_rank[room]
        window_keys = window_rank * base + haystack.ids[windows + depth]
        at = np.minimum(np.searchsorted(prefixes, window_keys), len(prefixes) - 1)
        alive = prefixes[at] == window_keys
        windows, window_rank = windows[alive], at[alive]
        ending = growing[needles.lengths[growing] == depth + 1]
        found[ending] = np.isin(needle_rank[ending], window_rank)
    return found


def prefixes_of(sentences: Sentences, positions: np.ndarray) -> Sentences:
    """For flat token positions, the tokens of the same sentence before each one (a Sentences batch)."""
    sentence = np.searchsorted(sentences.offsets, positions, side="right") - 1
    starts = sentences.offsets[sentence]
    lengths = positions - starts
    new_offsets = np.zeros(len(positions) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    gather = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return Sentences(sentences.ids[gather], new_offsets)


def padded(sentences: Sentences, width: int) -> np.ndarray:
    """Sentences as an (n, width) int64 matrix, -1 after each sentence's end (cut at width)."""
    position = np.arange(sentences.n_tokens) - np.repeat(sentences.offsets[:-1], sentences.lengths)
    keep = position < width
    out = np.full((len(sentences), width), -1, dtype=np.int64)
    out[sentences.sentence_index()[keep], position[keep]] = sentences.ids[keep]
    return out


def log_perplexity(nll: np.ndarray, sentences: Sentences) -> float:
    """Nats per token of a batch, end of sentence counted as a token (as ``TextModel.nll`` scores it)."""
    tokens = sentences.n_tokens + len(sentences)
    return float(nll.sum() / tokens) if tokens else float("nan")


def heldout_log_ppl(ctx: ProbeContext) -> float:
    """The model's nats per token on the held-out human reference, scored once per generation."""
    if "text.heldout_log_ppl" not in ctx.cache:
        ctx.cache["text.heldout_log_ppl"] = log_perplexity(ctx.model.nll(ctx.reference), ctx.reference)
    return ctx.cache["text.heldout_log_ppl"]


def samples_log_ppl(ctx: ProbeContext) -> float:
    """The model's nats per token on its own samples, scored once per generation."""
    if "text.samples_log_ppl" not in ctx.cache:
        ctx.cache["text.samples_log_ppl"] = log_perplexity(ctx.model.nll(ctx.samples), ctx.samples)
    return ctx.cache["text.samples_log_ppl"]


def sample_unigram_counts(ctx: ProbeContext) -> np.ndarray:
    """How often each vocabulary word occurs in the model's samples, (V,)."""
    if "text.sample_unigrams" not in ctx.cache:
        ctx.cache["text.sample_unigrams"] = np.bincount(ctx.samples.ids, minlength=len(ctx.info.vocab))
    return ctx.cache["text.sample_unigrams"]


@dataclass(frozen=True)
class NgramTypes:
    """The n-grams of a batch as type ranks: rank[i] is the type of n-gram i, in sentence[i]."""

    rank: np.ndarray  # int64 (n-grams,), in [0, types)
    sentence: np.ndarray  # int64 (n-grams,)
    types: int


def sample_ngram_types(ctx: ProbeContext, n: int) -> NgramTypes:
    """The n-gram types of the model's samples, computed once per generation (one sort)."""
    key = f"text.sample_ngrams.{n}"
    if key not in ctx.cache:
        samples = ctx.samples
        keys, starts = ngram_keys(samples, n, len(ctx.info.vocab))
        distinct, rank = np.unique(keys, return_inverse=True)
        sentence = np.searchsorted(samples.offsets, starts, side="right") - 1
        ctx.cache[key] = NgramTypes(rank.astype(np.int64), sentence, len(distinct))
    return ctx.cache[key]
