"""Shared by the neural text families (``gpt``, ``hf``): devices, seeding, words <-> text, next-token choice.

Needs the ``neural`` extra (torch, tokenizers, transformers): ``pip install 'cliffwatch[neural]'``.

A text family sees sentences as ids of the corpus's word vocabulary. A neural model reads text:
a sentence becomes its words joined by single spaces (with a leading space, so every word is
" word" to a byte-level tokenizer), and what a model writes becomes words again through the
corpus's own tokenizer (:func:`cliffwatch.data.text.tokenize`); words outside the vocabulary map
to its unknown word, as in the corpus.
"""

from __future__ import annotations

import warnings
from itertools import chain
from typing import Literal

import numpy as np

from cliffwatch.core.errors import ConfigError
from cliffwatch.data.text import _WORD, Sentences, Vocab

try:
    import torch
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError("the neural families need the `neural` extra: pip install 'cliffwatch[neural]'") from error

Device = Literal["auto", "cpu", "cuda"]
UNK_SURFACE = "\ue000"  # private-use character: where a model writes the unknown word, read back as UNK


def resolve_device(device: Device, force: bool, family: str) -> torch.device:
    """The torch device for a ``device`` knob: auto picks CUDA when present; asking for CUDA where
    there is none falls back to the CPU with a warning, or raises if ``force``."""
    if device == "cpu" or (device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if force:
        raise ConfigError(f"family {family}: device 'cuda' is forced (force_device: true) but no CUDA device is available")
    warnings.warn(f"family {family}: device 'cuda' asked for but no CUDA device is available; running on the CPU",
                  RuntimeWarning, stacklevel=3)
    return torch.device("cpu")


def torch_generator(rng: np.random.Generator, device: torch.device) -> torch.Generator:
    """A torch generator on ``device`` seeded from one draw of the cliffwatch stream."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(rng.integers(2**63 - 1)))
    return generator


def sentence_texts(sentences: Sentences, vocab: Vocab, unk: str) -> list[str]:
    """Each sentence as " w1 w2 ...", the unknown word written as ``unk``."""
    words = np.array(vocab.words, dtype=object)
    words[0] = unk
    flat = words[sentences.ids].tolist()
    bounds = sentences.offsets.tolist()
    return [" " + " ".join(flat[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def text_words(texts: list[str], vocab: Vocab, unk: str | None = None) -> Sentences:
    """What a model wrote, as sentences of the corpus's words (lowercased and tokenised as the corpus
    is); ``unk`` (the model's own unknown-word text) is read back as the unknown word."""
    if unk is not None:
        texts = [t.replace(unk, UNK_SURFACE) for t in texts]
    tokens = [_WORD.findall(t.lower()) for t in texts]
    lengths = np.fromiter(map(len, tokens), np.int64, len(tokens))
    get = vocab.index.get
    ids = np.fromiter((get(w, 0) for w in chain.from_iterable(tokens)), np.int32, int(lengths.sum()))
    return Sentences.from_lengths(ids, lengths)


def pick_next(logits: torch.Tensor, uniform: torch.Tensor, temperature: float, top_p: float, top_k: int) -> torch.Tensor:
    """One token per row from ``softmax(logits / temperature)`` truncated to the top_k most probable
    tokens and to the smallest set whose mass reaches top_p (ties at the border kept in sort order),
    by inverse CDF with one uniform per row: static shapes, so it can run inside a CUDA graph.
    temperature 0 is greedy."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1 or top_k:
        probs, order = probs.sort(dim=-1, descending=True)
        keep = (probs.cumsum(dim=-1) - probs) < top_p
        if top_k:
            keep[:, top_k:] = False
        probs = probs * keep
    cumulative = probs.cumsum(dim=-1)
    target = (uniform * cumulative[:, -1]).unsqueeze(1)
    index = torch.searchsorted(cumulative, target, right=True).clamp_(max=probs.size(-1) - 1)
    return index.squeeze(1) if order is None else order.gather(1, index).squeeze(1)


def first_true(mask: np.ndarray, default: int) -> np.ndarray:
    """Per row, the first column where mask is True (``default`` where none)."""
    return np.where(mask.any(axis=1), mask.argmax(axis=1), default)


def ragged(rows: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slices rows[i, starts[i]:ends[i]] as (flat values, lengths), vectorised."""
    lengths = np.maximum(ends - starts, 0)
    row = np.repeat(np.arange(len(rows)), lengths)
    column = np.repeat(starts, lengths) + np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows[row, column], lengths


def windows(lengths: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split sequences longer than ``context`` into windows that overlap by one token, so every token
    after the first is predicted exactly once: (sequence, start, length) per window. A window's first
    token is only read; later windows see less history (the usual fixed-context approximation)."""
    stride = context - 1
    count = np.maximum(1, -(-(lengths - 1) // stride))
    sequence = np.repeat(np.arange(len(lengths)), count)
    start = (np.arange(int(count.sum())) - np.repeat(np.cumsum(count) - count, count)) * stride
    return sequence, start, np.minimum(context, lengths[sequence] - start)


def head(sentences: Sentences, most: int) -> Sentences:
    """Each sentence cut to its first ``most`` tokens."""
    kept = np.minimum(sentences.lengths, most)
    gather = np.repeat(sentences.offsets[:-1] - (np.cumsum(kept) - kept), kept) + np.arange(int(kept.sum()))
    return Sentences.from_lengths(sentences.ids[gather], kept)
