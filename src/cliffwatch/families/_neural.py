"""Shared by the neural text families (``gpt``, ``hf``): devices, seeding, words <-> text, next-token choice.

Needs the ``neural`` extra (torch, tokenizers, transformers): ``pip install 'cliffwatch[neural]'``.

A text family sees sentences as ids of the corpus's word vocabulary. A neural model reads text:
a sentence becomes its words joined by single spaces (with a leading space, so every word is
" word" to a byte-level tokenizer), and what a model writes becomes words again through the
corpus's own tokenizer (:func:`cliffwatch.data.text.tokenize`); words outside the vocabulary map
to its unknown word, as in the corpus.
"""

from __future__ import annotations

import math
import warnings
from itertools import chain
from typing import Literal

import numpy as np

from cliffwatch.core.errors import ConfigError
from cliffwatch.core.modality import Sentences
from cliffwatch.data.text import _WORD, Vocab

try:
    import torch
    import torch.nn.functional as F
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
    return [" " + " ".join(flat[a:b]) if b > a else "" for a, b in zip(bounds[:-1], bounds[1:])]


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


def pick_next(logits: torch.Tensor, uniform: torch.Tensor, temperature: float, top_p: float) -> torch.Tensor:
    """One token per row from ``softmax(logits / temperature)`` truncated to the smallest set of most
    probable tokens whose mass reaches top_p (as Hugging Face does), by inverse CDF with one uniform
    per row: static shapes, so it can run inside a CUDA graph."""
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    order = None
    if top_p < 1:
        probs, order = probs.sort(dim=-1, descending=True)
        probs = probs * ((probs.cumsum(dim=-1) - probs) < top_p)
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


def sequences(encoded: list[Sentences], bos: int, eos: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row i as bos + encoded[0][i] + encoded[1][i] + ... (+ eos), flat: (tokens, lengths, scored), where
    ``scored`` marks the positions whose probability counts: the last part's tokens (and eos)."""
    lengths = 1 + sum(e.lengths for e in encoded) + int(eos is not None)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.full(int(offsets[-1]), bos if eos is None else eos, dtype=np.int64)
    tokens[offsets[:-1]] = bos
    scored = np.zeros(len(tokens), dtype=bool)
    placed = offsets[:-1] + 1
    for i, e in enumerate(encoded):
        where = np.repeat(placed - e.offsets[:-1], e.lengths) + np.arange(e.n_tokens)
        tokens[where] = e.ids
        scored[where] = i == len(encoded) - 1
        placed = placed + e.lengths
    if eos is not None:
        scored[offsets[1:] - 1] = True
    return tokens, lengths, scored


def window_rows(tokens: np.ndarray, lengths: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The windows of every sequence as a padded matrix (-1 after each window's end): (rows, window's
    sequence, window's flat start)."""
    sequence, start, size = windows(lengths, context)
    flat_start = (np.cumsum(lengths) - lengths)[sequence] + start
    column = np.arange(int(size.max(initial=1)))
    inside = column < size[:, None]
    rows = np.where(inside, tokens[np.where(inside, flat_start[:, None] + column, 0)], -1)
    return rows, sequence, flat_start


def score(logits_of, tokens: np.ndarray, lengths: np.ndarray, scored: np.ndarray, context: int,
          eval_tokens: int, device: torch.device) -> np.ndarray:
    """Nats per sequence summed over its scored positions, each predicted from what precedes it within
    its window; ``logits_of(ids)`` maps an (rows, T) id tensor to (rows, T, vocab) logits."""
    rows, sequence, flat_start = window_rows(tokens, lengths, context)
    size = (rows >= 0).sum(axis=1)
    order = np.argsort(size, kind="stable")  # similar lengths together: little padding
    total = np.zeros(len(lengths))
    per_pass = max(1, eval_tokens // rows.shape[1])
    with torch.inference_mode():
        for chunk in np.array_split(order, -(-len(order) // per_pass)) if len(order) else []:
            width = int(size[chunk].max())
            ids = rows[chunk, :width]
            inside = ids >= 0
            # a target counts if it is inside its window (not the window's first token) and scored
            counted = inside[:, 1:] & scored[np.where(inside, flat_start[chunk, None] + np.arange(width), 0)[:, 1:]]
            x = torch.from_numpy(np.where(inside, ids, 0)).to(device)
            logits = logits_of(x[:, :-1]).float()
            nats = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten(), reduction="none")
            nats = nats.view(len(chunk), -1).cpu().numpy()
            total += np.bincount(sequence[chunk], weights=(nats * counted).sum(axis=1), minlength=len(lengths))
    return total


def train(logits_of, module: torch.nn.Module, rows: np.ndarray, params, rng: np.random.Generator,
          device: torch.device, autocast) -> np.ndarray:
    """AdamW on padded windows (-1: padding): batches of ``params.batch`` windows of similar length,
    visited in random order each epoch; linear warm-up then cosine decay to lr/10; gradient norm
    clipped at 1. Returns the loss of every step (nats per token)."""
    size = (rows >= 0).sum(axis=1)
    by_length = np.lexsort((rng.random(len(rows)), size))
    batches = [by_length[i: i + params.batch] for i in range(0, len(rows), params.batch)]
    steps = params.steps or max(1, math.ceil(params.epochs * len(batches)))
    schedule = np.concatenate([rng.permutation(len(batches)) for _ in range(-(-steps // len(batches)))])[:steps]
    decay = [q for q in module.parameters() if q.requires_grad and q.dim() >= 2]
    no_decay = [q for q in module.parameters() if q.requires_grad and q.dim() < 2]
    optimiser = torch.optim.AdamW([{"params": decay, "weight_decay": params.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=params.lr, betas=(0.9, 0.95), fused=True)  # one kernel: on a CPU 2-3x faster than per-tensor ops
    warmup = max(1, steps // 20)
    losses = torch.zeros(steps, device=device)
    module.train()
    for i, b in enumerate(schedule):
        lr = params.lr * min(1.0, (i + 1) / warmup) * (0.1 + 0.45 * (1 + math.cos(math.pi * i / steps)))
        for group in optimiser.param_groups:
            group["lr"] = lr
        batch = rows[batches[b]][:, : int(size[batches[b]].max())]
        x = torch.from_numpy(batch).to(device, non_blocking=True)
        with autocast():
            logits = logits_of(x[:, :-1].clamp(min=0))
        loss = F.cross_entropy(logits.float().flatten(0, 1), x[:, 1:].flatten(), ignore_index=-1)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), 1.0)
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
        losses[i] = loss.detach()
    module.eval()
    return losses.cpu().numpy().astype(np.float64)
