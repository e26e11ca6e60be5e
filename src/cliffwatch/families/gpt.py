"""Family ``gpt``: a small decoder-only transformer trained from scratch (needs the ``neural`` extra).

The model is GPT-2 shaped (nanoGPT-like): token + learned position embeddings, ``layers`` pre-norm
blocks of causal self-attention (``scaled_dot_product_attention``) and a 4x GELU MLP, a final
LayerNorm and an output head tied to the token embedding.

Tokens. A byte-level BPE tokenizer (the ``tokenizers`` library) is trained on the lineage's first
training set (generation 0: human data only) and carried to later generations with the model, so
token-level perplexities compare across generations. Special tokens: BOS, EOS and the unknown word.
Because the byte-level pre-tokenizer splits text at spaces, a sentence's tokens are the
concatenation of its words' tokens, so encoding is a gather from a per-word table (no per-sentence
tokenizer calls); a model's output is decoded to text and read back into the corpus's words.

Sentences. Each is one sequence BOS + tokens + EOS at positions 0.. (no packing across sentences,
so training sees exactly what scoring and sampling see); batches hold sentences of similar length.
A sequence longer than ``context`` is cut into windows overlapping by one token.

Decoding uses a static KV cache (``context`` positions per row; a step writes position ``pos``
and attends over positions <= pos through a mask), so the step has fixed shapes: on CUDA with
``compile: true`` it runs through ``torch.compile(mode="reduce-overhead")`` (CUDA graphs). All rows
of a batch decode in lockstep; prompts are read into the cache one position per step (rows whose
prompt is shorter start generating earlier), so one loop serves sampling and greedy completion.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch import nn

from cliffwatch.core.modality import TEXT
from cliffwatch.core.errors import DataError
from cliffwatch.core.registry import register_family
from cliffwatch.core.modality import Sentences
from cliffwatch.families._neural import (
    Device,
    first_true,
    head,
    pick_next,
    ragged,
    resolve_device,
    score,
    sequences,
    text_words,
    torch_generator,
    train,
    window_rows,
)
from cliffwatch.families.base import DataInfo, Family, Model, Params, TextModel

BOS, EOS, UNK_TOKEN = "<|bos|>", "<|eos|>", "<|unk|>"  # token ids 0, 1, 2
BOS_ID, EOS_ID, UNK_ID = 0, 1, 2
TEXT_CHUNK_WORDS = 100_000  # words per string handed to the tokenizer trainer


class GPTParams(Params):
    layers: int = Field(2, ge=1, description="transformer blocks")
    width: int = Field(128, ge=8, description="embedding width (d_model)")
    heads: int = Field(4, ge=1, description="attention heads (width must divide by heads)")
    context: int = Field(128, ge=8, description="most positions a sequence sees (BOS + tokens + EOS); also the longest sample")
    vocab_size: int = Field(2048, ge=260, description="BPE vocabulary (256 bytes + 3 special tokens + merges), at most")
    epochs: float = Field(2.0, gt=0, description="passes over the training sentences (ignored when steps is set)")
    steps: int | None = Field(None, ge=1, description="optimiser steps (overrides epochs)")
    batch: int = Field(64, ge=1, description="sentences per optimiser step")
    lr: float = Field(3e-3, gt=0, description="peak AdamW learning rate (linear warm-up, cosine decay to lr/10)")
    weight_decay: float = Field(0.1, ge=0)
    warm_start: bool = Field(False, description="start from the previous generation's weights instead of a fresh init")
    device: Device = Field("auto", description="auto: CUDA when present; cuda where there is none falls back to the CPU with a warning")
    force_device: bool = Field(False, description="raise instead of falling back when the device is missing")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="autocast dtype on CUDA (the CPU runs float32)")
    compile: bool = Field(False, description="torch.compile the training step and the decode step (CUDA graphs on CUDA)")
    sample_batch: int = Field(512, ge=1, description="rows decoded in lockstep")
    eval_tokens: int = Field(16_384, ge=64, description="positions scored per forward pass (bounds memory of the logits)")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> GPTParams:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} must be divisible by heads {self.heads}")
        return self


# ---------------------------------------------------------------------------------------- the network


class Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.fc, self.out = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in self.qkv(self.ln1(x)).split(c, dim=2))
        if pos is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # one new position: store it in the static cache, attend over every position up to it
            self.cache_k.index_copy_(2, pos, k.to(self.cache_k.dtype))
            self.cache_v.index_copy_(2, pos, v.to(self.cache_v.dtype))
            visible = (torch.arange(self.cache_k.size(2), device=x.device) <= pos).view(1, 1, 1, -1)
            y = F.scaled_dot_product_attention(q, self.cache_k.to(q.dtype), self.cache_v.to(q.dtype), attn_mask=visible)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, c))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))  # exact GELU (as nanoGPT): on a CPU half the cost of GPT-2's tanh form


class GPT(nn.Module):
    def __init__(self, vocab: int, width: int, layers: int, heads: int, context: int) -> None:
        super().__init__()
        self.shape = dict(vocab=vocab, width=width, layers=layers, heads=heads, context=context)
        self.tok, self.pos = nn.Embedding(vocab, width), nn.Embedding(context, width)
        self.blocks = nn.ModuleList(Block(width, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(width)

    def init_weights(self, generator: torch.Generator) -> None:
        """GPT-2's init: N(0, 0.02), residual projections scaled by 1/sqrt(2 layers), zero biases."""
        residual_std = 0.02 / math.sqrt(2 * len(self.blocks))
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 1:  # LayerNorm gains
                nn.init.ones_(p)
            else:
                std = residual_std if name.endswith(("proj.weight", "out.weight")) else 0.02
                nn.init.normal_(p, 0.0, std, generator=generator)

    def forward(self, idx: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of every position (training, scoring); with ``pos``, one decode step through the cache."""
        positions = torch.arange(idx.size(1), device=idx.device) if pos is None else pos
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x, pos)
        return self.ln(x) @ self.tok.weight.T  # tied output head

    def setup_cache(self, rows: int, dtype: torch.dtype) -> None:
        """Static KV cache buffers (not saved): fixed addresses, so a compiled step can be CUDA-graphed."""
        s = self.shape
        shape = (rows, s["heads"], s["context"], s["width"] // s["heads"])
        for block in self.blocks:
            if getattr(block, "cache_k", None) is None or block.cache_k.shape != shape or block.cache_k.dtype != dtype:
                block.register_buffer("cache_k", torch.zeros(shape, device=self.tok.weight.device, dtype=dtype), persistent=False)
                block.register_buffer("cache_v", torch.zeros_like(block.cache_k), persistent=False)


def decode_step(net: GPT, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Logits (rows, vocab) after feeding one token per row at position ``pos`` (a 1-element tensor);
    BOS is never a next token."""
    logits = net(tokens.unsqueeze(1), pos)[:, -1].float()
    logits[:, BOS_ID] = -torch.inf
    return logits


def generate(net: GPT, step, tokens: torch.Tensor, forced: torch.Tensor, generator: torch.Generator | None,
             temperature: float, top_p: float, stop_at_eos: bool = True) -> torch.Tensor:
    """Fill ``tokens`` (rows, width; column 0 is BOS) left to right where ``forced`` is False, one
    decode ``step`` per column through the cache set up by ``net.setup_cache``; greedy without a
    generator. A row that has emitted EOS emits only EOS after it."""
    n, width = tokens.shape
    uniforms = None if generator is None else torch.rand((width, n), generator=generator, device=tokens.device)
    finished = torch.zeros(n, dtype=torch.bool, device=tokens.device)
    positions = torch.arange(width, device=tokens.device)
    for t in range(width - 1):
        logits = step(net, tokens[:, t], positions[t: t + 1])
        chosen = pick_next(logits, uniforms[t], temperature, top_p) if generator is not None else logits.argmax(-1)
        generated = ~forced[:, t + 1]
        tokens[:, t + 1] = torch.where(generated, torch.where(finished, EOS_ID, chosen), tokens[:, t + 1])
        if stop_at_eos:
            finished |= generated & (tokens[:, t + 1] == EOS_ID)
            if t % 8 == 7 and bool(finished.all()):  # a host sync every few steps only
                break
    return tokens


# -------------------------------------------------------------------------------------- tokenizer


def train_tokenizer(data: Sentences, words: tuple[str, ...], vocab_size: int) -> Tokenizer:
    """A byte-level BPE tokenizer trained on the sentences' text (the unknown word is a special token)."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[BOS, EOS, UNK_TOKEN], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    known = np.array(words, dtype=object)[data.ids[data.ids != 0]].tolist()
    chunks = (" " + " ".join(known[i: i + TEXT_CHUNK_WORDS]) for i in range(0, len(known), TEXT_CHUNK_WORDS))
    tokenizer.train_from_iterator(chunks, trainer)
    return tokenizer


class WordTable:
    """Every corpus word's BPE tokens (as " word"), in CSR form: sentences encode by a gather."""

    def __init__(self, tokenizer: Tokenizer, words: tuple[str, ...]) -> None:
        encoded = [e.ids for e in tokenizer.encode_batch([" " + w for w in words[1:]])]
        lengths = np.array([1] + [len(e) for e in encoded], dtype=np.int64)
        self.offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=self.offsets[1:])
        self.tokens = np.array([UNK_ID, *(t for e in encoded for t in e)], dtype=np.int64)
        self.lengths = lengths
        self.longest = int(lengths.max())

    def encode(self, sentences: Sentences) -> Sentences:
        """The sentences as BPE token ids (a Sentences over the tokenizer's vocabulary)."""
        per_word = self.lengths[sentences.ids]
        lengths = np.bincount(sentences.sentence_index(), weights=per_word, minlength=len(sentences)).astype(np.int64)
        total = int(per_word.sum())
        gather = np.repeat(self.offsets[sentences.ids] - (np.cumsum(per_word) - per_word), per_word) + np.arange(total)
        return Sentences.from_lengths(self.tokens[gather], lengths)


# ------------------------------------------------------------------------------------------ model


class GPTModel(TextModel):
    """A trained ``gpt`` network with its tokenizer, on one device."""

    def __init__(self, family: GPTFamily, net: GPT, tokenizer: Tokenizer, losses: np.ndarray) -> None:
        self.family = family
        self.net = net.eval()
        self.tokenizer = tokenizer
        self.table = WordTable(tokenizer, family.info.vocab.words)
        self.losses = losses  # training loss per optimiser step (nats per token)
        self.device = net.tok.weight.device
        self._step = None  # the decode step, compiled on first use when asked

    # -- sequences ---------------------------------------------------------------------------
    def _sequences(self, parts: list[Sentences], eos: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return sequences([self.table.encode(p) for p in parts], BOS_ID, EOS_ID if eos else None)

    def _score(self, tokens: np.ndarray, lengths: np.ndarray, scored: np.ndarray) -> np.ndarray:
        p = self.family.params
        with self._autocast():
            return score(self.net, tokens, lengths, scored, p.context, p.eval_tokens, self.device)

    def _autocast(self):
        dtype = self.family.params.dtype
        if self.device.type == "cuda" and dtype != "float32":
            return torch.autocast("cuda", dtype=getattr(torch, dtype))
        return nullcontext()

    def nll(self, data: Sentences) -> np.ndarray:
        """Nats per sentence, end of sentence included: (n,)."""
        return self._score(*self._sequences([data], eos=True))

    def token_counts(self, data: Sentences) -> np.ndarray:
        """Model tokens each sentence is scored on (BPE tokens + EOS), for per-token perplexity: (n,)."""
        return self.table.encode(data).lengths + 1

    def continuation_nll(self, prompts: Sentences, continuations: Sentences) -> np.ndarray:
        if len(prompts) != len(continuations):
            raise DataError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        return self._score(*self._sequences([prompts, continuations], eos=False))

    # -- decoding ----------------------------------------------------------------------------
    def _decode(self, prompts: Sentences, max_new: int, generator: torch.Generator | None,
                temperature: float, top_p: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows BOS + prompt, each extended in lockstep until EOS or max_new new tokens (within the
        context). Returns (tokens (n, width), prompt end, generation end) per row; greedy without generator."""
        context = self.net.shape["context"]
        tokens_in, lengths, _ = self._sequences([prompts], eos=False)
        # a prompt keeps its tokens before the new ones get the rest of the context (at least half of it,
        # up to max_new); a prompt too long for that keeps BOS + its last tokens
        keep = np.minimum(lengths, context - min(max_new, context // 2))
        width = min(int(keep.max(initial=1)) + max_new, context)
        rows = np.full((len(lengths), width), EOS_ID, dtype=np.int64)
        forced = np.zeros_like(rows, dtype=bool)
        starts = np.cumsum(lengths) - lengths
        column = np.arange(width)
        inside = column < keep[:, None]
        source = starts[:, None] + np.where(column == 0, 0, lengths[:, None] - keep[:, None] + column)
        rows[inside] = tokens_in[source[inside]]
        forced[inside] = True
        batch = self.family.params.sample_batch
        out = []
        with torch.inference_mode(), self._autocast():
            for lo in range(0, len(rows), batch):
                out.append(self._decode_batch(rows[lo: lo + batch], forced[lo: lo + batch], generator, temperature, top_p))
        tokens = np.concatenate(out) if out else rows
        generated = (column[None, :] >= keep[:, None]) & (tokens == EOS_ID)
        end = first_true(generated, width)
        return tokens, keep, np.minimum(end, keep + max_new)

    def _decode_batch(self, rows: np.ndarray, forced: np.ndarray, generator, temperature: float, top_p: float) -> np.ndarray:
        tokens = torch.from_numpy(rows).to(self.device)
        self.net.setup_cache(len(rows), self._cache_dtype())
        out = generate(self.net, self._decode_step(), tokens, torch.from_numpy(forced).to(self.device), generator, temperature, top_p)
        return out.cpu().numpy()

    def _cache_dtype(self) -> torch.dtype:
        dtype = self.family.params.dtype
        return getattr(torch, dtype) if self.device.type == "cuda" else torch.float32

    def _decode_step(self):
        if self._step is None:
            compile_ = self.family.params.compile
            mode = "reduce-overhead" if self.device.type == "cuda" else None
            self._step = torch.compile(decode_step, mode=mode, dynamic=False) if compile_ else decode_step
        return self._step

    def _words(self, tokens: np.ndarray, start: np.ndarray, end: np.ndarray) -> Sentences:
        flat, lengths = ragged(tokens, start, end)
        bounds = np.concatenate([[0], np.cumsum(lengths)]).tolist()
        ids = flat.tolist()
        texts = self.tokenizer.decode_batch([ids[a:b] for a, b in zip(bounds[:-1], bounds[1:])], skip_special_tokens=False)
        return text_words(texts, self.family.info.vocab, UNK_TOKEN)

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> Sentences:
        """n sentences, each ending at EOS (not included) or at the context's end; decoded to words."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        empty = Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(n, np.int64))
        generator = torch_generator(rng, self.device)
        tokens, start, end = self._decode(empty, self.net.shape["context"] - 1, generator, temperature, top_p)
        return self._words(tokens, start, end)

    def greedy(self, prompts: Sentences, max_new: int) -> Sentences:
        """The most probable continuation of each prompt, up to max_new words or end of sentence."""
        budget = max(max_new, 0) * self.table.longest + 1  # enough tokens for max_new vocabulary words
        tokens, start, end = self._decode(prompts, budget, None, 0.0, 1.0)
        return head(self._words(tokens, start, end), max(max_new, 0))

    # -- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        shape = self.net.shape
        state = {f"w.{k}": v.detach().float().cpu().numpy() for k, v in self.net.state_dict().items()}
        state["shape"] = np.array([shape[k] for k in ("vocab", "width", "layers", "heads", "context")], dtype=np.int64)
        state["tokenizer"] = np.frombuffer(self.tokenizer.to_str().encode(), dtype=np.uint8)
        state["words"] = np.array([len(self.family.info.vocab)], dtype=np.int64)
        state["losses"] = self.losses
        return state


# ----------------------------------------------------------------------------------------- family


@register_family("gpt")
class GPTFamily(Family):
    """A GPT trained from scratch each generation (or warm-started); needs the ``neural`` extra."""

    modality = TEXT
    Params = GPTParams

    def __init__(self, info: DataInfo, params: GPTParams | dict | None = None) -> None:
        super().__init__(info, params)
        if info.vocab is None:
            raise DataError("the gpt family needs the corpus vocabulary (DataInfo.vocab)")
        self.device = resolve_device(self.params.device, self.params.force_device, "gpt")

    def _net(self, vocab: int) -> GPT:
        p = self.params
        return GPT(vocab, p.width, p.layers, p.heads, p.context).to(self.device)

    def fit(self, data: Sentences, rng: np.random.Generator, init: Model | None = None) -> GPTModel:
        """Train on the sentences. The tokenizer comes from ``init`` when there is one (it was trained
        on the lineage's generation-0 human data), else it is trained on ``data``."""
        if not len(data):
            raise DataError("the gpt family cannot fit zero sentences")
        vocab_size = len(self.info.vocab)
        if data.n_tokens and (data.ids.min() < 0 or data.ids.max() >= vocab_size):
            raise DataError(f"token ids must lie in [0, {vocab_size}) of the vocabulary")
        previous = init if isinstance(init, GPTModel) else None
        tokenizer = previous.tokenizer if previous else train_tokenizer(data, self.info.vocab.words, self.params.vocab_size)
        net = self._net(tokenizer.get_vocab_size())
        if previous and self.params.warm_start:
            net.load_state_dict(previous.net.state_dict())
        else:
            net.init_weights(torch_generator(rng, self.device))
        model = GPTModel(self, net, tokenizer, np.zeros(0))
        model.losses = self._train(model, data, rng)
        return model

    def _train(self, model: GPTModel, data: Sentences, rng: np.random.Generator) -> np.ndarray:
        rows, _, _ = window_rows(*model._sequences([data], eos=True)[:2], self.params.context)
        logits_of = torch.compile(model.net) if self.params.compile else model.net
        return train(logits_of, model.net, rows, self.params, rng, self.device, model._autocast)

    def from_state(self, state: dict[str, np.ndarray]) -> GPTModel:
        vocab, width, layers, heads, context = (int(v) for v in state["shape"])
        p = self.params
        if (width, layers, heads, context) != (p.width, p.layers, p.heads, p.context) or int(state["words"][0]) != len(self.info.vocab):
            raise DataError(
                f"saved gpt model has {layers} layers, width {width}, {heads} heads, context {context} over "
                f"{int(state['words'][0])} words; this family has {p.layers}, {p.width}, {p.heads}, {p.context} "
                f"over {len(self.info.vocab)}"
            )
        tokenizer = Tokenizer.from_str(state["tokenizer"].tobytes().decode())
        if tokenizer.get_vocab_size() != vocab:
            raise DataError(f"saved gpt tokenizer has {tokenizer.get_vocab_size()} tokens but the network {vocab}")
        net = self._net(vocab)
        weights = {k[2:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("w.")}
        net.load_state_dict(weights)
        return GPTModel(self, net, tokenizer, np.asarray(state["losses"], dtype=np.float64))
